//! The owner manages the shop's staff: lists them, invites by email and role (the invitee sets
//! a password through a one-time link, shown to the owner since we send no email), removes them.
use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use jiff::SignedDuration;
use serde::Deserialize;

use super::{Chrome, ConsoleError, Labels, Owner, Posted, error_page, html, pages::NoFields};
use crate::{
    deps::Deps,
    domain::{
        StaffId,
        staff::{Email, Role, StaffMember},
    },
    secret::{random_token, sha256_hex},
    store::{StaffAdded, StaffRemoved},
};

/// How long an invitation link sets a password.
pub const INVITATION_LIFETIME: SignedDuration = SignedDuration::from_hours(7 * 24);

#[derive(Template)]
#[template(path = "console/staff.html")]
struct StaffPage {
    l: &'static Labels,
    me: Option<Chrome>,
    csrf: String,
    members: Vec<StaffMember>,
    /// The invitation link just created: shown once.
    invite_link: Option<String>,
    error: Option<&'static str>,
    /// What the invite form keeps after an error.
    email: String,
}

async fn staff_page(
    deps: &Deps,
    owner: &Owner,
    status: StatusCode,
    invite_link: Option<String>,
    error: Option<&'static str>,
    email: String,
) -> Result<Response, ConsoleError> {
    let members = deps.store.staff_members(&owner.tenant.id).await?;
    Ok(html(
        status,
        &StaffPage {
            l: owner.lang.labels(),
            me: Some(Chrome::of(owner)),
            csrf: owner.csrf.clone(),
            members,
            invite_link,
            error,
            email,
        },
    ))
}

/// `GET /console/staff` (owners)
pub(super) async fn list(State(deps): State<Deps>, owner: Owner) -> Result<Response, ConsoleError> {
    staff_page(&deps, &owner, StatusCode::OK, None, None, String::new()).await
}

#[derive(Deserialize)]
pub(super) struct Invite {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// `POST /console/staff` `email, role, csrf` (owners): adds an invited member and shows their
/// one-time link.
pub(super) async fn invite(
    State(deps): State<Deps>,
    Posted { who, form }: Posted<Invite, Owner>,
) -> Result<Response, ConsoleError> {
    let l = who.lang.labels();
    let refused = |error| {
        staff_page(
            &deps,
            &who,
            StatusCode::BAD_REQUEST,
            None,
            Some(error),
            form.email.clone(),
        )
    };
    let Ok(email) = Email::parse(&form.email) else {
        return refused(l.bad_email).await;
    };
    let Some(role) = Role::parse(&form.role) else {
        return Err(ConsoleError::BadForm);
    };
    let now = deps.clock.now();
    let member = StaffMember::new(who.tenant.id.clone(), email, role, None, now);
    let token = random_token();
    let ends = now.saturating_add(INVITATION_LIFETIME).unwrap_or(now);
    match deps
        .store
        .add_staff(&member, Some((&sha256_hex(&token), ends)))
        .await?
    {
        StaffAdded::Added => {}
        StaffAdded::EmailTaken => {
            return staff_page(
                &deps,
                &who,
                StatusCode::CONFLICT,
                None,
                Some(l.email_taken),
                form.email.clone(),
            )
            .await;
        }
    }
    tracing::info!(tenant = %who.tenant.id, staff = %member.id, by = %who.id, "staff invited");
    let path = format!("/console/invite/{token}");
    let link = match &deps.config.public_base_url {
        Some(base) => format!("{}{path}", base.as_str().trim_end_matches('/')),
        None => path,
    };
    staff_page(&deps, &who, StatusCode::OK, Some(link), None, String::new()).await
}

/// `POST /console/staff/{id}/remove` `csrf` (owners): not the last owner.
pub(super) async fn remove(
    State(deps): State<Deps>,
    Path(id): Path<String>,
    Posted { who, .. }: Posted<NoFields, Owner>,
) -> Result<Response, ConsoleError> {
    let id = StaffId::parse(&id).map_err(|_| ConsoleError::NotFound)?;
    match deps.store.remove_staff(&who.tenant.id, &id).await? {
        StaffRemoved::Removed => {
            tracing::info!(tenant = %who.tenant.id, staff = %id, by = %who.id, "staff removed");
            Ok(Redirect::to("/console/staff").into_response())
        }
        StaffRemoved::Unknown => Err(ConsoleError::NotFound),
        StaffRemoved::LastOwner => Ok(error_page(
            StatusCode::CONFLICT,
            who.lang.labels().last_owner,
            "",
        )),
    }
}
