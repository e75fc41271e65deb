//! The admin API: JSON over the HTTP API, `Authorization: Bearer <api key>`. A tenant key sees
//! only its own tenant (the tenant comes from the key, never from the URL); the operator key
//! creates tenants.
mod broadcasts;
mod deferred;
mod dormancy;
mod links;
mod purchases;
mod rules;
mod scenarios;
mod surveys;

use std::collections::BTreeMap;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get, post, put},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jiff::Timestamp;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    deps::Deps,
    domain::{
        DeliveryWindow, Friend, LineUserId, TagDefinition, TagName, Tenant, TenantId, tenant,
    },
    http::{CrmError, parse_json},
    secret::Secret,
    store::{ApiKeyRecord, FriendFilter, HistoryEntry, Role, StoreError, retry_on_conflict},
};

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 200;
const HISTORY_SHOWN: usize = 50;
pub fn router(deps: Deps) -> Router {
    Router::new()
        .route("/admin/tenants", post(create_tenant))
        .route("/admin/tenant", get(own_tenant).patch(update_tenant))
        .route("/admin/tenant/quota/retry", post(deferred::retry_quota))
        .route("/admin/deferred", get(deferred::list))
        .route("/admin/friends", get(list_friends))
        .route("/admin/friends/{user_id}", get(one_friend))
        .route("/admin/friends/{user_id}/tags", post(add_tags))
        .route("/admin/friends/{user_id}/tags/{tag}", delete(remove_tag))
        .route(
            "/admin/friends/{user_id}/fields",
            axum::routing::patch(set_fields),
        )
        .route(
            "/admin/friends/{user_id}/enrollments",
            get(scenarios::friend_enrollments),
        )
        .route(
            "/admin/friends/{user_id}/enrollments/{scenario}",
            delete(scenarios::unenroll),
        )
        .route(
            "/admin/friends/{user_id}/deliveries",
            get(scenarios::friend_deliveries),
        )
        .route(
            "/admin/broadcasts",
            post(broadcasts::create).get(broadcasts::list),
        )
        .route("/admin/broadcasts/{id}", get(broadcasts::report))
        .route("/admin/broadcasts/{id}/cancel", post(broadcasts::cancel))
        .route("/admin/scenarios", get(scenarios::list))
        .route(
            "/admin/scenarios/{id}",
            put(scenarios::save)
                .get(scenarios::one)
                .delete(scenarios::retire),
        )
        .route("/admin/scenarios/{id}/versions", get(scenarios::versions))
        .route("/admin/scenarios/{id}/migrate", post(scenarios::migrate))
        .route(
            "/admin/scenarios/{id}/enrollments",
            post(scenarios::enroll_friend),
        )
        .route("/admin/surveys", get(surveys::list))
        .route(
            "/admin/surveys/{id}",
            put(surveys::save).get(surveys::one).delete(surveys::remove),
        )
        .route("/admin/surveys/{id}/link", get(surveys::form_link))
        .route(
            "/admin/friends/{user_id}/answers",
            get(surveys::friend_answers),
        )
        .route("/admin/purchases", post(purchases::create))
        .route("/admin/purchases/import", post(purchases::import))
        .route(
            "/admin/friends/{user_id}/purchases",
            get(purchases::friend_purchases),
        )
        .route("/admin/rules", get(rules::list_rules))
        .route(
            "/admin/rules/{id}",
            put(rules::save_rule).delete(rules::remove_rule),
        )
        .route("/admin/auto-replies", get(rules::list_auto_replies))
        .route(
            "/admin/auto-replies/{id}",
            put(rules::save_auto_reply).delete(rules::remove_auto_reply),
        )
        .route(
            "/admin/settings/scoring",
            get(rules::scoring).put(rules::set_scoring),
        )
        .route("/l/{tenant}/{link}", get(links::open))
        .route("/admin/links/{link}", get(links::make))
        .route(
            "/forms/{tenant}/{survey}",
            get(crate::forms::show).post(crate::forms::submit),
        )
        .route(
            "/admin/dormancy",
            get(dormancy::settings).put(dormancy::save),
        )
        .route("/admin/reports/reactivation", get(dormancy::reactivation))
        .route("/admin/tags", get(list_tags))
        .route("/admin/tags/{tag}", put(define_tag).delete(undefine_tag))
        .fallback(|| async { CrmError::NotFound("route") })
        .with_state(deps)
}

/// Who is calling, decided from the bearer key alone.
#[derive(Debug)]
enum Caller {
    Operator,
    Tenant(Box<Tenant>),
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new API key: 32 random bytes, shown once; only its hash is stored.
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("tsk_{}", URL_SAFE_NO_PAD.encode(bytes))
}

async fn authenticate(deps: &Deps, headers: &HeaderMap) -> Result<Caller, CrmError> {
    let key = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(CrmError::Unauthorized)?;
    let hash = hash_key(key);
    let is_operator = deps
        .config
        .operator_key_sha256
        .as_ref()
        .is_some_and(|op| bool::from(op.as_bytes().ct_eq(hash.as_bytes())));
    if is_operator {
        return Ok(Caller::Operator);
    }
    let record = deps
        .store
        .api_key(&hash)
        .await?
        .ok_or(CrmError::Unauthorized)?;
    match record.role {
        Role::Tenant => {
            let tenant = deps
                .store
                .get_tenant(&record.tenant)
                .await?
                .ok_or(CrmError::Unauthorized)?;
            Ok(Caller::Tenant(Box::new(tenant)))
        }
    }
}

pub(super) async fn tenant_caller(deps: &Deps, headers: &HeaderMap) -> Result<Tenant, CrmError> {
    match authenticate(deps, headers).await? {
        Caller::Tenant(t) => Ok(*t),
        Caller::Operator => Err(CrmError::Forbidden),
    }
}

/// A tenant as the admin API shows it: secrets are never returned.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    id: TenantId,
    name: String,
    channel_id: Option<String>,
    zone: String,
    /// `null`: always open.
    delivery_window: Option<DeliveryWindow>,
    daily_cap: Option<u32>,
    quota_exhausted_at: Option<Timestamp>,
    created_at: Timestamp,
    webhook_url: String,
}

fn tenant_view(deps: &Deps, t: &Tenant) -> TenantView {
    TenantView {
        id: t.id.clone(),
        name: t.name.clone(),
        channel_id: t.channel_id.clone(),
        zone: t.zone.clone(),
        delivery_window: t.delivery_window.as_option(),
        daily_cap: t.daily_cap,
        quota_exhausted_at: t.quota_exhausted_at,
        created_at: t.created_at,
        webhook_url: webhook_url(deps, &t.id),
    }
}

pub fn webhook_url(deps: &Deps, t: &TenantId) -> String {
    let path = format!("webhook/{t}");
    match &deps.config.public_base_url {
        Some(base) => format!("{}/{path}", base.as_str().trim_end_matches('/')),
        None => format!("/{path}"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateTenant {
    id: String,
    name: String,
    channel_secret: String,
    access_token: String,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    zone: Option<String>,
    /// Absent: 09:00–21:00; `null`: always open.
    #[serde(default, with = "serde_with_null")]
    delivery_window: Option<Option<DeliveryWindow>>,
    #[serde(default)]
    daily_cap: Option<u32>,
}

async fn create_tenant(
    State(deps): State<Deps>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CrmError> {
    if !matches!(authenticate(&deps, &headers).await?, Caller::Operator) {
        return Err(CrmError::Forbidden);
    }
    let req: CreateTenant = parse_json(&body)?;
    let id = TenantId::parse(&req.id).map_err(|e| CrmError::invalid("id", e.to_string()))?;
    let zone = req.zone.unwrap_or_else(|| tenant::DEFAULT_ZONE.to_owned());
    if !tenant::is_known_zone(&zone) {
        return Err(CrmError::invalid(
            "zone",
            format!("unknown time zone {zone:?}"),
        ));
    }
    for (field, value) in [
        ("name", &req.name),
        ("channelSecret", &req.channel_secret),
        ("accessToken", &req.access_token),
    ] {
        if value.trim().is_empty() {
            return Err(CrmError::invalid(field, "must not be empty"));
        }
    }
    let window = match req.delivery_window {
        None => DeliveryWindow::default(),
        Some(w) => checked_window(w)?,
    };
    let now = deps.clock.now();
    let tenant = Tenant {
        id: id.clone(),
        name: req.name,
        channel_id: req.channel_id,
        channel_secret: Secret::new(req.channel_secret),
        access_token: Secret::new(req.access_token),
        zone,
        delivery_window: window,
        daily_cap: req.daily_cap,
        quota_exhausted_at: None,
        created_at: now,
    };
    let key = new_api_key();
    let record = ApiKeyRecord {
        tenant: id.clone(),
        role: Role::Tenant,
        label: "initial".into(),
        created_at: now,
    };
    match deps
        .store
        .create_tenant(&tenant, &hash_key(&key), &record)
        .await
    {
        Err(StoreError::AlreadyExists) => {
            return Err(CrmError::Conflict(format!("tenant {id} already exists")));
        }
        other => other?,
    }
    tracing::info!(tenant = %id, "tenant created");
    let body = json!({
        "tenant": tenant_view(&deps, &tenant),
        "webhookUrl": webhook_url(&deps, &id),
        "apiKey": key,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn own_tenant(
    State(deps): State<Deps>,
    headers: HeaderMap,
) -> Result<Json<TenantView>, CrmError> {
    let t = tenant_caller(&deps, &headers).await?;
    Ok(Json(tenant_view(&deps, &t)))
}

/// Settings a marketer changes: name, zone, delivery window, daily cap (`null` removes the cap).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TenantSettings {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    zone: Option<String>,
    /// `null`: always open.
    #[serde(default, with = "serde_with_null")]
    delivery_window: Option<Option<DeliveryWindow>>,
    #[serde(default, with = "serde_with_null")]
    daily_cap: Option<Option<u32>>,
}

/// Tells "absent" (keep) from `null` (clear) for an optional setting.
mod serde_with_null {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Ok(Some(Option::<T>::deserialize(d)?))
    }
}

/// A window given as `{start, end}` must open before it closes; `null` is always open.
fn checked_window(w: Option<DeliveryWindow>) -> Result<DeliveryWindow, CrmError> {
    match w {
        None => Ok(DeliveryWindow::ALWAYS_OPEN),
        Some(w) if w.start >= w.end => Err(CrmError::invalid(
            "deliveryWindow",
            "start must be before end (or null for always open)",
        )),
        Some(w) => Ok(w),
    }
}

async fn update_tenant(
    State(deps): State<Deps>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TenantView>, CrmError> {
    let mut t = tenant_caller(&deps, &headers).await?;
    let req: TenantSettings = parse_json(&body)?;
    if let Some(name) = req.name {
        if name.trim().is_empty() {
            return Err(CrmError::invalid("name", "must not be empty"));
        }
        t.name = name;
    }
    if let Some(zone) = req.zone {
        if !tenant::is_known_zone(&zone) {
            return Err(CrmError::invalid(
                "zone",
                format!("unknown time zone {zone:?}"),
            ));
        }
        t.zone = zone;
    }
    if let Some(window) = req.delivery_window {
        t.delivery_window = checked_window(window)?;
    }
    if let Some(cap) = req.daily_cap {
        if cap == Some(0) {
            return Err(CrmError::invalid(
                "dailyCap",
                "must be at least 1 (or null for no cap)",
            ));
        }
        t.daily_cap = cap;
    }
    deps.store.put_tenant(&t).await?;
    Ok(Json(tenant_view(&deps, &t)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FriendQuery {
    /// Comma-separated tags the friend must have.
    #[serde(default)]
    tags: Option<String>,
    /// Comma-separated tags the friend must not have.
    #[serde(default)]
    not_tags: Option<String>,
    #[serde(default)]
    followed_from: Option<Timestamp>,
    #[serde(default)]
    followed_to: Option<Timestamp>,
    #[serde(default)]
    blocked: Option<bool>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
}

fn tag_list(field: &str, csv: Option<&str>) -> Result<Vec<TagName>, CrmError> {
    csv.unwrap_or_default()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| TagName::parse(s).map_err(|e| CrmError::invalid(field, e.to_string())))
        .collect()
}

async fn list_friends(
    State(deps): State<Deps>,
    headers: HeaderMap,
    query: Result<Query<FriendQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, CrmError> {
    let t = tenant_caller(&deps, &headers).await?;
    let Query(q) = query.map_err(|e| CrmError::BadRequest(e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(CrmError::invalid(
            "limit",
            format!("must be 1..={MAX_PAGE}"),
        ));
    }
    let filter = FriendFilter {
        has_tags: tag_list("tags", q.tags.as_deref())?,
        lacks_tags: tag_list("notTags", q.not_tags.as_deref())?,
        followed_from: q.followed_from,
        followed_until: q.followed_to,
        blocked: q.blocked,
        name_contains: q.name.filter(|n| !n.is_empty()),
    };
    let page = deps
        .store
        .list_friends(&t.id, &filter, limit, q.cursor.as_deref())
        .await?;
    Ok(Json(
        json!({ "friends": page.friends, "cursor": page.cursor }),
    ))
}

/// A definition body: YAML when the content type says so, JSON otherwise.
fn parse_definition<T>(
    headers: &HeaderMap,
    body: &[u8],
    json: impl Fn(&[u8]) -> Result<T, crate::domain::message::FieldError>,
    yaml: impl Fn(&str) -> Result<T, crate::domain::message::FieldError>,
) -> Result<T, CrmError> {
    let is_yaml = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("yaml"));
    let parsed = if is_yaml {
        let text = std::str::from_utf8(body)
            .map_err(|_| CrmError::BadRequest("YAML must be UTF-8".into()))?;
        yaml(text)
    } else {
        json(body)
    };
    parsed.map_err(|e| CrmError::invalid(e.field, e.message))
}

/// The path names the definition; a body naming another is refused rather than guessed at.
fn same_id(body_id: &str, path_id: &str) -> Result<(), CrmError> {
    if body_id == path_id {
        Ok(())
    } else {
        Err(CrmError::invalid(
            "id",
            format!("the body's id {body_id:?} differs from the path's {path_id:?}"),
        ))
    }
}

/// 201 for a definition's first version, 200 for a later one (or an unchanged re-apply).
fn saved(version: u32, body: serde_json::Value) -> Response {
    let status = if version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

pub(super) fn parse_user(user_id: &str) -> Result<LineUserId, CrmError> {
    // A malformed id cannot name any friend: answer as for an unknown one.
    LineUserId::parse(user_id).map_err(|_| CrmError::NotFound("friend"))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FriendView {
    #[serde(flatten)]
    friend: Friend,
    /// The score as of now, after the tenant's decay (`score` is as last written).
    current_score: i64,
    answers: Vec<crate::domain::survey::AnswerRecord>,
    purchases: Vec<crate::domain::purchase::Purchase>,
    history: Vec<HistoryEntry>,
}

async fn one_friend(
    State(deps): State<Deps>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Json<FriendView>, CrmError> {
    let t = tenant_caller(&deps, &headers).await?;
    let u = parse_user(&user_id)?;
    let friend = deps
        .store
        .get_friend(&t.id, &u)
        .await?
        .ok_or(CrmError::NotFound("friend"))?;
    let history = deps.store.friend_history(&t.id, &u, HISTORY_SHOWN).await?;
    let half_life = deps.store.scoring(&t.id).await?.half_life_days;
    Ok(Json(FriendView {
        current_score: friend.score_at(deps.clock.now(), half_life),
        answers: deps.store.friend_answers(&t.id, &u).await?,
        purchases: deps.store.friend_purchases(&t.id, &u).await?,
        friend,
        history,
    }))
}

/// Read the friend, apply `change`, write with the version read; retry on a concurrent write.
pub(crate) async fn update_friend(
    deps: &Deps,
    t: &Tenant,
    u: &LineUserId,
    change: impl Fn(&mut Friend) -> Result<(), CrmError>,
) -> Result<(Friend, Friend), CrmError> {
    let zone = t.time_zone();
    let now = deps.clock.now();
    let change = &change;
    let zone = &zone;
    let written = retry_on_conflict(|| async move {
        let before = deps
            .store
            .get_friend(&t.id, u)
            .await?
            .ok_or(CrmError::NotFound("friend"))?;
        let mut after = before.clone();
        change(&mut after)?;
        deps.store
            .save_friend(Some(&before), &after, zone, now)
            .await?;
        after.version = before.version + 1;
        Ok::<_, CrmError>((before, after))
    })
    .await?;
    written.ok_or_else(|| {
        CrmError::Conflict("the friend is being changed concurrently; try again".into())
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    tags: Vec<String>,
}

async fn add_tags(
    State(deps): State<Deps>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Result<Json<Friend>, CrmError> {
    let t = tenant_caller(&deps, &headers).await?;
    let u = parse_user(&user_id)?;
    let req: TagsBody = parse_json(&body)?;
    let tags = req
        .tags
        .iter()
        .enumerate()
        .map(|(i, s)| {
            TagName::parse(s).map_err(|e| CrmError::invalid(format!("tags[{i}]"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if tags.is_empty() {
        return Err(CrmError::invalid("tags", "give at least one tag"));
    }
    let now = deps.clock.now();
    // The new tags' FriendTagged event commits with them (the store's friend writes).
    let (_, after) = update_friend(&deps, &t, &u, |f| {
        for tag in &tags {
            f.add_tag(tag.clone(), now);
        }
        Ok(())
    })
    .await?;
    for tag in &tags {
        let def = TagDefinition {
            name: tag.clone(),
            folder: None,
            description: None,
            created_at: now,
        };
        deps.store.ensure_tag_definition(&t.id, &def).await?;
    }
    Ok(Json(after))
}

async fn remove_tag(
    State(deps): State<Deps>,
    headers: HeaderMap,
    Path((user_id, tag)): Path<(String, String)>,
) -> Result<Json<Friend>, CrmError> {
    let t = tenant_caller(&deps, &headers).await?;
    let u = parse_user(&user_id)?;
    let tag = TagName::parse(&tag).map_err(|e| CrmError::invalid("tag", e.to_string()))?;
    let (_, after) = update_friend(&deps, &t, &u, |f| {
        f.remove_tag(&tag);
        Ok(())
    })
    .await?;
    Ok(Json(after))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldsBody {
    /// Field → new value; `null` clears the field.
    fields: BTreeMap<String, Option<String>>,
}

const MAX_FIELD_NAME: usize = 64;
const MAX_FIELD_VALUE: usize = 1000;

async fn set_fields(
    State(deps): State<Deps>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Result<Json<Friend>, CrmError> {
    let t = tenant_caller(&deps, &headers).await?;
    let u = parse_user(&user_id)?;
    let req: FieldsBody = parse_json(&body)?;
    for (name, value) in &req.fields {
        let name_ok = (1..=MAX_FIELD_NAME).contains(&name.chars().count())
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(CrmError::invalid(
                format!("fields.{name}"),
                "field names are 1–64 letters, digits, '_' or '-'",
            ));
        }
        if value
            .as_ref()
            .is_some_and(|v| v.chars().count() > MAX_FIELD_VALUE)
        {
            return Err(CrmError::invalid(
                format!("fields.{name}"),
                "value longer than 1000 characters",
            ));
        }
    }
    let (_, after) = update_friend(&deps, &t, &u, |f| {
        f.set_fields(req.fields.clone());
        Ok(())
    })
    .await?;
    Ok(Json(after))
}

async fn list_tags(
    State(deps): State<Deps>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, CrmError> {
    let t = tenant_caller(&deps, &headers).await?;
    let defs = deps.store.tag_definitions(&t.id).await?;
    Ok(Json(json!({ "tags": defs })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagDefBody {
    #[serde(default)]
    folder: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

async fn define_tag(
    State(deps): State<Deps>,
    headers: HeaderMap,
    Path(tag): Path<String>,
    body: Bytes,
) -> Result<Json<TagDefinition>, CrmError> {
    let t = tenant_caller(&deps, &headers).await?;
    let name = TagName::parse(&tag).map_err(|e| CrmError::invalid("tag", e.to_string()))?;
    let req: TagDefBody = if body.is_empty() {
        TagDefBody::default()
    } else {
        parse_json(&body)?
    };
    let def = TagDefinition {
        name,
        folder: req.folder,
        description: req.description,
        created_at: deps.clock.now(),
    };
    deps.store.put_tag_definition(&t.id, &def).await?;
    Ok(Json(def))
}

async fn undefine_tag(
    State(deps): State<Deps>,
    headers: HeaderMap,
    Path(tag): Path<String>,
) -> Result<StatusCode, CrmError> {
    let t = tenant_caller(&deps, &headers).await?;
    let name = TagName::parse(&tag).map_err(|e| CrmError::invalid("tag", e.to_string()))?;
    if deps.store.delete_tag_definition(&t.id, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(CrmError::NotFound("tag"))
    }
}
