//! Tracked links: what a link id and a destination may be, how long a link counts clicks, and
//! which openings are a person rather than a program fetching a preview.
use jiff::SignedDuration;

/// How long a tracked link counts clicks when the marketer does not say: a campaign's life.
pub const DEFAULT_LIFETIME_DAYS: u32 = 90;
/// The longest a tracked link may count clicks.
pub const MAX_LIFETIME_DAYS: u32 = 365;
/// How long a click's apply-once mark is kept: as long as any link lives, so no link that
/// existed when the friend clicked can count them again.
pub const CLICK_MARK_KEPT: SignedDuration =
    SignedDuration::from_hours(MAX_LIFETIME_DAYS as i64 * 24);

/// A link id: what rules name in `when: { type: linkClick, link: … }`.
pub fn valid_link_id(link: &str) -> bool {
    (1..=64).contains(&link.len())
        && link
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// A URL parser drops tabs and newlines silently; a destination that needs it is refused,
    /// so what the marketer typed is what is signed and what the customer reaches.
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must be an http(s) URL")]
    NotHttp,
    #[error("must not carry a user name or password")]
    Credentials,
}

/// The destination as it is signed and redirected to: its normalized form (percent-encoded, so
/// always a valid `Location`), or why it is refused.
pub fn destination(to: &str) -> Result<String, DestinationError> {
    if to.chars().any(char::is_control) {
        return Err(DestinationError::ControlCharacter);
    }
    let url = url::Url::parse(to.trim()).map_err(|_| DestinationError::NotHttp)?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
        return Err(DestinationError::NotHttp);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DestinationError::Credentials);
    }
    Ok(url.into())
}

/// What programs that fetch a link for a preview (chat apps, social networks, scanners) say in
/// their `User-Agent`, lowercased. A person's browser (LINE's in-app one included) says none.
const PREVIEW_AGENTS: &[&str] = &[
    "bot/",
    "bot-",
    "bot;",
    "twitterbot",
    "telegrambot",
    "crawler",
    "spider",
    "preview",
    "facebookexternalhit",
    "line-poker",
    "slack",
    "whatsapp",
    "skypeuripreview",
    "embedly",
    "headless",
    "curl/",
    "wget/",
    "python-",
    "go-http-client",
];

/// A fetch that is no person opening the link: no `User-Agent` (every browser sends one) or a
/// known preview fetcher's. It is redirected like anyone, but counts nothing.
pub fn is_preview_fetch(user_agent: Option<&str>) -> bool {
    match user_agent.map(str::trim) {
        None | Some("") => true,
        Some(ua) => {
            let ua = ua.to_ascii_lowercase();
            PREVIEW_AGENTS.iter().any(|p| ua.contains(p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_with_a_control_character_or_another_scheme_is_refused() {
        for to in [
            "https://shop.example.jp/\nSet-Cookie: a=b",
            "https://shop.example.jp/\tsale",
            "https://shop.example.jp/\r",
            "https://shop.example.jp/\u{7f}",
            "https://shop.example.jp/\u{85}",
        ] {
            assert_eq!(destination(to), Err(DestinationError::ControlCharacter));
        }
        for to in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "line://nv/chat",
            "ftp://x",
            "/relative",
        ] {
            assert_eq!(destination(to), Err(DestinationError::NotHttp), "{to}");
        }
        assert_eq!(
            destination("https://user:pw@shop.example.jp/"),
            Err(DestinationError::Credentials)
        );
    }

    #[test]
    fn a_destination_is_signed_in_its_normalized_form() {
        assert_eq!(
            destination("https://shop.example.jp/sale?utm_source=line").as_deref(),
            Ok("https://shop.example.jp/sale?utm_source=line")
        );
        assert_eq!(
            destination("https://shop.example.jp/春セール").as_deref(),
            Ok("https://shop.example.jp/%E6%98%A5%E3%82%BB%E3%83%BC%E3%83%AB")
        );
        assert_eq!(
            destination("https://SHOP.example.jp").as_deref(),
            Ok("https://shop.example.jp/")
        );
    }

    #[test]
    fn preview_fetchers_are_told_from_people() {
        for ua in [
            None,
            Some(""),
            Some("facebookexternalhit/1.1;line-poker/1.0"),
            Some("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            Some("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
            Some("TelegramBot (like TwitterBot)"),
            Some("WhatsApp/2.23.20.0"),
            Some("curl/8.5.0"),
        ] {
            assert!(is_preview_fetch(ua), "{ua:?}");
        }
        for ua in [
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.3.0",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36",
        ] {
            assert!(!is_preview_fetch(Some(ua)), "{ua}");
        }
    }
}
