//! シナリオ: one scenario's page — the editor (`console::definitions`), the saved version read
//! as a marketer thinks of it (`console::words`: trigger, each step's timing, conditions, stop
//! rules, window, a LINE-like preview of its messages), its versions, the journey preview
//! (`crate::journeys`, the tick's own decisions) and a test send of one step.
use std::collections::BTreeMap;

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use jiff::{Timestamp, civil::DateTime, tz::TimeZone};
use serde::Deserialize;

use super::{
    Chrome, ConsoleError, Editor, Labels, Posted, Staff,
    definitions::{TextEditor, find, local},
    html,
    words::{Bubble, bubbles, condition_words, fill, stop_rule_words, timing_words, trigger_words},
};
use crate::{
    deps::Deps,
    domain::{
        Friend, LineUserId, TagName,
        journey::{JourneyEnd, Passage},
        scenario::{OnUnmet, ScenarioDefinition, ScenarioId, StepDefinition},
        send_decision::StopReason,
    },
    http::CrmError,
    journeys::{Traveller, preview_journey},
    line::client::SendOutcome,
};

/// One step as the page reads it.
struct StepView {
    id: String,
    timing: String,
    conditions: Vec<String>,
    on_unmet: String,
    transactional: bool,
    survey: String,
    bubbles: Vec<Bubble>,
}

impl StepView {
    fn of(s: &StepDefinition, l: &Labels) -> Self {
        let on_unmet = match &s.on_unmet {
            OnUnmet::Skip => l.unmet_skip.to_owned(),
            OnUnmet::Stop => l.unmet_stop.to_owned(),
            OnUnmet::Goto { step } => fill(l.unmet_goto, &[("step", step.as_str())]),
            OnUnmet::Switch { scenario } => {
                fill(l.unmet_switch, &[("scenario", scenario.as_str())])
            }
        };
        Self {
            id: s.id.to_string(),
            timing: timing_words(&s.timing, l),
            conditions: s.conditions.iter().map(|c| condition_words(c, l)).collect(),
            on_unmet,
            transactional: s.transactional,
            survey: s
                .survey
                .as_ref()
                .map(|id| fill(l.asks_survey, &[("survey", id.as_str())]))
                .unwrap_or_default(),
            bubbles: bubbles(&s.messages, l),
        }
    }
}

/// The journey form as sent (a GET: previewing changes nothing, so viewers may too).
#[derive(Debug, Default, Deserialize)]
pub(super) struct JourneyQuery {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    fields: String,
    /// `YYYY-MM-DDTHH:MM` in the shop's zone (a `datetime-local` input); absent: no preview.
    #[serde(default)]
    start: String,
    /// The outcome of a test send, after its redirect.
    #[serde(default)]
    test: String,
}

struct JourneyRow {
    at: String,
    step: String,
    outcome: String,
    moved: String,
}

struct JourneyView {
    rows: Vec<JourneyRow>,
    end: String,
}

#[derive(Template)]
#[template(path = "console/scenario.html")]
struct ScenarioPage {
    l: &'static Labels,
    me: Option<Chrome>,
    csrf: String,
    can_edit: bool,
    title: &'static str,
    id: String,
    name: String,
    version: String,
    trigger: String,
    allow_reentry: bool,
    window: String,
    stop_rules: Vec<String>,
    steps: Vec<StepView>,
    versions: Vec<(u32, String)>,
    editor: TextEditor,
    query: JourneyQuery,
    start: String,
    journey: Option<JourneyView>,
    journey_error: String,
    /// A fresh retry key for the test-send form: a double submit sends once.
    test_key: String,
    test_notice: &'static str,
}

/// `GET /console/scenarios/{id}`: the scenario, and its journey preview when asked.
pub(super) async fn one(
    staff: Staff,
    State(deps): State<Deps>,
    Path(id): Path<String>,
    Query(query): Query<JourneyQuery>,
) -> Result<Response, ConsoleError> {
    let l = staff.lang.labels();
    let saved = find::<ScenarioDefinition>(&deps, &staff, &id).await?;
    let def = &saved.definition;
    let zone = staff.tenant.time_zone();
    let versions = deps
        .store
        .scenario_versions(&staff.tenant.id, &def.id)
        .await?
        .iter()
        .rev()
        .map(|v| (v.version, local(v.created_at, &zone)))
        .collect();
    let window = match def.window {
        Some(w) => format!("{}–{}", w.start.strftime("%H:%M"), w.end.strftime("%H:%M")),
        None => {
            let w = staff.tenant.delivery_window;
            let hours = format!("{}–{}", w.start.strftime("%H:%M"), w.end.strftime("%H:%M"));
            fill(l.shop_window, &[("window", &hours)])
        }
    };
    let now = deps.clock.now();
    let (journey, journey_error) = match journey(&deps, &staff, &def.id, &query, &zone).await {
        Ok(j) => (j, String::new()),
        Err(message) => (None, message.to_owned()),
    };
    let start = match query.start.trim() {
        "" => now
            .to_zoned(zone.clone())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string(),
        s => s.to_owned(),
    };
    let test_notice = match query.test.as_str() {
        "sent" => l.test_sent,
        "failed" => l.test_failed,
        "bad-user" => l.bad_user_id,
        _ => "",
    };
    let page = ScenarioPage {
        l,
        me: Some(Chrome::of(&staff)),
        csrf: staff.csrf.clone(),
        can_edit: staff.role.can_edit(),
        title: l.scenario_list,
        id: def.id.to_string(),
        name: def.name.clone(),
        version: saved.version.map(|v| v.to_string()).unwrap_or_default(),
        trigger: trigger_words(&def.trigger, l),
        allow_reentry: def.allow_reentry,
        window,
        stop_rules: def
            .stop_rules
            .iter()
            .map(|r| stop_rule_words(r, l))
            .collect(),
        steps: def.steps.iter().map(|s| StepView::of(s, l)).collect(),
        versions,
        editor: TextEditor::of(&saved),
        query,
        start,
        journey,
        journey_error,
        test_key: uuid::Uuid::new_v4().to_string(),
        test_notice,
    };
    Ok(html(StatusCode::OK, &page))
}

/// The preview the query asks for, or the words saying why the form was not understood.
async fn journey(
    deps: &Deps,
    staff: &Staff,
    scenario: &ScenarioId,
    q: &JourneyQuery,
    zone: &TimeZone,
) -> Result<Option<JourneyView>, &'static str> {
    let l = staff.lang.labels();
    if q.start.trim().is_empty() {
        return Ok(None);
    }
    let start = q
        .start
        .trim()
        .parse::<DateTime>()
        .ok()
        .and_then(|d| d.to_zoned(zone.clone()).ok())
        .map(|z| z.timestamp())
        .ok_or(l.bad_start)?;
    let traveller = traveller(q).ok_or(l.bad_traveller)?;
    let preview = match preview_journey(deps, &staff.tenant, scenario, &traveller, start).await {
        Ok(Some(p)) => p,
        Ok(None) | Err(CrmError::NotFound(_)) => return Err(l.friend_not_found),
        Err(e) => {
            tracing::error!(tenant = %staff.tenant.id, error = %e, "journey preview failed");
            return Err(l.internal);
        }
    };
    let at = |t: Timestamp| local(t, zone);
    let rows = preview
        .journey
        .visits
        .iter()
        .map(|v| JourneyRow {
            at: at(v.at),
            step: v.step.to_string(),
            outcome: match &v.outcome {
                Passage::Sent => l.journey_sent.to_owned(),
                Passage::Skipped => l.journey_skipped.to_owned(),
                Passage::Branched { to } => fill(l.unmet_goto, &[("step", to.as_str())]),
            },
            moved: v
                .moved_from
                .map(|from| fill(l.moved_by_window, &[("at", &at(from))]))
                .unwrap_or_default(),
        })
        .collect();
    let end = match &preview.journey.end {
        JourneyEnd::Finished { at: t } => format!("{} {}", at(*t), l.end_finished),
        JourneyEnd::Stopped { at: t, reason } => {
            let why = match reason {
                StopReason::StopTag(tag) => fill(l.stop_on_tag, &[("tag", tag.as_str())]),
                StopReason::Purchased => l.stop_on_purchase.to_owned(),
                StopReason::Blocked => l.stop_on_unfollow.to_owned(),
                _ => l.unmet_stop.to_owned(),
            };
            format!("{} {} ({why})", at(*t), l.end_stopped)
        }
        JourneyEnd::Paused { at: t } => format!("{} {}", at(*t), l.end_paused),
        JourneyEnd::Switched { at: t, scenario } => format!(
            "{} {}",
            at(*t),
            fill(l.unmet_switch, &[("scenario", scenario.as_str())])
        ),
        JourneyEnd::Endless => l.end_endless.to_owned(),
    };
    Ok(Some(JourneyView { rows, end }))
}

/// A real friend by LINE user id, else a made-up one with the form's tags and `name=value` lines.
fn traveller(q: &JourneyQuery) -> Option<Traveller> {
    let user = q.user_id.trim();
    if !user.is_empty() {
        return LineUserId::parse(user).ok().map(Traveller::Friend);
    }
    let tags = q
        .tags
        .split([',', '、'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| TagName::parse(t).ok())
        .collect::<Option<Vec<_>>>()?;
    let mut fields = BTreeMap::new();
    for line in q.fields.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (k, v) = line.split_once('=')?;
        fields.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Some(Traveller::Hypothetical { tags, fields })
}

#[derive(Debug, Deserialize)]
pub(super) struct TestSendForm {
    step: String,
    user_id: String,
    key: String,
}

/// `POST /console/scenarios/{id}/test-send`: the step's messages (and a survey's first
/// question), rendered for the receiver, pushed once to the LINE user id given; no enrollment
/// is read or written. The form's key is the retry key, so a double submit sends once.
pub(super) async fn test_send(
    State(deps): State<Deps>,
    Path(id): Path<String>,
    Posted { who, form }: Posted<TestSendForm, Editor>,
) -> Result<Response, ConsoleError> {
    let saved = find::<ScenarioDefinition>(&deps, &who, &id).await?;
    let back = |outcome: &str| {
        Redirect::to(&format!("/console/scenarios/{id}?test={outcome}#test-send")).into_response()
    };
    let step = saved
        .definition
        .steps
        .iter()
        .find(|s| s.id.as_str() == form.step)
        .ok_or(ConsoleError::BadForm)?;
    let key = uuid::Uuid::parse_str(&form.key).map_err(|_| ConsoleError::BadForm)?;
    let Ok(user) = LineUserId::parse(form.user_id.trim()) else {
        return Ok(back("bad-user"));
    };
    let tenant = &who.tenant;
    let friend = match deps.store.get_friend(&tenant.id, &user).await? {
        Some(f) => f,
        None => Friend::new(tenant.id.clone(), user.clone(), deps.clock.now()),
    };
    let (messages, _) =
        crate::scheduled_sends::delivery::compose(&deps, tenant, &friend, step).await?;
    let outcome = deps
        .line
        .push(&tenant.access_token, user.as_str(), &messages, key)
        .await;
    match outcome {
        Ok(SendOutcome::Accepted { .. } | SendOutcome::AlreadyAccepted { .. }) => {
            tracing::info!(tenant = %tenant.id, scenario = %id, step = %step.id, to = %user.hashed(), "test send");
            Ok(back("sent"))
        }
        Err(e) => {
            tracing::warn!(tenant = %tenant.id, scenario = %id, error = %e, "test send failed");
            Ok(back("failed"))
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Empty {}

/// `POST /console/scenarios/{id}/migrate`: enrolled friends move to the current version.
pub(super) async fn migrate(
    State(deps): State<Deps>,
    Path(id): Path<String>,
    Posted { who, .. }: Posted<Empty, Editor>,
) -> Result<Response, ConsoleError> {
    let scenario: ScenarioId = id.parse().map_err(|_| ConsoleError::NotFound)?;
    crate::enrollments::migrate(&deps, &who.tenant, &scenario, deps.clock.now())
        .await?
        .ok_or(ConsoleError::NotFound)?;
    Ok(Redirect::to(&format!("/console/scenarios/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::Lang;

    fn step(yaml: &str) -> StepDefinition {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn a_step_reads_in_the_marketers_words() {
        let (ja, en) = (Lang::Ja.labels(), Lang::En.labels());
        let s = step(
            "id: coupon\ntiming: { day: 3, at: \"10:00\" }\nconditions:\n  - { type: lacksTag, tag: 購入済み }\n  - { type: purchaseCount, op: gte, value: 2 }\nonUnmet: { type: goto, step: tips }\nmessages: [{ type: text, text: x }]\n",
        );
        let view = StepView::of(&s, ja);
        assert_eq!(view.timing, "登録日から3日後の10:00");
        assert_eq!(view.conditions, ["タグ「購入済み」なし", "購入回数 ≥ 2"]);
        assert_eq!(view.on_unmet, "ステップ tips へ分岐");
        assert_eq!(
            StepView::of(&s, en).timing,
            "day 3 after enrollment at 10:00"
        );
        let later = step(
            "id: later\ntiming: { after: { days: 1, hours: 2 }, from: previous }\nmessages: [{ type: text, text: x }]\n",
        );
        assert_eq!(
            StepView::of(&later, ja).timing,
            "前のステップから1日 2時間後"
        );
    }
}
