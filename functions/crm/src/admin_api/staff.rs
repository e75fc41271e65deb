//! The operator creates a tenant's first console owner; from then on the owner invites the rest
//! of the staff in the console.
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::{api_keys::existing_tenant, auth::Operator};
use crate::{
    console::password_digest,
    deps::Deps,
    domain::staff::{Email, Role, StaffError, StaffMember},
    http::{CrmError, parse_json},
    store::StaffAdded,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOwner {
    email: String,
    password: String,
}

/// `POST /admin/tenants/{id}/owner` `{email, password}` (operator) → 201 `{id, email, role}`;
/// 409 when the email belongs to a member already.
pub(super) async fn create_owner(
    _: Operator,
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, CrmError> {
    let t = existing_tenant(&deps, &tenant).await?;
    let req: NewOwner = parse_json(&body)?;
    let email = Email::parse(&req.email).map_err(|e| CrmError::invalid("email", e.to_string()))?;
    let digest = password_digest(req.password).await.map_err(|e| match e {
        StaffError::Hashing(detail) => CrmError::Internal(format!("password hashing: {detail}")),
        e => CrmError::invalid("password", e.to_string()),
    })?;
    let member = StaffMember::new(t, email, Role::Owner, Some(digest), deps.clock.now());
    match deps.store.add_staff(&member, None).await? {
        StaffAdded::Added => {}
        StaffAdded::EmailTaken => {
            return Err(CrmError::Conflict(
                "this email belongs to a console member already".into(),
            ));
        }
    }
    tracing::info!(tenant = %member.tenant, staff = %member.id, "console owner created");
    let body = json!({
        "id": member.id,
        "email": member.email,
        "role": member.role,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
