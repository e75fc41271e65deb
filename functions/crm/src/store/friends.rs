//! Friend profiles, their tag memberships and their action history.
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jiff::{Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::keys::FriendBucket;
use super::{Gsi3, Item, Store, StoreError, from_item, keys, s, to_item};
use crate::{
    bus::Event,
    domain::{Friend, LineUserId, TagName, TenantId, dormancy},
};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct FriendItem {
    pk: String,
    sk: String,
    entity: String,
    gsi1pk: String,
    gsi1sk: String,
    #[serde(flatten)]
    gsi3: Gsi3,
    #[serde(flatten)]
    friend: Friend,
}

/// A new friend's own item, exactly as a first save writes it (version 1), for bulk loaders
/// such as the dormancy benchmark. Only for friends without tags, purchases or birthday: those
/// need the items a save writes beside it.
pub fn new_friend_item(friend: &Friend, zone: &TimeZone) -> Result<super::Item, StoreError> {
    let mut first = friend.clone();
    first.version = 1;
    to_item(&FriendItem::new(&first, zone))
}

impl FriendItem {
    /// The whole key set of a friend: table keys, follow-order index and last-seen day bucket.
    pub(super) fn new(friend: &Friend, zone: &TimeZone) -> Self {
        let (pk, sk) = keys::friend(&friend.tenant, &friend.user_id);
        let (gsi1pk, gsi1sk) =
            keys::friends_by_follow(&friend.tenant, &friend.user_id, friend.followed_at);
        let bucket = friend.last_seen_at.map(|at| {
            let day = at.to_zoned(zone.clone()).date().to_string();
            keys::seen_bucket(&friend.tenant, &friend.user_id, &day)
        });
        Self {
            pk,
            sk,
            entity: "friend".into(),
            gsi1pk,
            gsi1sk,
            gsi3: Gsi3::new(bucket),
            friend: friend.clone(),
        }
    }

    /// The extra day buckets the friend belongs in, by kind (None: in no bucket of that kind).
    /// Kept here beside the last-seen bucket so every write of the friend keeps them right.
    pub(super) fn buckets(friend: &Friend, zone: &TimeZone) -> [(FriendBucket, Option<String>); 3] {
        [
            (
                FriendBucket::Bought,
                friend
                    .last_purchase_at
                    .map(|at| dormancy::local_day(at, zone).to_string()),
            ),
            (
                FriendBucket::Birthday,
                friend
                    .fields
                    .get(dormancy::BIRTHDAY_FIELD)
                    .and_then(|b| dormancy::birthday(b))
                    .map(dormancy::month_day),
            ),
            (
                FriendBucket::Followed,
                Some(dormancy::anniversary(friend.followed_at, zone).0),
            ),
        ]
    }
}

/// Puts a friend into one extra gsi3 bucket (birthday, purchase day, follow day).
#[derive(Debug, Serialize, Deserialize)]
struct BucketMarkerItem {
    pk: String,
    sk: String,
    entity: String,
    gsi3pk: String,
    gsi3sk: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagMemberItem {
    pk: String,
    sk: String,
    entity: String,
    gsi1pk: String,
    gsi1sk: String,
    tag: TagName,
    added_at: Timestamp,
}

/// One entry of a friend's action history, as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub kind: String,
    pub at: Timestamp,
    pub event_id: String,
    #[serde(default)]
    pub mode: String,
    /// The LINE event as received (kept whole so nothing the platform adds later is lost).
    pub raw: serde_json::Value,
}

/// Filters of the friend list; all given filters must hold.
#[derive(Debug, Clone, Default)]
pub struct FriendFilter {
    pub has_tags: Vec<TagName>,
    pub lacks_tags: Vec<TagName>,
    pub followed_from: Option<Timestamp>,
    pub followed_until: Option<Timestamp>,
    pub blocked: Option<bool>,
    pub name_contains: Option<String>,
    /// The friend's first inflow route is this one.
    pub route: Option<String>,
    /// Custom fields the friend has with exactly these values.
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct FriendPage {
    pub friends: Vec<Friend>,
    pub cursor: Option<String>,
}

/// A filtered page may need several index pages; past this many the caller gets a cursor.
const MAX_PAGES_PER_CALL: usize = 10;

holds!(FriendItem, friend: Friend);

impl Store {
    pub async fn get_friend(
        &self,
        t: &TenantId,
        u: &LineUserId,
    ) -> Result<Option<Friend>, StoreError> {
        self.value::<FriendItem>(keys::friend(t, u)).await
    }

    /// The writes that move a friend from `before` to `after`: the profile (guarded by the
    /// version read), a membership item per tag added or removed, the counts it moves
    /// (`counts.rs`) and, when tags changed, the `FriendTagged` event in the outbox, for one
    /// transaction. Every source of a tag (rules,
    /// answers, purchases, clicks, the admin API, the sweep) writes through here, so every new
    /// tag reaches the one consumer that decides what it triggers.
    pub(super) fn friend_writes(
        &self,
        before: Option<&Friend>,
        after: &Friend,
        zone: &TimeZone,
        now: Timestamp,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        self.friend_writes_from(before, after, zone, now, false)
    }

    /// [`Store::friend_writes`] for a change replayed from the past (a purchase CSV import):
    /// its `FriendTagged` says `imported`, so the tags are recorded but start no scenario.
    pub(super) fn friend_writes_from(
        &self,
        before: Option<&Friend>,
        after: &Friend,
        zone: &TimeZone,
        now: Timestamp,
        imported: bool,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut next = after.clone();
        next.version = before.map_or(1, |b| b.version + 1);
        let item = to_item(&FriendItem::new(&next, zone))?;
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item));
        let put = match before {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(b) => put
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", AttributeValue::N(b.version.to_string())),
        };
        let put = put
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let mut writes = vec![TransactWriteItem::builder().put(put).build()];

        let old_tags = before.map(|b| &b.tags);
        for (tag, added_at) in &after.tags {
            if old_tags.is_some_and(|o| o.contains_key(tag)) {
                continue;
            }
            let (pk, sk) = keys::friend_tag(&after.tenant, &after.user_id, tag);
            let (gsi1pk, gsi1sk) = keys::tag_members(&after.tenant, &after.user_id, tag);
            let member = TagMemberItem {
                pk,
                sk,
                entity: "friend_tag".into(),
                gsi1pk,
                gsi1sk,
                tag: tag.clone(),
                added_at: *added_at,
            };
            writes.push(self.put(to_item(&member)?, None)?);
        }
        for tag in old_tags.into_iter().flat_map(|o| o.keys()) {
            if !after.tags.contains_key(tag) {
                writes.push(self.delete(keys::friend_tag(&after.tenant, &after.user_id, tag))?);
            }
        }
        let added: Vec<String> = after
            .tags
            .keys()
            .filter(|t| !old_tags.is_some_and(|o| o.contains_key(*t)))
            .map(ToString::to_string)
            .collect();
        let removed: Vec<String> = old_tags
            .into_iter()
            .flat_map(|o| o.keys())
            .filter(|t| !after.tags.contains_key(*t))
            .map(ToString::to_string)
            .collect();
        writes.extend(self.count_writes(before, after, zone, now)?);
        if !added.is_empty() || !removed.is_empty() {
            let tagged =
                Event::tagged(&after.tenant, &after.user_id, now, added, removed, imported);
            writes.extend(self.outbox_writes(&after.tenant, &[tagged], now)?);
        }
        let old_buckets = before.map(|b| FriendItem::buckets(b, zone));
        for (i, (kind, value)) in FriendItem::buckets(after, zone).into_iter().enumerate() {
            let was = old_buckets.as_ref().and_then(|o| o[i].1.as_deref());
            if before.is_some() && was == value.as_deref() {
                continue;
            }
            let (t, u) = (&after.tenant, &after.user_id);
            match value {
                Some(v) => {
                    let (pk, sk) = keys::bucket_marker(t, u, kind);
                    let (gsi3pk, gsi3sk) = keys::bucket(t, u, kind, &v);
                    let marker = BucketMarkerItem {
                        pk,
                        sk,
                        entity: "friend_bucket".into(),
                        gsi3pk,
                        gsi3sk,
                    };
                    writes.push(self.put(to_item(&marker)?, None)?);
                }
                None if was.is_some() => writes.push(self.delete(keys::bucket_marker(t, u, kind))?),
                None => {}
            }
        }
        Ok(writes)
    }

    /// Saves a friend changed by the admin API (tags, fields). `before` is the state read;
    /// a concurrent change since then returns `Conflict` so the caller can re-read and retry.
    pub async fn save_friend(
        &self,
        before: Option<&Friend>,
        after: &Friend,
        zone: &TimeZone,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let writes = self.friend_writes(before, after, zone, now)?;
        match self.transact(writes).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// Friends of one tenant in follow order, filtered, `limit` at most, resumable by cursor.
    pub async fn list_friends(
        &self,
        t: &TenantId,
        filter: &FriendFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<FriendPage, StoreError> {
        let index_pk = keys::friends_index_pk(t);
        let mut start = cursor.map(|c| decode_cursor(c, &index_pk)).transpose()?;
        let mut names = HashMap::from([("#pk".to_owned(), keys::GSI1PK.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), s(index_pk))]);
        let mut key_condition = "#pk = :pk".to_owned();
        match (filter.followed_from, filter.followed_until) {
            (from, until) if from.is_some() || until.is_some() => {
                names.insert("#sk".into(), keys::GSI1SK.into());
                // The index sort key is `{followed_at}#{uid}`; '~' sorts after every id character.
                // DynamoDB takes no empty string in a key condition: without a start, "at most".
                let hi = until
                    .map(|u| format!("{}~", keys::sortable(u)))
                    .unwrap_or_else(|| "~".into());
                values.insert(":hi".into(), s(hi));
                match from {
                    Some(from) => {
                        values.insert(":lo".into(), s(keys::sortable(from)));
                        key_condition.push_str(" AND #sk BETWEEN :lo AND :hi");
                    }
                    None => key_condition.push_str(" AND #sk <= :hi"),
                }
            }
            _ => {}
        }
        let mut conditions = Vec::new();
        for (i, tag) in filter.has_tags.iter().enumerate() {
            names.insert(format!("#has{i}"), tag.to_string());
            conditions.push(format!("attribute_exists(tags.#has{i})"));
        }
        for (i, tag) in filter.lacks_tags.iter().enumerate() {
            names.insert(format!("#lacks{i}"), tag.to_string());
            conditions.push(format!("attribute_not_exists(tags.#lacks{i})"));
        }
        if let Some(blocked) = filter.blocked {
            values.insert(":blocked".into(), AttributeValue::Bool(blocked));
            conditions.push("blocked = :blocked".into());
        }
        if let Some(name) = &filter.name_contains {
            names.insert("#name".into(), "displayName".into());
            values.insert(":name".into(), s(name.clone()));
            conditions.push("contains(#name, :name)".into());
        }
        if let Some(route) = &filter.route {
            names.insert("#route".into(), "route".into());
            values.insert(":route".into(), s(route.clone()));
            conditions.push("#route = :route".into());
        }
        for (i, (field, value)) in filter.fields.iter().enumerate() {
            names.insert("#fields".into(), "fields".into());
            names.insert(format!("#field{i}"), field.clone());
            values.insert(format!(":field{i}"), s(value.clone()));
            conditions.push(format!("#fields.#field{i} = :field{i}"));
        }
        let filter_expression = (!conditions.is_empty()).then(|| conditions.join(" AND "));

        let mut friends = Vec::new();
        for _ in 0..MAX_PAGES_PER_CALL {
            // Asking for no more than still fits means a page never overshoots, so the index's own
            // LastEvaluatedKey is always the right cursor.
            let want = limit - friends.len();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI1)
                .key_condition_expression(&key_condition)
                .set_filter_expression(filter_expression.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            for item in out.items.unwrap_or_default() {
                friends.push(from_item::<FriendItem>(item)?.friend);
            }
            start = out.last_evaluated_key;
            if start.is_none() || friends.len() >= limit {
                break;
            }
        }
        let cursor = start.map(|k| encode_cursor(&k)).transpose()?;
        Ok(FriendPage { friends, cursor })
    }

    /// The friend's newest `limit` history entries, newest first; a message's content is shown
    /// until the tenant's text retention ends (at `now`).
    pub async fn friend_history(
        &self,
        t: &TenantId,
        u: &LineUserId,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let pk = keys::friend_pk(t, u);
        let items = self
            .latest_with_prefix(pk.clone(), keys::EVENT_PREFIX, Some(limit))
            .await?;
        let sort_key = |item: &Item| {
            item.get(keys::SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let has_messages = items.iter().any(|i| i.get("kind") == Some(&s("message")));
        let mut contents = match (items.last(), items.first()) {
            (Some(oldest), Some(newest)) if has_messages => {
                self.message_contents(&pk, &sort_key(oldest), &sort_key(newest), now)
                    .await?
            }
            _ => HashMap::new(),
        };
        items
            .into_iter()
            .map(|item| {
                let (_, content_sk) = keys::message_content(&pk, &sort_key(&item));
                let mut entry = history_entry(item)?;
                let event = entry.raw.as_object_mut();
                if let (Some(event), Some(message)) = (event, contents.remove(&content_sk)) {
                    event.insert("message".into(), message);
                }
                Ok(entry)
            })
            .collect()
    }
}

pub(super) fn history_entry(mut item: Item) -> Result<HistoryEntry, StoreError> {
    // The raw event is kept as a JSON string so DynamoDB never has to understand LINE's shapes.
    let raw = match item.remove("raw") {
        Some(AttributeValue::S(json)) => {
            serde_json::from_str(&json).map_err(|e| StoreError::Malformed(e.to_string()))?
        }
        _ => serde_json::Value::Null,
    };
    item.insert("raw".into(), AttributeValue::Null(true));
    let mut entry: HistoryEntry = from_item(item)?;
    entry.raw = raw;
    Ok(entry)
}

/// Cursors are opaque to clients but must still name this tenant's index partition: a cursor
/// taken from another tenant's listing is refused rather than followed.
fn decode_cursor(cursor: &str, index_pk: &str) -> Result<Item, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::BadCursor)?;
    let map: HashMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
    if map.get(keys::GSI1PK).map(String::as_str) != Some(index_pk) || map.len() != 4 {
        return Err(StoreError::BadCursor);
    }
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

fn encode_cursor(key: &Item) -> Result<String, StoreError> {
    let map: HashMap<&str, &str> = key
        .iter()
        .map(|(k, v)| {
            v.as_s()
                .map(|s| (k.as_str(), s.as_str()))
                .map_err(|_| StoreError::BadCursor)
        })
        .collect::<Result<_, _>>()?;
    let json = serde_json::to_vec(&map).map_err(|e| StoreError::Malformed(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_friend_item_carries_every_key() {
        let mut f = Friend::new(
            TenantId::parse("demo").unwrap(),
            LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            "2026-04-01T00:00:00Z".parse().unwrap(),
        );
        let zone = TimeZone::get("Asia/Tokyo").unwrap();
        let item = to_item(&FriendItem::new(&f, &zone)).unwrap();
        assert_eq!(item["pk"], s("T#demo#F#U4af4980629c1e2c3f2a41b8e4d0a3b0c"));
        assert_eq!(item["sk"], s("PROFILE"));
        assert_eq!(item["gsi1pk"], s("T#demo#FRIENDS"));
        assert_eq!(
            item["gsi1sk"],
            s("2026-04-01T00:00:00.000Z#U4af4980629c1e2c3f2a41b8e4d0a3b0c")
        );
        assert!(
            !item.contains_key("gsi3pk"),
            "never seen → not in any day bucket"
        );

        // 23:30 UTC is already the next day in Tokyo: buckets follow the tenant's calendar.
        f.last_seen_at = Some("2026-04-01T23:30:00Z".parse().unwrap());
        let item = to_item(&FriendItem::new(&f, &zone)).unwrap();
        assert_eq!(item["gsi3pk"], s("T#demo#SEEN#2026-04-02"));
        assert_eq!(item["gsi3sk"], s("U4af4980629c1e2c3f2a41b8e4d0a3b0c"));
        let back: FriendItem = from_item(item).unwrap();
        assert_eq!(back.friend, f);
    }

    #[test]
    fn a_cursor_of_another_tenant_is_refused() {
        let key: Item = [
            ("pk", "T#a#F#U1"),
            ("sk", "PROFILE"),
            ("gsi1pk", "T#a#FRIENDS"),
            ("gsi1sk", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), s(v)))
        .collect();
        let c = encode_cursor(&key).unwrap();
        assert!(decode_cursor(&c, "T#a#FRIENDS").is_ok());
        assert!(matches!(
            decode_cursor(&c, "T#b#FRIENDS"),
            Err(StoreError::BadCursor)
        ));
        assert!(matches!(
            decode_cursor("garbage!", "T#a#FRIENDS"),
            Err(StoreError::BadCursor)
        ));
    }
}
