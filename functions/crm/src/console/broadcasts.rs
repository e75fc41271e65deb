//! 一斉配信: the shop's broadcasts with their progress, a new broadcast built from form fields
//! (message, segment, when) with its recipients counted and its messages previewed as LINE
//! shows them, and one broadcast's delivery report. Everything goes through `crate::broadcasts`,
//! the functions the admin API calls; viewers see the pages without their forms.
use std::sync::LazyLock;

use askama::Template;
use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use jiff::{SignedDuration, Timestamp, civil, tz::TimeZone};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Chrome, ConsoleError, Editor, Labels, Posted, Staff,
    friends::{local, wire_name},
    html,
};
use crate::{
    broadcasts,
    deps::Deps,
    domain::{
        TagName,
        broadcast::{Broadcast, BroadcastRequest, BroadcastState, Segment},
        condition::{Condition, FieldOp},
        field_error::FieldError,
        message::{RenderContext, render},
    },
    http::CrmError,
};

/// The new-broadcast page's script (a live recipient count), embedded like the stylesheet.
const BROADCAST_JS: &str = include_str!("../../templates/console/broadcast.js");

/// The script's URL, versioned by its content so it can be cached for a year.
pub static BROADCAST_JS_URL: LazyLock<String> = LazyLock::new(|| {
    let hash = crate::secret::sha256_hex(BROADCAST_JS);
    format!("/console/assets/broadcast.js?v={}", &hash[..12])
});

/// `GET /console/assets/broadcast.js`
pub(super) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        BROADCAST_JS,
    )
        .into_response()
}

/// A state as the shop reads it.
pub(super) fn state_name(l: &Labels, s: BroadcastState) -> &'static str {
    match s {
        BroadcastState::Scheduled => l.state_scheduled,
        BroadcastState::Running => l.state_running,
        BroadcastState::Done => l.state_done,
        BroadcastState::Cancelled => l.state_cancelled,
    }
}

/// When the broadcast was asked to start: its `sendAt`, or its creation for "now".
pub(super) fn planned_start(b: &Broadcast) -> Timestamp {
    b.request.send_at.unwrap_or(b.created_at)
}

/// A broadcast as a row of the list.
struct Row {
    id: String,
    name: String,
    state: &'static str,
    starts: String,
    sent: u64,
    total: u64,
    failed: u64,
}

#[derive(Template)]
#[template(path = "console/broadcasts.html")]
struct ListPage {
    l: &'static Labels,
    me: Option<Chrome>,
    can_edit: bool,
    rows: Vec<Row>,
}

/// `GET /console/broadcasts`
pub(super) async fn list(staff: Staff, State(deps): State<Deps>) -> Result<Response, ConsoleError> {
    let l = staff.lang.labels();
    let zone = staff.tenant.time_zone();
    let rows = deps
        .store
        .broadcasts(&staff.tenant.id)
        .await?
        .iter()
        .map(|b| Row {
            id: b.id.clone(),
            name: b.request.name.clone(),
            state: state_name(l, b.state),
            starts: local(planned_start(b), &zone),
            sent: b.progress.sent,
            total: broadcasts::reached(b),
            failed: b.progress.failed,
        })
        .collect();
    let page = ListPage {
        l,
        me: Some(Chrome::of(&staff)),
        can_edit: staff.role.can_edit(),
        rows,
    };
    Ok(html(StatusCode::OK, &page))
}

/// The new-broadcast form as posted: every field text, so a refused form comes back as typed.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Draft {
    #[serde(default)]
    name: String,
    /// One text message: the usual case.
    #[serde(default)]
    text: String,
    /// A JSON array of LINE message objects; replaces `text` when given.
    #[serde(default)]
    messages_json: String,
    /// Tag lists, comma separated.
    #[serde(default)]
    all_tags: String,
    #[serde(default)]
    any_tags: String,
    #[serde(default)]
    none_tags: String,
    #[serde(default)]
    routes: String,
    #[serde(default)]
    field_name: String,
    #[serde(default)]
    field_op: String,
    #[serde(default)]
    field_value: String,
    #[serde(default)]
    purchase_count_op: String,
    #[serde(default)]
    purchase_count: String,
    #[serde(default)]
    purchase_total_op: String,
    #[serde(default)]
    purchase_total: String,
    /// Days (`YYYY-MM-DD`) in the shop's zone, both included.
    #[serde(default)]
    followed_from: String,
    #[serde(default)]
    followed_to: String,
    /// `datetime-local` in the shop's zone.
    #[serde(default)]
    send_at: String,
    /// Which button: `count`, `send` or `schedule`.
    #[serde(default)]
    action: String,
}

/// Why a draft cannot be sent (or counted) as it is: a label, or a refused field by its path.
enum Refusal {
    Said(fn(&Labels) -> &'static str),
    Field(FieldError),
}

impl From<FieldError> for Refusal {
    fn from(e: FieldError) -> Self {
        Refusal::Field(e)
    }
}

/// The comparisons the form offers, as `FieldOp`'s wire names (the option values).
const FIELD_OPS: [&str; 9] = [
    "eq", "ne", "contains", "gte", "lte", "gt", "lt", "exists", "missing",
];
const NUMBER_OPS: [&str; 6] = ["gte", "lte", "eq", "ne", "gt", "lt"];

fn op_name(l: &Labels, op: &str) -> &'static str {
    match op {
        "eq" => l.op_eq,
        "ne" => l.op_ne,
        "contains" => l.op_contains,
        "gte" => l.op_gte,
        "lte" => l.op_lte,
        "gt" => l.op_gt,
        "lt" => l.op_lt,
        "exists" => l.op_exists,
        _ => l.op_missing,
    }
}

fn parse_op(op: &str, field: &str) -> Result<FieldOp, FieldError> {
    serde_json::from_value(Value::String(op.to_owned()))
        .map_err(|_| FieldError::new(field, "unknown comparison"))
}

/// `a, b、c` → tags; commas (either width) and new lines separate.
fn tag_list(s: &str, field: &str) -> Result<Vec<TagName>, FieldError> {
    words(s)
        .map(|t| TagName::parse(t).map_err(|_| FieldError::new(field, "not a tag name")))
        .collect()
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split([',', '、', '，', '\n'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
}

/// A number compared with `op` (purchases), when the number is given.
fn amount(value: &str, op: &str, field: &str) -> Result<Option<(FieldOp, i64)>, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let n = value
        .parse::<i64>()
        .map_err(|_| FieldError::new(field, "not a whole number"))?;
    Ok(Some((parse_op(op, field)?, n)))
}

/// The start of `day` (`YYYY-MM-DD`) in the shop's zone; `end`: the last instant of that day.
fn day_bound(
    day: &str,
    zone: &TimeZone,
    end: bool,
    field: &str,
) -> Result<Option<Timestamp>, FieldError> {
    let day = day.trim();
    if day.is_empty() {
        return Ok(None);
    }
    let bad = || FieldError::new(field, "not a date");
    let date: civil::Date = day.parse().map_err(|_| bad())?;
    let date = if end {
        date.tomorrow().map_err(|_| bad())?
    } else {
        date
    };
    let start = date.to_zoned(zone.clone()).map_err(|_| bad())?.timestamp();
    Ok(Some(if end {
        start - SignedDuration::from_nanos(1)
    } else {
        start
    }))
}

impl Draft {
    /// The segment the fields describe: exactly what `POST /admin/broadcasts` takes as JSON.
    fn segment(&self, zone: &TimeZone) -> Result<Segment, FieldError> {
        let mut fields = Vec::new();
        if !self.field_name.trim().is_empty() {
            let value = Some(self.field_value.trim().to_owned()).filter(|v| !v.is_empty());
            fields.push(Condition::Field {
                name: self.field_name.trim().to_owned(),
                op: parse_op(&self.field_op, "field_op")?,
                value,
            });
        }
        if let Some((op, value)) = amount(
            &self.purchase_count,
            &self.purchase_count_op,
            "purchase_count",
        )? {
            fields.push(Condition::PurchaseCount { op, value });
        }
        if let Some((op, value)) = amount(
            &self.purchase_total,
            &self.purchase_total_op,
            "purchase_total",
        )? {
            fields.push(Condition::PurchaseTotal { op, value });
        }
        let segment = Segment {
            all_tags: tag_list(&self.all_tags, "all_tags")?,
            any_tags: tag_list(&self.any_tags, "any_tags")?,
            none_tags: tag_list(&self.none_tags, "none_tags")?,
            fields,
            followed_from: day_bound(&self.followed_from, zone, false, "followed_from")?,
            followed_to: day_bound(&self.followed_to, zone, true, "followed_to")?,
            routes: words(&self.routes).map(str::to_owned).collect(),
        };
        segment.validate("segment")?;
        Ok(segment)
    }

    /// The messages: the JSON array when given, else one text message (none when both empty).
    fn messages(&self) -> Result<Vec<Value>, FieldError> {
        if !self.messages_json.trim().is_empty() {
            return serde_json::from_str::<Vec<Value>>(&self.messages_json)
                .map_err(|e| FieldError::new("messages_json", e.to_string()));
        }
        Ok(match self.text.trim() {
            "" => Vec::new(),
            _ => vec![json!({ "type": "text", "text": self.text.trim_end() })],
        })
    }

    /// `send_at` as an instant: the form's local time read in the shop's zone.
    fn send_at(&self, zone: &TimeZone) -> Result<Option<Timestamp>, FieldError> {
        let at = self.send_at.trim();
        if at.is_empty() {
            return Ok(None);
        }
        let bad = || FieldError::new("send_at", "not a date and time");
        let local: civil::DateTime = at.parse().map_err(|_| bad())?;
        Ok(Some(
            local.to_zoned(zone.clone()).map_err(|_| bad())?.timestamp(),
        ))
    }

    /// The request the buttons `send` and `schedule` make.
    fn request(
        &self,
        zone: &TimeZone,
        now: Timestamp,
        scheduled: bool,
    ) -> Result<BroadcastRequest, Refusal> {
        let messages = self.messages()?;
        if messages.is_empty() {
            return Err(Refusal::Said(|l| l.message_required));
        }
        let send_at = if scheduled {
            match self.send_at(zone)? {
                None => return Err(Refusal::Said(|l| l.send_at_required)),
                Some(at) if at <= now => return Err(Refusal::Said(|l| l.send_at_past)),
                at => at,
            }
        } else {
            None
        };
        let request = BroadcastRequest {
            name: self.name.trim().to_owned(),
            segment: self.segment(zone)?,
            messages,
            send_at,
            transactional: false,
        };
        request.validate()?;
        Ok(request)
    }
}

/// One speech bubble of the preview: a text as the friend reads it, or the kind of message.
pub(super) struct Bubble {
    text: Option<String>,
    kind: String,
}

/// The messages as the multicast sends them (placeholders take their fallbacks), as bubbles.
fn bubbles(messages: &[Value]) -> Vec<Bubble> {
    render(messages, &RenderContext::default())
        .iter()
        .map(|m| Bubble {
            text: m["text"].as_str().map(str::to_owned),
            kind: m["type"].as_str().unwrap_or("?").to_owned(),
        })
        .collect()
}

/// An option of a comparison's select.
struct Choice {
    value: &'static str,
    name: &'static str,
}

#[derive(Template)]
#[template(path = "console/broadcast_new.html")]
struct NewPage {
    l: &'static Labels,
    me: Option<Chrome>,
    csrf: String,
    zone: String,
    d: Draft,
    field_ops: Vec<Choice>,
    number_ops: Vec<Choice>,
    /// Friends the segment reaches, once counted.
    count: Option<u64>,
    preview: Vec<Bubble>,
    error: Option<String>,
}

impl NewPage {
    fn new(staff: &Staff, d: Draft) -> Self {
        let l = staff.lang.labels();
        let named = |ops: &[&'static str]| {
            ops.iter()
                .map(|op| Choice {
                    value: op,
                    name: op_name(l, op),
                })
                .collect()
        };
        let preview = d.messages().map(|m| bubbles(&m)).unwrap_or_default();
        Self {
            l,
            me: Some(Chrome::of(staff)),
            csrf: staff.csrf.clone(),
            zone: staff.tenant.zone.clone(),
            d,
            field_ops: named(&FIELD_OPS),
            number_ops: named(&NUMBER_OPS),
            count: None,
            preview,
            error: None,
        }
    }

    fn refused(mut self, r: Refusal) -> Response {
        self.error = Some(match r {
            Refusal::Said(label) => label(self.l).to_owned(),
            Refusal::Field(e) => format!("{}: {} ({})", self.l.check_input, e.field, e.message),
        });
        html(StatusCode::UNPROCESSABLE_ENTITY, &self)
    }
}

/// `GET /console/broadcasts/new`
pub(super) async fn new(Editor(staff): Editor) -> Response {
    let d = Draft {
        field_op: "eq".into(),
        purchase_count_op: "gte".into(),
        purchase_total_op: "gte".into(),
        ..Draft::default()
    };
    html(StatusCode::OK, &NewPage::new(&staff, d))
}

/// `POST /console/broadcasts`: counts the recipients (the form again, with its count and
/// preview), or sends now, or schedules; a refused form comes back with its fields as typed.
pub(super) async fn create(
    State(deps): State<Deps>,
    Posted { who, form }: Posted<Draft, Editor>,
) -> Result<Response, ConsoleError> {
    let staff = who.0;
    let zone = staff.tenant.time_zone();
    let now = deps.clock.now();
    let action = form.action.clone();
    let mut page = NewPage::new(&staff, form);
    match action.as_str() {
        "send" | "schedule" => {
            let request = match page.d.request(&zone, now, action == "schedule") {
                Ok(r) => r,
                Err(r) => return Ok(page.refused(r)),
            };
            let b = match broadcasts::schedule(&deps, &staff.tenant, request).await {
                Ok(b) => b,
                Err(CrmError::Invalid { field, message }) => {
                    return Ok(page.refused(Refusal::Field(FieldError { field, message })));
                }
                Err(e) => return Err(e.into()),
            };
            Ok(Redirect::to(&format!("/console/broadcasts/{}", b.id)).into_response())
        }
        _ => {
            let segment = match page.d.segment(&zone) {
                Ok(s) => s,
                Err(e) => return Ok(page.refused(e.into())),
            };
            page.count = Some(broadcasts::audience(&deps, &staff.tenant, &segment).await?);
            Ok(html(StatusCode::OK, &page))
        }
    }
}

/// `POST /console/broadcasts/audience`: the form's recipient count as JSON `{count}`, for the
/// page's script; a segment that cannot be read is 422.
pub(super) async fn audience(
    State(deps): State<Deps>,
    Posted { who, form }: Posted<Draft, Editor>,
) -> Result<Response, ConsoleError> {
    let t = &who.tenant;
    let Ok(segment) = form.segment(&t.time_zone()) else {
        return Ok(StatusCode::UNPROCESSABLE_ENTITY.into_response());
    };
    let count = broadcasts::audience(&deps, t, &segment).await?;
    Ok(Json(json!({ "count": count })).into_response())
}

#[derive(Template)]
#[template(path = "console/broadcast.html")]
struct OnePage {
    l: &'static Labels,
    me: Option<Chrome>,
    csrf: String,
    can_cancel: bool,
    id: String,
    name: String,
    state: &'static str,
    starts: String,
    finished: String,
    sent: u64,
    total: u64,
    failed: u64,
    capped: u64,
    /// The segment in the form's words: (what, value); empty for every friend.
    segment: Vec<(&'static str, String)>,
    preview: Vec<Bubble>,
    /// Chunk, recipients, status, when, LINE's request id, LINE's reason.
    chunks: Vec<[String; 6]>,
}

/// `GET /console/broadcasts/{id}`: progress, the messages, and the delivery report.
pub(super) async fn one(
    staff: Staff,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let (b, chunks) = broadcasts::report(&deps, &staff.tenant, &id).await?;
    let zone = staff.tenant.time_zone();
    let l = staff.lang.labels();
    let page = OnePage {
        l,
        me: Some(Chrome::of(&staff)),
        csrf: staff.csrf.clone(),
        can_cancel: staff.role.can_edit() && b.state == BroadcastState::Scheduled,
        id: b.id.clone(),
        name: b.request.name.clone(),
        state: state_name(l, b.state),
        starts: local(planned_start(&b), &zone),
        finished: b.finished_at.map(|at| local(at, &zone)).unwrap_or_default(),
        sent: b.progress.sent,
        total: broadcasts::reached(&b),
        failed: b.progress.failed,
        capped: b.progress.capped,
        segment: describe(l, &b.request.segment, &zone),
        preview: bubbles(&b.request.messages),
        chunks: chunks
            .iter()
            .map(|c| {
                [
                    (c.index + 1).to_string(),
                    c.recipients.to_string(),
                    match c.status.as_str() {
                        "sent" => l.sent.to_owned(),
                        "failed" => l.failed.to_owned(),
                        other => other.to_owned(),
                    },
                    local(c.at, &zone),
                    c.line_request_id.clone().unwrap_or_default(),
                    // LINE's reason for a refusal, never the text we sent.
                    c.error.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    };
    Ok(html(StatusCode::OK, &page))
}

/// A segment as the form would have it: each part that narrows it, in the shop's words.
fn describe(l: &Labels, seg: &Segment, zone: &TimeZone) -> Vec<(&'static str, String)> {
    let tags = |t: &[TagName]| t.iter().map(TagName::as_str).collect::<Vec<_>>().join(", ");
    let op = |op: &FieldOp| op_name(l, &wire_name(op));
    let mut parts = Vec::new();
    for (label, list) in [
        (l.all_tags, &seg.all_tags),
        (l.any_tags, &seg.any_tags),
        (l.none_tags, &seg.none_tags),
    ] {
        if !list.is_empty() {
            parts.push((label, tags(list)));
        }
    }
    if !seg.routes.is_empty() {
        parts.push((l.routes, seg.routes.join(", ")));
    }
    for c in &seg.fields {
        parts.push(match c {
            Condition::Field { name, op: o, value } => (
                l.field_condition,
                format!("{name} {} {}", op(o), value.clone().unwrap_or_default()),
            ),
            Condition::PurchaseCount { op: o, value } => {
                (l.purchase_count, format!("{} {value}", op(o)))
            }
            Condition::PurchaseTotal { op: o, value } => {
                (l.purchase_total, format!("{} {value}", op(o)))
            }
            // Tag and score conditions: the API's own spelling.
            other => (
                l.field_condition,
                serde_json::to_string(other).unwrap_or_default(),
            ),
        });
    }
    if let Some(from) = seg.followed_from {
        parts.push((l.followed_from, local(from, zone)));
    }
    if let Some(to) = seg.followed_to {
        parts.push((l.followed_to, local(to, zone)));
    }
    parts
}

#[derive(Debug, Deserialize)]
pub(super) struct NoFields {}

/// `POST /console/broadcasts/{id}/cancel`: as `POST /admin/broadcasts/{id}/cancel`. One that
/// has started meanwhile stays as it is; its page says so by its state.
pub(super) async fn cancel(
    State(deps): State<Deps>,
    Path(id): Path<String>,
    Posted { who, .. }: Posted<NoFields, Editor>,
) -> Result<Response, ConsoleError> {
    match broadcasts::cancel(&deps, &who.tenant, &id).await {
        Ok(_) | Err(CrmError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to(&format!("/console/broadcasts/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokyo() -> TimeZone {
        TimeZone::get("Asia/Tokyo").unwrap()
    }

    #[test]
    fn form_fields_make_the_segment_the_api_takes_as_json() {
        let d = Draft {
            all_tags: "VIP, 女性".into(),
            any_tags: "美容、健康".into(),
            none_tags: "休眠".into(),
            routes: "instagram".into(),
            field_name: "age_band".into(),
            field_op: "eq".into(),
            field_value: "30代".into(),
            purchase_count: "2".into(),
            purchase_count_op: "gte".into(),
            followed_from: "2026-04-01".into(),
            followed_to: "2026-04-30".into(),
            ..Draft::default()
        };
        let seg = d.segment(&tokyo()).unwrap();
        assert_eq!(
            serde_json::to_value(&seg).unwrap(),
            json!({
                "allTags": ["VIP", "女性"], "anyTags": ["美容", "健康"], "noneTags": ["休眠"],
                "fields": [
                    { "type": "field", "name": "age_band", "op": "eq", "value": "30代" },
                    { "type": "purchaseCount", "op": "gte", "value": 2 },
                ],
                // Whole days in Tokyo: from its first instant to its last.
                "followedFrom": "2026-03-31T15:00:00Z",
                "followedTo": "2026-04-30T14:59:59.999999999Z",
                "routes": ["instagram"],
            })
        );
    }

    #[test]
    fn empty_fields_are_everyone() {
        let d = Draft {
            field_op: "eq".into(),
            purchase_count_op: "gte".into(),
            ..Draft::default()
        };
        assert_eq!(d.segment(&tokyo()).unwrap(), Segment::default());
    }

    #[test]
    fn the_send_time_is_read_in_the_shops_zone() {
        let d = Draft {
            send_at: "2026-04-02T10:00".into(),
            ..Draft::default()
        };
        let at = d.send_at(&tokyo()).unwrap().unwrap();
        assert_eq!(at.to_string(), "2026-04-02T01:00:00Z");
    }

    #[test]
    fn a_text_is_one_text_message_and_json_replaces_it() {
        let mut d = Draft {
            text: "こんにちは\n".into(),
            ..Draft::default()
        };
        assert_eq!(
            d.messages().unwrap(),
            vec![json!({ "type": "text", "text": "こんにちは" })]
        );
        d.messages_json =
            r#"[{"type": "sticker", "packageId": "446", "stickerId": "1988"}]"#.into();
        assert_eq!(d.messages().unwrap()[0]["type"], "sticker");
        d.messages_json = "{".into();
        assert_eq!(d.messages().unwrap_err().field, "messages_json");
    }
}
