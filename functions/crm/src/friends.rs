//! Changing a friend outside the webhook (admin API, tracked links): one read-modify-write that
//! every such change goes through, so the store's friend writes (tags → `FriendTagged`, buckets)
//! happen the same way whoever asks.
use std::collections::BTreeMap;

use crate::{
    deps::Deps,
    domain::{
        Friend, LineUserId, TagDefinition, TagName, Tenant, field_error::check_note,
        friend::check_field_name,
    },
    http::CrmError,
    store::{Applied, keys::AppliedEvent, retry_on_conflict},
};

/// Custom fields per friend: far more than any shop's profile form, far below the item limit.
pub const MAX_FIELDS: usize = 200;

/// Staff tag a friend (the admin API, the console): tags not yet defined are defined on the
/// way, so they show in the tag list. The new tags' `FriendTagged` event commits with them.
pub async fn tag_friend(
    deps: &Deps,
    t: &Tenant,
    u: &LineUserId,
    tags: &[TagName],
) -> Result<Friend, CrmError> {
    let after = add_tags(deps, t, u, tags).await?;
    define_tags(deps, t, tags).await?;
    Ok(after)
}

async fn add_tags(
    deps: &Deps,
    t: &Tenant,
    u: &LineUserId,
    tags: &[TagName],
) -> Result<Friend, CrmError> {
    let now = deps.clock.now();
    let (_, after) = update_friend(deps, t, u, |f| {
        for tag in tags {
            f.add_tag(tag.clone(), now);
        }
        Ok(())
    })
    .await?;
    Ok(after)
}

/// Puts tags not yet in the catalogue there (no folder, no description).
async fn define_tags(deps: &Deps, t: &Tenant, tags: &[TagName]) -> Result<(), CrmError> {
    let now = deps.clock.now();
    for tag in tags {
        let def = TagDefinition {
            name: tag.clone(),
            folder: None,
            description: None,
            created_at: now,
        };
        deps.store.ensure_tag_definition(&t.id, &def).await?;
    }
    Ok(())
}

pub async fn untag_friend(
    deps: &Deps,
    t: &Tenant,
    u: &LineUserId,
    tag: &TagName,
) -> Result<Friend, CrmError> {
    let (_, after) = update_friend(deps, t, u, |f| {
        f.remove_tag(tag);
        Ok(())
    })
    .await?;
    Ok(after)
}

/// Staff set (or, with None, clear) custom fields, each checked as the API takes them and, when
/// the shop defined the field (友だち情報欄), against its definition.
pub async fn set_friend_fields(
    deps: &Deps,
    t: &Tenant,
    u: &LineUserId,
    fields: &BTreeMap<String, Option<String>>,
) -> Result<Friend, CrmError> {
    let defined = deps.store.field_definitions(&t.id).await?;
    for (name, value) in fields {
        let path = format!("fields.{name}");
        check_field_name(name, &path)?;
        if let Some(value) = value {
            // A defined field takes what its definition allows; any other is free text.
            match defined.iter().find(|d| d.name == *name) {
                Some(def) => def.check_value(&path, value)?,
                None => check_note(&path, value)?,
            }
        }
    }
    let (_, after) = update_friend(deps, t, u, |f| {
        f.set_fields(fields.clone());
        // Fields add up over many requests; the friend is one item (DynamoDB's 400 KB).
        if f.fields.len() > MAX_FIELDS {
            return Err(CrmError::invalid(
                "fields",
                format!("a friend holds at most {MAX_FIELDS} custom fields"),
            ));
        }
        Ok(())
    })
    .await?;
    Ok(after)
}

/// Reads the friend, applies `change`, writes with the version read; a concurrent write makes
/// it read and apply again. Returns the friend before and after.
pub async fn update_friend(
    deps: &Deps,
    t: &Tenant,
    u: &LineUserId,
    change: impl Fn(&mut Friend) -> Result<(), CrmError>,
) -> Result<(Friend, Friend), CrmError> {
    modify(deps, t, u, None, change)
        .await?
        .ok_or_else(busy_friend)
}

/// [`update_friend`] at most once for `event`: its apply-once marker commits with the friend's
/// new state. None when the event was applied before (nothing is written).
pub async fn update_friend_once(
    deps: &Deps,
    t: &Tenant,
    u: &LineUserId,
    event: AppliedEvent<'_>,
    change: impl Fn(&mut Friend) -> Result<(), CrmError>,
) -> Result<Option<(Friend, Friend)>, CrmError> {
    modify(deps, t, u, Some(event), change).await
}

/// The one read-modify-write; with `once`, the write is conditional on its marker being new.
async fn modify(
    deps: &Deps,
    t: &Tenant,
    u: &LineUserId,
    once: Option<AppliedEvent<'_>>,
    change: impl Fn(&mut Friend) -> Result<(), CrmError>,
) -> Result<Option<(Friend, Friend)>, CrmError> {
    let zone = t.time_zone();
    let now = deps.clock.now();
    let change = &change;
    let zone = &zone;
    let written = retry_on_conflict(|| async move {
        let before = deps
            .store
            .get_friend(&t.id, u)
            .await?
            .ok_or(CrmError::NotFound("friend"))?;
        let mut after = before.clone();
        change(&mut after)?;
        let new = match once {
            None => {
                deps.store
                    .save_friend(Some(&before), &after, zone, now)
                    .await?;
                true
            }
            Some(event) => {
                let friend = Some((&before, &after));
                let applied = deps
                    .store
                    .apply_once(&t.id, u, event, friend, zone, None, now)
                    .await?;
                applied == Applied::New
            }
        };
        after.version = before.version + 1;
        Ok::<_, CrmError>(new.then_some((before, after)))
    })
    .await?;
    written.ok_or_else(busy_friend)
}

/// Every attempt lost the race to another writer of the same friend.
pub fn busy_friend() -> CrmError {
    CrmError::Conflict("the friend is being changed concurrently; try again".into())
}

/// A tag change for every friend a filter selects (the console's bulk action, the API's).
#[derive(Debug, Clone)]
pub enum BulkTagging {
    Add(TagName),
    Remove(TagName),
}

/// How far a bulk change got: friends changed by this call, and where the next call resumes
/// (None: every selected friend is done).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkProgress {
    pub updated: usize,
    pub cursor: Option<String>,
}

/// Friends one call changes at most: a few seconds of writes, far inside the function's
/// timeout; the caller continues from the cursor it gets back.
pub const BULK_BATCH: usize = 500;
/// Friends changed at once (each is its own transaction).
const BULK_AT_ONCE: usize = 8;

/// Tags or untags, page by page in follow order, the friends `filter` selects, from `cursor`,
/// stopping once `batch` (the API and the console: [`BULK_BATCH`]) are done. Each friend
/// changes as through [`tag_friend`] / [`untag_friend`] (the tag joins the catalogue once, up
/// front), so rules, events and counts follow as for one friend; a repeated call changes
/// nothing twice.
pub async fn bulk_tag(
    deps: &Deps,
    t: &Tenant,
    filter: &crate::store::FriendFilter,
    change: &BulkTagging,
    cursor: Option<&str>,
    batch: usize,
) -> Result<BulkProgress, CrmError> {
    use futures::{StreamExt, TryStreamExt};
    // The tag joins the catalogue once, not once per friend.
    if let BulkTagging::Add(tag) = change {
        define_tags(deps, t, std::slice::from_ref(tag)).await?;
    }
    let mut progress = BulkProgress {
        updated: 0,
        cursor: cursor.map(str::to_owned),
    };
    loop {
        let page = deps
            .store
            .list_friends(&t.id, filter, batch.min(100), progress.cursor.as_deref())
            .await?;
        let users: Vec<LineUserId> = page.friends.into_iter().map(|f| f.user_id).collect();
        let changes: Vec<_> = users.iter().map(|u| retag(deps, t, change, u)).collect();
        futures::stream::iter(changes)
            .buffer_unordered(BULK_AT_ONCE)
            .try_collect::<Vec<()>>()
            .await?;
        progress.updated += users.len();
        progress.cursor = page.cursor;
        if progress.cursor.is_none() || progress.updated >= batch {
            return Ok(progress);
        }
    }
}

async fn retag(
    deps: &Deps,
    t: &Tenant,
    change: &BulkTagging,
    u: &LineUserId,
) -> Result<(), CrmError> {
    match change {
        BulkTagging::Add(tag) => add_tags(deps, t, u, std::slice::from_ref(tag)).await?,
        BulkTagging::Remove(tag) => untag_friend(deps, t, u, tag).await?,
    };
    Ok(())
}
