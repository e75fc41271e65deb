//! Friends through the admin API: the list (filters, pages), one friend with answers, purchases
//! and history, and the marketer's changes to tags and custom fields.
use std::collections::BTreeMap;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State, rejection::QueryRejection},
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    auth::Caller,
    body::{FriendInPath, parse_tag, parse_user},
};
use crate::{
    deps::Deps,
    domain::{
        Friend, TagName,
        field_error::{check_name, check_note},
        friend::check_field_name,
    },
    friends::{
        BULK_BATCH, BulkProgress, BulkTagging, bulk_tag, set_friend_fields, tag_friend,
        untag_friend,
    },
    http::{CrmError, parse_json},
    store::{FriendFilter, HistoryEntry},
};

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 200;
const HISTORY_SHOWN: usize = 50;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct FriendQuery {
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
    /// The friend's inflow route.
    #[serde(default)]
    route: Option<String>,
    /// A custom field the friend has with the value `fieldValue`.
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    field_value: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
}

/// Tags a search may name at once: a filter is evaluated per friend read, and a marketer's
/// segment never needs more.
const MAX_FILTER_TAGS: usize = 20;

fn tag_list(field: &str, csv: Option<&str>) -> Result<Vec<TagName>, CrmError> {
    let tags: Vec<TagName> = csv
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_tag(field, s))
        .collect::<Result<_, _>>()?;
    if tags.len() > MAX_FILTER_TAGS {
        return Err(CrmError::invalid(
            field,
            format!("at most {MAX_FILTER_TAGS} tags"),
        ));
    }
    Ok(tags)
}

impl FriendQuery {
    fn filter(&self) -> Result<FriendFilter, CrmError> {
        let name = self.name.clone().filter(|n| !n.is_empty());
        if let Some(name) = &name {
            check_name("name", name)?;
        }
        Ok(FriendFilter {
            has_tags: tag_list("tags", self.tags.as_deref())?,
            lacks_tags: tag_list("notTags", self.not_tags.as_deref())?,
            followed_from: self.followed_from,
            followed_until: self.followed_to,
            blocked: self.blocked,
            name_contains: name,
            route: self.route.clone().filter(|r| !r.is_empty()),
            fields: field_filter(self.field.as_deref(), self.field_value.as_deref())?,
        })
    }
}

/// `field` and `fieldValue` together: the friends whose custom field has that value.
fn field_filter(
    field: Option<&str>,
    value: Option<&str>,
) -> Result<Vec<(String, String)>, CrmError> {
    match (field.filter(|f| !f.is_empty()), value) {
        (None, _) => Ok(Vec::new()),
        (Some(field), Some(value)) => {
            check_field_name(field, "field")?;
            check_note("fieldValue", value)?;
            Ok(vec![(field.to_owned(), value.to_owned())])
        }
        (Some(_), None) => Err(CrmError::invalid("fieldValue", "give it with field")),
    }
}

/// What a bulk tagging call does: exactly one of `add` and `remove`, from `cursor` if given.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct BulkTagsBody {
    #[serde(default)]
    add: Option<String>,
    #[serde(default)]
    remove: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// `POST /admin/friends/bulk-tags?tags=&notTags=&…` (the list's filters) with `{"add": tag}`
/// or `{"remove": tag}`: changes at most `BULK_BATCH` friends and returns the cursor to go on
/// from.
pub(super) async fn bulk_tags(
    t: Caller,
    State(deps): State<Deps>,
    query: Result<Query<FriendQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<BulkProgress>, CrmError> {
    let Query(q) = query.map_err(|e| CrmError::BadRequest(e.body_text()))?;
    let body: BulkTagsBody = parse_json(&body)?;
    let change = match (body.add.as_deref(), body.remove.as_deref()) {
        (Some(tag), None) => BulkTagging::Add(parse_tag("add", tag)?),
        (None, Some(tag)) => BulkTagging::Remove(parse_tag("remove", tag)?),
        _ => {
            return Err(CrmError::invalid(
                "add",
                "give exactly one of add and remove",
            ));
        }
    };
    let progress = bulk_tag(
        &deps,
        &t.tenant,
        &q.filter()?,
        &change,
        body.cursor.as_deref(),
        BULK_BATCH,
    )
    .await?;
    Ok(Json(progress))
}

/// `GET /admin/friends?tags=&notTags=&followedFrom=&followedTo=&blocked=&name=&route=&field=&fieldValue=&limit=&cursor=`
pub(super) async fn list(
    t: Caller,
    State(deps): State<Deps>,
    query: Result<Query<FriendQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, CrmError> {
    let Query(q) = query.map_err(|e| CrmError::BadRequest(e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(CrmError::invalid(
            "limit",
            format!("must be 1..={MAX_PAGE}"),
        ));
    }
    let filter = q.filter()?;
    let page = deps
        .store
        .list_friends(&t.id, &filter, limit, q.cursor.as_deref())
        .await?;
    Ok(Json(
        json!({ "friends": page.friends, "cursor": page.cursor }),
    ))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FriendView {
    #[serde(flatten)]
    friend: Friend,
    /// The score as of now, after the tenant's decay (`score` is as last written).
    current_score: i64,
    answers: Vec<crate::domain::survey::AnswerRecord>,
    purchases: Vec<crate::domain::purchase::Purchase>,
    history: Vec<HistoryEntry>,
}

/// `GET /admin/friends/{userId}`
pub(super) async fn one(
    t: Caller,
    State(deps): State<Deps>,
    FriendInPath(u): FriendInPath,
) -> Result<Json<FriendView>, CrmError> {
    let friend = deps
        .store
        .get_friend(&t.id, &u)
        .await?
        .ok_or(CrmError::NotFound("friend"))?;
    let history = deps
        .store
        .friend_history(&t.id, &u, HISTORY_SHOWN, deps.clock.now())
        .await?;
    let half_life = deps.store.scoring(&t.id).await?.half_life_days;
    Ok(Json(FriendView {
        current_score: friend.score_at(deps.clock.now(), half_life),
        answers: deps.store.friend_answers(&t.id, &u).await?,
        purchases: deps.store.friend_purchases(&t.id, &u).await?,
        friend,
        history,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    tags: Vec<String>,
}

/// `POST /admin/friends/{userId}/tags` `{tags: […]}`: unknown tags are defined on the way.
pub(super) async fn add_tags(
    t: Caller,
    State(deps): State<Deps>,
    FriendInPath(u): FriendInPath,
    body: Bytes,
) -> Result<Json<Friend>, CrmError> {
    let req: TagsBody = parse_json(&body)?;
    let tags = req
        .tags
        .iter()
        .enumerate()
        .map(|(i, s)| parse_tag(format!("tags[{i}]"), s))
        .collect::<Result<Vec<_>, _>>()?;
    if tags.is_empty() {
        return Err(CrmError::invalid("tags", "give at least one tag"));
    }
    let after = tag_friend(&deps, &t, &u, &tags).await?;
    Ok(Json(after))
}

/// `DELETE /admin/friends/{userId}/tags/{tag}`
pub(super) async fn remove_tag(
    t: Caller,
    State(deps): State<Deps>,
    Path((user_id, tag)): Path<(String, String)>,
) -> Result<Json<Friend>, CrmError> {
    let u = parse_user(&user_id)?;
    let tag = parse_tag("tag", &tag)?;
    Ok(Json(untag_friend(&deps, &t, &u, &tag).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldsBody {
    /// Field → new value; `null` clears the field.
    fields: BTreeMap<String, Option<String>>,
}

/// `PATCH /admin/friends/{userId}/fields` `{fields: {name: value | null}}`
pub(super) async fn set_fields(
    t: Caller,
    State(deps): State<Deps>,
    FriendInPath(u): FriendInPath,
    body: Bytes,
) -> Result<Json<Friend>, CrmError> {
    let req: FieldsBody = parse_json(&body)?;
    let after = set_friend_fields(&deps, &t, &u, &req.fields).await?;
    Ok(Json(after))
}
