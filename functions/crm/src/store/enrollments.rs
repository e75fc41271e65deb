//! Enrollments (each waits in the due-index, `due.rs`, for its next step) and delivery records.
use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::due::DueEntry;
use super::keys::DUE_SHARDS;
use super::{Store, StoreError, condition_held, from_item, keys, s, to_item, values};
use crate::domain::{
    LineUserId, TenantId,
    enrollment::{Delivery, Enrollment},
    scenario::ScenarioId,
};

#[derive(Debug, Serialize, Deserialize)]
struct EnrollmentItem {
    pk: String,
    sk: String,
    entity: String,
    /// gsi3 (keys only): a scenario's members. Keys-only, so the frequent rewrites of an
    /// enrollment during sends cost no index write here, unlike the ALL-projected gsi1.
    gsi3pk: String,
    gsi3sk: String,
    #[serde(flatten)]
    due: DueEntry,
    #[serde(flatten)]
    enrollment: Enrollment,
}

impl EnrollmentItem {
    fn new(e: &Enrollment, shards: u8) -> Self {
        let (pk, sk) = keys::enrollment(&e.tenant, &e.friend, &e.scenario);
        let due = e
            .due()
            .map(|at| keys::due_index(e.shard(shards), at, &e.tenant, &e.friend, &e.scenario));
        let (gsi3pk, gsi3sk) = keys::scenario_members(&e.tenant, &e.scenario, &e.friend);
        Self {
            pk,
            sk,
            entity: "enrollment".into(),
            gsi3pk,
            gsi3sk,
            due: DueEntry::new(due, None),
            enrollment: e.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct DeliveryItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    delivery: Delivery,
}

/// An enrollment taken by one tick: only the holder of `token` may write its outcome.
#[derive(Debug, Clone)]
pub struct Claim {
    pub enrollment: Enrollment,
    pub token: String,
}

holds!(DeliveryItem, delivery: Delivery);
holds!(EnrollmentItem, enrollment: Enrollment);

impl Store {
    pub async fn enrollment(
        &self,
        t: &TenantId,
        u: &LineUserId,
        scenario: &ScenarioId,
    ) -> Result<Option<Enrollment>, StoreError> {
        self.value::<EnrollmentItem>(keys::enrollment(t, u, scenario))
            .await
    }

    /// Writes a new enrollment unless the friend already has an open one in this scenario
    /// (`replace_closed` allows re-entry over a finished or stopped one). False when refused.
    pub async fn start_enrollment(
        &self,
        e: &Enrollment,
        replace_closed: bool,
    ) -> Result<bool, StoreError> {
        let item = to_item(&EnrollmentItem::new(e, DUE_SHARDS))?;
        let condition = if replace_closed {
            "attribute_not_exists(pk) OR (#state <> :active AND #state <> :paused)"
        } else {
            "attribute_not_exists(pk)"
        };
        let mut put = self.put_one(item).condition_expression(condition);
        if replace_closed {
            put = put
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":active", s("active"))
                .expression_attribute_values(":paused", s("paused"));
        }
        condition_held("PutItem", put.send().await)
    }

    /// Replaces an enrollment read earlier (pause, resume, unenroll), unless a tick holds it.
    pub async fn update_enrollment(&self, e: &Enrollment) -> Result<bool, StoreError> {
        let item = to_item(&EnrollmentItem::new(e, DUE_SHARDS))?;
        let res = self
            .put_one(item)
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(claim)")
            .send()
            .await;
        condition_held("PutItem", res)
    }

    /// Every enrollment (open or closed) in one scenario, across its versions. The index holds
    /// keys only, so each enrollment is then read (migrations are rare; sends are not).
    pub async fn scenario_enrollments(
        &self,
        t: &TenantId,
        scenario: &ScenarioId,
    ) -> Result<Vec<Enrollment>, StoreError> {
        let members = self
            .partition(Some(keys::GSI3), keys::scenario_members_pk(t, scenario))
            .await?;
        let mut out = Vec::new();
        for item in members {
            let member = item.get(keys::GSI3SK).and_then(|v| v.as_s().ok());
            let Some(u) = member.and_then(|m| LineUserId::parse(m).ok()) else {
                continue;
            };
            if let Some(e) = self.enrollment(t, &u, scenario).await? {
                out.push(e);
            }
        }
        Ok(out)
    }

    pub async fn friend_enrollments(
        &self,
        t: &TenantId,
        u: &LineUserId,
    ) -> Result<Vec<Enrollment>, StoreError> {
        self.friend_items(t, u, keys::ENROLLMENT_PREFIX)
            .await
            .and_then(values::<EnrollmentItem>)
    }

    pub async fn friend_deliveries(
        &self,
        t: &TenantId,
        u: &LineUserId,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.friend_items(t, u, keys::DELIVERY_PREFIX)
            .await
            .and_then(values::<DeliveryItem>)
    }

    /// Takes one due enrollment for `lease_until`. None when another tick was faster.
    pub async fn claim(
        &self,
        e: &Enrollment,
        observed_sk: &str,
        lease_until: Timestamp,
        token: &str,
    ) -> Result<Option<Claim>, StoreError> {
        let (pk, sk) = keys::enrollment(&e.tenant, &e.friend, &e.scenario);
        let (_, leased_sk) = keys::due_index(0, lease_until, &e.tenant, &e.friend, &e.scenario);
        match self
            .claim_item(pk, sk, observed_sk, leased_sk, token)
            .await?
        {
            Some(item) => Ok(Some(Claim {
                enrollment: from_item::<EnrollmentItem>(item)?.enrollment,
                token: token.to_owned(),
            })),
            None => Ok(None),
        }
    }

    /// Claims an enrollment just read (not found through the index), e.g. to reply at once.
    pub async fn claim_due(
        &self,
        e: &Enrollment,
        lease_until: Timestamp,
        token: &str,
    ) -> Result<Option<Claim>, StoreError> {
        let Some(due) = e.due() else { return Ok(None) };
        let (_, observed) =
            keys::due_index(e.shard(DUE_SHARDS), due, &e.tenant, &e.friend, &e.scenario);
        self.claim(e, &observed, lease_until, token).await
    }

    /// Counts one message against the friend's daily cap; false (and nothing counted) when the
    /// friend already had `cap` messages that day.
    pub async fn take_daily_slot(
        &self,
        t: &TenantId,
        u: &LineUserId,
        day: &str,
        cap: u32,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::daily_sends(t, u, day);
        let res = self
            .update(pk, sk)
            .update_expression("ADD sends :one SET #ttl = :ttl")
            .expression_attribute_names("#ttl", keys::TTL)
            .condition_expression("attribute_not_exists(sends) OR sends < :cap")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":cap", AttributeValue::N(cap.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .send()
            .await;
        condition_held("UpdateItem", res)
    }

    /// Gives back a slot taken for a send that did not go out (deferred by LINE's rate limit…).
    pub async fn release_daily_slot(
        &self,
        t: &TenantId,
        u: &LineUserId,
        day: &str,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::daily_sends(t, u, day);
        self.update(pk, sk)
            .update_expression("ADD sends :minus")
            .condition_expression("sends > :zero")
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await
            .map(|_| ())
            .or_else(|err| match err.as_service_error() {
                Some(e) if e.is_conditional_check_failed_exception() => Ok(()),
                _ => Err(StoreError::dynamo("UpdateItem", err)),
            })
    }

    /// Writes the outcome of a claim: the enrollment's next state (back in the due-index or not)
    /// and, when a step went out or failed for good, its delivery record — together. Refused
    /// (`Conflict`) if the claim expired and another tick took the enrollment over.
    pub async fn complete_claim(
        &self,
        claim: &Claim,
        next: &Enrollment,
        delivery: Option<&Delivery>,
    ) -> Result<(), StoreError> {
        let item = to_item(&EnrollmentItem::new(next, DUE_SHARDS))?;
        let mut writes = vec![self.put_held(item, &claim.token)?];
        if let Some(d) = delivery {
            let (pk, sk) = keys::delivery(&next.tenant, &next.friend, &d.retry_key);
            let item = DeliveryItem {
                pk,
                sk,
                entity: "delivery".into(),
                delivery: d.clone(),
            };
            writes.push(self.put(to_item(&item)?, None)?);
        }
        match self.transact(writes).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::enrollment::EnrollmentState;

    fn enrollment(state: EnrollmentState) -> Enrollment {
        Enrollment {
            tenant: TenantId::parse("demo").unwrap(),
            friend: LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            scenario: ScenarioId::parse("welcome").unwrap(),
            version: 2,
            id: "e1".into(),
            step: 1,
            state,
            enrolled_at: "2026-04-01T03:00:00Z".parse().unwrap(),
            next_due_at: Some("2026-04-03T01:00:00Z".parse().unwrap()),
            previous_sent_at: None,
            attempts: 0,
            hops: 1,
            ended_reason: None,
        }
    }

    #[test]
    fn an_active_enrollment_sits_in_the_due_index_and_a_finished_one_does_not() {
        let uid = "U4af4980629c1e2c3f2a41b8e4d0a3b0c";
        let e = enrollment(EnrollmentState::Active);
        let item = to_item(&EnrollmentItem::new(&e, DUE_SHARDS)).unwrap();
        assert_eq!(item["pk"], s(format!("T#demo#F#{uid}")));
        assert_eq!(item["sk"], s("ENR#welcome"));
        assert_eq!(item["gsi3pk"], s("T#demo#ENR#welcome"));
        assert_eq!(item["gsi3sk"], s(uid));
        let shard = e.shard(DUE_SHARDS);
        assert_eq!(item["gsi2pk"], s(format!("DUE#{shard:02}")));
        assert_eq!(
            item["gsi2sk"],
            s(format!("2026-04-03T01:00:00.000Z#demo#{uid}#welcome"))
        );

        let mut done = e.clone();
        done.end(EnrollmentState::Finished, "all steps done");
        let item = to_item(&EnrollmentItem::new(&done, DUE_SHARDS)).unwrap();
        assert!(!item.contains_key("gsi2pk") && !item.contains_key("gsi2sk"));
        let paused = to_item(&EnrollmentItem::new(
            &enrollment(EnrollmentState::Paused),
            DUE_SHARDS,
        ))
        .unwrap();
        assert!(
            !paused.contains_key("gsi2pk"),
            "a paused enrollment waits for a follow-back, not a time"
        );
        let back: EnrollmentItem =
            from_item(to_item(&EnrollmentItem::new(&e, DUE_SHARDS)).unwrap()).unwrap();
        assert_eq!(back.enrollment, e);
    }
}
