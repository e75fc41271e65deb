//! Calls to URLs a tenant typed in (the staff-alert webhook): no redirects, and every address
//! the host resolves to must be public (checked when connecting, not only when the URL was
//! saved; see `domain::public_url`). The URL itself is never logged: it often carries a secret.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::public_url::{UrlRefused, is_public};

/// DNS that answers only public addresses (and loopback when allowed), so a name pointed at an
/// internal address cannot be used to reach it.
struct PublicOnly {
    allow_loopback: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 443)).await?;
            let allowed: Vec<SocketAddr> = found
                .filter(|a| is_public(a.ip()) || (allow_loopback && a.ip().is_loopback()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(UrlRefused::NotPublic) as Box<_>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client for tenant-given URLs: public addresses only, no redirects, short timeouts
/// (a slow receiver must not hold up a sweep).
pub fn client(allow_loopback: bool) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(PublicOnly { allow_loopback }))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(5))
        .user_agent(concat!("tsunagu/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_when_connecting() {
        let refused = client(false)
            .unwrap()
            .post("https://localhost:9/hook")
            .send()
            .await
            .unwrap_err();
        assert!(refused.is_connect() || refused.is_request(), "{refused:?}");
        let mut source = std::error::Error::source(&refused);
        let mut named = false;
        while let Some(e) = source {
            named |= e.to_string().contains("public host");
            source = e.source();
        }
        assert!(named, "refused by the resolver: {refused:?}");
    }
}
