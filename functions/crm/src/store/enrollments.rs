//! Enrollments, the sparse sharded due-index and delivery records.
//!
//! Claiming is one conditional update: it succeeds only if the index entry still reads as the
//! tick saw it, and it moves that entry to the lease's end. Two overlapping ticks therefore never
//! both claim, and a tick that dies after claiming leaves an entry that comes due again when the
//! lease runs out; the retry reuses the step's retry key, so LINE sends at most once.
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::keys::DUE_SHARDS;
use super::{Item, Store, StoreError, condition_held, from_item, keys, s, to_item};
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    /// The claim token of the tick working on this enrollment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claim: Option<String>,
    #[serde(flatten)]
    enrollment: Enrollment,
}

impl EnrollmentItem {
    fn new(e: &Enrollment, shards: u8) -> Self {
        let (pk, sk) = keys::enrollment(&e.tenant, &e.friend, &e.scenario);
        let due = e
            .due()
            .map(|at| keys::due_index(e.shard(shards), at, &e.tenant, &e.friend, &e.scenario));
        let (gsi2pk, gsi2sk) = due.unzip();
        let (gsi3pk, gsi3sk) = keys::scenario_members(&e.tenant, &e.scenario, &e.friend);
        Self {
            pk,
            sk,
            entity: "enrollment".into(),
            gsi3pk,
            gsi3sk,
            gsi2pk,
            gsi2sk,
            claim: None,
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

/// One entry of the due-index: a scenario step or a broadcast, with the sort key as read.
#[derive(Debug, Clone)]
pub enum Due {
    Enrollment {
        observed: String,
        enrollment: Enrollment,
    },
    Broadcast {
        observed: String,
        broadcast: Box<crate::domain::broadcast::Broadcast>,
    },
}

impl Store {
    pub async fn enrollment(
        &self,
        t: &TenantId,
        u: &LineUserId,
        scenario: &ScenarioId,
    ) -> Result<Option<Enrollment>, StoreError> {
        match self.get(keys::enrollment(t, u, scenario)).await? {
            Some(item) => Ok(Some(from_item::<EnrollmentItem>(item)?.enrollment)),
            None => Ok(None),
        }
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
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
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
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
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
            .await?
            .into_iter()
            .map(|i| from_item::<EnrollmentItem>(i).map(|e| e.enrollment))
            .collect()
    }

    pub async fn friend_deliveries(
        &self,
        t: &TenantId,
        u: &LineUserId,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.friend_items(t, u, keys::DELIVERY_PREFIX)
            .await?
            .into_iter()
            .map(|i| from_item::<DeliveryItem>(i).map(|d| d.delivery))
            .collect()
    }

    /// Index entries of one shard due at or before `now`, oldest first, each with the sort key
    /// observed (a claim succeeds only if the entry still reads so).
    pub async fn due_items(
        &self,
        shard: u8,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI2)
            .key_condition_expression("gsi2pk = :shard AND gsi2sk <= :now")
            .expression_attribute_values(":shard", s(keys::due_shard(shard)))
            // '~' sorts after every character of the rest of the key: everything due by `now`.
            .expression_attribute_values(":now", s(format!("{}~", keys::sortable(now))))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let mut due = Vec::new();
        for item in out.items.unwrap_or_default() {
            let observed = item
                .get(keys::GSI2SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            match item
                .get("entity")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
            {
                Some("broadcast") => due.push(Due::Broadcast {
                    observed,
                    broadcast: Box::new(
                        from_item::<super::broadcasts::BroadcastItem>(item)?.broadcast,
                    ),
                }),
                _ => due.push(Due::Enrollment {
                    observed,
                    enrollment: from_item::<EnrollmentItem>(item)?.enrollment,
                }),
            }
        }
        Ok(due)
    }

    /// When the next entry of the due-index comes due (a step, a broadcast or a claim's lease),
    /// over every shard; None when nothing waits. Read-only: the local stack moves its clock
    /// from one of these instants to the next and ticks there, as the Scheduler's minutes would.
    pub async fn earliest_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let mut earliest: Option<Timestamp> = None;
        for shard in 0..DUE_SHARDS {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI2)
                .key_condition_expression("gsi2pk = :shard")
                .expression_attribute_values(":shard", s(keys::due_shard(shard)))
                .projection_expression(keys::GSI2SK)
                .limit(1)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            let first = out
                .items
                .unwrap_or_default()
                .into_iter()
                .next()
                .and_then(|item| item.get(keys::GSI2SK)?.as_s().ok().cloned())
                .and_then(|sk| keys::due_at(&sk));
            earliest = match (earliest, first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(earliest)
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

    /// The claim itself: move the due-index entry to the lease's end and stamp the token, only if
    /// the entry still reads as observed.
    pub(super) async fn claim_item(
        &self,
        pk: String,
        sk: String,
        observed_sk: &str,
        leased_sk: String,
        token: &str,
    ) -> Result<Option<Item>, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression("SET gsi2sk = :leased, claim = :token")
            .condition_expression("gsi2sk = :observed")
            .expression_attribute_values(":leased", s(leased_sk))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":observed", s(observed_sk))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(StoreError::dynamo("UpdateItem", err)),
        }
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
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
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
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
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
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("claim = :token")
            .expression_attribute_values(":token", AttributeValue::S(claim.token.clone()))
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let mut writes = vec![
            aws_sdk_dynamodb::types::TransactWriteItem::builder()
                .put(put)
                .build(),
        ];
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
