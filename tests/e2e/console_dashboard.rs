//! The dashboard's figures: kept as friends follow, block and get tagged, they equal a recount
//! of the friends themselves; LINE's month is asked at most hourly.
use http::StatusCode;
use serde_json::{Value, json};
use tsunagu_tests::{TestEnv, new_user, user};

async fn dashboard(env: &TestEnv) -> anyhow::Result<Value> {
    let (status, d) = env.marketer("GET", "/admin/dashboard", None).await?;
    assert_eq!(status, StatusCode::OK, "{d}");
    Ok(d)
}

/// Every friend, counted the slow way through the friend list.
async fn recount(env: &TestEnv, query: &str) -> anyhow::Result<usize> {
    let (status, page) = env
        .marketer("GET", &format!("/admin/friends?limit=200{query}"), None)
        .await?;
    assert_eq!(status, StatusCode::OK, "{page}");
    Ok(page["friends"].as_array().map_or(0, Vec::len))
}

async fn sent_to_everyone(env: &TestEnv, name: &str) -> anyhow::Result<()> {
    let (status, body) = env
        .marketer(
            "POST",
            "/admin/broadcasts",
            Some(json!({"name": name, "messages": [{"type": "text", "text": "お知らせ"}]})),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    env.tick().await?;
    Ok(())
}

#[tokio::test]
async fn console_dashboard_counts_follows_blocks_tiers_and_the_month_of_messages()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (status, body) = env
        .marketer(
            "PUT",
            "/admin/dormancy",
            Some(json!({"tiers": [{"days": 30, "tag": "休眠30日"}]})),
        )
        .await?;
    assert!(status.is_success(), "{body}");
    env.always_open().await?;
    let (a, b, c, d) = (new_user(), new_user(), new_user(), new_user());

    // Three follow on the 3rd; on the 8th a fourth follows, one blocks, one is tagged VIP.
    env.set_local_time("2026-04-03T10:00")?;
    for u in [&a, &b, &c] {
        env.follow(u).await?;
    }
    env.set_local_time("2026-04-08T09:00")?;
    env.follow(&d).await?;
    env.deliver(vec![user::unfollow(&b, env.now_ms())]).await?;
    let (status, body) = env
        .marketer(
            "POST",
            &format!("/admin/friends/{a}/tags"),
            Some(json!({"tags": ["VIP"]})),
        )
        .await?;
    assert!(status.is_success(), "{body}");

    let figures = dashboard(&env).await?;
    assert_eq!(figures["friends"]["friends"], recount(&env, "").await?);
    assert_eq!(figures["friends"]["friends"], 4);
    assert_eq!(figures["friends"]["blocked"], 1);
    assert_eq!(figures["followedToday"], 1);
    assert_eq!(
        figures["followed7Days"], 4,
        "the 3rd is within the last 7 days"
    );
    assert_eq!(figures["blockedToday"], 1);

    // The friend who blocked follows back: no longer blocked, and a follow of today.
    env.deliver(vec![user::follow(&b, env.now_ms(), true)])
        .await?;
    let figures = dashboard(&env).await?;
    assert_eq!(figures["friends"]["blocked"], 0);
    assert_eq!(figures["followedToday"], 2);

    // A month on, the sweep puts everyone in the 30-day tier: the tier count is its members.
    env.set_local_time("2026-05-12T04:00")?;
    env.sweep().await?;
    let figures = dashboard(&env).await?;
    let tier = &figures["dormant"][0];
    assert_eq!(tier["tag"], "休眠30日");
    let members = recount(&env, "&tags=%E4%BC%91%E7%9C%A030%E6%97%A5").await?;
    assert!(members > 0);
    assert_eq!(tier["friends"], members);
    assert_eq!(
        figures["followed7Days"], 0,
        "the week moved on with the clock"
    );

    // LINE's month: what the fake LINE Platform counted, read again only after an hour.
    env.set_local_time("2026-05-12T10:00")?;
    sent_to_everyone(&env, "5月のお知らせ").await?;
    let figures = dashboard(&env).await?;
    assert_eq!(
        figures["lineQuota"]["used"], 4,
        "one message to each of four friends"
    );
    sent_to_everyone(&env, "追加のお知らせ").await?;
    assert_eq!(
        dashboard(&env).await?["lineQuota"]["used"],
        4,
        "LINE asked at most hourly"
    );
    env.set_local_time("2026-05-12T11:01")?;
    assert_eq!(dashboard(&env).await?["lineQuota"]["used"], 8);

    // Tonight's broadcast is on today's list; the console page shows the same figures.
    let (status, body) = env
        .marketer(
            "POST",
            "/admin/broadcasts",
            Some(
                json!({"name": "夜のセール", "sendAt": env.clock_in_tokyo("2026-05-12T20:00")?,
                "messages": [{"type": "text", "text": "今夜だけ"}]}),
            ),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let figures = dashboard(&env).await?;
    assert_eq!(figures["broadcastsToday"][0]["name"], "夜のセール");

    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let browser = env.browser();
    browser.sign_in(&email, &password).await?;
    let page = browser.get("/console/").await?;
    assert_eq!(page.status, StatusCode::OK);
    for shown in [
        "id=\"friends-total\">4<",
        "id=\"messages-used\">8<",
        "休眠30日",
        "20:00",
        "夜のセール",
    ] {
        assert!(page.body.contains(shown), "{shown} not on the dashboard");
    }
    Ok(())
}
