//! Running a broadcast: plan a chunk of ≤ 500 recipients from the friend list (segment, blocked
//! friends out, daily cap), save it, multicast it with the chunk's retry key, record the chunk —
//! and again, until the list is exhausted or the tick's time budget is spent.
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tracing::warn;

use super::{backoff, quota};
use crate::{
    deps::Deps,
    domain::{
        Friend, Tenant,
        broadcast::{Broadcast, BroadcastState, MAX_MULTICAST, PlannedChunk},
        deferral::DeferReason,
        message::{RenderContext, render},
        schedule::next_opening,
    },
    http::CrmError,
    line::client::{LineError, SendOutcome},
    store::{BroadcastClaim, ChunkRecord, FriendFilter},
};

/// The tick stops starting chunks after this, leaving the rest due at once for the next tick
/// (the function's timeout is 60 s).
const BUDGET: Duration = Duration::from_secs(40);

/// Runs the claimed broadcast as far as the budget allows. Returns the chunks LINE accepted.
pub(super) async fn run(
    deps: &Deps,
    claim: BroadcastClaim,
    now: Timestamp,
) -> Result<usize, CrmError> {
    let started = Instant::now();
    let mut b = claim.broadcast.clone();
    let Some(tenant) = deps.store.get_tenant(&b.tenant).await? else {
        finish(&mut b, BroadcastState::Cancelled, now);
        deps.store.save_broadcast(&claim, &b, false, None).await?;
        return Ok(0);
    };
    let zone = tenant.time_zone();
    let opening = next_opening(&tenant.delivery_window, now, &zone);
    if opening > now {
        // Outside the delivery window: wait for its opening, nothing lost.
        wait(deps, &claim, &mut b, DeferReason::Window, opening, now).await?;
        return Ok(0);
    }
    if quota::exhausted(&tenant, now) {
        // LINE would answer 429 again: wait for the quota with the tenant's other sends (the
        // tenant was read just above, so a release that ran meanwhile is seen).
        let until = quota::resumes_at(&tenant, now);
        wait(deps, &claim, &mut b, DeferReason::Quota, until, now).await?;
        return Ok(0);
    }
    b.state = BroadcastState::Running;
    let mut accepted = 0;
    loop {
        if started.elapsed() > BUDGET {
            b.next_due_at = Some(now);
            deps.store.save_broadcast(&claim, &b, false, None).await?;
            return Ok(accepted);
        }
        if let Some(chunk) = b.pending.clone() {
            match send_chunk(deps, &tenant, &mut b, chunk, now).await? {
                ChunkResult::Done(record) => {
                    accepted += usize::from(record.status == "sent");
                    deps.store
                        .save_broadcast(&claim, &b, true, Some(&record))
                        .await?;
                }
                ChunkResult::Later { reason, until } => {
                    wait(deps, &claim, &mut b, reason, until, now).await?;
                    return Ok(accepted);
                }
            }
            continue;
        }
        if b.listed_all {
            finish(&mut b, BroadcastState::Done, now);
            deps.store.save_broadcast(&claim, &b, false, None).await?;
            return Ok(accepted);
        }
        plan_chunk(deps, &tenant, &mut b, now).await?;
        deps.store.save_broadcast(&claim, &b, true, None).await?;
    }
}

/// Puts the broadcast back in the due-index at `until`, with a note saying why it waits.
async fn wait(
    deps: &Deps,
    claim: &BroadcastClaim,
    b: &mut Broadcast,
    reason: DeferReason,
    until: Timestamp,
    now: Timestamp,
) -> Result<(), CrmError> {
    b.next_due_at = Some(until);
    quota::note(deps, quota::Waiting::Broadcast(b), reason, until, now).await?;
    Ok(deps.store.save_broadcast(claim, b, false, None).await?)
}

fn finish(b: &mut Broadcast, state: BroadcastState, now: Timestamp) {
    b.state = state;
    b.next_due_at = None;
    b.finished_at = Some(now);
}

/// Reads the next page of friends and fixes the next chunk's recipients.
async fn plan_chunk(
    deps: &Deps,
    tenant: &Tenant,
    b: &mut Broadcast,
    now: Timestamp,
) -> Result<(), CrmError> {
    let seg = &b.request.segment;
    // What DynamoDB can filter it filters; the rest (any-of tags, fields, routes) is checked here.
    let filter = FriendFilter {
        has_tags: seg.all_tags.clone(),
        lacks_tags: seg.none_tags.clone(),
        followed_from: seg.followed_from,
        followed_until: seg.followed_to,
        blocked: Some(false),
        ..FriendFilter::default()
    };
    let page = deps
        .store
        .list_friends(&b.tenant, &filter, MAX_MULTICAST, b.cursor.as_deref())
        .await?;
    b.progress.scanned += page.friends.len() as u64;
    let members: Vec<&Friend> = page.friends.iter().filter(|f| seg.matches(f)).collect();
    let to = match (tenant.daily_cap, b.request.transactional) {
        (Some(cap), false) => {
            let day = tenant.local_day(now);
            let expires = now.as_second() + 3 * 86_400;
            let mut slots = Vec::with_capacity(members.len());
            for batch in members.chunks(32) {
                let takes = batch.iter().map(|f| take_slot(deps, f, &day, cap, expires));
                slots.extend(futures::future::join_all(takes).await);
            }
            let mut to = Vec::new();
            for (f, slot) in slots {
                if slot? {
                    to.push(f.user_id.clone());
                } else {
                    b.progress.capped += 1;
                }
            }
            to
        }
        _ => members.into_iter().map(|f| f.user_id.clone()).collect(),
    };
    b.cursor = page.cursor;
    b.listed_all = b.cursor.is_none();
    if !to.is_empty() {
        b.pending = Some(PlannedChunk {
            index: b.progress.chunks_planned,
            to,
            attempts: 0,
        });
        b.progress.chunks_planned += 1;
    }
    Ok(())
}

async fn take_slot<'a>(
    deps: &Deps,
    f: &'a Friend,
    day: &str,
    cap: u32,
    expires: i64,
) -> (&'a Friend, Result<bool, crate::store::StoreError>) {
    (
        f,
        deps.store
            .take_daily_slot(&f.tenant, &f.user_id, day, cap, expires)
            .await,
    )
}

enum ChunkResult {
    Done(ChunkRecord),
    /// Rate limit, LINE error or quota: the same chunk goes again later with the same key.
    Later {
        reason: DeferReason,
        until: Timestamp,
    },
}

async fn send_chunk(
    deps: &Deps,
    tenant: &Tenant,
    b: &mut Broadcast,
    mut chunk: PlannedChunk,
    now: Timestamp,
) -> Result<ChunkResult, CrmError> {
    let key = b.chunk_retry_key(chunk.index);
    let to: Vec<String> = chunk.to.iter().map(|u| u.to_string()).collect();
    // One multicast carries one message set: placeholders take their fallbacks.
    let messages = render(&b.request.messages, &RenderContext::default());
    let record = |status: &str, request_id: Option<String>, error: Option<String>| ChunkRecord {
        index: chunk.index,
        recipients: u32::try_from(to.len()).unwrap_or(u32::MAX),
        retry_key: key.to_string(),
        status: status.into(),
        at: now,
        line_request_id: request_id,
        error,
    };
    match deps
        .line
        .multicast(&tenant.access_token, &to, &messages, key)
        .await
    {
        Ok(SendOutcome::Accepted { request_id })
        | Ok(SendOutcome::AlreadyAccepted {
            accepted_request_id: request_id,
        }) => {
            if tenant.quota_exhausted_at.is_some() {
                deps.store.set_quota_exhausted(&tenant.id, None).await?;
            }
            b.progress.sent += to.len() as u64;
            b.progress.chunks_sent += 1;
            b.pending = None;
            Ok(ChunkResult::Done(record(
                "sent",
                Some(request_id.to_string()),
                None,
            )))
        }
        Err(LineError::Rejected {
            status,
            message,
            request_id,
            ..
        }) => {
            b.progress.failed += to.len() as u64;
            b.pending = None;
            Ok(ChunkResult::Done(record(
                "failed",
                Some(request_id.to_string()),
                Some(format!("{status} {message}")),
            )))
        }
        Err(err) => {
            if matches!(err, LineError::MonthlyQuotaExhausted) && !quota::exhausted(tenant, now) {
                deps.store
                    .set_quota_exhausted(&tenant.id, Some(now))
                    .await?;
            }
            chunk.attempts += 1;
            let (reason, due) = if matches!(err, LineError::MonthlyQuotaExhausted) {
                // Until the month rolls over at the latest; the tick's quota look may end it sooner.
                (DeferReason::Quota, quota::resumes_at(tenant, now))
            } else {
                let due = now.saturating_add(backoff(chunk.attempts)).unwrap_or(now);
                (DeferReason::Retry, due)
            };
            warn!(tenant = %b.tenant, broadcast = %b.id, chunk = chunk.index, error = %err, "broadcast chunk deferred");
            b.pending = Some(chunk);
            Ok(ChunkResult::Later { reason, until: due })
        }
    }
}
