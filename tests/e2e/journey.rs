//! `POST /admin/scenarios/{id}/journey`: the preview promises what the tick then does. A friend
//! who enters at 22:30 Tokyo time is previewed, then really enrolled, and the clock moved
//! through the week: every step goes out exactly when the preview said, the skipped one not at
//! all.
use serde_json::{Value, json};
use tsunagu_tests::{TestEnv, new_user};

const SERIES: &str = r#"id: series
name: 体験シリーズ
trigger: { type: manual }
steps:
  - id: hello
    messages: [{ type: text, text: ようこそ }]
  - id: vip-only
    timing: { day: 1, at: "12:00" }
    conditions: [{ type: hasTag, tag: VIP }]
    messages: [{ type: text, text: VIPのみ }]
  - id: tips
    timing: { day: 2, at: "10:00" }
    messages: [{ type: text, text: 使い方 }]
  - id: later
    timing: { after: { hours: 12 }, from: previous }
    messages: [{ type: text, text: 夜のお知らせ }]
"#;

#[tokio::test]
async fn a_journey_preview_says_when_the_tick_will_send_each_step() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (status, body) = env.put_scenario_yaml("series", SERIES).await?;
    assert!(status.is_success(), "{body}");
    let u = new_user();
    env.follow_at(&u, "2026-04-01T22:00").await?;
    env.set_local_time("2026-04-01T22:30")?;

    let (status, preview) = env
        .marketer(
            "POST",
            "/admin/scenarios/series/journey",
            Some(json!({"userId": u})),
        )
        .await?;
    assert_eq!(status, http::StatusCode::OK, "{preview}");
    let planned: Vec<(String, String, Value)> = preview["journey"]["visits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|v| {
            (
                v["step"].as_str().unwrap_or_default().to_owned(),
                v["outcome"]["type"].as_str().unwrap_or_default().to_owned(),
                v["at"].clone(),
            )
        })
        .collect();
    let tokyo = |local: &str| -> anyhow::Result<Value> { Ok(json!(env.clock_in_tokyo(local)?)) };
    assert_eq!(
        planned,
        vec![
            // 22:30 is outside the 09:00–21:00 window.
            ("hello".into(), "sent".into(), tokyo("2026-04-02T09:00")?),
            (
                "vip-only".into(),
                "skipped".into(),
                tokyo("2026-04-02T12:00")?
            ),
            ("tips".into(), "sent".into(), tokyo("2026-04-03T10:00")?),
            // 12 hours after 10:00 is 22:00: the window moves it to the next morning.
            ("later".into(), "sent".into(), tokyo("2026-04-04T09:00")?),
        ],
        "{preview}"
    );
    assert_eq!(
        preview["journey"]["visits"][0]["movedFrom"],
        tokyo("2026-04-01T22:30")?
    );
    assert_eq!(preview["journey"]["end"]["type"], "finished");

    // Now for real: the friend enters, and the tick runs at every minute the preview named.
    let (status, body) = env
        .marketer(
            "POST",
            "/admin/scenarios/series/enrollments",
            Some(json!({"userId": u})),
        )
        .await?;
    assert!(status.is_success(), "{body}");
    env.tick().await?;
    for local in [
        "2026-04-02T09:00",
        "2026-04-02T12:00",
        "2026-04-03T10:00",
        "2026-04-04T09:00",
    ] {
        env.set_local_time(local)?;
        env.tick().await?;
    }
    let (_, deliveries) = env
        .marketer("GET", &format!("/admin/friends/{u}/deliveries"), None)
        .await?;
    let mut sent: Vec<(String, Value)> = deliveries["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| {
            (
                d["step"].as_str().unwrap_or_default().to_owned(),
                d["at"].clone(),
            )
        })
        .collect();
    sent.sort_by(|a, b| a.1.as_str().cmp(&b.1.as_str()));
    let promised: Vec<(String, Value)> = planned
        .into_iter()
        .filter(|(_, outcome, _)| outcome == "sent")
        .map(|(step, _, at)| (step, at))
        .collect();
    assert_eq!(sent, promised, "{deliveries}");
    assert!(!env.texts_sent_to(&u).iter().any(|t| t == "VIPのみ"));
    Ok(())
}
