//! Which URLs a tenant may make us call (the staff-alert webhook): https to a public host. Such a
//! URL must not reach inside the network we run in (the instance metadata service, private
//! hosts). Loopback is allowed only where the configuration says so (the local stack, tests).
//! `crate::outbound` checks names again after resolution, when connecting.
use std::net::IpAddr;

use url::{Host, Url};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("must be an https URL")]
    NotHttps,
    #[error("must name a public host (not loopback, private, link-local or unique-local)")]
    NotPublic,
    #[error("must not hold a user name or password (`user@host` also hides the real host)")]
    Credentials,
}

/// Whether `ip` is reachable on the public internet (and so safe to call on a tenant's word).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                // Carrier-grade NAT (100.64.0.0/10) and benchmarking (198.18.0.0/15).
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80) // link local fe80::/10
        }
    }
}

/// Checks a URL as written: https (or http to loopback when `allow_loopback`), and a host that
/// is not a non-public address literal. Names are checked again after resolution.
pub fn check_url(url: &Url, allow_loopback: bool) -> Result<(), UrlRefused> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefused::Credentials);
    }
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(UrlRefused::NotPublic),
    };
    if loopback {
        return match (allow_loopback, url.scheme()) {
            (true, "http" | "https") => Ok(()),
            (true, _) => Err(UrlRefused::NotHttps),
            (false, _) => Err(UrlRefused::NotPublic),
        };
    }
    if url.scheme() != "https" {
        return Err(UrlRefused::NotHttps);
    }
    match url.host() {
        Some(Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => Err(UrlRefused::NotPublic),
        Some(Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => Err(UrlRefused::NotPublic),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, allow_loopback: bool) -> Result<(), UrlRefused> {
        check_url(&url.parse().unwrap(), allow_loopback)
    }

    #[test]
    fn only_https_to_public_hosts_is_allowed() {
        assert_eq!(check("https://hooks.slack.example/T0/B0/x", false), Ok(()));
        assert_eq!(
            check("http://hooks.example.com/x", false),
            Err(UrlRefused::NotHttps)
        );
        for internal in [
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/",
            "https://192.168.1.1/",
            "https://172.16.0.5/",
            "https://100.64.0.1/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:10.0.0.1]/",
            "http://[::1]:8080/",
            "http://0x7f.1:8080/",
            "https://localhost/",
            "https://0.0.0.0/",
        ] {
            assert_eq!(
                check(internal, false),
                Err(UrlRefused::NotPublic),
                "{internal}"
            );
        }
    }

    #[test]
    fn loopback_is_for_the_local_stack_only() {
        assert_eq!(check("http://127.0.0.1:9/hook", true), Ok(()));
        assert_eq!(check("http://0x7f.1:9/hook", true), Ok(()));
        assert_eq!(
            check("http://127.0.0.1:9/hook", false),
            Err(UrlRefused::NotPublic)
        );
        assert_eq!(check("https://10.0.0.1/", true), Err(UrlRefused::NotPublic));
        assert_eq!(
            check("https://hooks.example.com@10.0.0.1/", true),
            Err(UrlRefused::Credentials)
        );
    }
}
