//! Broadcasts (一斉配信) as use cases: schedule one, cancel one, read one with its report, and
//! count a segment's audience. The admin API and the console both call these, and the count
//! reads friends exactly as the tick's send does ([`friend_filter`] then [`Segment::matches`]).
use crate::{
    deps::Deps,
    domain::{
        Tenant,
        broadcast::{
            Broadcast, BroadcastRequest, BroadcastState, MAX_MULTICAST, Progress, Segment,
        },
    },
    http::CrmError,
    store::{ChunkRecord, FriendFilter},
};

/// What DynamoDB can filter of a segment (every-of and none-of tags, follow dates, not blocked);
/// the rest (any-of tags, fields, purchases, routes) is [`Segment::matches`] on each friend read.
pub fn friend_filter(seg: &Segment) -> FriendFilter {
    FriendFilter {
        has_tags: seg.all_tags.clone(),
        lacks_tags: seg.none_tags.clone(),
        followed_from: seg.followed_from,
        followed_until: seg.followed_to,
        blocked: Some(false),
        ..FriendFilter::default()
    }
}

/// How many friends the segment reaches now: the whole friend list walked in the send's own
/// pages and filter. Friends over the daily cap on the day of sending are left out only then.
pub async fn audience(deps: &Deps, t: &Tenant, seg: &Segment) -> Result<u64, CrmError> {
    seg.validate("segment")?;
    let filter = friend_filter(seg);
    let mut cursor: Option<String> = None;
    let mut count = 0u64;
    loop {
        let page = deps
            .store
            .list_friends(&t.id, &filter, MAX_MULTICAST, cursor.as_deref())
            .await?;
        count += page.friends.iter().filter(|f| seg.matches(f)).count() as u64;
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(count),
        }
    }
}

/// Validates the request and puts the broadcast in the due-index: now, or at `sendAt` (a time
/// already past means now).
pub async fn schedule(
    deps: &Deps,
    t: &Tenant,
    request: BroadcastRequest,
) -> Result<Broadcast, CrmError> {
    request.validate()?;
    let now = deps.clock.now();
    let b = Broadcast {
        tenant: t.id.clone(),
        id: uuid::Uuid::new_v4().simple().to_string(),
        next_due_at: Some(request.send_at.unwrap_or(now).max(now)),
        request,
        state: BroadcastState::Scheduled,
        created_at: now,
        progress: Progress::default(),
        cursor: None,
        listed_all: false,
        pending: None,
        finished_at: None,
    };
    deps.store.create_broadcast(&b).await?;
    tracing::info!(tenant = %t.id, broadcast = %b.id, "broadcast scheduled");
    Ok(b)
}

/// The tenant's broadcast `id`.
pub async fn find(deps: &Deps, t: &Tenant, id: &str) -> Result<Broadcast, CrmError> {
    // Broadcast ids are UUIDs: anything else names none.
    if uuid::Uuid::try_parse(id).is_err() {
        return Err(CrmError::NotFound("broadcast"));
    }
    deps.store
        .broadcast(&t.id, id)
        .await?
        .ok_or(CrmError::NotFound("broadcast"))
}

/// The broadcast with its delivery report: one record per multicast chunk, LINE's reason on a
/// failed one.
pub async fn report(
    deps: &Deps,
    t: &Tenant,
    id: &str,
) -> Result<(Broadcast, Vec<ChunkRecord>), CrmError> {
    let b = find(deps, t, id).await?;
    let chunks = deps.store.broadcast_chunks(&t.id, id).await?;
    Ok((b, chunks))
}

/// Cancels a broadcast that has not started (cancelling a cancelled one changes nothing); one
/// that started is a conflict, as the tick may already have sent part of it.
pub async fn cancel(deps: &Deps, t: &Tenant, id: &str) -> Result<Broadcast, CrmError> {
    let b = find(deps, t, id).await?;
    if b.state == BroadcastState::Cancelled {
        return Ok(b);
    }
    if !deps.store.cancel_broadcast(&b, deps.clock.now()).await? {
        return Err(CrmError::Conflict(
            "the broadcast has already started; it can no longer be cancelled".into(),
        ));
    }
    tracing::info!(tenant = %t.id, broadcast = %b.id, "broadcast cancelled");
    find(deps, t, id).await
}

/// Recipients so far: accepted, refused by LINE, left out by the daily cap, and the chunk
/// planned but not yet sent.
pub fn reached(b: &Broadcast) -> u64 {
    let p = &b.progress;
    p.sent + p.failed + p.capped + b.pending.as_ref().map_or(0, |c| c.to.len() as u64)
}
