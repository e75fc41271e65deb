//! Broadcasts to segments, sent as multicasts of at most 500 with a retry key per chunk.
use http::StatusCode;
use jiff::SignedDuration;
use serde_json::{Value, json};
use tsunagu_local::fake_line::Endpoint;
use tsunagu_tests::{TestEnv, new_user, user};

/// `n` friends following now, delivered as LINE batches them (up to 100 events per request).
async fn followers(env: &TestEnv, n: usize) -> anyhow::Result<Vec<String>> {
    let users: Vec<String> = (0..n).map(|_| new_user()).collect();
    for (i, batch) in users.chunks(100).enumerate() {
        let events = batch
            .iter()
            .enumerate()
            .map(|(j, u)| user::follow(u, env.now_ms() + (i * 100 + j) as i64, false))
            .collect();
        let (status, body) = env.deliver(events).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    Ok(users)
}

fn multicasts(env: &TestEnv) -> Vec<tsunagu_local::fake_line::Delivered> {
    env.fake
        .sent_messages()
        .into_iter()
        .filter(|d| d.endpoint == Endpoint::Multicast)
        .collect()
}

async fn broadcast(env: &TestEnv, body: Value) -> anyhow::Result<String> {
    let (status, created) = env
        .marketer("POST", "/admin/broadcasts", Some(body))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    Ok(created["id"].as_str().unwrap_or_default().to_owned())
}

async fn report(env: &TestEnv, id: &str) -> anyhow::Result<Value> {
    let (status, report) = env
        .marketer("GET", &format!("/admin/broadcasts/{id}"), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    Ok(report)
}

#[tokio::test]
async fn a_broadcast_to_1200_friends_is_three_multicasts_of_at_most_500() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.set_local_time("2026-04-01T12:00")?;
    let friends = followers(&env, 1200).await?;

    let id = broadcast(&env, json!({ "name": "春のセール", "messages": [{ "type": "text", "text": "春のセール開始！" }] })).await?;
    env.tick().await?;

    let sent = multicasts(&env);
    let sizes: Vec<usize> = sent.iter().map(|d| d.to.len()).collect();
    assert_eq!(sizes, [500, 500, 200]);
    let keys: std::collections::HashSet<_> =
        sent.iter().filter_map(|d| d.retry_key.clone()).collect();
    assert_eq!(keys.len(), 3, "a retry key per chunk");
    let mut reached: Vec<String> = sent.into_iter().flat_map(|d| d.to).collect();
    reached.sort();
    let mut expected = friends.clone();
    expected.sort();
    assert_eq!(reached, expected, "every friend exactly once");

    let report = report(&env, &id).await?;
    assert_eq!(report["broadcast"]["state"], "done");
    assert_eq!(report["broadcast"]["progress"]["sent"], 1200);
    assert_eq!(report["chunks"].as_array().map(Vec::len), Some(3));
    Ok(())
}

#[tokio::test]
async fn a_segment_combines_tags_and_leaves_out_blocked_friends() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.set_local_time("2026-04-01T12:00")?;
    let f = followers(&env, 5).await?;
    for (u, tags) in [
        (&f[0], vec!["女性", "美容"]),
        (&f[1], vec!["女性", "健康"]),
        (&f[2], vec!["女性", "美容", "購入済み"]),
        (&f[3], vec!["美容"]),
        (&f[4], vec!["女性", "美容"]),
    ] {
        env.marketer(
            "POST",
            &format!("/admin/friends/{u}/tags"),
            Some(json!({ "tags": tags })),
        )
        .await?;
    }
    env.deliver(vec![user::unfollow(&f[4], env.now_ms() + 10_000)])
        .await?;

    broadcast(&env, json!({
        "name": "美容の女性へ",
        "segment": { "allTags": ["女性"], "anyTags": ["美容", "健康"], "noneTags": ["購入済み"] },
        "messages": [{ "type": "text", "text": "新作コスメ" }],
    }))
    .await?;
    env.tick().await?;

    let mut to: Vec<String> = multicasts(&env).into_iter().flat_map(|d| d.to).collect();
    to.sort();
    let mut expected = vec![f[0].clone(), f[1].clone()];
    expected.sort();
    assert_eq!(to, expected);
    Ok(())
}

#[tokio::test]
async fn a_scheduled_broadcast_can_be_cancelled_before_it_starts() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.set_local_time("2026-04-01T12:00")?;
    followers(&env, 3).await?;
    let later = env.clock_in_tokyo("2026-04-02T10:00")?;
    let id = broadcast(&env, json!({ "name": "明日", "sendAt": later, "messages": [{ "type": "text", "text": "明日のお知らせ" }] })).await?;

    env.tick().await?;
    assert!(multicasts(&env).is_empty(), "not before its time");
    let (status, cancelled) = env
        .marketer("POST", &format!("/admin/broadcasts/{id}/cancel"), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["state"], "cancelled");

    env.set_local_time("2026-04-02T10:00")?;
    env.tick().await?;
    assert!(
        multicasts(&env).is_empty(),
        "a cancelled broadcast sends nothing"
    );

    let id = broadcast(
        &env,
        json!({ "name": "今", "messages": [{ "type": "text", "text": "今すぐ" }] }),
    )
    .await?;
    env.tick().await?;
    let (status, _) = env
        .marketer("POST", &format!("/admin/broadcasts/{id}/cancel"), None)
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "too late once sent");
    Ok(())
}

#[tokio::test]
async fn a_line_500_mid_broadcast_resends_that_chunk_later_with_the_same_key() -> anyhow::Result<()>
{
    let env = TestEnv::start().await?;
    env.set_local_time("2026-04-01T12:00")?;
    followers(&env, 700).await?;
    let id = broadcast(
        &env,
        json!({ "name": "x", "messages": [{ "type": "text", "text": "お知らせ" }] }),
    )
    .await?;
    // The first chunk goes through; the second meets a LINE 500.
    env.fake.fail_next(Endpoint::Multicast, 200, 0);
    let first = env.tick().await?;
    assert_eq!(first.broadcast_chunks, 2, "{first:?}");

    let id2 = broadcast(
        &env,
        json!({ "name": "y", "messages": [{ "type": "text", "text": "二回目" }] }),
    )
    .await?;
    env.fake.clear();
    env.fake.fail_next(Endpoint::Multicast, 500, 1);
    env.tick().await?;
    assert!(
        multicasts(&env).is_empty(),
        "the failed chunk was not accepted"
    );
    env.clock.advance(SignedDuration::from_mins(2));
    env.tick().await?;
    let sent = multicasts(&env);
    assert_eq!(
        sent.iter().map(|d| d.to.len()).sum::<usize>(),
        700,
        "everyone once"
    );
    let retried = env
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/multicast"))
        .collect::<Vec<_>>();
    assert_eq!(retried[0].status, 500);
    assert_eq!(
        retried[0].headers.get("x-line-retry-key"),
        retried[1].headers.get("x-line-retry-key"),
        "same key on retry"
    );
    assert_eq!(report(&env, &id2).await?["broadcast"]["state"], "done");
    assert_eq!(
        report(&env, &id).await?["broadcast"]["progress"]["sent"],
        700
    );
    Ok(())
}

#[tokio::test]
async fn a_broadcast_outside_the_window_waits_for_its_opening() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.set_local_time("2026-04-01T12:00")?;
    followers(&env, 2).await?;
    env.set_local_time("2026-04-01T22:30")?;
    broadcast(
        &env,
        json!({ "name": "夜", "messages": [{ "type": "text", "text": "おやすみ前に" }] }),
    )
    .await?;
    env.tick().await?;
    assert!(multicasts(&env).is_empty(), "never at 22:30");
    env.set_local_time("2026-04-02T09:00")?;
    env.tick().await?;
    assert_eq!(multicasts(&env).len(), 1);
    Ok(())
}

#[tokio::test]
async fn the_daily_cap_holds_across_scenarios_and_broadcasts_but_not_transactional_sends()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (status, _) = env
        .marketer("PATCH", "/admin/tenant", Some(json!({ "dailyCap": 1 })))
        .await?;
    assert_eq!(status, StatusCode::OK);
    let yaml = "id: hello\nname: hello\ntrigger: { type: follow }\nsteps:\n  - id: hi\n    messages: [ { type: text, text: \"ようこそ\" } ]\n";
    env.put_scenario_yaml("hello", yaml).await?;
    env.set_local_time("2026-04-01T12:00")?;
    let u = new_user();
    env.deliver(vec![user::follow(&u, env.now_ms(), false)])
        .await?;
    env.tick().await?;
    assert_eq!(env.texts_sent_to(&u), ["ようこそ"]);

    let capped = broadcast(
        &env,
        json!({ "name": "セール", "messages": [{ "type": "text", "text": "セール" }] }),
    )
    .await?;
    env.tick().await?;
    assert_eq!(
        report(&env, &capped).await?["broadcast"]["progress"]["capped"],
        1
    );
    broadcast(&env, json!({ "name": "注文", "transactional": true, "messages": [{ "type": "text", "text": "ご注文を承りました" }] })).await?;
    env.tick().await?;
    assert_eq!(env.texts_sent_to(&u), ["ようこそ", "ご注文を承りました"]);
    Ok(())
}

#[tokio::test]
async fn an_invalid_broadcast_names_the_field() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let body = json!({ "name": "x", "messages": [{ "type": "text", "text": "a" }, { "type": "text", "text": "b" }, { "type": "text", "text": "c" }, { "type": "text", "text": "d" }, { "type": "text", "text": "e" }, { "type": "text", "text": "f" }] });
    let (status, err) = env
        .marketer("POST", "/admin/broadcasts", Some(body))
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["field"], "messages");
    Ok(())
}

#[tokio::test]
async fn the_audience_count_is_what_the_send_then_reaches() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.set_local_time("2026-04-01T12:00")?;
    let f = followers(&env, 6).await?;
    for (u, tags, age) in [
        (&f[0], vec!["女性", "美容"], "30代"),
        (&f[1], vec!["女性", "健康"], "30代"),
        (&f[2], vec!["女性", "美容", "購入済み"], "30代"),
        (&f[3], vec!["美容"], "30代"),
        (&f[4], vec!["女性", "美容"], "30代"),
        (&f[5], vec!["女性", "美容"], "20代"),
    ] {
        env.marketer(
            "POST",
            &format!("/admin/friends/{u}/tags"),
            Some(json!({ "tags": tags })),
        )
        .await?;
        env.marketer(
            "PATCH",
            &format!("/admin/friends/{u}/fields"),
            Some(json!({ "fields": { "age_band": age } })),
        )
        .await?;
    }
    env.deliver(vec![user::unfollow(&f[4], env.now_ms() + 10_000)])
        .await?;
    let segment = json!({
        "allTags": ["女性"], "anyTags": ["美容", "健康"], "noneTags": ["購入済み"],
        "fields": [{ "type": "field", "name": "age_band", "op": "eq", "value": "30代" }],
    });

    let (status, audience) = env
        .marketer(
            "POST",
            "/admin/broadcasts/audience",
            Some(json!({ "segment": segment })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{audience}");
    assert_eq!(audience["count"], 2);

    broadcast(
        &env,
        json!({ "name": "30代の女性へ", "segment": segment, "messages": [{ "type": "text", "text": "新作" }] }),
    )
    .await?;
    env.tick().await?;
    let reached: usize = multicasts(&env).iter().map(|d| d.to.len()).sum();
    assert_eq!(reached, 2, "the count is what the send reaches");

    // A segment the send could not evaluate is refused by the count too, naming the field.
    let (status, refused) = env
        .marketer(
            "POST",
            "/admin/broadcasts/audience",
            Some(
                json!({ "segment": { "fields": [{ "type": "score", "op": "gte", "value": 1 }] } }),
            ),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["field"], "segment.fields[0].type");
    Ok(())
}
