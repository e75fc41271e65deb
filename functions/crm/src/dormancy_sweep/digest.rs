//! The staff digest: per-tier counts, who went dormant today and which VIPs are lapsing, pushed
//! from the shop's LINE account to staff and/or POSTed as JSON to the shop's HTTPS endpoint.
//! Composed by the sweep on days something happened (someone went dormant, a birthday), then
//! kept in the table (`DIGEST#{day}`) until the shop's delivery window opens — the sweep runs at
//! 04:00, staff read it at 09:00 — and sent by the scheduled-sends tick (or at once by the sweep
//! when the window is open or `null`). Sending is crash-safe like the other sends: a claim with
//! a lease, and the same `X-Line-Retry-Key` / `Idempotency-Key` for every attempt of one
//! tenant-day-recipient, so a retried or doubled send notifies once.
use std::sync::OnceLock;

use jiff::{SignedDuration, Timestamp, civil::Date};
use serde_json::json;
use tracing::warn;

use super::Found;
use futures::StreamExt;

use crate::{
    deps::Deps,
    domain::{
        Tenant,
        dormancy::{Digest, DormancySettings, TierCount, digest_retry_key},
        public_url,
        schedule::next_opening,
    },
    http::CrmError,
    line::client::LineError,
    store::{BucketEntry, DigestClaim, StoreError},
};

/// Longer than one digest's sends; a claim still held after this is from a dead tick or sweep.
const LEASE: SignedDuration = SignedDuration::from_mins(5);
/// Digests sent at once (each a few LINE pushes and at most one webhook call).
const SENDING_AT_ONCE: usize = 8;
/// LINE busy or down: try again a few minutes later, a dozen times (about 6 hours), then give up
/// (logged) rather than page staff with yesterday's news tomorrow.
const MAX_ATTEMPTS: u32 = 12;

/// One client per process for staff webhooks (TLS set up once, not per sweep).
fn staff_http(allow_loopback: bool) -> Option<&'static reqwest::Client> {
    static HTTP: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    HTTP.get_or_init(|| {
        crate::outbound::client(allow_loopback)
            .map_err(|e| warn!(error = %e, "no HTTP client for staff webhooks"))
            .ok()
    })
    .as_ref()
}

/// Composes today's digest and keeps it until the delivery window opens (due at once when it
/// is open, or always open). The sweep sends the due ones after every tenant is swept
/// ([`send_due_within`]), the tick the rest: a slow staff webhook never holds up a sweep.
pub(super) async fn keep(
    deps: &Deps,
    tenant: &Tenant,
    settings: &DormancySettings,
    today: Date,
    now: Timestamp,
    found: &mut Found,
) -> Result<(), CrmError> {
    let Some(digest) = compose(deps, tenant, settings, today, found).await? else {
        return Ok(());
    };
    let due = next_opening(&tenant.delivery_window, now, &tenant.time_zone());
    deps.store.save_digest(&digest, due).await?;
    Ok(())
}

async fn compose(
    deps: &Deps,
    tenant: &Tenant,
    settings: &DormancySettings,
    today: Date,
    found: &mut Found,
) -> Result<Option<Digest>, CrmError> {
    let mut tiers = Vec::new();
    for t in &settings.tiers {
        tiers.push(TierCount {
            clock: t.clock,
            days: t.days,
            tag: t.tag.clone(),
            friends: deps.store.tag_member_count(&tenant.id, &t.tag).await?,
            new: found
                .new_by_tier
                .get(&(t.clock, t.days))
                .copied()
                .unwrap_or(0),
        });
    }
    let digest = Digest {
        tenant: tenant.id.clone(),
        day: today,
        tiers,
        newly_dormant: found.new_by_tier.values().sum(),
        vips_lapsing: std::mem::take(&mut found.vips),
        birthdays: u64::try_from(found.report.birthdays).unwrap_or(0),
        backfilled: u64::try_from(found.report.backfilled).unwrap_or(0),
    };
    // A quiet day is not news; the counts are still there the next time something happens.
    let news = digest.newly_dormant > 0 || digest.birthdays > 0 || digest.backfilled > 0;
    Ok(news.then_some(digest))
}

/// Sends every digest due by `now` (the tick calls this each minute; an empty index costs one
/// query), a few at once. Returns deliveries made and failed, counted per recipient.
pub async fn send_due(deps: &Deps, now: Timestamp) -> Result<(usize, usize), CrmError> {
    let lease_until = now.saturating_add(LEASE).unwrap_or(now);
    let mut sending = futures::stream::iter(deps.store.due_digests(now).await?)
        .map(|due| async move { send_one(deps, &due, now, lease_until).await })
        .buffer_unordered(SENDING_AT_ONCE);
    let (mut sent, mut failed) = (0, 0);
    while let Some(outcome) = sending.next().await {
        match outcome {
            Ok((s, f)) => {
                sent += s;
                failed += f;
            }
            Err(CrmError::Store(StoreError::Conflict)) => {}
            Err(e) => {
                // Left claimed: it comes due again when the lease ends, with the same keys.
                warn!(error = %e, "staff digest failed; retried after the lease");
                failed += 1;
            }
        }
    }
    Ok((sent, failed))
}

/// [`send_due`] for at most `budget` of wall time: what is still in flight then stays claimed
/// and comes due again for the tick when its lease ends.
pub async fn send_due_within(
    deps: &Deps,
    now: Timestamp,
    budget: std::time::Duration,
) -> Result<(usize, usize), CrmError> {
    match tokio::time::timeout(budget, send_due(deps, now)).await {
        Ok(sent) => sent,
        Err(_) => {
            warn!("staff digests not all sent within the sweep's budget; the tick sends the rest");
            Ok((0, 0))
        }
    }
}

async fn send_one(
    deps: &Deps,
    due: &BucketEntry,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<(usize, usize), CrmError> {
    let Some(claim) = deps.store.claim_digest(due, lease_until).await? else {
        return Ok((0, 0));
    };
    let tenant = deps.store.get_tenant(&claim.digest.tenant).await?;
    let settings = deps
        .store
        .dormancy_settings(&claim.digest.tenant)
        .await?
        .unwrap_or_default();
    let Some(tenant) = tenant else {
        deps.store.finish_digest(&claim, now, None).await?;
        return Ok((0, 0));
    };
    let outcome = deliver(deps, &tenant, &settings, &claim).await;
    let retry_at = (outcome.retry && claim.attempts + 1 < MAX_ATTEMPTS).then(|| {
        let wait = SignedDuration::from_mins(5 * i64::from(claim.attempts + 1));
        now.saturating_add(wait).unwrap_or(now)
    });
    if outcome.retry && retry_at.is_none() {
        warn!(tenant = %tenant.id, day = %claim.digest.day, "staff digest given up after retries");
    }
    deps.store.finish_digest(&claim, now, retry_at).await?;
    Ok((outcome.sent, outcome.failed))
}

struct Delivered {
    sent: usize,
    failed: usize,
    /// A recipient failed in a way worth retrying (LINE busy or down, the endpoint unreachable).
    retry: bool,
}

/// Pushes the digest to every staff account and posts it to the shop's endpoint. Recipients that
/// already got it (an earlier attempt) are covered by the deterministic keys: LINE answers 409.
async fn deliver(
    deps: &Deps,
    tenant: &Tenant,
    settings: &DormancySettings,
    claim: &DigestClaim,
) -> Delivered {
    let digest = &claim.digest;
    let mut out = Delivered {
        sent: 0,
        failed: 0,
        retry: false,
    };
    let text = json!([{ "type": "text", "text": digest.text() }]);
    let messages = text.as_array().cloned().unwrap_or_default();
    for staff in &settings.alerts.staff_user_ids {
        let key = digest_retry_key(&tenant.id, digest.day, staff.as_str());
        match deps
            .line
            .push(&tenant.access_token, staff.as_str(), &messages, key)
            .await
        {
            Ok(_) => out.sent += 1,
            Err(e) => {
                warn!(tenant = %tenant.id, staff = %staff.hashed(), error = %e, "staff digest push failed");
                out.failed += 1;
                out.retry |= matches!(
                    e,
                    LineError::RateLimited | LineError::Server { .. } | LineError::Transport(_)
                );
            }
        }
    }
    if let Some(url) = &settings.alerts.webhook_url {
        let allow_loopback = deps.config.allow_loopback_webhooks;
        // An address literal is never resolved, so the client's DNS check cannot see it.
        let checked = public_url::check_url(url, allow_loopback);
        let (Ok(()), Some(http)) = (checked, staff_http(allow_loopback)) else {
            warn!(tenant = %tenant.id, "staff digest webhook refused: not a public https URL");
            out.failed += 1;
            return out;
        };
        // The same key for every attempt of the day lets the receiver drop the copy.
        let key = digest_retry_key(&tenant.id, digest.day, "webhook");
        let res = http
            .post(url.clone())
            .header("Idempotency-Key", key.to_string())
            .json(digest)
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => out.sent += 1,
            Ok(r) => {
                warn!(tenant = %tenant.id, status = r.status().as_u16(), "staff digest webhook refused");
                out.failed += 1;
                out.retry |= r.status().is_server_error();
            }
            Err(e) => {
                // The URL often carries a secret (a chat webhook): never in the logs.
                warn!(tenant = %tenant.id, error = %e.without_url(), "staff digest webhook unreachable");
                out.failed += 1;
                out.retry = true;
            }
        }
    }
    out
}
