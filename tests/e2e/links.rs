//! Tracked links as a marketer uses them: a link in a message tags and scores the friend who
//! opens it, once; it stops counting when it expires but never strands a customer; preview
//! fetchers tag nobody; and a destination with control characters is never signed or followed.
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::StatusCode;
use jiff::SignedDuration;
use serde_json::Value;
use tsunagu_tests::{TestEnv, new_user};

const SPRING_SALE: &str = "id: spring-sale-click\nwhen: { type: linkClick, link: spring-sale }\naddTags: [春セール関心]\nscore: 5\n";
const TO: &str = "https://shop.example.jp/sale?utm_source=line";

/// A friend, the spring-sale rule, and the friend's tracked link to [`TO`] (`query` appended).
async fn a_friend_with_a_link(env: &TestEnv, query: &str) -> anyhow::Result<(String, String)> {
    let u = new_user();
    env.follow_with_reply_token(&u).await?;
    let (status, body) = env
        .put_yaml("/admin/rules/spring-sale-click", SPRING_SALE)
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, link) = make(env, &u, TO, query).await?;
    assert_eq!(status, StatusCode::OK, "{link}");
    Ok((u, link["url"].as_str().unwrap_or_default().to_owned()))
}

async fn make(
    env: &TestEnv,
    u: &str,
    to: &str,
    query: &str,
) -> anyhow::Result<(StatusCode, Value)> {
    let path = format!(
        "/admin/links/spring-sale?userId={u}&to={}{query}",
        url_encode(to)
    );
    env.marketer("GET", &path, None).await
}

#[tokio::test]
async fn opening_a_tracked_link_tags_the_friend_and_redirects() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (u, url) = a_friend_with_a_link(&env, "").await?;
    let path = url.trim_start_matches("https://api.example.test");

    let res = env.visit(&url).await?;

    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], TO);
    assert!(env.tags_of(&u).await?.contains(&"春セール関心".to_owned()));

    // A link moved to another destination (an open redirect) or another friend is refused.
    let forged = path.replace("shop.example.jp", "evil.example.com");
    let res = env.visit(&forged).await?;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().get("location").is_none());
    Ok(())
}

#[tokio::test]
async fn a_second_click_by_the_same_friend_adds_no_score_again() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (u, url) = a_friend_with_a_link(&env, "").await?;

    // LINE fetches the link for its preview before anyone taps it: redirected, nobody tagged.
    for agent in [Some("facebookexternalhit/1.1;line-poker/1.0"), None] {
        let res = env.visit_as(&url, agent).await?;
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(res.headers()["location"], TO);
    }
    let view = env.friend_view(&u).await?;
    assert_eq!(view["score"], 0, "a preview scores nobody: {view}");
    assert!(env.tags_of(&u).await?.is_empty());

    // The friend taps it, reloads, and taps it again a week later.
    for _ in 0..2 {
        assert_eq!(env.visit(&url).await?.status(), StatusCode::FOUND);
    }
    env.clock.advance(SignedDuration::from_hours(7 * 24));
    let res = env.visit(&url).await?;

    assert_eq!(
        res.status(),
        StatusCode::FOUND,
        "every click still redirects"
    );
    let view = env.friend_view(&u).await?;
    assert_eq!(view["score"], 5, "scored once: {view}");
    assert_eq!(env.tags_of(&u).await?, ["春セール関心"]);
    Ok(())
}

#[tokio::test]
async fn an_expired_link_still_redirects_but_counts_nothing() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (u, url) = a_friend_with_a_link(&env, "&expiresInDays=7").await?;
    env.clock.advance(SignedDuration::from_hours(8 * 24));

    let res = env.visit(&url).await?;

    assert_eq!(
        res.status(),
        StatusCode::FOUND,
        "the customer reaches the shop"
    );
    assert_eq!(res.headers()["location"], TO);
    assert!(
        env.tags_of(&u).await?.is_empty(),
        "but the rules did not run"
    );
    assert_eq!(env.friend_view(&u).await?["score"], 0);

    // The expiry is signed: moving it later breaks the link.
    let later = env.now_ms() / 1000 + 86_400;
    let moved = with_expiry(&url, later);
    assert_eq!(env.visit(&moved).await?.status(), StatusCode::NOT_FOUND);

    // A link issued before links expired (no `e`) still takes the customer there, counting nothing.
    let v1 = format!("tsunagu-link/v1\n{}\nspring-sale\n{u}\n{TO}", env.tenant.id);
    let path = format!(
        "/l/{}/spring-sale?f={u}&to={}&sig={}",
        env.tenant.id,
        url_encode(TO),
        sign(&env, &v1)
    );
    let res = env.visit(&path).await?;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], TO);
    assert!(env.tags_of(&u).await?.is_empty());

    // By default a link counts for 90 days; more than a year is refused, naming the field.
    let (status, link) = make(&env, &u, TO, "").await?;
    assert_eq!(status, StatusCode::OK, "{link}");
    let expires: jiff::Timestamp = link["expiresAt"].as_str().unwrap_or_default().parse()?;
    assert_eq!(expires.as_second() - env.now_ms() / 1000, 90 * 86_400);
    for days in ["0", "366"] {
        let (status, body) = make(&env, &u, TO, &format!("&expiresInDays={days}")).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], "expiresInDays");
    }
    Ok(())
}

#[tokio::test]
async fn a_destination_with_control_characters_is_refused() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (u, _) = a_friend_with_a_link(&env, "").await?;

    for to in [
        "https://shop.example.jp/\r\nSet-Cookie: x=1",
        "https://shop.example.jp/\tsale",
        "javascript:alert(1)",
    ] {
        let (status, body) = make(&env, &u, to, "").await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{to:?}: {body}");
        assert_eq!(body["error"]["field"], "to", "{body}");
    }

    // A link to such a destination carrying a valid signature (as a build before the check
    // could sign one) is refused on click before any rule runs.
    let to = "https://shop.example.jp/\nsale";
    let expires = env.now_ms() / 1000 + 86_400;
    let signed = format!(
        "tsunagu-link/v2\n{}\nspring-sale\n{u}\n{expires}\n{to}",
        env.tenant.id
    );
    let path = format!(
        "/l/{}/spring-sale?f={u}&e={expires}&to={}&sig={}",
        env.tenant.id,
        url_encode(to),
        sign(&env, &signed)
    );
    let res = env.visit(&path).await?;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().get("location").is_none());
    assert!(env.tags_of(&u).await?.is_empty());
    Ok(())
}

/// The `sig` the tenant's channel secret gives `signed`: links no build issues any more.
fn sign(env: &TestEnv, signed: &str) -> String {
    let secret = crm::secret::Secret::new(env.tenant.channel_secret.clone());
    URL_SAFE_NO_PAD.encode(secret.hmac(signed.as_bytes()))
}

/// `url` with its `e` (expiry) parameter set to `e`.
fn with_expiry(url: &str, e: i64) -> String {
    let (head, rest) = url.split_once("&e=").unwrap_or((url, ""));
    let tail = rest.split_once('&').map(|(_, t)| t).unwrap_or_default();
    format!("{head}&e={e}&{tail}")
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
