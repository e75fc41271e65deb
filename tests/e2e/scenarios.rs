//! Step scenarios as a marketer sets them up, with the clock moved instead of waiting.
use crm::domain::enrollment::EnrollmentState;
use http::StatusCode;
use jiff::SignedDuration;
use serde_json::json;
use tsunagu_local::fake_line::Endpoint;
use tsunagu_tests::{NowTs, TestEnv, new_user, user};

const WELCOME: &str = r#"
id: welcome
name: ようこそ
trigger: { type: follow }
stopRules:
  - { type: tagAdded, tag: 購入済み }
steps:
  - id: greeting
    messages:
      - { type: text, text: "{{name|お客様}}、友だち追加ありがとうございます！" }
  - id: tips
    timing: { day: 2, at: "10:00" }
    messages:
      - { type: text, text: "使い方のコツ" }
  - id: coupon
    timing: { day: 7, at: "10:00" }
    messages:
      - { type: text, text: "7日目限定クーポン" }
"#;

#[tokio::test]
async fn follow_then_welcome_on_day_0_day_2_at_10_and_day_7() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (status, saved) = env.put_scenario_yaml("welcome", WELCOME).await?;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let (_, again) = env.put_scenario_yaml("welcome", WELCOME).await?;
    assert_eq!(
        again["version"], 1,
        "applying the same definition again changes nothing: {again}"
    );
    let hanako = new_user();
    env.fake
        .set_profile(&env.tenant.access_token, &hanako, "花子", None, None);

    env.follow_at(&hanako, "2026-04-01T12:00").await?;
    env.tick().await?;
    assert_eq!(
        env.texts_sent_to(&hanako),
        ["花子、友だち追加ありがとうございます！"]
    );

    env.set_local_time("2026-04-03T09:59")?;
    env.tick().await?;
    assert_eq!(
        env.texts_sent_to(&hanako).len(),
        1,
        "not before day 2 at 10:00"
    );
    env.set_local_time("2026-04-03T10:00")?;
    env.tick().await?;
    env.tick().await?;
    assert_eq!(env.texts_sent_to(&hanako).len(), 2, "day 2 at 10:00, once");

    env.set_local_time("2026-04-08T10:00")?;
    env.tick().await?;
    assert_eq!(
        env.texts_sent_to(&hanako),
        [
            "花子、友だち追加ありがとうございます！",
            "使い方のコツ",
            "7日目限定クーポン"
        ]
    );
    assert_eq!(
        env.enrollment_state(&hanako, "welcome").await?,
        Some(EnrollmentState::Finished)
    );
    let keys: std::collections::HashSet<_> = env
        .fake
        .sent_messages()
        .into_iter()
        .filter_map(|d| d.retry_key)
        .collect();
    assert_eq!(keys.len(), 3, "every push carries its own retry key");
    let (_, deliveries) = env
        .marketer("GET", &format!("/admin/friends/{hanako}/deliveries"), None)
        .await?;
    assert_eq!(deliveries["deliveries"].as_array().map(Vec::len), Some(3));
    Ok(())
}

#[tokio::test]
async fn a_step_due_at_23_00_goes_out_at_the_next_window_opening() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let yaml = r#"
id: late
name: late
trigger: { type: follow }
steps:
  - id: evening
    timing: { after: { hours: 13 } }
    messages: [ { type: text, text: "夜のお知らせ" } ]
"#;
    env.put_scenario_yaml("late", yaml).await?;
    let u = new_user();
    env.follow_at(&u, "2026-04-01T10:00").await?;

    env.set_local_time("2026-04-01T23:00")?;
    env.tick().await?;
    assert!(env.texts_sent_to(&u).is_empty(), "never at 23:00");
    let e = env
        .store
        .enrollment(&env.tenant.id, &u.parse()?, &"late".parse()?)
        .await?
        .expect("enrolled");
    assert_eq!(
        e.next_due_at.map(|t| t.to_string()),
        Some("2026-04-02T00:00:00Z".into()),
        "09:00 JST"
    );

    env.set_local_time("2026-04-02T08:59")?;
    env.tick().await?;
    assert!(env.texts_sent_to(&u).is_empty());
    env.set_local_time("2026-04-02T09:00")?;
    env.tick().await?;
    assert_eq!(env.texts_sent_to(&u), ["夜のお知らせ"]);
    Ok(())
}

async fn one_step_scenario(env: &TestEnv) -> anyhow::Result<String> {
    let yaml = r#"
id: hello
name: hello
trigger: { type: follow }
steps:
  - id: hi
    messages: [ { type: text, text: "こんにちは" } ]
"#;
    let (status, body) = env.put_scenario_yaml("hello", yaml).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let u = new_user();
    env.follow_at(&u, "2026-04-01T12:00").await?;
    Ok(u)
}

#[tokio::test]
async fn a_tick_that_dies_between_claim_and_send_still_delivers_exactly_once() -> anyhow::Result<()>
{
    let env = TestEnv::start().await?;
    let u = one_step_scenario(&env).await?;
    let now = env.clock.now_ts();

    // A tick claims the step, pushes it, and dies before recording anything.
    let mut due = Vec::new();
    for shard in 0..crm::store::DUE_SHARDS {
        for item in env.store.due_items(shard, now, 10).await? {
            if let crm::store::Due::Enrollment {
                observed,
                enrollment,
            } = item
            {
                due.push((observed, enrollment));
            }
        }
    }
    assert_eq!(due.len(), 1);
    let (observed, e) = &due[0];
    let lease = now.saturating_add(crm::scheduled_sends::LEASE)?;
    let claim = env
        .store
        .claim(e, observed, lease, "dead-tick")
        .await?
        .expect("claimed");
    let def = env
        .store
        .scenario(&env.tenant.id, &e.scenario)
        .await?
        .expect("scenario")
        .definition()?;
    let key = e.retry_key(&def.steps[0].id);
    let token = crm::secret::Secret::new(env.tenant.access_token.clone());
    env.deps
        .line
        .push(
            &token,
            &u,
            &[json!({"type": "text", "text": "こんにちは"})],
            key,
        )
        .await?;
    drop(claim);

    // While the lease runs, other ticks leave it alone.
    assert_eq!(env.tick().await?.claimed, 0);
    // After the lease it comes due again; LINE answers 409 for the same retry key: delivered.
    env.clock.advance(SignedDuration::from_mins(6));
    let report = env.tick().await?;
    assert_eq!(report.sent, 1, "{report:?}");
    assert_eq!(
        env.texts_sent_to(&u),
        ["こんにちは"],
        "the friend received exactly one message"
    );
    assert_eq!(
        env.enrollment_state(&u, "hello").await?,
        Some(EnrollmentState::Finished)
    );
    Ok(())
}

#[tokio::test]
async fn line_answering_429_and_500_delivers_later_once() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = one_step_scenario(&env).await?;
    env.fake.fail_next(Endpoint::Push, 429, 1);
    env.fake.fail_next(Endpoint::Push, 500, 1);

    assert_eq!(env.tick().await?.deferred, 1);
    env.clock.advance(SignedDuration::from_mins(1));
    assert_eq!(env.tick().await?.deferred, 1);
    env.clock.advance(SignedDuration::from_mins(2));
    assert_eq!(env.tick().await?.sent, 1);
    env.clock.advance(SignedDuration::from_mins(10));
    env.tick().await?;

    assert_eq!(env.texts_sent_to(&u), ["こんにちは"]);
    Ok(())
}

#[tokio::test]
async fn an_exhausted_monthly_quota_defers_the_send_and_loses_nothing() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = one_step_scenario(&env).await?;
    env.fake
        .set_monthly_quota(&env.tenant.access_token, Some(0));

    assert_eq!(env.tick().await?.deferred, 1);
    assert_eq!(
        env.enrollment_state(&u, "hello").await?,
        Some(EnrollmentState::Active)
    );

    // No blind hours of waiting: the next tick asks LINE, finds room and sends.
    env.fake.set_monthly_quota(&env.tenant.access_token, None);
    env.clock.advance(SignedDuration::from_mins(1));
    assert_eq!(env.tick().await?.sent, 1);
    assert_eq!(env.texts_sent_to(&u), ["こんにちは"]);
    Ok(())
}

#[tokio::test]
async fn a_friend_who_blocked_gets_nothing_until_they_follow_again() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.put_scenario_yaml("welcome", WELCOME).await?;
    let u = new_user();
    env.follow_at(&u, "2026-04-01T12:00").await?;
    env.tick().await?;
    env.deliver(vec![user::unfollow(&u, env.now_ms() + 1000)])
        .await?;

    env.set_local_time("2026-04-03T10:00")?;
    env.tick().await?;
    assert_eq!(env.texts_sent_to(&u).len(), 1, "nothing after the block");
    assert_eq!(
        env.enrollment_state(&u, "welcome").await?,
        Some(EnrollmentState::Paused)
    );

    env.deliver(vec![user::follow(&u, env.now_ms(), true)])
        .await?;
    env.tick().await?;
    assert_eq!(
        env.texts_sent_to(&u).len(),
        2,
        "resumed with the step it missed"
    );
    Ok(())
}

#[tokio::test]
async fn a_purchase_tag_stops_the_scenario() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.put_scenario_yaml("welcome", WELCOME).await?;
    let u = new_user();
    env.follow_at(&u, "2026-04-01T12:00").await?;
    env.tick().await?;

    env.marketer(
        "POST",
        &format!("/admin/friends/{u}/tags"),
        Some(json!({"tags": ["購入済み"]})),
    )
    .await?;
    env.set_local_time("2026-04-08T10:00")?;
    env.tick().await?;

    assert_eq!(env.texts_sent_to(&u).len(), 1);
    assert_eq!(
        env.enrollment_state(&u, "welcome").await?,
        Some(EnrollmentState::Stopped)
    );
    Ok(())
}

#[tokio::test]
async fn an_invalid_scenario_is_refused_naming_the_field() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let too_long = "あ".repeat(5001);
    let yaml = format!(
        "id: bad\nname: bad\ntrigger: {{ type: follow }}\nsteps:\n  - id: s\n    messages: [ {{ type: text, text: \"{too_long}\" }} ]\n"
    );
    let (status, err) = env.put_scenario_yaml("bad", &yaml).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["field"], "steps[0].messages[0].text");
    Ok(())
}

#[tokio::test]
async fn editing_a_scenario_keeps_enrolled_friends_on_their_version() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.put_scenario_yaml("welcome", WELCOME).await?;
    let u = new_user();
    env.follow_at(&u, "2026-04-01T12:00").await?;
    env.tick().await?;

    let (status, saved) = env
        .put_scenario_yaml("welcome", &WELCOME.replace("使い方のコツ", "新しいコツ"))
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(saved["version"], 2);

    env.set_local_time("2026-04-03T10:00")?;
    env.tick().await?;
    assert_eq!(
        env.texts_sent_to(&u)[1],
        "使い方のコツ",
        "enrolled on version 1"
    );
    Ok(())
}

#[tokio::test]
async fn the_welcome_step_goes_out_free_through_the_follow_reply_token() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.put_scenario_yaml("welcome", WELCOME).await?;
    let u = new_user();
    env.set_local_time("2026-04-01T12:00")?;
    let mut follow = user::follow(&u, env.now_ms(), false);
    follow["replyToken"] = json!(env.fake.issue_reply_token_to(&env.tenant.access_token, &u));

    env.deliver(vec![follow]).await?;
    env.tick().await?;

    let sent = env.fake.sent_messages();
    assert_eq!(sent.len(), 1, "one message, by reply, none pushed");
    assert_eq!(sent[0].endpoint, Endpoint::Reply);
    assert_eq!(
        env.texts_sent_to(&u),
        ["お客様、友だち追加ありがとうございます！"]
    );
    let (_, deliveries) = env
        .marketer("GET", &format!("/admin/friends/{u}/deliveries"), None)
        .await?;
    assert_eq!(deliveries["deliveries"][0]["via"], "reply");

    env.set_local_time("2026-04-03T10:00")?;
    env.tick().await?;
    assert_eq!(env.texts_sent_to(&u).len(), 2, "later steps by push");
    Ok(())
}

#[tokio::test]
async fn an_expired_reply_token_falls_back_to_push() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.put_scenario_yaml("welcome", WELCOME).await?;
    let u = new_user();
    env.set_local_time("2026-04-01T12:00")?;
    let mut follow = user::follow(&u, env.now_ms(), false);
    follow["replyToken"] = json!(env.fake.issue_reply_token_to(&env.tenant.access_token, &u));
    env.fake.expire_reply_tokens(&env.tenant.access_token);

    env.deliver(vec![follow]).await?;
    env.tick().await?;

    let endpoints: Vec<_> = env
        .fake
        .sent_messages()
        .into_iter()
        .map(|d| d.endpoint)
        .collect();
    assert_eq!(endpoints, [Endpoint::Push]);
    Ok(())
}

#[tokio::test]
async fn a_marketer_migrates_enrolled_friends_to_the_new_version() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.put_scenario_yaml("welcome", WELCOME).await?;
    let u = new_user();
    env.follow_at(&u, "2026-04-01T12:00").await?;
    env.tick().await?;
    env.put_scenario_yaml("welcome", &WELCOME.replace("使い方のコツ", "新しいコツ"))
        .await?;

    let (_, versions) = env
        .marketer("GET", "/admin/scenarios/welcome/versions", None)
        .await?;
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(2));
    let (status, migration) = env
        .marketer("POST", "/admin/scenarios/welcome/migrate", None)
        .await?;
    assert_eq!(status, StatusCode::OK, "{migration}");
    assert_eq!(migration["migrated"], 1);

    env.set_local_time("2026-04-03T10:00")?;
    env.tick().await?;
    assert_eq!(
        env.texts_sent_to(&u)[1],
        "新しいコツ",
        "now on version 2, at the same step"
    );
    Ok(())
}

#[tokio::test]
async fn a_retired_scenario_takes_no_one_new_but_finishes_those_enrolled() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.put_scenario_yaml("welcome", WELCOME).await?;
    let (first, second) = (new_user(), new_user());
    env.follow_at(&first, "2026-04-01T12:00").await?;
    let (status, _) = env
        .marketer("DELETE", "/admin/scenarios/welcome", None)
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    env.follow_at(&second, "2026-04-01T12:01").await?;

    env.tick().await?;
    env.set_local_time("2026-04-03T10:00")?;
    env.tick().await?;

    assert_eq!(env.texts_sent_to(&first).len(), 2);
    assert!(env.texts_sent_to(&second).is_empty());
    Ok(())
}

#[tokio::test]
async fn saving_a_retired_scenario_again_revives_it_as_a_new_version() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (status, saved) = env.put_scenario_yaml("welcome", WELCOME).await?;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let (status, _) = env
        .marketer("DELETE", "/admin/scenarios/welcome", None)
        .await?;
    assert!(status.is_success(), "{status}");
    let (status, _) = env
        .marketer("GET", "/admin/scenarios/welcome", None)
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The same id again: version 2, not "changed concurrently" over the kept version 1.
    let (status, revived) = env.put_scenario_yaml("welcome", WELCOME).await?;
    assert!(status.is_success(), "{status} {revived}");
    assert_eq!(revived["version"], 2, "{revived}");
    let (status, current) = env
        .marketer("GET", "/admin/scenarios/welcome", None)
        .await?;
    assert_eq!(status, StatusCode::OK, "{current}");
    assert_eq!(current["version"], 2, "{current}");
    let (_, versions) = env
        .marketer("GET", "/admin/scenarios/welcome/versions", None)
        .await?;
    assert_eq!(
        versions["versions"].as_array().map(Vec::len),
        Some(2),
        "{versions}"
    );

    // And it enrolls again: a follow starts it.
    let u = new_user();
    env.follow_at(&u, "2026-04-01T12:00").await?;
    env.tick().await?;
    assert_eq!(
        env.texts_sent_to(&u),
        ["お客様、友だち追加ありがとうございます！"]
    );
    Ok(())
}

#[tokio::test]
async fn a_post_purchase_step_names_the_product_and_day_of_the_last_purchase() -> anyhow::Result<()>
{
    let env = TestEnv::start().await?;
    let yaml = r#"
id: thanks-for-buying
name: 購入お礼
trigger: { type: purchase }
allowReentry: true
steps:
  - id: thanks
    messages:
      - { type: text, text: "{{lastPurchase.product|商品}}のご購入ありがとうございます（{{lastPurchase.date}}）" }
"#;
    let (status, body) = env.put_scenario_yaml("thanks-for-buying", yaml).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let u = new_user();
    env.follow_at(&u, "2026-04-01T12:00").await?;
    // 00:30 in Tokyo is still April 1st in UTC: the day shown is the shop's.
    env.set_local_time("2026-04-02T00:30")?;
    let (status, body) = env
        .marketer(
            "POST",
            "/admin/purchases",
            Some(json!({
                "orderId": "EC-1", "userId": u, "amount": 2800,
                "items": [{ "product": "ハンドクリーム" }, { "product": "リップ" }],
            })),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    env.run_bus().await?;
    env.set_local_time("2026-04-02T09:00")?;
    env.tick().await?;
    assert_eq!(
        env.texts_sent_to(&u),
        ["ハンドクリーム、リップのご購入ありがとうございます（2026-04-02）"]
    );
    Ok(())
}
