//! What waits and why: a note per deferred step or broadcast (`T#{t}#DEFERRED`), the sparse
//! index of tenants whose monthly quota is used up, and the update that makes a quota wait due
//! at once when LINE has room again.
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{Expiry, Store, StoreError, condition_held, from_item, keys, s, to_item, values};
use crate::domain::{
    LineUserId, TenantId,
    deferral::{DeferReason, Deferred},
    scenario::ScenarioId,
};

/// A note is only a view for the marketer (the due-index decides what is sent), so it may
/// outlive its item for a while: it expires a day after its due time, a quota wait a week after.
const NOTE_GRACE_SECONDS: i64 = 86_400;
const QUOTA_NOTE_GRACE_SECONDS: i64 = 7 * 86_400;

/// One waiting item, as `GET /admin/deferred` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeferredNote {
    #[serde(flatten)]
    pub item: Deferred,
    pub reason: DeferReason,
    /// When it goes (for a quota wait: the month's rollover, unless LINE has room earlier).
    pub due_at: Timestamp,
    /// The due-index shard the item sits in, to find its index entry again.
    pub shard: u8,
    pub noted_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct NoteItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    expiry: Expiry,
    #[serde(flatten)]
    note: DeferredNote,
}

fn note_key(t: &TenantId, item: &Deferred) -> keys::Key {
    match item {
        Deferred::Step { user_id, scenario } => keys::deferred_step(t, user_id, scenario),
        Deferred::Broadcast { broadcast } => keys::deferred_broadcast(t, broadcast),
    }
}

holds!(NoteItem, note: DeferredNote);

impl Store {
    /// Records why an item waits (replacing an earlier note for the same item).
    pub async fn note_deferred(&self, t: &TenantId, note: &DeferredNote) -> Result<(), StoreError> {
        let (pk, sk) = note_key(t, &note.item);
        let grace = match note.reason {
            DeferReason::Quota => QUOTA_NOTE_GRACE_SECONDS,
            _ => NOTE_GRACE_SECONDS,
        };
        let item = to_item(&NoteItem {
            pk,
            sk,
            entity: "deferred".into(),
            expiry: Expiry::at(
                note.due_at
                    .saturating_add(SignedDuration::from_secs(grace))
                    .unwrap_or(note.due_at),
            ),
            note: note.clone(),
        })?;
        self.put_item(item).await?;
        Ok(())
    }

    /// One page of the tenant's notes in item order, after the note `after` (the sort key the
    /// previous page ended on; only ever looked up in the caller's own partition), and the sort
    /// key to continue after when more may follow.
    pub async fn deferred_notes_page(
        &self,
        t: &TenantId,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<DeferredNote>, Option<String>), StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", s(keys::deferred_pk(t)))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        query = match after {
            Some(sk) => query
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(":after", s(sk)),
            None => query.key_condition_expression("pk = :pk"),
        };
        let out = query
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| k.get(keys::SK))
            .and_then(|v| v.as_s().ok())
            .cloned();
        let notes = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| from_item::<NoteItem>(i).map(|n| n.note))
            .collect::<Result<_, _>>()?;
        Ok((notes, next))
    }

    /// Every note of the tenant (one partition; expired notes DynamoDB has not yet removed included).
    pub async fn deferred_notes(&self, t: &TenantId) -> Result<Vec<DeferredNote>, StoreError> {
        self.partition(None, keys::deferred_pk(t))
            .await
            .and_then(values::<NoteItem>)
    }

    pub async fn forget_deferred(&self, t: &TenantId, item: &Deferred) -> Result<(), StoreError> {
        self.delete_item(note_key(t, item)).await?;
        Ok(())
    }

    /// Moves a step waiting in the due-index at `was` to `now`. Conditioned on the index entry
    /// still reading `was`: an item a tick has claimed meanwhile, or that moved on, is left alone
    /// (false).
    pub async fn make_step_due_now(
        &self,
        t: &TenantId,
        u: &LineUserId,
        scenario: &ScenarioId,
        shard: u8,
        was: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::enrollment(t, u, scenario);
        let (_, old) = keys::due_index(shard, was, t, u, scenario);
        let (_, new) = keys::due_index(shard, now, t, u, scenario);
        self.due_now(pk, sk, old, new, now).await
    }

    /// The same for a broadcast waiting for its next chunk.
    pub async fn make_broadcast_due_now(
        &self,
        t: &TenantId,
        id: &str,
        shard: u8,
        was: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::broadcast(t, id);
        let (_, old) = keys::broadcast_due(shard, was, t, id);
        let (_, new) = keys::broadcast_due(shard, now, t, id);
        self.due_now(pk, sk, old, new, now).await
    }

    async fn due_now(
        &self,
        pk: String,
        sk: String,
        old: String,
        new: String,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let res = self
            .update(pk, sk)
            .update_expression("SET #due = :now, #gsk = :new")
            .condition_expression("#gsk = :old")
            .expression_attribute_names("#due", "nextDueAt")
            .expression_attribute_names("#gsk", keys::GSI2SK)
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":new", s(new))
            .expression_attribute_values(":old", s(old))
            .send()
            .await;
        condition_held("UpdateItem", res)
    }

    /// The tenants whose monthly quota is marked used up (one query of a sparse index).
    pub async fn quota_exhausted_tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let items = self
            .partition(Some(keys::GSI3), keys::QUOTA_EXHAUSTED_INDEX_PK.to_owned())
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| i.get(keys::GSI3SK)?.as_s().ok())
            .filter_map(|id| TenantId::parse(id).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_item_names_its_item_reason_and_due_time() {
        let t = TenantId::parse("demo").unwrap();
        let uid = "U4af4980629c1e2c3f2a41b8e4d0a3b0c";
        let note = DeferredNote {
            item: Deferred::Step {
                user_id: LineUserId::parse(uid).unwrap(),
                scenario: ScenarioId::parse("welcome").unwrap(),
            },
            reason: DeferReason::Quota,
            due_at: "2026-12-01T15:00:00Z".parse().unwrap(),
            shard: 2,
            noted_at: "2026-11-20T01:00:00Z".parse().unwrap(),
        };
        let (pk, sk) = note_key(&t, &note.item);
        let item = to_item(&NoteItem {
            pk,
            sk,
            entity: "deferred".into(),
            expiry: Expiry::at(Timestamp::UNIX_EPOCH),
            note: note.clone(),
        })
        .unwrap();
        assert_eq!(item["pk"], s("T#demo#DEFERRED"));
        assert_eq!(item["sk"], s(format!("ENR#{uid}#welcome")));
        assert_eq!(item["kind"], s("step"));
        assert_eq!(item["userId"], s(uid));
        assert_eq!(item["scenario"], s("welcome"));
        assert_eq!(item["reason"], s("quota"));
        assert_eq!(item["dueAt"], s("2026-12-01T15:00:00Z"));
        assert!(item.contains_key("expires_at") && item.contains_key("notedAt"));
        let back: NoteItem = from_item(item).unwrap();
        assert_eq!(back.note, note);
    }
}
