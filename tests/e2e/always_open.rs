//! `deliveryWindow: null`: a shop that may message at any hour (a 24-hour service, staff-only
//! accounts). Accepted at creation and by PATCH, stored and shown as `null`, and honoured by
//! scenario steps, broadcasts and the staff digest — nothing waits for a 09:00 that never comes.
use http::StatusCode;
use serde_json::json;
use tsunagu_tests::{OPERATOR_KEY, TestEnv, new_user, user};

#[tokio::test]
async fn a_tenant_can_be_created_always_open_and_shows_null() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let id = format!("open-{}", &new_user()[1..9]);
    let req = json!({
        "id": id, "name": "24時間ジム", "channelSecret": "s", "accessToken": "t",
        "deliveryWindow": null,
    });
    let (status, created) = env
        .admin("POST", "/admin/tenants", OPERATOR_KEY, Some(req))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["tenant"]["deliveryWindow"].is_null(), "{created}");
    let key = created["apiKey"].as_str().unwrap_or_default().to_owned();
    let (_, own) = env.admin("GET", "/admin/tenant", &key, None).await?;
    assert!(own["deliveryWindow"].is_null(), "{own}");
    assert!(
        own.get("deliveryWindow").is_some(),
        "null, not absent: {own}"
    );

    // Left out, the window is the default 09:00–21:00.
    let (_, plain) = env
        .admin(
            "POST",
            "/admin/tenants",
            OPERATOR_KEY,
            Some(json!({ "id": format!("{id}-b"), "name": "b", "channelSecret": "s", "accessToken": "t" })),
        )
        .await?;
    assert_eq!(
        plain["tenant"]["deliveryWindow"],
        json!({ "start": "09:00:00", "end": "21:00:00" })
    );
    Ok(())
}

#[tokio::test]
async fn with_the_window_patched_to_null_steps_and_broadcasts_go_at_three_in_the_morning()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.always_open().await?;
    // Another PATCH without the field keeps it open.
    let (_, body) = env
        .marketer(
            "PATCH",
            "/admin/tenant",
            Some(json!({ "name": "夜のお店" })),
        )
        .await?;
    assert!(body["deliveryWindow"].is_null(), "{body}");
    let (status, err) = env
        .marketer(
            "PATCH",
            "/admin/tenant",
            Some(json!({ "deliveryWindow": { "start": "09:00:00", "end": "09:00:00" } })),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"]["field"], "deliveryWindow");

    let yaml = r#"
id: hello
name: hello
trigger: { type: follow }
steps:
  - id: hi
    messages: [ { type: text, text: "こんばんは" } ]
"#;
    let (status, body) = env.put_scenario_yaml("hello", yaml).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let u = new_user();
    env.set_local_time("2026-04-02T03:00")?;
    env.deliver(vec![user::follow(&u, env.now_ms(), false)])
        .await?;
    let tick = env.tick().await?;
    assert_eq!((tick.sent, tick.deferred), (1, 0), "{tick:?}");
    let (status, created) = env
        .marketer(
            "POST",
            "/admin/broadcasts",
            Some(json!({ "name": "深夜", "messages": [{ "type": "text", "text": "深夜セール" }] })),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(env.tick().await?.broadcast_chunks, 1);
    assert_eq!(env.texts_sent_to(&u), ["こんばんは", "深夜セール"]);
    Ok(())
}
