//! Client-side rate limits per channel and endpoint, so a tick never runs into LINE's 429:
//! LINE allows push 2,000 requests/s and multicast 200 requests/s per channel (LINE-PLATFORM.md). One limiter
//! per process; Lambda runs one tick at a time, so the process sees all of a channel's sends.
use std::{num::NonZeroU32, sync::Arc};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// 95 % of LINE's limits: requests sent evenly still arrive unevenly, and a 429 costs a
/// minute's backoff, so a little headroom is cheaper than running at the edge.
pub const PUSH_PER_SECOND: u32 = 1_900;
pub const MULTICAST_PER_SECOND: u32 = 190;

#[derive(Clone)]
pub struct Throttle {
    push: Arc<DefaultKeyedRateLimiter<[u8; 16]>>,
    multicast: Arc<DefaultKeyedRateLimiter<[u8; 16]>>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle").finish_non_exhaustive()
    }
}

fn limiter(per_second: u32) -> Arc<DefaultKeyedRateLimiter<[u8; 16]>> {
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    Arc::new(RateLimiter::keyed(Quota::per_second(rate)))
}

/// Channels are told apart by a hash of their token, so no token is kept as a map key.
fn channel(token: &Secret) -> [u8; 16] {
    let digest = Sha256::digest(token.expose().as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new(PUSH_PER_SECOND, MULTICAST_PER_SECOND)
    }
}

impl Throttle {
    pub fn new(push_per_second: u32, multicast_per_second: u32) -> Self {
        Self {
            push: limiter(push_per_second),
            multicast: limiter(multicast_per_second),
        }
    }

    /// Waits (real time: this is the physical limit) until the channel may push again.
    pub async fn push(&self, token: &Secret) {
        self.push.until_key_ready(&channel(token)).await;
    }

    pub async fn multicast(&self, token: &Secret) {
        self.multicast.until_key_ready(&channel(token)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_channel_gets_its_burst_then_waits_while_another_channel_is_free() {
        let t = Throttle::new(5, 1);
        let a = Secret::new("token-a");
        let b = Secret::new("token-b");
        let start = std::time::Instant::now();
        for _ in 0..5 {
            t.push(&a).await;
        }
        t.push(&b).await;
        assert!(
            start.elapsed() < std::time::Duration::from_millis(100),
            "the burst is immediate"
        );
        t.push(&a).await;
        assert!(
            start.elapsed() >= std::time::Duration::from_millis(150),
            "the sixth waits for the rate"
        );
    }
}
