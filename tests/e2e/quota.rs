//! LINE's monthly quota used up: sends wait — not for a blind few hours, but until LINE accepts
//! again. The tick asks LINE's quota endpoints once per tick while the tenant is marked; a shop
//! that raises its plan gets its waiting steps and broadcasts out in the next tick, each once;
//! the month's rollover (shop's zone) releases them without asking. The marketer sees what waits
//! (`GET /admin/deferred`) and can ask for a check now (`POST /admin/tenant/quota/retry`).
use http::StatusCode;
use jiff::SignedDuration;
use serde_json::{Value, json};
use tsunagu_tests::{TestEnv, new_user};

const HELLO: &str = r#"
id: hello
name: hello
trigger: { type: follow }
steps:
  - id: hi
    messages: [ { type: text, text: "こんにちは" } ]
"#;

/// Requests the fake LINE received on `path` so far.
fn calls_to(env: &TestEnv, path: &str) -> usize {
    env.fake
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

async fn deferred(env: &TestEnv) -> anyhow::Result<Value> {
    let (status, body) = env.marketer("GET", "/admin/deferred", None).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(body)
}

fn reasons(list: &Value) -> Vec<(String, String, String)> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["kind"].as_str().unwrap_or_default().to_owned(),
                i["reason"].as_str().unwrap_or_default().to_owned(),
                i["dueAt"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Two friends following at noon and a broadcast, all refused by LINE's monthly limit.
async fn everything_waits_for_quota(env: &TestEnv) -> anyhow::Result<(String, String)> {
    let (status, body) = env.put_scenario_yaml("hello", HELLO).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    env.fake
        .set_monthly_quota(&env.tenant.access_token, Some(0));
    let (a, b) = (new_user(), new_user());
    env.follow_at(&a, "2026-04-10T12:00").await?;
    env.follow_at(&b, "2026-04-10T12:00").await?;
    let first = env.tick().await?;
    assert_eq!((first.sent, first.deferred), (0, 2), "{first:?}");
    let (status, created) = env
        .marketer(
            "POST",
            "/admin/broadcasts",
            Some(
                json!({ "name": "セール", "messages": [{ "type": "text", "text": "セール開始" }] }),
            ),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    env.clock.advance(SignedDuration::from_mins(1));
    let second = env.tick().await?;
    assert_eq!(second.broadcast_chunks, 0, "{second:?}");
    Ok((a, b))
}

#[tokio::test]
async fn sends_wait_for_the_quota_and_go_once_in_the_tick_after_the_plan_is_raised()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (a, b) = everything_waits_for_quota(&env).await?;
    let pushes_refused = calls_to(&env, "/v2/bot/message/push");
    assert!(pushes_refused <= 2, "a marked tenant stops trying LINE");
    assert_eq!(
        calls_to(&env, "/v2/bot/message/multicast"),
        0,
        "the broadcast waits without a 429 of its own"
    );

    let (_, tenant) = env.marketer("GET", "/admin/tenant", None).await?;
    assert!(tenant["quotaExhaustedAt"].is_string(), "{tenant}");
    let list = deferred(&env).await?;
    assert_eq!(list["quotaResumesAt"], "2026-04-30T15:00:00Z", "{list}");
    let mut waits = reasons(&list);
    waits.sort();
    assert_eq!(
        waits,
        [
            (
                "broadcast".into(),
                "quota".into(),
                "2026-04-30T15:00:00Z".into()
            ),
            ("step".into(), "quota".into(), "2026-04-30T15:00:00Z".into()),
            ("step".into(), "quota".into(), "2026-04-30T15:00:00Z".into()),
        ]
    );

    // A page at a time.
    let (status, first) = env.marketer("GET", "/admin/deferred?limit=2", None).await?;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(reasons(&first).len(), 2, "{first}");
    let cursor = first["cursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty(), "{first}");
    let (_, rest) = env
        .marketer(
            "GET",
            &format!("/admin/deferred?limit=2&cursor={cursor}"),
            None,
        )
        .await?;
    assert_eq!(reasons(&rest).len(), 1, "{rest}");
    assert!(rest.get("cursor").is_none(), "{rest}");

    // A tick while LINE still has no room: one look at the quota (two GETs), nothing sent.
    let (quota_before, used_before) = (
        calls_to(&env, "/v2/bot/message/quota"),
        calls_to(&env, "/v2/bot/message/quota/consumption"),
    );
    env.clock.advance(SignedDuration::from_mins(1));
    let waiting = env.tick().await?;
    assert_eq!((waiting.quota_checks, waiting.sent), (1, 0), "{waiting:?}");
    assert_eq!(calls_to(&env, "/v2/bot/message/quota"), quota_before + 1);
    assert_eq!(
        calls_to(&env, "/v2/bot/message/quota/consumption"),
        used_before + 1
    );
    assert_eq!(calls_to(&env, "/v2/bot/message/push"), pushes_refused);

    // The shop raises its plan: the next tick sees room and sends everything, once.
    env.fake
        .set_monthly_quota(&env.tenant.access_token, Some(1000));
    env.clock.advance(SignedDuration::from_mins(1));
    let resumed = env.tick().await?;
    assert_eq!(resumed.quota_released, 3, "{resumed:?}");
    assert_eq!(resumed.sent, 2, "{resumed:?}");
    assert_eq!(resumed.broadcast_chunks, 1, "{resumed:?}");
    for u in [&a, &b] {
        assert_eq!(env.texts_sent_to(u), ["こんにちは", "セール開始"]);
    }
    env.clock.advance(SignedDuration::from_mins(1));
    let after = env.tick().await?;
    assert_eq!((after.quota_checks, after.sent), (0, 0), "{after:?}");
    for u in [&a, &b] {
        assert_eq!(env.texts_sent_to(u).len(), 2, "each once");
    }
    let (_, tenant) = env.marketer("GET", "/admin/tenant", None).await?;
    assert!(tenant["quotaExhaustedAt"].is_null(), "{tenant}");
    assert!(reasons(&deferred(&env).await?).is_empty());
    Ok(())
}

#[tokio::test]
async fn sends_resume_at_the_months_rollover_in_the_shops_zone_without_asking_line()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (status, body) = env.put_scenario_yaml("hello", HELLO).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    env.fake
        .set_monthly_quota(&env.tenant.access_token, Some(0));
    let u = new_user();
    env.follow_at(&u, "2026-04-30T20:00").await?;
    assert_eq!(env.tick().await?.deferred, 1);
    env.set_local_time("2026-04-30T23:59")?;
    assert_eq!(
        env.tick().await?.quota_checks,
        1,
        "still April: LINE is asked"
    );

    // Midnight in Tokyo: a new month. LINE's counter starts again (the fake is told, as it does
    // not keep a calendar); the tick releases the step without asking LINE.
    env.fake.set_monthly_quota(&env.tenant.access_token, None);
    let asked = calls_to(&env, "/v2/bot/message/quota");
    env.set_local_time("2026-05-01T00:00")?;
    let midnight = env.tick().await?;
    assert_eq!(midnight.quota_released, 1, "{midnight:?}");
    assert_eq!(calls_to(&env, "/v2/bot/message/quota"), asked);
    // Released at 00:00, it still honours the delivery window: it waits for 09:00.
    assert!(env.texts_sent_to(&u).is_empty());
    let list = deferred(&env).await?;
    assert_eq!(
        reasons(&list),
        [(
            "step".into(),
            "window".into(),
            "2026-05-01T00:00:00Z".into()
        )]
    );
    assert!(list["quotaExhaustedAt"].is_null(), "{list}");
    env.set_local_time("2026-05-01T09:00")?;
    assert_eq!(env.tick().await?.sent, 1);
    assert_eq!(env.texts_sent_to(&u), ["こんにちは"]);
    Ok(())
}

#[tokio::test]
async fn a_marketer_can_ask_for_a_quota_check_now() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (a, _) = everything_waits_for_quota(&env).await?;

    let (status, check) = env
        .marketer("POST", "/admin/tenant/quota/retry", None)
        .await?;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(
        check,
        json!({ "room": false, "rolledOver": false, "limit": 0, "used": 0, "released": 0 })
    );
    assert_eq!(reasons(&deferred(&env).await?).len(), 3);

    env.fake
        .set_monthly_quota(&env.tenant.access_token, Some(500));
    let (status, check) = env
        .marketer("POST", "/admin/tenant/quota/retry", None)
        .await?;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(check["room"], true, "{check}");
    assert_eq!(check["released"], 3, "{check}");
    let (_, tenant) = env.marketer("GET", "/admin/tenant", None).await?;
    assert!(tenant["quotaExhaustedAt"].is_null(), "{tenant}");
    // Due now: the next tick sends them, without another look at the quota.
    let tick = env.tick().await?;
    assert_eq!(
        (tick.quota_checks, tick.sent, tick.broadcast_chunks),
        (0, 2, 1)
    );
    assert_eq!(env.texts_sent_to(&a), ["こんにちは", "セール開始"]);
    Ok(())
}
