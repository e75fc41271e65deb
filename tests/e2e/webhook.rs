//! LINE delivering to `POST /webhook/{tenant}`.
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use crm::store::keys;
use http::StatusCode;
use serde_json::json;
use tsunagu_tests::{NowTs, TestEnv, new_user, user};

#[tokio::test]
async fn a_follow_creates_the_friend_with_their_line_profile() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let hanako = new_user();
    env.fake.set_profile(
        &env.tenant.access_token,
        &hanako,
        "花子",
        Some("https://profile.line-scdn.net/hanako"),
        Some("ja"),
    );

    let (status, _) = env
        .deliver(vec![user::follow(&hanako, env.now_ms(), false)])
        .await?;

    assert_eq!(status, StatusCode::OK);
    let friend = env
        .store
        .get_friend(&env.tenant.id, &hanako.parse()?)
        .await?
        .expect("friend recorded");
    assert_eq!(friend.profile.display_name.as_deref(), Some("花子"));
    assert_eq!(friend.profile.language.as_deref(), Some("ja"));
    assert!(!friend.blocked);
    let kinds: Vec<_> = env
        .bus
        .published()
        .iter()
        .map(|e| e.detail_type.clone())
        .collect();
    assert_eq!(kinds, ["FriendFollowed"]);
    Ok(())
}

#[tokio::test]
async fn a_wrong_or_missing_signature_is_refused_and_nothing_is_recorded() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = new_user();
    let body = user::batch(vec![user::follow(&u, env.now_ms(), false)]);

    let wrong = user::signature("not-the-channel-secret", &body);
    let (status, err) = env
        .post_raw(env.tenant.id.as_str(), Some(&wrong), body.clone())
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["error"]["code"], "bad_signature");

    let (status, _) = env
        .post_raw(env.tenant.id.as_str(), None, body.clone())
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A correct signature over different bytes (one space added) is still wrong.
    let sig = user::signature(&env.tenant.channel_secret, &body);
    let mut tampered = body.clone();
    tampered.push(b' ');
    let (status, _) = env
        .post_raw(env.tenant.id.as_str(), Some(&sig), tampered)
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert!(
        env.store
            .get_friend(&env.tenant.id, &u.parse()?)
            .await?
            .is_none()
    );
    Ok(())
}

#[tokio::test]
async fn a_redelivered_event_is_recorded_once() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = new_user();
    let message = user::text_message(&u, env.now_ms(), "営業時間は？");
    let mut redelivery = message.clone();
    redelivery["deliveryContext"]["isRedelivery"] = json!(true);

    for events in [vec![message.clone()], vec![redelivery], vec![message]] {
        let (status, _) = env.deliver(events).await?;
        assert_eq!(status, StatusCode::OK);
    }

    let history = env
        .store
        .friend_history(&env.tenant.id, &u.parse()?, 10, env.clock.now_ts())
        .await?;
    assert_eq!(history.len(), 1);
    assert_eq!(
        env.bus.published().len(),
        1,
        "one MessageReceived, not three"
    );
    Ok(())
}

#[tokio::test]
async fn follow_unfollow_and_follow_again_unblocks_the_friend() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = new_user();
    let t0 = env.now_ms();
    env.deliver(vec![user::follow(&u, t0, false)]).await?;
    env.deliver(vec![user::unfollow(&u, t0 + 60_000)]).await?;
    let friend = env
        .store
        .get_friend(&env.tenant.id, &u.parse()?)
        .await?
        .expect("friend");
    assert!(friend.blocked);

    env.deliver(vec![user::follow(&u, t0 + 120_000, true)])
        .await?;
    let friend = env
        .store
        .get_friend(&env.tenant.id, &u.parse()?)
        .await?
        .expect("friend");
    assert!(!friend.blocked);
    assert_eq!(friend.follow_count, 2);
    assert_eq!(
        friend.followed_at.as_millisecond(),
        t0,
        "the first follow date is kept"
    );

    let kinds: Vec<_> = env
        .bus
        .published()
        .iter()
        .map(|e| (e.detail_type.clone(), e.detail["refollow"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("FriendFollowed".into(), json!(false)),
            ("FriendUnfollowed".into(), json!(null)),
            ("FriendFollowed".into(), json!(true)),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn an_unfollow_delivered_late_does_not_block_a_newer_follow() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = new_user();
    let t0 = env.now_ms();
    // One batch, out of order: LINE orders by timestamp, so must we.
    env.deliver(vec![
        user::follow(&u, t0 + 120_000, true),
        user::unfollow(&u, t0 + 60_000),
        user::follow(&u, t0, false),
    ])
    .await?;
    let friend = env
        .store
        .get_friend(&env.tenant.id, &u.parse()?)
        .await?
        .expect("friend");
    assert!(!friend.blocked);
    Ok(())
}

#[tokio::test]
async fn an_unknown_event_type_is_kept_and_the_rest_of_the_batch_recorded() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = new_user();
    let mut future = user::text_message(&u, env.now_ms(), "x");
    future["type"] = json!("somethingNew");
    future["somethingNew"] = json!({ "shiny": true });
    let events = vec![
        user::follow(&u, env.now_ms(), false),
        future,
        user::postback(&u, env.now_ms() + 1, "menu=coupon"),
    ];

    let (status, body) = env.deliver(events).await?;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["recorded"], 3);
    let history = env
        .store
        .friend_history(&env.tenant.id, &u.parse()?, 10, env.clock.now_ts())
        .await?;
    let kinds: Vec<_> = history.iter().map(|h| h.kind.as_str()).collect();
    assert!(
        kinds.contains(&"somethingNew") && kinds.contains(&"postback") && kinds.contains(&"follow"),
        "{kinds:?}"
    );
    let kept = history
        .iter()
        .find(|h| h.kind == "somethingNew")
        .expect("unknown kept");
    assert_eq!(
        kept.raw["somethingNew"]["shiny"], true,
        "unknown fields kept raw"
    );
    Ok(())
}

#[tokio::test]
async fn a_failing_profile_api_does_not_lose_the_follow() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = new_user();
    env.fake.fail_profiles(500);

    let (status, _) = env
        .deliver(vec![user::follow(&u, env.now_ms(), false)])
        .await?;

    assert_eq!(status, StatusCode::OK);
    let friend = env
        .store
        .get_friend(&env.tenant.id, &u.parse()?)
        .await?
        .expect("follow recorded");
    assert_eq!(friend.profile.display_name, None);
    assert!(!friend.blocked);
    Ok(())
}

#[tokio::test]
async fn bad_bodies_get_clear_errors() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let t = env.tenant.id.to_string();
    let sign = |b: &[u8]| user::signature(&env.tenant.channel_secret, b);

    let body = b"{\"events\": [".to_vec();
    let (status, err) = env.post_raw(&t, Some(&sign(&body)), body).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("column"),
        "{err}"
    );

    let body = vec![b' '; 1024 * 1024 + 1];
    let (status, _) = env.post_raw(&t, Some(&sign(&body)), body).await?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // The console's "Verify" button: an empty batch.
    let (status, _) = env.deliver(vec![]).await?;
    assert_eq!(status, StatusCode::OK);

    let body = user::batch(vec![]);
    let (status, err) = env
        .post_raw("no-such-shop", Some(&sign(&body)), body.clone())
        .await?;
    // An unknown shop answers exactly as a wrong signature: which shops exist stays unknown.
    let (_, wrong) = env
        .post_raw(env.tenant.id.as_str(), Some(&sign(b"other bytes")), body)
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err, wrong);
    Ok(())
}

#[tokio::test]
async fn an_unsent_message_leaves_no_text_in_the_history() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = new_user();
    let said = user::text_message(&u, env.now_ms(), "電話番号は090-1234-5678です");
    let message_id = said["message"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    env.deliver(vec![said]).await?;
    env.clock.advance(jiff::SignedDuration::from_mins(10));

    let (status, _) = env
        .deliver(vec![user::unsend(&u, env.now_ms(), &message_id)])
        .await?;
    assert_eq!(status, StatusCode::OK);
    let history = env
        .store
        .friend_history(&env.tenant.id, &u.parse()?, 10, env.clock.now_ts())
        .await?;
    let message = history
        .iter()
        .find(|h| h.kind == "message")
        .expect("the message is still in the history");
    assert_eq!(message.raw["message"]["unsent"], true);
    assert!(!message.raw.to_string().contains("090-1234-5678"));
    assert!(history.iter().any(|h| h.kind == "unsend"));
    Ok(())
}

/// The raw item under `key`, as DynamoDB holds it.
async fn raw_item(
    env: &TestEnv,
    (pk, sk): (String, String),
) -> anyhow::Result<Option<HashMap<String, AttributeValue>>> {
    let client = aws_sdk_dynamodb::Client::new(&tsunagu_local::stack::aws_config().await);
    let out = client
        .get_item()
        .table_name(&env.deps.config.table_name)
        .key("pk", AttributeValue::S(pk))
        .key("sk", AttributeValue::S(sk))
        .send()
        .await?;
    Ok(out.item)
}

fn expires_at(item: &HashMap<String, AttributeValue>) -> Option<i64> {
    item.get("expires_at")?.as_n().ok()?.parse().ok()
}

/// The user says `text` now; the keys of its history entry and of its content item.
async fn said(env: &TestEnv, u: &str, text: &str) -> anyhow::Result<[(String, String); 2]> {
    let event = user::text_message(u, env.now_ms(), text);
    let (status, body) = env.deliver(vec![event.clone()]).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let at = jiff::Timestamp::from_millisecond(env.now_ms())?;
    let id = event["webhookEventId"].as_str().unwrap_or_default();
    let (pk, sk) = keys::friend_event(&env.tenant.id, &u.parse()?, at, id);
    let content = keys::message_content(&pk, &sk);
    Ok([(pk, sk), content])
}

#[tokio::test]
async fn message_text_retention_set_by_the_shop_expires_the_stored_text() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (_, tenant) = env.marketer("GET", "/admin/tenant", None).await?;
    assert_eq!(
        tenant["messageTextRetentionDays"], 90,
        "the default: {tenant}"
    );
    let (status, tenant) = env
        .marketer(
            "PATCH",
            "/admin/tenant",
            Some(json!({ "messageTextRetentionDays": 30 })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["messageTextRetentionDays"], 30);
    let u = new_user();
    let now = env.now_ms() / 1000;

    let [entry, content] = said(&env, &u, "電話番号は090-1234-5678です").await?;

    // The entry (a text was sent) is kept as long as the history, without the text…
    let entry = raw_item(&env, entry).await?.expect("history entry");
    assert_eq!(expires_at(&entry), Some(now + 400 * 86_400));
    assert!(!format!("{entry:?}").contains("090-1234-5678"));
    // …which is in an item of its own that DynamoDB deletes after the shop's 30 days.
    let content = raw_item(&env, content).await?.expect("message content");
    assert_eq!(expires_at(&content), Some(now + 30 * 86_400));
    assert!(format!("{content:?}").contains("090-1234-5678"));
    let history = env.friend_view(&u).await?["history"].clone();
    assert_eq!(
        history[0]["raw"]["message"]["text"],
        "電話番号は090-1234-5678です"
    );

    // Past the retention the history shows that a text was sent, not what it said, even before
    // DynamoDB's TTL has deleted the item.
    env.clock.advance(jiff::SignedDuration::from_hours(31 * 24));
    let history = env.friend_view(&u).await?["history"].clone();
    assert_eq!(history[0]["kind"], "message");
    assert_eq!(history[0]["raw"]["message"]["type"], "text");
    assert!(!history.to_string().contains("090-1234-5678"), "{history}");

    // `null`: texts are kept as long as the history.
    let (status, tenant) = env
        .marketer(
            "PATCH",
            "/admin/tenant",
            Some(json!({ "messageTextRetentionDays": null })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert!(tenant["messageTextRetentionDays"].is_null());
    let now = env.now_ms() / 1000;
    let [_, content] = said(&env, &u, "また来ます").await?;
    let content = raw_item(&env, content).await?.expect("message content");
    assert_eq!(expires_at(&content), Some(now + 400 * 86_400));
    Ok(())
}

#[tokio::test]
async fn an_invalid_message_text_retention_is_refused_naming_the_field() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    for days in [json!(0), json!(401)] {
        let patch = json!({ "messageTextRetentionDays": days });
        let (status, body) = env.marketer("PATCH", "/admin/tenant", Some(patch)).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{days}: {body}");
        assert_eq!(
            body["error"]["field"], "messageTextRetentionDays",
            "{days}: {body}"
        );
    }
    let (_, tenant) = env.marketer("GET", "/admin/tenant", None).await?;
    assert_eq!(
        tenant["messageTextRetentionDays"], 90,
        "unchanged: {tenant}"
    );
    Ok(())
}

#[tokio::test]
async fn an_event_older_than_the_dedupe_window_is_refused() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = new_user();
    let eight_days_ago = env.now_ms() - 8 * 24 * 3600 * 1000;
    let (status, body) = env
        .deliver(vec![user::follow(&u, eight_days_ago, false)])
        .await?;
    assert_eq!(status, StatusCode::OK, "LINE must not retry it: {body}");
    assert_eq!(body["recorded"], 0);
    assert!(
        env.store
            .get_friend(&env.tenant.id, &u.parse()?)
            .await?
            .is_none()
    );
    Ok(())
}

#[tokio::test]
async fn a_channel_secret_of_one_tenant_cannot_post_as_another() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let other = env.new_tenant().await?;
    let u = new_user();

    let (status, _) = env
        .deliver_as(
            &other,
            env.tenant.id.as_str(),
            vec![user::follow(&u, env.now_ms(), false)],
        )
        .await?;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        env.store
            .get_friend(&env.tenant.id, &u.parse()?)
            .await?
            .is_none()
    );
    assert!(
        env.store
            .get_friend(&other.id, &u.parse()?)
            .await?
            .is_none()
    );
    Ok(())
}

#[tokio::test]
async fn group_messages_are_recorded_without_making_the_group_a_friend() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let member = new_user();
    let mut msg = user::text_message(&member, env.now_ms(), "hi all");
    msg["source"] = json!({ "type": "group", "groupId": "Ca56f94637cc4347f90a25382909b24b9", "userId": member });

    let (status, body) = env.deliver(vec![msg]).await?;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["recorded"], 1);
    assert!(
        env.store
            .get_friend(&env.tenant.id, &member.parse()?)
            .await?
            .is_none()
    );
    let (_, page) = env.marketer("GET", "/admin/friends", None).await?;
    assert_eq!(page["friends"], json!([]));
    Ok(())
}

#[tokio::test]
async fn standby_events_are_recorded_and_never_answered() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = new_user();
    let mut msg = user::text_message(&u, env.now_ms(), "こんにちは");
    msg["mode"] = json!("standby");
    msg.as_object_mut().map(|m| m.remove("replyToken"));

    let (status, _) = env.deliver(vec![msg]).await?;

    assert_eq!(status, StatusCode::OK);
    let history = env
        .store
        .friend_history(&env.tenant.id, &u.parse()?, 10, env.clock.now_ts())
        .await?;
    assert_eq!(history[0].mode, "standby");
    assert!(
        env.fake.sent_messages().is_empty(),
        "nothing is sent while another channel owns the chat"
    );
    Ok(())
}

#[tokio::test]
async fn every_real_line_event_type_is_answered_200_and_recorded_once() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../functions/crm/tests/fixtures/line");
    let mut files: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
    files.sort_by_key(|f| f.file_name());
    assert!(
        files.len() >= 20,
        "fixtures of every LINE event type in {}",
        dir.display()
    );
    for file in files {
        let mut event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file.path())?)?;
        // Fresh ids per run: the table outlives one test run; and a fresh time, as LINE
        // delivers at once (events older than the dedupe window are refused).
        event["webhookEventId"] = json!(user::new_event_id());
        event["timestamp"] = json!(env.now_ms());
        for expected_new in [1, 0] {
            let (status, body) = env.deliver(vec![event.clone()]).await?;
            assert_eq!(status, StatusCode::OK, "{}: {body}", file.path().display());
            assert_eq!(
                body["recorded"],
                expected_new,
                "{}: recorded exactly once",
                file.path().display()
            );
        }
        let id = event["webhookEventId"].as_str().unwrap_or_default();
        assert!(
            env.store.webhook_seen(&env.tenant.id, id).await?.is_some(),
            "{} recorded",
            file.path().display()
        );
    }
    Ok(())
}
