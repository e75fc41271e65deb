//! An enrollment is one friend's way through one scenario version: which step is next and when.
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{
    DeliveryWindow, LineUserId, Tenant, TenantId,
    scenario::{ScenarioDefinition, ScenarioId},
    schedule::{due_at, next_opening},
};

/// How long a tick may hold a claimed step: longer than any one send, so a claim still held
/// after this is taken to be from a dead tick.
pub const LEASE: SignedDuration = SignedDuration::from_mins(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnrollmentState {
    /// Waiting for its next step's due time.
    Active,
    /// The friend blocked the account; a follow-back resumes it.
    Paused,
    /// Every step went out (or was skipped).
    Finished,
    /// A stop rule, a condition or the marketer ended it.
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    pub tenant: TenantId,
    pub friend: LineUserId,
    pub scenario: ScenarioId,
    /// The scenario version the friend follows; editing the scenario does not move them.
    pub version: u32,
    /// Distinguishes re-entries, so a second pass through the scenario gets fresh retry keys.
    pub id: String,
    /// Index of the next step to send.
    pub step: usize,
    pub state: EnrollmentState,
    pub enrolled_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_due_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_sent_at: Option<Timestamp>,
    /// Failed attempts at the current step (rate limits, LINE errors), for backoff.
    #[serde(default)]
    pub attempts: u32,
    /// Moves through the scenario so far; part of the retry key, so revisiting a step (goto)
    /// is a new send while retrying the same visit reuses its key.
    #[serde(default)]
    pub hops: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_reason: Option<String>,
}

impl Enrollment {
    /// A friend entering version `version` of the scenario at `now`, before its first step is
    /// scheduled (`advance` to step 0 does that). `id` tells this pass from earlier ones.
    pub fn new(
        tenant: TenantId,
        friend: LineUserId,
        scenario: ScenarioId,
        version: u32,
        id: String,
        now: Timestamp,
    ) -> Self {
        Self {
            tenant,
            friend,
            scenario,
            version,
            id,
            step: 0,
            state: EnrollmentState::Active,
            enrolled_at: now,
            next_due_at: None,
            previous_sent_at: None,
            attempts: 0,
            hops: 0,
            ended_reason: None,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(
            self.state,
            EnrollmentState::Active | EnrollmentState::Paused
        )
    }

    /// Only an active enrollment with a due time sits in the due-index.
    pub fn due(&self) -> Option<Timestamp> {
        (self.state == EnrollmentState::Active)
            .then_some(self.next_due_at)
            .flatten()
    }

    /// The due-index shard: spreads one tenant's sends over partitions so a tick reads them in parallel.
    pub fn shard(&self, shards: u8) -> u8 {
        self.friend.shard(&self.tenant, shards)
    }

    /// The `X-Line-Retry-Key` of this visit of `step`: the same for every retry of the visit, new
    /// when a `goto` comes back to the step (`hops` moved on).
    pub fn retry_key(&self, step: &super::scenario::StepId) -> uuid::Uuid {
        let visit = format!("{}.{}", self.id, self.hops);
        super::scenario::retry_key(
            &self.tenant,
            &self.friend,
            &self.scenario,
            self.version,
            step,
            &visit,
        )
    }

    pub fn end(&mut self, state: EnrollmentState, reason: impl Into<String>) {
        self.state = state;
        self.next_due_at = None;
        self.ended_reason = Some(reason.into());
    }
}

/// What one step send ended as, kept per friend as the exactly-once record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub retry_key: String,
    pub scenario: ScenarioId,
    pub version: u32,
    pub step: String,
    pub status: DeliveryStatus,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_request_id: Option<String>,
    /// LINE's error message for a failed delivery (never the message text we sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `reply` when the free reply token carried it; push otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Sent,
    Failed,
}

/// The hours the scenario's sends keep: its own window, or else the shop's.
pub fn delivery_window(def: &ScenarioDefinition, tenant: &Tenant) -> DeliveryWindow {
    def.window.unwrap_or(tenant.delivery_window)
}

/// Moves the enrollment to step `index` (or finishes it), due per that step's timing and the window.
pub fn advance(
    next: &mut Enrollment,
    def: &ScenarioDefinition,
    index: usize,
    sent_at: Option<Timestamp>,
    now: Timestamp,
    tenant: &Tenant,
) {
    next.attempts = 0;
    next.hops += 1;
    if sent_at.is_some() {
        next.previous_sent_at = sent_at;
    }
    let Some(step) = def.steps.get(index) else {
        next.step = index;
        next.end(EnrollmentState::Finished, "all steps done");
        return;
    };
    next.step = index;
    let zone = tenant.time_zone();
    let due = due_at(&step.timing, next.enrolled_at, next.previous_sent_at, &zone).max(now);
    next.next_due_at = Some(next_opening(&delivery_window(def, tenant), due, &zone));
}
