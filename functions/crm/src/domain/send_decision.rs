//! What happens to an enrollment's due step at send time, as one pure function of the
//! enrollment, the friend, the scenario version, the tenant's settings and the time: it goes
//! out, is skipped, branches, switches scenario, stops, pauses, or waits for the delivery window
//! or for tomorrow's daily cap. The tick and the welcome reply both ask [`decide`]; neither
//! decides on its own, so a rule added here holds for every send of a scenario step.
//!
//! LINE's monthly quota is not part of the verdict: whether the shop is still out of quota is
//! read fresh from the table when a push is about to go, and a reply does not count against it.
use std::fmt;

use jiff::{Timestamp, ToSpan};

use super::{
    Friend, TagName, Tenant,
    enrollment::{Enrollment, delivery_window},
    scenario::{ScenarioDefinition, ScenarioId, StepDecision},
    schedule::{local_day, next_opening},
};

/// Everything the decision reads about one due step, loaded by the caller.
#[derive(Debug, Clone, Copy)]
pub struct DueStep<'a> {
    pub enrollment: &'a Enrollment,
    pub friend: &'a Friend,
    /// The version the enrollment follows (not necessarily the scenario's current one).
    pub scenario: &'a ScenarioDefinition,
    pub tenant: &'a Tenant,
    /// The friend already had the tenant's daily cap of messages today. The count is only known
    /// by trying to take a slot of it (an atomic counter), so this is false until that was
    /// refused.
    pub day_full: bool,
}

/// The verdict on one due step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It goes out now. `cap`: the friend's daily cap this send takes a slot of (None: the
    /// tenant has no cap, or the step is transactional and exempt).
    Send { cap: Option<u32> },
    /// Its conditions do not hold and it says `skip`: on to step `next`, as if it had been sent.
    Skip { next: usize },
    /// Its conditions do not hold and it says `goto`: on to step `to`.
    Branch { to: usize },
    /// Its conditions do not hold and it says `switch`: this enrollment ends and the friend
    /// enters `scenario`.
    Switch { scenario: ScenarioId },
    /// The enrollment ends here.
    Stop(StopReason),
    /// Every step is done.
    Finish,
    /// The friend blocked the account: nothing goes, and the enrollment waits for a follow-back.
    Pause,
    /// Outside the delivery window: the step waits for its opening; it is never dropped.
    OutsideWindow { until: Timestamp },
    /// The friend had the day's cap of messages: the step waits for tomorrow's window.
    Capped { until: Timestamp },
}

/// Why an enrollment was stopped; its `Display` is the `endedReason` stored on the enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Found by the caller: the tenant or the scenario version was deleted meanwhile.
    TenantOrScenarioGone,
    /// Found by the caller: the friend's profile is gone.
    FriendGone,
    /// The friend blocked the account and the scenario has `stopRules: unfollow`.
    Blocked,
    /// The friend carries a tag the scenario's stop rules name.
    StopTag(TagName),
    /// The friend bought after entering a `stopRules: purchase` scenario.
    Purchased,
    /// The step's conditions do not hold and it says `stop`.
    ConditionsNotMet,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::TenantOrScenarioGone => {
                f.write_str("tenant or scenario version no longer exists")
            }
            StopReason::FriendGone => f.write_str("friend not found"),
            StopReason::Blocked => f.write_str("friend blocked the account"),
            StopReason::StopTag(tag) => write!(f, "stop rule: tag {tag}"),
            StopReason::Purchased => f.write_str("stop rule: purchase"),
            StopReason::ConditionsNotMet => f.write_str("step conditions not met"),
        }
    }
}

/// Decides what to do with the enrollment's current step at `now`. Stop rules come first (a
/// buyer must not get the "buy now" coupon, whatever the step says), then the step's own
/// conditions, then the delivery window, then the daily cap.
pub fn decide(due: &DueStep<'_>, now: Timestamp) -> Verdict {
    let DueStep {
        enrollment: e,
        friend,
        scenario: def,
        tenant,
        day_full,
    } = *due;
    if friend.blocked {
        return if def.stops_on_unfollow() {
            Verdict::Stop(StopReason::Blocked)
        } else {
            Verdict::Pause
        };
    }
    if let Some(tag) = friend.tags.keys().find(|t| def.stops_on_tag(t)) {
        return Verdict::Stop(StopReason::StopTag(tag.clone()));
    }
    // A purchase after the friend entered ends a `stopRules: purchase` scenario even when the
    // purchase-time stop found this enrollment claimed by a tick.
    if def.stops_on_purchase() && friend.last_purchase_at.is_some_and(|p| p >= e.enrolled_at) {
        return Verdict::Stop(StopReason::Purchased);
    }
    let Some(step) = def.steps.get(e.step) else {
        return Verdict::Finish;
    };
    match def.decide(e.step, friend) {
        StepDecision::Send => {}
        StepDecision::Skip => return Verdict::Skip { next: e.step + 1 },
        StepDecision::Goto(to) => return Verdict::Branch { to },
        StepDecision::Stop => return Verdict::Stop(StopReason::ConditionsNotMet),
        StepDecision::Switch(scenario) => return Verdict::Switch { scenario },
    }
    let opening = next_opening(&delivery_window(def, tenant), now, &tenant.time_zone());
    if opening > now {
        return Verdict::OutsideWindow { until: opening };
    }
    let cap = tenant.daily_cap.filter(|_| !step.transactional);
    if cap.is_some() && day_full {
        return Verdict::Capped {
            until: capped_until(due, now),
        };
    }
    Verdict::Send { cap }
}

/// When a step held back by the daily cap goes: tomorrow's window opening (tenant zone).
pub fn capped_until(due: &DueStep<'_>, now: Timestamp) -> Timestamp {
    let zone = due.tenant.time_zone();
    let tomorrow = local_day(now, &zone)
        .checked_add(1.day())
        .ok()
        .and_then(|d| d.to_zoned(zone.clone()).ok())
        .map(|z| z.timestamp())
        .unwrap_or(now);
    next_opening(&delivery_window(due.scenario, due.tenant), tomorrow, &zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{LineUserId, TenantId},
        secret::Secret,
    };

    /// A local time in Tokyo, where the test shop is.
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
            message_text_retention_days: Some(crate::domain::tenant::DEFAULT_TEXT_RETENTION_DAYS),
            created_at: jst("2026-01-01T00:00"),
        }
    }

    fn friend() -> Friend {
        Friend::new(
            TenantId::parse("demo").unwrap(),
            LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            jst("2026-04-01T10:00"),
        )
    }

    fn tagged(tag: &str) -> Friend {
        let mut f = friend();
        f.add_tag(TagName::parse(tag).unwrap(), jst("2026-04-01T10:00"));
        f
    }

    /// The welcome series as a marketer writes it: a greeting, tips on day 2, a coupon on day 7
    /// for those who have not bought, a VIP offer that branches back to the tips otherwise, and
    /// a survey that hands non-members over to the member scenario.
    fn welcome(extra: &str) -> ScenarioDefinition {
        ScenarioDefinition::parse_yaml(&format!(
            r#"
id: welcome
name: ウェルカム
trigger: {{ type: follow }}
{extra}
steps:
  - id: greeting
    messages: [{{ type: text, text: "友だち追加ありがとうございます" }}]
  - id: tips
    timing: {{ day: 2, at: "10:00" }}
    messages: [{{ type: text, text: "使い方のコツ" }}]
  - id: coupon
    timing: {{ day: 7, at: "10:00" }}
    conditions: [{{ type: lacksTag, tag: 購入済み }}]
    messages: [{{ type: text, text: "初回限定クーポン" }}]
  - id: vip
    conditions: [{{ type: hasTag, tag: VIP }}]
    onUnmet: {{ type: goto, step: tips }}
    messages: [{{ type: text, text: "VIP限定" }}]
  - id: member
    conditions: [{{ type: hasTag, tag: 会員 }}]
    onUnmet: {{ type: switch, scenario: join }}
    messages: [{{ type: text, text: "会員さまへ" }}]
  - id: last-call
    conditions: [{{ type: hasTag, tag: 会員 }}]
    onUnmet: stop
    messages: [{{ type: text, text: "最後のご案内" }}]
  - id: receipt
    transactional: true
    messages: [{{ type: text, text: "ご注文を承りました" }}]
"#
        ))
        .unwrap()
    }

    /// The friend's enrollment, entered on 1 April at 10:00 and now at `step`.
    fn at_step(step: usize) -> Enrollment {
        let mut e = Enrollment::new(
            TenantId::parse("demo").unwrap(),
            LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            ScenarioId::parse("welcome").unwrap(),
            1,
            "e1".into(),
            jst("2026-04-01T10:00"),
        );
        e.step = step;
        e
    }

    /// The verdict on step `step` for `friend` at Tokyo time `at`.
    fn verdict(step: usize, friend: &Friend, def: &ScenarioDefinition, at: &str) -> Verdict {
        verdict_for(step, friend, def, &shop(), false, at)
    }

    fn verdict_for(
        step: usize,
        friend: &Friend,
        def: &ScenarioDefinition,
        tenant: &Tenant,
        day_full: bool,
        at: &str,
    ) -> Verdict {
        let e = at_step(step);
        let due = DueStep {
            enrollment: &e,
            friend,
            scenario: def,
            tenant,
            day_full,
        };
        decide(&due, jst(at))
    }

    #[test]
    fn a_due_step_inside_the_window_is_sent() {
        assert_eq!(
            verdict(0, &friend(), &welcome(""), "2026-04-01T10:00"),
            Verdict::Send { cap: None }
        );
    }

    #[test]
    fn a_step_whose_condition_the_friend_does_not_meet_is_skipped() {
        // The coupon is for friends who have not bought yet.
        assert_eq!(
            verdict(2, &tagged("購入済み"), &welcome(""), "2026-04-08T10:00"),
            Verdict::Skip { next: 3 }
        );
        assert_eq!(
            verdict(2, &friend(), &welcome(""), "2026-04-08T10:00"),
            Verdict::Send { cap: None }
        );
    }

    #[test]
    fn a_friend_who_is_not_vip_branches_back_to_the_tips() {
        assert_eq!(
            verdict(3, &friend(), &welcome(""), "2026-04-08T10:00"),
            Verdict::Branch { to: 1 }
        );
    }

    #[test]
    fn a_non_member_is_handed_over_to_the_join_scenario() {
        assert_eq!(
            verdict(4, &friend(), &welcome(""), "2026-04-08T10:00"),
            Verdict::Switch {
                scenario: ScenarioId::parse("join").unwrap()
            }
        );
    }

    #[test]
    fn a_step_that_says_stop_when_unmet_ends_the_scenario() {
        assert_eq!(
            verdict(5, &friend(), &welcome(""), "2026-04-08T10:00"),
            Verdict::Stop(StopReason::ConditionsNotMet)
        );
    }

    #[test]
    fn a_friend_tagged_with_the_stop_tag_stops_the_scenario() {
        let def = welcome("stopRules: [{ type: tagAdded, tag: 購入済み }]");
        let v = verdict(1, &tagged("購入済み"), &def, "2026-04-03T10:00");
        assert_eq!(
            v,
            Verdict::Stop(StopReason::StopTag(TagName::parse("購入済み").unwrap()))
        );
        if let Verdict::Stop(reason) = v {
            assert_eq!(reason.to_string(), "stop rule: tag 購入済み");
        }
    }

    #[test]
    fn a_stop_tag_wins_over_a_step_that_would_go_anyway() {
        // The greeting has no conditions; the stop rule still ends the scenario first.
        let def = welcome("stopRules: [{ type: tagAdded, tag: 購入済み }]");
        assert!(matches!(
            verdict(0, &tagged("購入済み"), &def, "2026-04-01T10:00"),
            Verdict::Stop(StopReason::StopTag(_))
        ));
    }

    #[test]
    fn a_purchase_after_entering_stops_a_purchase_stopped_scenario() {
        let def = welcome("stopRules: [{ type: purchase }]");
        let mut buyer = friend();
        buyer.last_purchase_at = Some(jst("2026-04-02T12:00"));
        assert_eq!(
            verdict(1, &buyer, &def, "2026-04-03T10:00"),
            Verdict::Stop(StopReason::Purchased)
        );
        // A purchase before the friend entered is why they entered, not a reason to stop.
        buyer.last_purchase_at = Some(jst("2026-03-01T12:00"));
        assert_eq!(
            verdict(1, &buyer, &def, "2026-04-03T10:00"),
            Verdict::Send { cap: None }
        );
    }

    #[test]
    fn a_friend_who_blocked_us_pauses_until_they_follow_back() {
        let mut blocked = friend();
        blocked.blocked = true;
        assert_eq!(
            verdict(1, &blocked, &welcome(""), "2026-04-03T10:00"),
            Verdict::Pause
        );
    }

    #[test]
    fn a_friend_who_blocked_us_stops_a_scenario_with_an_unfollow_stop_rule() {
        let mut blocked = friend();
        blocked.blocked = true;
        let def = welcome("stopRules: [{ type: unfollow }]");
        assert_eq!(
            verdict(1, &blocked, &def, "2026-04-03T10:00"),
            Verdict::Stop(StopReason::Blocked)
        );
    }

    #[test]
    fn past_the_last_step_the_scenario_is_finished() {
        assert_eq!(
            verdict(7, &friend(), &welcome(""), "2026-04-08T10:00"),
            Verdict::Finish
        );
    }

    #[test]
    fn a_step_due_at_23_00_waits_for_the_delivery_window() {
        assert_eq!(
            verdict(1, &friend(), &welcome(""), "2026-04-03T23:00"),
            Verdict::OutsideWindow {
                until: jst("2026-04-04T09:00")
            }
        );
    }

    #[test]
    fn the_scenario_window_overrides_the_shops() {
        // The shop's window is open at 09:30, the scenario's (10:00–20:00) is not yet.
        let def = welcome("window: { start: \"10:00\", end: \"20:00\" }");
        assert_eq!(
            verdict(1, &friend(), &def, "2026-04-03T09:30"),
            Verdict::OutsideWindow {
                until: jst("2026-04-03T10:00")
            }
        );
    }

    #[test]
    fn the_third_push_of_the_day_is_capped_until_tomorrows_window() {
        let mut capped_shop = shop();
        capped_shop.daily_cap = Some(2);
        let def = welcome("");
        // Two went today: taking a slot for a third was refused.
        assert_eq!(
            verdict_for(1, &friend(), &def, &capped_shop, true, "2026-04-03T15:00"),
            Verdict::Capped {
                until: jst("2026-04-04T09:00")
            }
        );
        // Before that, the send goes and takes one of the two slots.
        assert_eq!(
            verdict_for(1, &friend(), &def, &capped_shop, false, "2026-04-03T15:00"),
            Verdict::Send { cap: Some(2) }
        );
    }

    #[test]
    fn an_order_notice_goes_even_on_a_full_day() {
        let mut capped_shop = shop();
        capped_shop.daily_cap = Some(2);
        assert_eq!(
            verdict_for(
                6,
                &friend(),
                &welcome(""),
                &capped_shop,
                true,
                "2026-04-03T15:00"
            ),
            Verdict::Send { cap: None }
        );
    }

    #[test]
    fn stop_reasons_read_as_stored_before() {
        // `endedReason` values already in the table; reports and tests read them.
        let stored = [
            (
                StopReason::TenantOrScenarioGone,
                "tenant or scenario version no longer exists",
            ),
            (StopReason::FriendGone, "friend not found"),
            (StopReason::Blocked, "friend blocked the account"),
            (StopReason::Purchased, "stop rule: purchase"),
            (StopReason::ConditionsNotMet, "step conditions not met"),
        ];
        for (reason, text) in stored {
            assert_eq!(reason.to_string(), text);
        }
    }
}
