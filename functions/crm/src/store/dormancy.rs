//! Dormancy in the table: settings, the sweep's progress, day-bucket reads, tier entries (the
//! exactly-once record of each transition) and the reactivation counters.
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Select, TransactWriteItem, Update};
use jiff::{SignedDuration, Timestamp, civil::Date, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::{
    Expiry, Gsi3, SendUpdate, Store, StoreError, condition_held, from_item, keys, s, to_item,
};
use crate::domain::{
    Friend, LineUserId, TagName, TenantId,
    dormancy::{Digest, DormancyClock, DormancySettings},
    scenario::ScenarioId,
};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsItem {
    pk: String,
    sk: String,
    entity: String,
    /// Written `updated_at` before stored names had one rule; read either way.
    #[serde(alias = "updated_at")]
    updated_at: Timestamp,
    #[serde(flatten)]
    settings: DormancySettings,
}

/// The sweep's progress per tenant (`DORMANCY#SWEPT`): the last day swept, and the one-time
/// backfill — done when, and requested again (by a purchase import) when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepState {
    /// Written `last_swept_day` / `swept_at` before stored names had one rule; read either way,
    /// and the next write replaces them.
    #[serde(
        default,
        alias = "last_swept_day",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_swept_day: Option<Date>,
    #[serde(default, alias = "swept_at", skip_serializing_if = "Option::is_none")]
    pub swept_at: Option<Timestamp>,
    /// When every friend was last put into the tier they were already in. None: never (a new
    /// tenant, or one swept before the backfill existed) — the next sweep does it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfilled_at: Option<Timestamp>,
    /// A purchase import moved `lastPurchaseAt` of many friends into the past: the next sweep
    /// backfills the purchase-clock tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_requested_at: Option<Timestamp>,
    /// Where a backfill too large for one invocation paused (an opaque friend-list cursor), and
    /// when that walk started (an import asking after it needs a walk of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_started_at: Option<Timestamp>,
}

#[derive(Serialize, Deserialize)]
struct SweepStateItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    state: SweepState,
}

/// A staff digest waiting for (or past) its send: gsi3 `DIGEST#DUE` / `{due}#{t}#{day}` only
/// while unsent; a claim moves the index entry to the lease's end, as the due-index does.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DigestItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    gsi3: Gsi3,
    due_at: Timestamp,
    #[serde(default)]
    attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sent_at: Option<Timestamp>,
    #[serde(flatten)]
    expiry: Expiry,
    digest: Digest,
}

/// Digests are kept a month for support questions ("did staff get Tuesday's?"), then expire.
const DIGEST_KEPT: SignedDuration = SignedDuration::from_hours(31 * 24);

/// A digest taken by one tick (or the sweep) to send: only the holder of `leased` finishes it.
#[derive(Debug, Clone)]
pub struct DigestClaim {
    pub digest: Digest,
    pub attempts: u32,
    pk: String,
    sk: String,
    leased: String,
}

/// One friend's stay in one tier, as recorded by the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierEntry {
    pub tenant: TenantId,
    pub friend: LineUserId,
    pub clock: DormancyClock,
    pub days: u32,
    pub tag: TagName,
    pub since_day: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioId>,
    /// The friend's inflow route when they entered ("unknown" when none).
    pub route: String,
    pub entered_at: Timestamp,
    /// The sweep of this day measures the entry if the friend has not come back by then.
    pub close_day: Date,
    /// The enrollment and the bus event of the transition are still to be done (a crash
    /// between the transaction and them is finished by the next run).
    #[serde(default)]
    pub pending: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned: Option<bool>,
}

impl TierEntry {
    fn key(&self) -> keys::Key {
        keys::tier_entry(
            &self.tenant,
            &self.friend,
            self.clock.as_str(),
            self.days,
            &self.since_day.to_string(),
        )
    }

    fn counter_key(&self) -> keys::Key {
        keys::reactivation_counter(
            &self.tenant,
            self.clock.as_str(),
            self.days,
            self.scenario.as_ref().map(|s| s.as_str()),
            &self.route,
        )
    }
}

#[derive(Serialize, Deserialize)]
struct TierEntryItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    gsi3: Gsi3,
    #[serde(flatten)]
    entry: TierEntry,
}

/// A yearly occasion (birthday, anniversary) handled for one friend.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OccasionItem {
    pk: String,
    sk: String,
    entity: String,
    at: Timestamp,
    #[serde(default)]
    pending: bool,
}

/// What a once-only write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Once {
    /// Written now: do the follow-up (enroll, publish).
    New,
    /// Written before; `pending` when its follow-up never finished.
    Done { pending: bool },
}

/// Keys of one gsi3 entry (the index projects keys only).
#[derive(Debug, Clone)]
pub struct BucketEntry {
    pub pk: String,
    pub sk: String,
    pub gsi3sk: String,
}

/// The counters of one tier × scenario × inflow route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactivationCounter {
    pub clock: DormancyClock,
    pub days: u32,
    pub tag: TagName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioId>,
    pub route: String,
    #[serde(default)]
    pub entered: u64,
    #[serde(default)]
    pub messaged: u64,
    #[serde(default)]
    pub returned: u64,
}

fn is_condition_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

holds!(SettingsItem, settings: DormancySettings);
holds!(TierEntryItem, entry: TierEntry);

impl Store {
    pub async fn dormancy_settings(
        &self,
        t: &TenantId,
    ) -> Result<Option<DormancySettings>, StoreError> {
        self.value::<SettingsItem>(keys::dormancy_settings(t)).await
    }

    pub async fn put_dormancy_settings(
        &self,
        t: &TenantId,
        settings: &DormancySettings,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::dormancy_settings(t);
        let item = to_item(&SettingsItem {
            pk,
            sk,
            entity: "dormancy_settings".into(),
            updated_at: now,
            settings: settings.clone(),
        })?;
        self.put_item(item).await?;
        Ok(())
    }

    pub async fn last_swept_day(&self, t: &TenantId) -> Result<Option<Date>, StoreError> {
        Ok(self.sweep_state(t).await?.last_swept_day)
    }

    pub async fn sweep_state(&self, t: &TenantId) -> Result<SweepState, StoreError> {
        match self.get(keys::sweep_state(t)).await? {
            Some(item) => Ok(from_item::<SweepStateItem>(item)?.state),
            None => Ok(SweepState::default()),
        }
    }

    /// Records that every day up to `day` is swept. Never moves back: an overlapping older run
    /// finishing late cannot make the next run repeat days. An update, not a put, so the
    /// backfill's record on the same item stays.
    pub async fn set_last_swept_day(
        &self,
        t: &TenantId,
        day: Date,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::sweep_state(t);
        let res = self.update(pk, sk)
            .update_expression(
                "SET lastSweptDay = :day, sweptAt = :now, entity = :e REMOVE last_swept_day, swept_at",
            )
            // ISO dates order as text; an item written before the rename holds `last_swept_day`.
            .condition_expression(
                "(attribute_not_exists(lastSweptDay) AND (attribute_not_exists(last_swept_day) \
                 OR last_swept_day < :day)) OR lastSweptDay < :day",
            )
            .expression_attribute_values(":day", s(day.to_string()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":e", s("sweep_state"))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failed) => Ok(()),
            Err(e) => Err(StoreError::dynamo("UpdateItem", e)),
        }
    }

    /// Asks the next sweep to put every friend into the purchase-clock tier they are in now
    /// (called after a purchase import, which can move many `lastPurchaseAt` far back at once).
    pub async fn request_dormancy_backfill(
        &self,
        t: &TenantId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::sweep_state(t);
        self.update(pk, sk)
            .update_expression("SET backfillRequestedAt = :now, entity = :e")
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":e", s("sweep_state"))
            .sent()
            .await
    }

    /// Records a finished backfill. The request it answered is cleared only if no newer import
    /// asked again meanwhile (that one gets its own backfill).
    pub async fn record_backfill(
        &self,
        t: &TenantId,
        now: Timestamp,
        answered: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::sweep_state(t);
        self.update(pk.clone(), sk.clone())
            .update_expression(
                "SET backfilledAt = :now, entity = :e REMOVE backfillCursor, backfillStartedAt",
            )
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":e", s("sweep_state"))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        if let Some(req) = answered {
            let res = self
                .update(pk, sk)
                .update_expression("REMOVE backfillRequestedAt")
                .condition_expression("backfillRequestedAt = :req")
                .expression_attribute_values(":req", s(req.to_string()))
                .send()
                .await;
            condition_held("UpdateItem", res)?;
        }
        Ok(())
    }

    /// Remembers where a backfill paused, so the next run continues there.
    pub async fn save_backfill_cursor(
        &self,
        t: &TenantId,
        cursor: &str,
        started: Timestamp,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::sweep_state(t);
        self.update(pk, sk)
            .update_expression("SET backfillCursor = :c, backfillStartedAt = :s, entity = :e")
            .expression_attribute_values(":c", s(cursor))
            .expression_attribute_values(":s", s(started.to_string()))
            .expression_attribute_values(":e", s("sweep_state"))
            .sent()
            .await
    }

    /// Keeps a composed digest until `due`. False when this day's digest was already sent (a
    /// re-run of the day must not send it again).
    pub async fn save_digest(&self, d: &Digest, due: Timestamp) -> Result<bool, StoreError> {
        let day = d.day.to_string();
        let (pk, sk) = keys::digest(&d.tenant, &day);
        let item = to_item(&DigestItem {
            pk,
            sk,
            entity: "digest".into(),
            gsi3: Gsi3::new(Some(keys::digest_due(due, &d.tenant, &day))),
            due_at: due,
            attempts: 0,
            sent_at: None,
            expiry: Expiry::after(due, DIGEST_KEPT),
            digest: d.clone(),
        })?;
        let res = self
            .put_one(item)
            .condition_expression("attribute_not_exists(sentAt)")
            .send()
            .await;
        condition_held("PutItem", res)
    }

    /// Digests due by `now` (keys only: pk, sk and the index sort key as observed).
    pub async fn due_digests(&self, now: Timestamp) -> Result<Vec<BucketEntry>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI3)
            .key_condition_expression("gsi3pk = :p AND gsi3sk <= :now")
            .expression_attribute_values(":p", s(keys::DIGESTS_DUE_INDEX_PK))
            // '~' sorts after every character of the rest of the key: everything due by `now`.
            .expression_attribute_values(":now", s(format!("{}~", keys::sortable(now))))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let mut due = Vec::new();
        for item in out.items.unwrap_or_default() {
            let get = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            if let (Some(pk), Some(sk), Some(gsi3sk)) =
                (get(keys::PK), get(keys::SK), get(keys::GSI3SK))
            {
                due.push(BucketEntry { pk, sk, gsi3sk });
            }
        }
        Ok(due)
    }

    /// Takes a due digest until `lease_until`; None when another tick was faster.
    pub async fn claim_digest(
        &self,
        due: &BucketEntry,
        lease_until: Timestamp,
    ) -> Result<Option<DigestClaim>, StoreError> {
        let tail = due.gsi3sk.split_once('#').map_or("", |(_, rest)| rest);
        let leased = format!("{}#{tail}", keys::sortable(lease_until));
        let res = self
            .update(due.pk.clone(), due.sk.clone())
            .update_expression("SET gsi3sk = :leased")
            .condition_expression("gsi3sk = :observed")
            .expression_attribute_values(":leased", s(leased.clone()))
            .expression_attribute_values(":observed", s(due.gsi3sk.clone()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => {
                let item: DigestItem = from_item(out.attributes.unwrap_or_default())?;
                Ok(Some(DigestClaim {
                    digest: item.digest,
                    attempts: item.attempts,
                    pk: due.pk.clone(),
                    sk: due.sk.clone(),
                    leased,
                }))
            }
            Err(e) if e.as_service_error().is_some_and(is_condition_failed) => Ok(None),
            Err(e) => Err(StoreError::dynamo("UpdateItem", e)),
        }
    }

    /// The digest went out (or will never go): off the index, `sentAt` set. Or, with `retry_at`,
    /// back in the index for another attempt.
    pub async fn finish_digest(
        &self,
        claim: &DigestClaim,
        now: Timestamp,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let update = self
            .update(claim.pk.clone(), claim.sk.clone())
            .condition_expression("gsi3sk = :leased")
            .expression_attribute_values(":leased", s(claim.leased.clone()));
        let update = match retry_at {
            Some(at) => {
                let day = claim.digest.day.to_string();
                let (_, sk) = keys::digest_due(at, &claim.digest.tenant, &day);
                update
                    .update_expression("SET gsi3sk = :next, attempts = attempts + :one")
                    .expression_attribute_values(":next", s(sk))
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
            }
            None => update
                .update_expression("SET sentAt = :now REMOVE gsi3pk, gsi3sk")
                .expression_attribute_values(":now", s(now.to_string())),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            // The lease ran out and another tick took it over: its outcome wins.
            Err(e) if e.as_service_error().is_some_and(is_condition_failed) => {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(StoreError::dynamo("UpdateItem", e)),
        }
    }

    /// Every entry of one gsi3 bucket (keys only): the friends whose day falls on it.
    pub async fn bucket_entries(&self, bucket_pk: &str) -> Result<Vec<BucketEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .partition(Some(keys::GSI3), bucket_pk.to_owned())
            .await?
        {
            let get = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .ok_or_else(|| StoreError::Malformed(format!("gsi3 entry without {k}")))
            };
            out.push(BucketEntry {
                pk: get(keys::PK)?,
                sk: get(keys::SK)?,
                gsi3sk: get(keys::GSI3SK)?,
            });
        }
        Ok(out)
    }

    /// Moves the friend into a tier: the friend's new state (guarded by its version), the tier
    /// entry (only if absent: this is what makes a re-run a no-op) and `entered` + 1, together.
    pub async fn enter_tier(
        &self,
        before: &Friend,
        after: &Friend,
        zone: &TimeZone,
        entry: &TierEntry,
    ) -> Result<Once, StoreError> {
        let (pk, sk) = entry.key();
        // Only entries whose return is measured (they have a scenario) wait in the close index.
        let close = entry.scenario.is_some().then(|| {
            keys::return_window_close(
                &entry.tenant,
                &entry.friend,
                &entry.close_day.to_string(),
                &sk,
            )
        });
        let item = TierEntryItem {
            pk,
            sk,
            entity: "tier_entry".into(),
            gsi3: Gsi3::new(close),
            entry: entry.clone(),
        };
        let mut writes = vec![self.put(to_item(&item)?, Some("attribute_not_exists(pk)"))?];
        writes.push(self.counter_update(entry, &[("entered", 1)], true)?);
        writes.extend(self.friend_writes(Some(before), after, zone, entry.entered_at)?);
        match self.transact(writes).await? {
            Ok(()) => Ok(Once::New),
            Err(0) => {
                let pending = self
                    .tier_entry(&entry.tenant, &entry.friend, &entry.key().1)
                    .await?
                    .is_some_and(|e| e.pending);
                Ok(Once::Done { pending })
            }
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// ADDs to one reactivation counter, creating it with its labels on first use.
    fn counter_update(
        &self,
        entry: &TierEntry,
        adds: &[(&str, u64)],
        label: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = entry.counter_key();
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut add = Vec::new();
        for (i, (name, n)) in adds.iter().enumerate() {
            names.insert(format!("#a{i}"), (*name).to_owned());
            values.insert(format!(":a{i}"), AttributeValue::N(n.to_string()));
            add.push(format!("#a{i} :a{i}"));
        }
        let mut expr = format!("ADD {}", add.join(", "));
        if label {
            let mut labels = vec![
                ("entity", s("reactivation_counter")),
                ("clock", s(entry.clock.as_str())),
                ("days", AttributeValue::N(entry.days.to_string())),
                ("tag", s(entry.tag.as_str())),
                ("route", s(entry.route.clone())),
            ];
            if let Some(sc) = &entry.scenario {
                labels.push(("scenario", s(sc.as_str())));
            }
            let sets: Vec<String> = labels
                .into_iter()
                .enumerate()
                .map(|(i, (name, v))| {
                    names.insert(format!("#l{i}"), name.to_owned());
                    values.insert(format!(":l{i}"), v);
                    format!("#l{i} = :l{i}")
                })
                .collect();
            expr.push_str(&format!(" SET {}", sets.join(", ")));
        }
        let update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression(expr)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub async fn tier_entry(
        &self,
        t: &TenantId,
        u: &LineUserId,
        sk: &str,
    ) -> Result<Option<TierEntry>, StoreError> {
        self.value::<TierEntryItem>((keys::friend_pk(t, u), sk.to_owned()))
            .await
    }

    /// The entry of the stay that `clock`/`days`/`since_day` name.
    pub async fn tier_entry_of(
        &self,
        t: &TenantId,
        u: &LineUserId,
        clock: DormancyClock,
        days: u32,
        since_day: Date,
    ) -> Result<Option<TierEntry>, StoreError> {
        let (_, sk) = keys::tier_entry(t, u, clock.as_str(), days, &since_day.to_string());
        self.tier_entry(t, u, &sk).await
    }

    /// An entry read through the close index, by its table keys.
    pub async fn tier_entry_at(&self, pk: &str, sk: &str) -> Result<Option<TierEntry>, StoreError> {
        self.value::<TierEntryItem>((pk.to_owned(), sk.to_owned()))
            .await
    }

    /// The transition's follow-up is done.
    pub async fn tier_entry_done(&self, entry: &TierEntry) -> Result<(), StoreError> {
        let (pk, sk) = entry.key();
        self.clear_pending(pk, sk).await
    }

    async fn clear_pending(&self, pk: String, sk: String) -> Result<(), StoreError> {
        self.update(pk, sk)
            .update_expression("SET pending = :no")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .sent()
            .await
    }

    /// Measures a stay once: whether the reactivation message went out and whether the friend
    /// came back in time. The entry's condition makes the counter ADD happen exactly once, and
    /// the entry leaves the close index.
    pub async fn measure_tier_entry(
        &self,
        entry: &TierEntry,
        messaged: bool,
        returned: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = entry.key();
        let mark = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression(
                "SET measuredAt = :now, messaged = :m, #returned = :r REMOVE gsi3pk, gsi3sk",
            )
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(measuredAt)")
            .expression_attribute_names("#returned", "returned")
            .expression_attribute_values(":now", s(keys::sortable(now)))
            .expression_attribute_values(":m", AttributeValue::Bool(messaged))
            .expression_attribute_values(":r", AttributeValue::Bool(returned))
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let mut writes = vec![TransactWriteItem::builder().update(mark).build()];
        let adds: Vec<(&str, u64)> = [("messaged", messaged), ("returned", returned)]
            .into_iter()
            .filter(|(_, yes)| *yes)
            .map(|(n, _)| (n, 1))
            .collect();
        if !adds.is_empty() {
            writes.push(self.counter_update(entry, &adds, false)?);
        }
        match self.transact(writes).await? {
            Ok(()) => Ok(true),
            Err(0) => Ok(false),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// Records a yearly occasion for the friend once, with the friend's change (a coupon) in the
    /// same transaction when there is one.
    pub async fn mark_occasion(
        &self,
        t: &TenantId,
        u: &LineUserId,
        kind: &str,
        year: i16,
        friend: Option<(&Friend, &Friend, &TimeZone)>,
        now: Timestamp,
    ) -> Result<Once, StoreError> {
        let (pk, sk) = keys::occasion(t, u, kind, year);
        let item = OccasionItem {
            pk: pk.clone(),
            sk: sk.clone(),
            entity: "occasion".into(),
            at: now,
            pending: true,
        };
        let mut writes = vec![self.put(to_item(&item)?, Some("attribute_not_exists(pk)"))?];
        if let Some((before, after, zone)) = friend {
            writes.extend(self.friend_writes(Some(before), after, zone, now)?);
        }
        match self.transact(writes).await? {
            Ok(()) => Ok(Once::New),
            Err(0) => {
                let pending = match self.get((pk, sk)).await? {
                    Some(item) => from_item::<OccasionItem>(item)?.pending,
                    None => false,
                };
                Ok(Once::Done { pending })
            }
            Err(_) => Err(StoreError::Conflict),
        }
    }

    pub async fn occasion_done(
        &self,
        t: &TenantId,
        u: &LineUserId,
        kind: &str,
        year: i16,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::occasion(t, u, kind, year);
        self.clear_pending(pk, sk).await
    }

    /// How many friends carry `tag` now (a count over the tag's member index, keys only).
    pub async fn tag_member_count(&self, t: &TenantId, tag: &TagName) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI1)
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(keys::tag_members_pk(t, tag)))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            count += u64::try_from(page.count).unwrap_or(0);
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
    }

    /// Every reactivation counter of the tenant.
    pub async fn reactivation_counters(
        &self,
        t: &TenantId,
    ) -> Result<Vec<ReactivationCounter>, StoreError> {
        self.tenant_items(t, keys::REACTIVATION_PREFIX)
            .await?
            .into_iter()
            .map(from_item::<ReactivationCounter>)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_tier_entry_item_carries_its_keys_and_close_bucket() {
        let entry = TierEntry {
            tenant: TenantId::parse("demo").unwrap(),
            friend: LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            clock: DormancyClock::Activity,
            days: 30,
            tag: TagName::parse("休眠30日").unwrap(),
            since_day: date(2026, 3, 1),
            scenario: Some(ScenarioId::parse("comeback").unwrap()),
            route: "unknown".into(),
            entered_at: "2026-03-30T19:00:00Z".parse().unwrap(),
            close_day: date(2026, 5, 1),
            pending: true,
            measured_at: None,
            messaged: None,
            returned: None,
        };
        let (pk, sk) = entry.key();
        let item = to_item(&TierEntryItem {
            pk,
            sk,
            entity: "tier_entry".into(),
            gsi3: Gsi3::default(),
            entry: entry.clone(),
        })
        .unwrap();
        assert_eq!(item["pk"], s("T#demo#F#U4af4980629c1e2c3f2a41b8e4d0a3b0c"));
        assert_eq!(item["sk"], s("DORM#activity#0030#2026-03-01"));
        assert_eq!(item["sinceDay"], s("2026-03-01"));
        assert_eq!(item["closeDay"], s("2026-05-01"));
        assert_eq!(item["clock"], s("activity"));
        assert_eq!(
            entry.counter_key(),
            (
                "T#demo".into(),
                "REACT#activity#0030#comeback#unknown".into()
            )
        );
        let back: TierEntryItem = from_item(item).unwrap();
        assert_eq!(back.entry, entry);
    }
}
