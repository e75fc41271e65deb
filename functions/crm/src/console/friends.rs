//! 友だち一覧 and 友だち詳細: the shop's friends, filtered and paged as the JSON API does, and
//! one friend with her tags, custom fields, score and recent actions. Owners and editors tag,
//! untag and edit fields through the same `crm::friends` functions as the API; viewers only look.
use std::collections::BTreeMap;

use askama::Template;
use axum::{
    extract::{Path, Query, State, rejection::QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use jiff::{Timestamp, tz::TimeZone};
use serde::Deserialize;

use super::{Chrome, ConsoleError, Editor, Labels, Posted, Staff, html};
use crate::{
    deps::Deps,
    domain::{
        Friend, LineUserId, TagName, Tenant,
        field_definition::{FieldDefinition, FieldKind},
        friend::check_field_name,
    },
    friends::{set_friend_fields, tag_friend, untag_friend},
    http::CrmError,
    store::{FriendFilter, HistoryEntry},
};

/// Friends on one page of the list: a phone scrolls through 50 comfortably.
const PAGE: usize = 50;
/// Actions shown on a friend's page, newest first.
const HISTORY_SHOWN: usize = 30;

/// The list's filters, as the filter form sends them (empty fields mean "any").
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    pub(super) tag: String,
    #[serde(default)]
    pub(super) not_tag: String,
    #[serde(default)]
    pub(super) name: String,
    /// "", "yes" or "no".
    #[serde(default)]
    pub(super) blocked: String,
    #[serde(default)]
    pub(super) route: String,
    /// A custom field and the value it must have.
    #[serde(default)]
    pub(super) field: String,
    #[serde(default)]
    pub(super) field_value: String,
    /// Follow dates, first and last day included (`2026-04-01`, the shop's zone).
    #[serde(default)]
    pub(super) from: String,
    #[serde(default)]
    pub(super) until: String,
    #[serde(default)]
    pub(super) cursor: Option<String>,
}

impl ListQuery {
    pub(super) fn filter(&self, zone: &TimeZone) -> Result<FriendFilter, ConsoleError> {
        let tag = |s: &str| -> Result<Vec<TagName>, ConsoleError> {
            match s.trim() {
                "" => Ok(Vec::new()),
                t => Ok(vec![TagName::parse(t).map_err(|_| ConsoleError::BadForm)?]),
            }
        };
        // A day's first instant; `until` takes the first instant of the day after, less 1 ms.
        let day = |s: &str, after: i64| -> Result<Option<Timestamp>, ConsoleError> {
            match s.trim() {
                "" => Ok(None),
                d => d
                    .parse::<jiff::civil::Date>()
                    .ok()
                    .and_then(|d| d.checked_add(jiff::Span::new().days(after)).ok())
                    .and_then(|d| d.to_zoned(zone.clone()).ok())
                    .map(|z| Some(z.timestamp() - jiff::SignedDuration::from_millis(after)))
                    .ok_or(ConsoleError::BadForm),
            }
        };
        let field = self.field.trim();
        let fields = if field.is_empty() {
            Vec::new()
        } else {
            check_field_name(field, "field").map_err(|_| ConsoleError::BadForm)?;
            vec![(field.to_owned(), self.field_value.trim().to_owned())]
        };
        Ok(FriendFilter {
            has_tags: tag(&self.tag)?,
            lacks_tags: tag(&self.not_tag)?,
            blocked: match self.blocked.as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
            name_contains: Some(self.name.trim().to_owned()).filter(|n| !n.is_empty()),
            route: Some(self.route.trim().to_owned()).filter(|r| !r.is_empty()),
            fields,
            followed_from: day(&self.from, 0)?,
            followed_until: day(&self.until, 1)?,
        })
    }

    /// The query of the next page: these filters and `cursor` ("": the filters alone).
    pub(super) fn next(&self, cursor: &str) -> String {
        let pairs = [
            ("tag", self.tag.as_str()),
            ("not_tag", self.not_tag.as_str()),
            ("name", self.name.as_str()),
            ("blocked", self.blocked.as_str()),
            ("route", self.route.as_str()),
            ("field", self.field.as_str()),
            ("field_value", self.field_value.as_str()),
            ("from", self.from.as_str()),
            ("until", self.until.as_str()),
            ("cursor", cursor),
        ];
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
            .finish()
    }
}

/// A friend as a row of the list.
struct Row {
    user_id: String,
    name: String,
    followed: String,
    blocked: bool,
    tags: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/friends.html")]
struct ListPage {
    l: &'static Labels,
    me: Option<Chrome>,
    q: ListQuery,
    rows: Vec<Row>,
    next: Option<String>,
    /// The filters as a query string, for the CSV link.
    filters: String,
    csrf: String,
    can_edit: bool,
}

/// `GET /console/friends`
pub(super) async fn list(
    staff: Staff,
    State(deps): State<Deps>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ConsoleError> {
    let Query(q) = query.map_err(|_| ConsoleError::BadForm)?;
    let zone = staff.tenant.time_zone();
    let page = deps
        .store
        .list_friends(
            &staff.tenant.id,
            &q.filter(&zone)?,
            PAGE,
            q.cursor.as_deref(),
        )
        .await
        .map_err(CrmError::from)?;
    let rows = page
        .friends
        .iter()
        .map(|f| Row {
            user_id: f.user_id.as_str().to_owned(),
            name: display_name(f),
            followed: local(f.followed_at, &zone),
            blocked: f.blocked,
            tags: f.tags.keys().map(|t| t.as_str().to_owned()).collect(),
        })
        .collect();
    let next = page.cursor.as_deref().map(|c| q.next(c));
    Ok(html(
        StatusCode::OK,
        &ListPage {
            l: staff.lang.labels(),
            me: Some(Chrome::of(&staff)),
            filters: q.next(""),
            q,
            rows,
            next,
            csrf: staff.csrf.clone(),
            can_edit: staff.role.can_edit(),
        },
    ))
}

#[derive(Template)]
#[template(path = "console/friend.html")]
struct FriendPage {
    l: &'static Labels,
    me: Option<Chrome>,
    csrf: String,
    can_edit: bool,
    user_id: String,
    name: String,
    followed: String,
    route: String,
    blocked: bool,
    score: i64,
    /// Tag and when it was added (local time).
    tags: Vec<(String, String)>,
    /// The shop's defined fields (友だち情報欄), each with the friend's value ("" for none).
    defined: Vec<(FieldDefinition, String)>,
    /// Her other fields, free text.
    fields: BTreeMap<String, String>,
    /// When and what (`message`, `postback`, `follow`…), newest first.
    history: Vec<(String, String)>,
    /// Scenarios, deliveries, answers and purchases, each a small table.
    sections: Vec<Section>,
}

/// A titled table of the friend's page; an empty one is not shown.
struct Section {
    title: &'static str,
    rows: Vec<Vec<String>>,
}

impl Section {
    /// One row of cells per item.
    fn new<T>(title: &'static str, items: &[T], row: impl Fn(&T) -> Vec<String>) -> Self {
        Self {
            title,
            rows: items.iter().map(row).collect(),
        }
    }
}

/// `GET /console/friends/{userId}`
pub(super) async fn one(
    staff: Staff,
    State(deps): State<Deps>,
    Path(user_id): Path<String>,
) -> Result<Response, ConsoleError> {
    let u = LineUserId::parse(&user_id).map_err(|_| ConsoleError::NotFound)?;
    let t = &staff.tenant;
    let friend = deps
        .store
        .get_friend(&t.id, &u)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let now = deps.clock.now();
    // Independent reads: one round trip's wait instead of six.
    let (history, scoring, enrollments, deliveries, answers, purchases, defs) = tokio::try_join!(
        deps.store.friend_history(&t.id, &u, HISTORY_SHOWN, now),
        deps.store.scoring(&t.id),
        deps.store.friend_enrollments(&t.id, &u),
        deps.store.friend_deliveries(&t.id, &u),
        deps.store.friend_answers(&t.id, &u),
        deps.store.friend_purchases(&t.id, &u),
        deps.store.field_definitions(&t.id),
    )?;
    let mut fields = friend.fields.clone();
    let defined = defs
        .into_iter()
        .map(|def| {
            let value = fields.remove(&def.name).unwrap_or_default();
            (def, value)
        })
        .collect();
    let half_life = scoring.half_life_days;
    let zone = t.time_zone();
    let l = staff.lang.labels();
    let sections = vec![
        Section::new(l.scenarios, &enrollments, |e| {
            vec![
                format!("{} v{}", e.scenario, e.version),
                wire_name(&e.state),
                e.next_due_at.map(|at| local(at, &zone)).unwrap_or_default(),
            ]
        }),
        Section::new(l.deliveries, &deliveries, |d| {
            vec![
                local(d.at, &zone),
                format!("{} / {}", d.scenario, d.step),
                wire_name(&d.status),
                // LINE's reason for a failure, never the text we sent.
                d.error.clone().unwrap_or_default(),
            ]
        }),
        Section::new(l.answers, &answers, |a| {
            let given = match &a.text {
                Some(text) => text.clone(),
                None => a
                    .choices
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            vec![
                local(a.answered_at, &zone),
                format!("{} / {}", a.survey, a.question),
                given,
            ]
        }),
        Section::new(l.purchases, &purchases, |p| {
            vec![
                local(p.purchased_at, &zone),
                format!("¥{}", p.amount),
                p.products().join(", "),
            ]
        }),
    ];
    let page = FriendPage {
        l,
        me: Some(Chrome::of(&staff)),
        csrf: staff.csrf.clone(),
        can_edit: staff.role.can_edit(),
        user_id: u.as_str().to_owned(),
        name: display_name(&friend),
        followed: local(friend.followed_at, &zone),
        route: friend.route.clone().unwrap_or_default(),
        blocked: friend.blocked,
        score: friend.score_at(now, half_life),
        tags: friend
            .tags
            .iter()
            .map(|(t, at)| (t.as_str().to_owned(), local(*at, &zone)))
            .collect(),
        defined,
        fields,
        history: history.iter().map(|h| action(h, &zone)).collect(),
        sections,
    };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub(super) struct TagForm {
    tag: String,
}

/// `POST /console/friends/{userId}/tags`: one tag, defined on the way if new.
pub(super) async fn add_tag(
    State(deps): State<Deps>,
    Path(user_id): Path<String>,
    posted: Posted<TagForm, Editor>,
) -> Result<Response, ConsoleError> {
    let (t, u, tag) = tag_change(&user_id, &posted)?;
    tag_friend(&deps, t, &u, &[tag]).await?;
    Ok(back_to(&u))
}

/// `POST /console/friends/{userId}/tags/remove`
pub(super) async fn remove_tag(
    State(deps): State<Deps>,
    Path(user_id): Path<String>,
    posted: Posted<TagForm, Editor>,
) -> Result<Response, ConsoleError> {
    let (t, u, tag) = tag_change(&user_id, &posted)?;
    untag_friend(&deps, t, &u, &tag).await?;
    Ok(back_to(&u))
}

/// The shop, the friend and the tag a tag form names.
fn tag_change<'a>(
    user_id: &str,
    posted: &'a Posted<TagForm, Editor>,
) -> Result<(&'a Tenant, LineUserId, TagName), ConsoleError> {
    let tag = TagName::parse(posted.form.tag.trim()).map_err(|_| ConsoleError::BadForm)?;
    Ok((&posted.who.0.tenant, parse_user(user_id)?, tag))
}

#[derive(Debug, Deserialize)]
pub(super) struct FieldForm {
    name: String,
    /// Empty clears the field.
    #[serde(default)]
    value: String,
}

/// `POST /console/friends/{userId}/fields`: sets (or, empty, clears) one custom field.
pub(super) async fn set_field(
    State(deps): State<Deps>,
    Path(user_id): Path<String>,
    posted: Posted<FieldForm, Editor>,
) -> Result<Response, ConsoleError> {
    let (t, u) = (&posted.who.0.tenant, parse_user(&user_id)?);
    let FieldForm { name, value } = posted.form;
    let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    set_friend_fields(
        &deps,
        t,
        &u,
        &BTreeMap::from([(name.trim().to_owned(), value)]),
    )
    .await?;
    Ok(back_to(&u))
}

fn parse_user(user_id: &str) -> Result<LineUserId, ConsoleError> {
    LineUserId::parse(user_id).map_err(|_| ConsoleError::NotFound)
}

/// After a change, the friend's page again (POST, redirect, GET: a reload repeats nothing).
fn back_to(u: &LineUserId) -> Response {
    Redirect::to(&format!("/console/friends/{}", u.as_str())).into_response()
}

/// A state or status as the API spells it (`active`, `sent`, `failed`…).
pub(super) fn wire_name(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(super) fn display_name(f: &Friend) -> String {
    f.profile
        .display_name
        .clone()
        .unwrap_or_else(|| "（名前未取得）".to_owned())
}

/// An instant as the shop reads it: its own zone, to the minute.
pub(super) fn local(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// One action of the history: when, and its kind with the message type or postback data.
fn action(h: &HistoryEntry, zone: &TimeZone) -> (String, String) {
    let detail = match h.kind.as_str() {
        "message" => h.raw["message"]["type"].as_str().unwrap_or_default(),
        "postback" => h.raw["postback"]["data"].as_str().unwrap_or_default(),
        _ => "",
    };
    let what = if detail.is_empty() {
        h.kind.clone()
    } else {
        format!("{} ({detail})", h.kind)
    };
    (local(h.at, zone), what)
}
