//! The staff digest: per-tier counts, who went dormant today and which VIPs are lapsing, pushed
//! from the shop's LINE account to staff and/or POSTed as JSON to the shop's HTTPS endpoint.
//! Sent on days something happened (someone went dormant, a birthday); a failing channel is
//! logged and counted, never a reason to redo the sweep.
use std::sync::OnceLock;

use jiff::civil::Date;
use serde_json::json;
use tracing::warn;

use super::Found;
use crate::{
    deps::Deps,
    domain::{
        Tenant,
        dormancy::{Digest, DormancySettings, TierCount, digest_retry_key},
    },
    http::CrmError,
};

/// One client per process for staff webhooks (TLS set up once, not per sweep).
fn staff_http() -> Option<&'static reqwest::Client> {
    static HTTP: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    HTTP.get_or_init(|| {
        crate::deps::line_http_client()
            .map_err(|e| warn!(error = %e, "no HTTP client for staff webhooks"))
            .ok()
    })
    .as_ref()
}

pub(super) async fn send(
    deps: &Deps,
    tenant: &Tenant,
    settings: &DormancySettings,
    today: Date,
    found: &mut Found,
) -> Result<(), CrmError> {
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
    };
    if digest.newly_dormant == 0 && digest.birthdays == 0 {
        // A quiet day is not news; the counts are still there the next time something happens.
        return Ok(());
    }
    let text = json!([{ "type": "text", "text": digest.text() }]);
    let messages = text.as_array().cloned().unwrap_or_default();
    for staff in &settings.alerts.staff_user_ids {
        let key = digest_retry_key(&tenant.id, today, staff.as_str());
        match deps
            .line
            .push(&tenant.access_token, staff.as_str(), &messages, key)
            .await
        {
            Ok(_) => found.report.digests_sent += 1,
            Err(e) => {
                warn!(tenant = %tenant.id, staff = %staff.hashed(), error = %e, "staff digest push failed");
                found.report.digest_failures += 1;
            }
        }
    }
    if let Some(url) = &settings.alerts.webhook_url {
        let Some(http) = staff_http() else {
            found.report.digest_failures += 1;
            return Ok(());
        };
        // The same key for a re-run of the day lets the receiver drop the copy.
        let key = digest_retry_key(&tenant.id, today, "webhook");
        let res = http
            .post(url.clone())
            .header("Idempotency-Key", key.to_string())
            .json(&digest)
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => found.report.digests_sent += 1,
            Ok(r) => {
                warn!(tenant = %tenant.id, status = r.status().as_u16(), "staff digest webhook refused");
                found.report.digest_failures += 1;
            }
            Err(e) => {
                warn!(tenant = %tenant.id, error = %e, "staff digest webhook unreachable");
                found.report.digest_failures += 1;
            }
        }
    }
    Ok(())
}
