//! The local stack's time travel: moving its clock runs the Scheduler's ticks and sweeps at the
//! instants they would have run, so a journey of weeks is a few requests. No test sleeps; the
//! offset clock sits on the test's manual clock.
use std::sync::Arc;

use axum::body::Body;
use crm::Deps;
use http::{Request, StatusCode};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tower::ServiceExt;
use tsunagu_local::time_travel::{OffsetClock, Run, TimeMachine, Travel};
use tsunagu_tests::{TestEnv, new_user, user};

const WELCOME: &str = include_str!("../../docs/examples/welcome.yaml");
const COMEBACK: &str = include_str!("../../docs/examples/comeback.yaml");

/// A time machine over the test's world: the same table, fake LINE and tenant, on a clock that
/// starts at the test clock's now.
fn machine(env: &TestEnv) -> Arc<TimeMachine> {
    let clock = OffsetClock::new(Arc::new(env.clock.clone()));
    let deps = Deps {
        clock: Arc::new(clock.clone()),
        ..env.deps.clone()
    };
    // The environment runs the event chain itself (TestEnv::flush) after each request.
    TimeMachine::new(deps, clock, None)
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// When the ticks of a move sent something, and how much.
fn sends(travel: &Travel) -> Vec<(Timestamp, usize)> {
    travel
        .ran
        .iter()
        .filter_map(|run| match run {
            Run::Tick { at, report } if report.sent > 0 => Some((*at, report.sent)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_day_3_step_arrives_at_its_time_when_the_clock_moves_3_days() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (status, body) = env.put_scenario_yaml("welcome", WELCOME).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let u = new_user();
    env.set_local_time("2026-04-01T12:00")?;
    let machine = machine(&env);
    // A reply token LINE never issued: step 0 goes out by push, at the first tick.
    env.deliver(vec![user::follow(&u, env.now_ms(), false)])
        .await?;

    let travel = machine.advance(days(3)).await?;
    assert_eq!(travel.now, env.clock_in_tokyo("2026-04-04T12:00")?);
    assert_eq!(machine.now(), travel.now);
    assert_eq!(
        sends(&travel),
        [
            (env.clock_in_tokyo("2026-04-01T12:00")?, 1),
            (env.clock_in_tokyo("2026-04-04T10:00")?, 1)
        ]
    );
    assert_eq!(travel.sweeps, 3, "04:00 on the 2nd, 3rd and 4th");
    let texts = env.texts_sent_to(&u);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].contains("友だち追加ありがとうございます"));
    assert!(texts[1].contains("ご利用のコツ"));

    let travel = machine.advance(days(4)).await?;
    assert_eq!(
        sends(&travel),
        [(env.clock_in_tokyo("2026-04-08T10:00")?, 1)]
    );
    assert!(env.texts_sent_to(&u)[2].contains("WELCOME10"));

    // Nothing is due any more: moving on sends nothing twice.
    let travel = machine.advance(days(10)).await?;
    assert_eq!(travel.sent, 0);
    Ok(())
}

#[tokio::test]
async fn the_clock_refuses_to_move_back() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let machine = machine(&env);
    let before = machine.now();
    machine.advance(SignedDuration::from_hours(1)).await?;
    let refused = machine.move_to(before).await.err();
    assert_eq!(refused.map(|e| e.status()), Some(StatusCode::BAD_REQUEST));
    assert_eq!(
        machine.now(),
        before.checked_add(SignedDuration::from_hours(1))?
    );
    Ok(())
}

#[tokio::test]
async fn a_friend_silent_35_days_enters_the_30_day_tier_and_gets_the_comeback_step()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (status, body) = env.put_scenario_yaml("comeback", COMEBACK).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let settings = json!({
        "tiers": [{ "days": 30, "tag": "休眠30日", "scenario": "comeback",
                    "coupon": { "code": "COMEBACK500", "validDays": 14 } }]
    });
    let (status, body) = env
        .marketer("PUT", "/admin/dormancy", Some(settings))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let u = new_user();
    env.set_local_time("2026-04-01T12:00")?;
    let machine = machine(&env);
    env.deliver(vec![user::follow(&u, env.now_ms(), false)])
        .await?;

    let travel = machine.advance(days(35)).await?;
    assert_eq!(travel.sweeps, 35);
    // The sweep at 04:00 on day 30 enrolls; the step waits for the 09:00 window.
    assert_eq!(
        sends(&travel),
        [(env.clock_in_tokyo("2026-05-01T09:00")?, 1)]
    );
    let (_, friend) = env
        .marketer("GET", &format!("/admin/friends/{u}"), None)
        .await?;
    assert!(friend["tags"].get("休眠30日").is_some(), "{friend}");
    let texts = env.texts_sent_to(&u);
    let comeback = texts.last().cloned().unwrap_or_default();
    assert!(
        comeback.contains("COMEBACK500") && comeback.contains("2026-05-15"),
        "{texts:?}"
    );
    Ok(())
}

/// One request to the stack's `/__local/` endpoints, as `tsunagu-local clock` sends it.
async fn control(
    machine: &Arc<TimeMachine>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, Value)> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))?;
    let res = tsunagu_local::control::router(Arc::clone(machine))
        .oneshot(req)
        .await?;
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
    Ok((status, serde_json::from_slice(&bytes)?))
}

#[tokio::test]
async fn the_clock_endpoints_move_forward_and_refuse_the_past_in_the_api_error_shape()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let machine = machine(&env);
    let (status, now) = control(&machine, "GET", "/__local/clock", None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(now["now"], "2026-04-01T00:00:00Z");

    let (status, moved) = control(
        &machine,
        "POST",
        "/__local/clock",
        Some(json!({ "advance": "1d12h" })),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["now"], "2026-04-02T12:00:00Z");
    assert_eq!(
        moved["sweeps"], 1,
        "04:00 Tokyo on the 2nd (19:00 UTC on the 1st); the 3rd's comes after 21:00 Tokyo on the 2nd"
    );
    assert_eq!(moved["ticks"], 1);

    let (status, refused) = control(
        &machine,
        "POST",
        "/__local/clock",
        Some(json!({ "to": "2026-04-02T09:00:00+09:00" })),
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"]["code"], "invalid");
    assert_eq!(refused["error"]["field"], "to");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("only moves forward")),
        "{refused}"
    );
    let (status, bad) = control(
        &machine,
        "POST",
        "/__local/clock",
        Some(json!({ "advance": "2w" })),
    )
    .await?;
    assert_eq!(
        (status, &bad["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("advance"))
    );

    let (status, tick) = control(&machine, "POST", "/__local/tick", None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tick["claimed"], 0);
    let (status, sweep) = control(&machine, "POST", "/__local/sweep", None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sweep["tenants"], 1);
    Ok(())
}
