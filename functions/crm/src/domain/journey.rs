//! A journey preview (ジャーニープレビュー): what one friend would receive from a scenario, and
//! when, if they entered it at a given moment — computed by the tick's own rules
//! (`send_decision::decide` on each due step, `enrollment::advance` to the next), so the preview
//! cannot promise what the tick would not do. The friend is taken as they are now: tags added
//! along the way (by the friend or by other rules) are not foreseen. Nothing is sent or stored.
use jiff::Timestamp;
use serde::{Serialize, Serializer};

use super::{
    Friend, Tenant,
    enrollment::{Enrollment, EnrollmentState, advance},
    scenario::{ScenarioDefinition, ScenarioId, StepId},
    schedule::due_at,
    send_decision::{DueStep, StopReason, Verdict, decide},
};

/// A scenario has at most 100 steps; a preview looks at most this many decisions, so a `goto`
/// loop the friend would go round until their tags change ends the preview instead of hanging.
pub const MAX_DECISIONS: usize = 300;

/// The preview: each step reached, in order, and how the enrollment ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Journey {
    pub visits: Vec<Visit>,
    pub end: JourneyEnd,
}

/// One step reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Visit {
    pub step: StepId,
    pub index: usize,
    pub at: Timestamp,
    /// When the step's timing alone would have had it go; the delivery window moved it to `at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Timestamp>,
    pub outcome: Passage,
}

/// What happened at a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Passage {
    /// Its messages go out.
    Sent,
    /// Its conditions do not hold and it says `skip`.
    Skipped,
    /// Its conditions do not hold and it says `goto`.
    Branched { to: StepId },
}

/// How the enrollment ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum JourneyEnd {
    /// Every step done.
    Finished { at: Timestamp },
    Stopped {
        at: Timestamp,
        #[serde(serialize_with = "as_text")]
        reason: StopReason,
    },
    /// The friend blocked the account: the enrollment would wait for a follow-back.
    Paused { at: Timestamp },
    /// A step's `switch`: the friend would go on in another scenario.
    Switched { at: Timestamp, scenario: ScenarioId },
    /// [`MAX_DECISIONS`] reached (a `goto` loop): the preview stops looking.
    Endless,
}

fn as_text<S: Serializer>(reason: &StopReason, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(reason)
}

/// Simulates `friend` entering `scenario` at `enrolled_at`, step by step, as the tick would
/// (no daily cap: it depends on other sends that day).
pub fn preview(
    scenario: &ScenarioDefinition,
    tenant: &Tenant,
    friend: &Friend,
    enrolled_at: Timestamp,
) -> Journey {
    let mut e = Enrollment::new(
        tenant.id.clone(),
        friend.user_id.clone(),
        scenario.id.clone(),
        0,
        "preview".into(),
        enrolled_at,
    );
    let mut planned = move_to(&mut e, scenario, 0, None, enrolled_at, tenant);
    let mut visits: Vec<Visit> = Vec::new();
    for _ in 0..MAX_DECISIONS {
        let last = visits.last().map_or(enrolled_at, |v| v.at);
        // `advance` past the last step finishes the enrollment.
        let (Some(now), Some(step)) = (
            e.next_due_at.filter(|_| e.state == EnrollmentState::Active),
            scenario.steps.get(e.step),
        ) else {
            return Journey {
                visits,
                end: JourneyEnd::Finished { at: last },
            };
        };
        let due = DueStep {
            enrollment: &e,
            friend,
            scenario,
            tenant,
            day_full: false,
        };
        let (outcome, next) = match decide(&due, now) {
            Verdict::Send { .. } => (Passage::Sent, (e.step + 1, Some(now))),
            Verdict::Skip { next } => (Passage::Skipped, (next, None)),
            Verdict::Branch { to } => match scenario.steps.get(to) {
                Some(target) => (
                    Passage::Branched {
                        to: target.id.clone(),
                    },
                    (to, None),
                ),
                None => (Passage::Skipped, (to, None)),
            },
            // The tick waits for the opening, keeping the step and its planned time.
            Verdict::OutsideWindow { until } | Verdict::Capped { until } => {
                e.next_due_at = Some(until);
                continue;
            }
            verdict => {
                let end = match verdict {
                    Verdict::Stop(reason) => JourneyEnd::Stopped { at: now, reason },
                    Verdict::Pause => JourneyEnd::Paused { at: now },
                    Verdict::Switch { scenario } => JourneyEnd::Switched { at: now, scenario },
                    _ => JourneyEnd::Finished { at: now },
                };
                return Journey { visits, end };
            }
        };
        visits.push(Visit {
            step: step.id.clone(),
            index: e.step,
            at: now,
            moved_from: planned.filter(|p| *p != now),
            outcome,
        });
        let (index, sent_at) = next;
        planned = move_to(&mut e, scenario, index, sent_at, now, tenant);
    }
    Journey {
        visits,
        end: JourneyEnd::Endless,
    }
}

/// `advance`, as the tick calls it, and the time the step's timing alone gives (before the
/// delivery window), so the preview can say when the window moved a send.
fn move_to(
    e: &mut Enrollment,
    scenario: &ScenarioDefinition,
    index: usize,
    sent_at: Option<Timestamp>,
    now: Timestamp,
    tenant: &Tenant,
) -> Option<Timestamp> {
    advance(e, scenario, index, sent_at, now, tenant);
    let step = scenario.steps.get(index)?;
    let timed = due_at(
        &step.timing,
        e.enrolled_at,
        e.previous_sent_at,
        &tenant.time_zone(),
    );
    Some(timed.max(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{LineUserId, TagName, TenantId},
        secret::Secret,
    };

    fn jst(s: &str) -> Timestamp {
        s.parse::<jiff::civil::DateTime>()
            .unwrap()
            .in_tz("Asia/Tokyo")
            .unwrap()
            .timestamp()
    }

    fn shop() -> Tenant {
        Tenant {
            id: TenantId::parse("demo").unwrap(),
            name: "デモ".into(),
            channel_id: None,
            channel_secret: Secret::new("s"),
            access_token: Secret::new("t"),
            zone: "Asia/Tokyo".into(),
            delivery_window: Default::default(), // 09:00–21:00
            daily_cap: None,
            quota_exhausted_at: None,
            message_text_retention_days: None,
            created_at: jst("2026-01-01T00:00"),
        }
    }

    fn friend(tags: &[&str]) -> Friend {
        let mut f = Friend::new(
            TenantId::parse("demo").unwrap(),
            LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            jst("2026-04-01T10:00"),
        );
        for t in tags {
            f.add_tag(TagName::parse(t).unwrap(), jst("2026-04-01T10:00"));
        }
        f
    }

    fn scenario(yaml: &str) -> ScenarioDefinition {
        ScenarioDefinition::parse_yaml(yaml).unwrap()
    }

    const WELCOME: &str = r#"
id: welcome
name: ウェルカム
trigger: { type: follow }
stopRules: [{ type: tagAdded, tag: 購入済み }]
steps:
  - id: greeting
    messages: [{ type: text, text: "ようこそ" }]
  - id: tips
    timing: { day: 2, at: "10:00" }
    messages: [{ type: text, text: "コツ" }]
  - id: vip
    timing: { day: 3, at: "10:00" }
    conditions: [{ type: hasTag, tag: VIP }]
    messages: [{ type: text, text: "VIP限定" }]
  - id: coupon
    timing: { day: 7, at: "10:00" }
    messages: [{ type: text, text: "クーポン" }]
"#;

    fn sent(j: &Journey) -> Vec<(&str, Timestamp)> {
        j.visits
            .iter()
            .filter(|v| v.outcome == Passage::Sent)
            .map(|v| (v.step.as_str(), v.at))
            .collect()
    }

    #[test]
    fn a_vip_gets_day_0_2_3_and_7_at_ten_in_tokyo() {
        let j = preview(
            &scenario(WELCOME),
            &shop(),
            &friend(&["VIP"]),
            jst("2026-04-01T15:00"),
        );
        assert_eq!(
            sent(&j),
            vec![
                ("greeting", jst("2026-04-01T15:00")),
                ("tips", jst("2026-04-03T10:00")),
                ("vip", jst("2026-04-04T10:00")),
                ("coupon", jst("2026-04-08T10:00")),
            ]
        );
        assert_eq!(
            j.end,
            JourneyEnd::Finished {
                at: jst("2026-04-08T10:00")
            }
        );
    }

    #[test]
    fn a_friend_without_the_condition_skips_that_step_and_goes_on() {
        let j = preview(
            &scenario(WELCOME),
            &shop(),
            &friend(&[]),
            jst("2026-04-01T15:00"),
        );
        let vip = &j.visits[2];
        assert_eq!(
            (vip.step.as_str(), vip.outcome.clone()),
            ("vip", Passage::Skipped)
        );
        assert_eq!(vip.at, jst("2026-04-04T10:00"));
        assert_eq!(sent(&j).len(), 3);
        assert_eq!(sent(&j)[2], ("coupon", jst("2026-04-08T10:00")));
    }

    #[test]
    fn a_friend_with_the_stop_tag_receives_nothing() {
        let j = preview(
            &scenario(WELCOME),
            &shop(),
            &friend(&["購入済み"]),
            jst("2026-04-01T15:00"),
        );
        assert!(j.visits.is_empty());
        assert!(matches!(
            j.end,
            JourneyEnd::Stopped { reason: StopReason::StopTag(ref t), .. } if t.as_str() == "購入済み"
        ));
    }

    #[test]
    fn a_late_night_follow_is_greeted_when_the_window_opens() {
        let j = preview(
            &scenario(WELCOME),
            &shop(),
            &friend(&[]),
            jst("2026-04-01T23:30"),
        );
        let first = &j.visits[0];
        assert_eq!(first.at, jst("2026-04-02T09:00"));
        assert_eq!(first.moved_from, Some(jst("2026-04-01T23:30")));
        // Day 2 counts from the enrollment day, not from the delayed greeting.
        assert_eq!(j.visits[1].at, jst("2026-04-03T10:00"));
        assert_eq!(j.visits[1].moved_from, None);
    }

    #[test]
    fn a_goto_loop_ends_the_preview_instead_of_hanging() {
        let def = scenario(
            r#"
id: loop
name: ループ
trigger: { type: manual }
steps:
  - id: a
    timing: { after: { days: 1 } }
    messages: [{ type: text, text: "a" }]
  - id: b
    conditions: [{ type: hasTag, tag: VIP }]
    onUnmet: { type: goto, step: a }
    messages: [{ type: text, text: "b" }]
"#,
        );
        let j = preview(&def, &shop(), &friend(&[]), jst("2026-04-01T10:00"));
        assert_eq!(j.end, JourneyEnd::Endless);
        assert_eq!(j.visits.len(), MAX_DECISIONS);
        assert_eq!(
            j.visits[1].outcome,
            Passage::Branched {
                to: StepId::parse("a").unwrap()
            }
        );
    }

    #[test]
    fn a_switch_names_the_next_scenario() {
        let def = scenario(
            r#"
id: member
name: 会員
trigger: { type: manual }
steps:
  - id: check
    conditions: [{ type: hasTag, tag: 会員 }]
    onUnmet: { type: switch, scenario: join }
    messages: [{ type: text, text: "会員さまへ" }]
"#,
        );
        let j = preview(&def, &shop(), &friend(&[]), jst("2026-04-01T10:00"));
        assert!(
            matches!(j.end, JourneyEnd::Switched { ref scenario, .. } if scenario.as_str() == "join")
        );
    }
}
