//! Dormancy as a shop runs it: tiers with reactivation scenarios, friends coming back, the
//! daily sweep run late, twice or after a crash, birthdays and the staff digest. The clock is
//! moved; the sweep and the scheduled-sends tick are called as the Scheduler would.
use std::sync::{Arc, Mutex};

use axum::{Json, Router, extract::State, routing::post};
use crm::domain::enrollment::EnrollmentState;
use http::StatusCode;
use serde_json::{Value, json};
use tsunagu_tests::{TestEnv, new_user, user};

/// A one-step scenario entered only by the sweep (or by hand).
fn one_step(id: &str, text: &str) -> String {
    format!(
        r#"
id: {id}
name: {id}
trigger: {{ type: manual }}
steps:
  - id: hello
    messages: [ {{ type: text, text: "{text}" }} ]
"#
    )
}

async fn scenario(env: &TestEnv, id: &str, text: &str) -> anyhow::Result<()> {
    let (status, body) = env.put_scenario_yaml(id, &one_step(id, text)).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Ok(())
}

async fn configure(env: &TestEnv, settings: Value) -> anyhow::Result<Value> {
    let (status, body) = env
        .marketer("PUT", "/admin/dormancy", Some(settings))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(body)
}

async fn says(env: &TestEnv, u: &str, local: &str, text: &str) -> anyhow::Result<()> {
    env.set_local_time(local)?;
    let (status, body) = env
        .deliver(vec![user::text_message(u, env.now_ms(), text)])
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

/// Sweeps at 04:00 local on `day`, as the Scheduler does.
async fn sweep_on(env: &TestEnv, day: &str) -> anyhow::Result<crm::dormancy_sweep::SweepReport> {
    env.set_local_time(&format!("{day}T04:00"))?;
    env.sweep().await
}

async fn tags(env: &TestEnv, u: &str) -> anyhow::Result<Vec<String>> {
    let (status, f) = env
        .marketer("GET", &format!("/admin/friends/{u}"), None)
        .await?;
    assert_eq!(status, StatusCode::OK, "{f}");
    let mut tags: Vec<String> = f["tags"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    tags.sort();
    Ok(tags)
}

async fn tag_members(env: &TestEnv, tag: &str) -> anyhow::Result<usize> {
    let (_, page) = env
        .marketer("GET", &format!("/admin/friends?tags={tag}"), None)
        .await?;
    Ok(page["friends"].as_array().map_or(0, Vec::len))
}

fn tiers_with_scenarios() -> Value {
    json!({
        "tiers": [
            { "days": 30, "tag": "休眠30日", "scenario": "comeback-30" },
            { "days": 90, "tag": "休眠90日", "scenario": "news-90" },
            { "days": 180, "tag": "休眠180日" },
            { "days": 365, "tag": "休眠365日", "scenario": "hisashiburi-365" },
        ]
    })
}

async fn tier_scenarios(env: &TestEnv) -> anyhow::Result<()> {
    scenario(env, "comeback-30", "今だけ10%OFF").await?;
    scenario(env, "news-90", "新商品のお知らせ").await?;
    scenario(env, "hisashiburi-365", "お久しぶりです").await?;
    configure(env, tiers_with_scenarios()).await?;
    Ok(())
}

#[tokio::test]
async fn a_friend_silent_for_30_90_and_365_days_gets_each_tier_and_its_scenario_once()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    tier_scenarios(&env).await?;
    let quiet = new_user();
    sweep_on(&env, "2026-04-01").await?;
    env.follow_at(&quiet, "2026-04-01T12:00").await?;

    // Day 29: nothing yet. Day 30 (the calendar day 30 days after the last activity): tier 30.
    sweep_on(&env, "2026-04-30").await?;
    assert!(tags(&env, &quiet).await?.is_empty());
    let report = sweep_on(&env, "2026-05-01").await?;
    assert_eq!(report.entered, 1);
    assert_eq!(tags(&env, &quiet).await?, ["休眠30日"]);
    assert_eq!(
        env.enrollment_state(&quiet, "comeback-30").await?,
        Some(EnrollmentState::Active)
    );
    env.set_local_time("2026-05-01T09:00")?;
    env.tick().await?;
    assert_eq!(env.texts_sent_to(&quiet), ["今だけ10%OFF"]);

    // Day 90: the deeper tier replaces the shallower tag. Caught up over the days in between.
    let report = sweep_on(&env, "2026-06-30").await?;
    assert_eq!(report.entered, 1);
    assert_eq!(report.days, 60);
    assert_eq!(tags(&env, &quiet).await?, ["休眠90日"]);
    assert_eq!(tag_members(&env, "休眠30日").await?, 0);
    env.set_local_time("2026-06-30T09:00")?;
    env.tick().await?;

    sweep_on(&env, "2026-09-28").await?;
    assert_eq!(tags(&env, &quiet).await?, ["休眠180日"]);

    sweep_on(&env, "2027-04-01").await?;
    assert_eq!(tags(&env, &quiet).await?, ["休眠365日"]);
    env.set_local_time("2027-04-01T09:00")?;
    env.tick().await?;
    env.tick().await?;
    assert_eq!(
        env.texts_sent_to(&quiet),
        ["今だけ10%OFF", "新商品のお知らせ", "お久しぶりです"],
        "each tier's scenario once"
    );

    let (_, report) = env
        .marketer("GET", "/admin/reports/reactivation", None)
        .await?;
    let entered: Vec<(u64, u64)> = report["tiers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["days"].as_u64().unwrap_or(0),
                t["entered"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(entered, [(30, 1), (90, 1), (180, 1), (365, 1)]);
    Ok(())
}

#[tokio::test]
async fn activity_removes_the_tiers_the_same_day_and_the_return_is_counted() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    tier_scenarios(&env).await?;
    let (back, silent, early) = (new_user(), new_user(), new_user());
    sweep_on(&env, "2026-04-01").await?;
    for u in [&back, &silent, &early] {
        env.follow_at(u, "2026-04-01T12:00").await?;
    }
    sweep_on(&env, "2026-05-01").await?;
    assert_eq!(tag_members(&env, "休眠30日").await?, 3);

    // Early writes at 05:00, before the 09:00 reactivation push: tier left, push cancelled.
    says(&env, &early, "2026-05-01T05:00", "こんにちは").await?;
    assert!(tags(&env, &early).await?.is_empty(), "left at once");
    assert_eq!(
        env.enrollment_state(&early, "comeback-30").await?,
        Some(EnrollmentState::Stopped)
    );
    env.set_local_time("2026-05-01T09:00")?;
    env.tick().await?;
    assert_eq!(env.texts_sent_to(&back), ["今だけ10%OFF"]);
    assert!(env.texts_sent_to(&early).is_empty());

    // Back answers the coupon the same afternoon: the tag goes in the webhook's own write.
    says(&env, &back, "2026-05-01T15:00", "クーポン使えますか").await?;
    assert!(tags(&env, &back).await?.is_empty());
    assert_eq!(
        tag_members(&env, "休眠30日").await?,
        1,
        "only the silent one"
    );
    let (_, friend) = env
        .marketer("GET", &format!("/admin/friends/{back}"), None)
        .await?;
    assert!(friend.get("dormancy").is_none(), "{friend}");

    // 30 days after their return, back and early are silent again: a new stay each, and a
    // new reactivation push.
    let report = sweep_on(&env, "2026-05-31").await?;
    assert_eq!(report.entered, 2);
    assert_eq!(tags(&env, &back).await?, ["休眠30日"]);
    env.set_local_time("2026-05-31T09:00")?;
    env.tick().await?;
    assert_eq!(env.texts_sent_to(&back), ["今だけ10%OFF", "今だけ10%OFF"]);

    // The first stays' window closes the day after its 30 days: silent was messaged and did
    // not come back; back's and early's stays were measured when they came back.
    let report = sweep_on(&env, "2026-06-01").await?;
    assert_eq!(report.windows_closed, 1);
    let (status, report) = env
        .marketer("GET", "/admin/reports/reactivation", None)
        .await?;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["returnWindowDays"], 30);
    let tier = &report["tiers"][0];
    assert_eq!(tier["days"], 30);
    assert_eq!(tier["scenario"], "comeback-30");
    assert_eq!(tier["entered"], 5, "three first stays, two second ones");
    assert_eq!(tier["messaged"], 2, "early came back before the push");
    assert_eq!(tier["returned"], 1);
    assert_eq!(tier["rate"], 0.5);
    assert_eq!(tier["byRoute"][0]["route"], "unknown");
    assert_eq!(tier["byRoute"][0]["returned"], 1);
    Ok(())
}

#[tokio::test]
async fn a_sweep_run_twice_crashed_or_skipped_for_three_days_writes_each_transition_once()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    scenario(&env, "comeback-30", "今だけ10%OFF").await?;
    configure(
        &env,
        json!({ "tiers": [{ "days": 30, "tag": "休眠30日", "scenario": "comeback-30" }] }),
    )
    .await?;
    let (a, b, c) = (new_user(), new_user(), new_user());
    sweep_on(&env, "2026-04-01").await?;
    env.follow_at(&a, "2026-04-01T12:00").await?;
    env.follow_at(&b, "2026-04-02T12:00").await?;
    env.follow_at(&c, "2026-04-03T12:00").await?;
    sweep_on(&env, "2026-04-29").await?;

    // The schedule was off on 04-30, 05-01 and 05-02: the 05-03 run catches those days up.
    let report = sweep_on(&env, "2026-05-03").await?;
    assert_eq!(report.days, 4);
    assert_eq!(report.entered, 3);
    assert_eq!(tag_members(&env, "休眠30日").await?, 3);

    // A second run the same day finds the day swept.
    let again = env.sweep().await?;
    assert_eq!(
        (again.days, again.entered, again.index_items_read),
        (0, 0, 0)
    );

    // A run that crashed before recording its progress is replayed: every transition is found
    // written, nothing is entered or enrolled twice.
    let (pk, sk) = crm::store::keys::sweep_state(&env.tenant.id);
    env.store
        .client()
        .put_item()
        .table_name(env.store.table())
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .item("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
        .item(
            "entity",
            aws_sdk_dynamodb::types::AttributeValue::S("sweep_state".into()),
        )
        .item(
            "lastSweptDay",
            aws_sdk_dynamodb::types::AttributeValue::S("2026-04-29".into()),
        )
        .item(
            "sweptAt",
            aws_sdk_dynamodb::types::AttributeValue::S("2026-04-28T19:00:00Z".into()),
        )
        .send()
        .await?;
    let replay = env.sweep().await?;
    assert_eq!(
        (replay.days, replay.entered, replay.already_done),
        (4, 0, 3)
    );

    env.set_local_time("2026-05-03T09:00")?;
    env.tick().await?;
    env.tick().await?;
    for u in [&a, &b, &c] {
        assert_eq!(env.texts_sent_to(u), ["今だけ10%OFF"], "one push each");
    }
    let (_, report) = env
        .marketer("GET", "/admin/reports/reactivation", None)
        .await?;
    assert_eq!(report["tiers"][0]["entered"], 3);
    Ok(())
}

#[tokio::test]
async fn a_birthday_message_arrives_on_the_day_at_the_window_opening() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let yaml = r#"
id: birthday
name: 誕生日
trigger: { type: manual }
steps:
  - id: wishes
    messages:
      - type: text
        text: "{{name|お客様}}、お誕生日おめでとうございます！クーポン {{field.coupon}} は {{field.coupon_deadline}} まで"
"#;
    let (status, body) = env.put_scenario_yaml("birthday", yaml).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    configure(
        &env,
        json!({
            "tiers": [],
            "birthday": { "scenario": "birthday", "coupon": { "code": "BDAY500", "validDays": 14 } }
        }),
    )
    .await?;
    let (hanako, taro) = (new_user(), new_user());
    env.fake
        .set_profile(&env.tenant.access_token, &hanako, "花子", None, None);
    sweep_on(&env, "2026-04-01").await?;
    env.follow_at(&hanako, "2026-04-01T12:00").await?;
    env.follow_at(&taro, "2026-04-01T12:00").await?;
    for (u, birthday) in [(&hanako, "1990-04-10"), (&taro, "04-11")] {
        let (status, body) = env
            .marketer(
                "PATCH",
                &format!("/admin/friends/{u}/fields"),
                Some(json!({ "fields": { "birthday": birthday } })),
            )
            .await?;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    let report = sweep_on(&env, "2026-04-10").await?;
    assert_eq!(report.birthdays, 1, "only 花子 today");
    env.tick().await?;
    env.set_local_time("2026-04-10T08:59")?;
    env.tick().await?;
    assert!(env.texts_sent_to(&hanako).is_empty(), "never before 09:00");
    env.set_local_time("2026-04-10T09:00")?;
    env.tick().await?;
    assert_eq!(
        env.texts_sent_to(&hanako),
        ["花子、お誕生日おめでとうございます！クーポン BDAY500 は 2026-04-24 まで"]
    );
    assert!(env.texts_sent_to(&taro).is_empty());

    // Once a year: replaying the day changes nothing; next year it comes again.
    let (pk, sk) = crm::store::keys::sweep_state(&env.tenant.id);
    env.store
        .client()
        .delete_item()
        .table_name(env.store.table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
        .send()
        .await?;
    let replay = env.sweep().await?;
    assert_eq!((replay.birthdays, replay.enrolled), (0, 0));
    sweep_on(&env, "2027-04-10").await?;
    env.set_local_time("2027-04-10T09:00")?;
    env.tick().await?;
    assert_eq!(env.texts_sent_to(&hanako).len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_follow_anniversary_enrolls_on_the_day_a_year_later() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    scenario(&env, "anniversary", "友だち1周年ありがとうございます").await?;
    configure(
        &env,
        json!({ "tiers": [], "anniversary": { "scenario": "anniversary" } }),
    )
    .await?;
    let u = new_user();
    sweep_on(&env, "2026-04-01").await?;
    env.follow_at(&u, "2026-04-01T12:00").await?;
    let report = sweep_on(&env, "2027-04-01").await?;
    assert_eq!(report.anniversaries, 1);
    env.set_local_time("2027-04-01T09:00")?;
    env.tick().await?;
    assert_eq!(env.texts_sent_to(&u), ["友だち1周年ありがとうございます"]);
    Ok(())
}

/// A staff endpoint on 127.0.0.1 that keeps what it was sent.
async fn staff_webhook() -> anyhow::Result<(String, Arc<Mutex<Vec<(String, Value)>>>)> {
    type Seen = Arc<Mutex<Vec<(String, Value)>>>;
    let seen: Seen = Arc::default();
    let app =
        Router::new()
            .route(
                "/digest",
                post(
                    |State(seen): State<Seen>,
                     headers: http::HeaderMap,
                     Json(body): Json<Value>| async move {
                        let key = headers
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        seen.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((key, body));
                        StatusCode::NO_CONTENT
                    },
                ),
            )
            .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/digest", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, seen))
}

#[tokio::test]
async fn staff_get_the_daily_digest_by_line_and_webhook_with_lapsing_vips() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (url, seen) = staff_webhook().await?;
    let staff = new_user();
    configure(
        &env,
        json!({
            "tiers": [{ "days": 30, "tag": "休眠30日" }, { "days": 90, "tag": "休眠90日" }],
            "alerts": { "staffUserIds": [staff], "webhookUrl": url }
        }),
    )
    .await?;
    let (vip, regular) = (new_user(), new_user());
    env.fake
        .set_profile(&env.tenant.access_token, &vip, "山田様", None, None);
    sweep_on(&env, "2026-04-01").await?;
    env.follow_at(&vip, "2026-04-01T12:00").await?;
    env.follow_at(&regular, "2026-04-01T12:00").await?;
    env.marketer(
        "POST",
        &format!("/admin/friends/{vip}/tags"),
        Some(json!({ "tags": ["VIP"] })),
    )
    .await?;
    assert!(
        env.texts_sent_to(&staff).is_empty(),
        "a quiet day sends no digest"
    );

    // Composed at the 04:00 sweep, sent when the delivery window opens at 09:00.
    let report = sweep_on(&env, "2026-05-01").await?;
    assert_eq!(report.digests_sent, 0, "{report:?}");
    env.set_local_time("2026-05-01T08:59")?;
    assert_eq!(env.tick().await?.digests_sent, 0);
    assert!(env.texts_sent_to(&staff).is_empty(), "never before 09:00");
    assert!(seen.lock().unwrap_or_else(|e| e.into_inner()).is_empty());
    env.set_local_time("2026-05-01T09:00")?;
    assert_eq!(env.tick().await?.digests_sent, 2);
    let texts = env.texts_sent_to(&staff);
    assert_eq!(texts.len(), 1);
    assert_eq!(
        texts.last().map(String::as_str),
        Some(
            "【休眠レポート】2026-05-01\n休眠30日: 2人（新規 2）\n休眠90日: 0人（新規 0）\n本日休眠入り: 2人\nVIPの休眠: 1人\n・山田様（休眠30日）"
        )
    );
    let posted = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(posted.len(), 1);
    let (key, digest) = &posted[0];
    assert!(!key.is_empty());
    assert_eq!(digest["day"], "2026-05-01");
    assert_eq!(digest["newlyDormant"], 2);
    assert_eq!(digest["vipsLapsing"][0]["userId"], vip.as_str());
    assert_eq!(digest["tiers"][0]["friends"], 2);

    // Run again the same day, tick again: nothing new, no second digest.
    let again = env.sweep().await?;
    assert_eq!(again.digests_sent, 0);
    assert_eq!(env.tick().await?.digests_sent, 0);
    assert_eq!(seen.lock().unwrap_or_else(|e| e.into_inner()).len(), 1);
    assert_eq!(env.texts_sent_to(&staff).len(), 1);
    let push = env
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/v2/bot/message/push" && r.body["to"] == staff.as_str())
        .expect("the digest push");
    assert_eq!(
        push.headers.get("x-line-retry-key").map(String::as_str),
        Some(
            crm::domain::dormancy::digest_retry_key(&env.tenant.id, "2026-05-01".parse()?, &staff)
                .to_string()
                .as_str()
        ),
        "the same key for every attempt of the day"
    );
    Ok(())
}

#[tokio::test]
async fn a_digest_composed_at_the_sweep_goes_at_once_when_the_window_is_always_open()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let staff = new_user();
    configure(
        &env,
        json!({
            "tiers": [{ "days": 30, "tag": "休眠30日" }],
            "alerts": { "staffUserIds": [staff] }
        }),
    )
    .await?;
    env.always_open().await?;
    sweep_on(&env, "2026-04-01").await?;
    env.follow_at(&new_user(), "2026-04-01T12:00").await?;
    let report = sweep_on(&env, "2026-05-01").await?;
    assert_eq!(report.digests_sent, 1, "{report:?}");
    assert_eq!(env.texts_sent_to(&staff).len(), 1);
    assert_eq!(env.tick().await?.digests_sent, 0, "sent once");
    Ok(())
}

/// A tenant whose friends were quiet long before its first sweep (a shop moving to Tsunagu with
/// its LINE account): the first sweep puts each into the tier they are in now.
#[tokio::test]
async fn a_first_sweep_puts_friends_already_silent_into_their_current_tier_once()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    tier_scenarios(&env).await?;
    let staff = new_user();
    let mut settings = tiers_with_scenarios();
    settings["alerts"] = json!({ "staffUserIds": [staff] });
    configure(&env, settings).await?;
    let (d45, d100, d200, d400, d10) = (new_user(), new_user(), new_user(), new_user(), new_user());
    env.follow_at(&d400, "2025-04-27T12:00").await?;
    env.follow_at(&d200, "2025-11-13T12:00").await?;
    env.follow_at(&d100, "2026-02-21T12:00").await?;
    env.follow_at(&d45, "2026-04-17T12:00").await?;
    env.follow_at(&d10, "2026-05-22T12:00").await?;

    let report = sweep_on(&env, "2026-06-01").await?;
    assert_eq!(report.backfilled, 4, "{report:?}");
    assert_eq!(report.entered, 0, "nobody crosses a threshold today");
    assert_eq!(tags(&env, &d45).await?, ["休眠30日"]);
    assert_eq!(tags(&env, &d100).await?, ["休眠90日"]);
    assert_eq!(tags(&env, &d200).await?, ["休眠180日"]);
    assert_eq!(tags(&env, &d400).await?, ["休眠365日"]);
    assert!(tags(&env, &d10).await?.is_empty());

    // One message each, the current tier's (180 has none here): not one per tier passed.
    env.set_local_time("2026-06-01T09:00")?;
    env.tick().await?;
    env.tick().await?;
    assert_eq!(env.texts_sent_to(&d45), ["今だけ10%OFF"]);
    assert_eq!(env.texts_sent_to(&d100), ["新商品のお知らせ"]);
    assert!(env.texts_sent_to(&d200).is_empty());
    assert_eq!(env.texts_sent_to(&d400), ["お久しぶりです"]);
    assert!(env.texts_sent_to(&d10).is_empty());
    // Staff hear about it, apart from the day's news.
    let digest = env.texts_sent_to(&staff);
    assert_eq!(digest.len(), 1);
    assert!(
        digest[0].contains("初回判定で休眠に分類: 4人"),
        "{}",
        digest[0]
    );
    assert!(digest[0].contains("本日休眠入り: 0人"), "{}", digest[0]);

    // Recorded: the next sweep reads the crossing buckets only, and later crossings follow.
    let next = sweep_on(&env, "2026-06-02").await?;
    assert_eq!((next.backfill_friends_read, next.backfilled), (0, 0));
    let report = sweep_on(&env, "2026-06-21").await?;
    assert_eq!(report.entered, 1, "d10 reaches 30 days: {report:?}");
    assert_eq!(tags(&env, &d10).await?, ["休眠30日"]);
    Ok(())
}

/// Past orders imported by CSV move `lastPurchaseAt` months back; the next sweep puts those
/// friends into the purchase tier they are in, which no crossing bucket would show.
#[tokio::test]
async fn a_purchase_import_is_followed_by_a_backfill_of_the_purchase_tiers() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    configure(
        &env,
        json!({ "tiers": [{ "days": 60, "tag": "購入休眠60日", "clock": "purchase" }] }),
    )
    .await?;
    let u = new_user();
    sweep_on(&env, "2026-04-01").await?;
    env.follow_at(&u, "2026-04-01T12:00").await?;
    sweep_on(&env, "2026-06-01").await?;
    assert!(tags(&env, &u).await?.is_empty());

    env.set_local_time("2026-06-01T12:00")?;
    let csv = format!(
        "orderId,userId,amount,purchasedAt,product,category\nA-1,{u},5000,2026-02-01 10:00,商品A,美容\n"
    );
    let req = http::Request::post("/admin/purchases/import")
        .header("authorization", format!("Bearer {}", env.tenant.api_key))
        .header("content-type", "text/csv")
        .body(axum::body::Body::from(csv))?;
    let (status, body) = env.call(req).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["imported"], 1, "{body}");

    let report = sweep_on(&env, "2026-06-02").await?;
    assert_eq!(report.backfilled, 1, "{report:?}");
    assert_eq!(tags(&env, &u).await?, ["購入休眠60日"]);
    let again = sweep_on(&env, "2026-06-03").await?;
    assert_eq!(again.backfill_friends_read, 0, "once per import");
    Ok(())
}

#[tokio::test]
async fn dormancy_settings_start_from_the_defaults_and_refuse_unknown_scenarios()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (status, defaults) = env.marketer("GET", "/admin/dormancy", None).await?;
    assert_eq!(status, StatusCode::OK);
    let days: Vec<u64> = defaults["tiers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["days"].as_u64())
        .collect();
    assert_eq!(days, [30, 90, 180, 365]);
    assert_eq!(defaults["tiers"][0]["tag"], "休眠30日");

    let (status, err) = env
        .marketer(
            "PUT",
            "/admin/dormancy",
            Some(json!({ "tiers": [{ "days": 30, "tag": "休眠30日", "scenario": "nope" }] })),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"]["field"], "tiers[0].scenario");

    let (status, err) = env
        .marketer(
            "PUT",
            "/admin/dormancy",
            Some(json!({ "tiers": [], "alerts": { "webhookUrl": "http://example.com/x" } })),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"]["field"], "alerts.webhookUrl");
    Ok(())
}

#[tokio::test]
async fn a_purchase_tier_is_entered_after_60_days_without_buying_and_left_by_the_next_order()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    configure(
        &env,
        json!({ "tiers": [{ "days": 60, "tag": "未購入60日", "clock": "purchase" }] }),
    )
    .await?;
    let u = new_user();
    sweep_on(&env, "2026-04-01").await?;
    env.follow_at(&u, "2026-04-01T12:00").await?;
    let order = |id: &str| json!({ "orderId": id, "userId": u, "amount": 3000, "items": [{ "product": "珈琲豆" }] });
    let (status, body) = env
        .marketer("POST", "/admin/purchases", Some(order("EC-1")))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Chatting does not end a purchase silence; sixty days without an order does start one.
    says(&env, &u, "2026-05-20T12:00", "営業時間は？").await?;
    let report = sweep_on(&env, "2026-05-31").await?;
    assert_eq!(report.entered, 1);
    assert_eq!(tags(&env, &u).await?, ["未購入60日"]);
    says(&env, &u, "2026-05-31T12:00", "ありがとう").await?;
    assert_eq!(tags(&env, &u).await?, ["未購入60日"]);

    let (status, body) = env
        .marketer("POST", "/admin/purchases", Some(order("EC-2")))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(tags(&env, &u).await?.is_empty(), "left with the order");
    Ok(())
}

/// A backfill larger than one invocation's budget pauses between friend-list pages and the next
/// run resumes where it stopped: nobody is placed twice, nobody is skipped.
#[tokio::test]
async fn a_backfill_too_big_for_one_run_resumes_where_it_paused() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    configure(
        &env,
        json!({ "tiers": [
            { "days": 30, "tag": "休眠30日" },
            { "days": 60, "tag": "購入休眠60日", "clock": "purchase" }
        ] }),
    )
    .await?;
    env.set_local_time("2026-04-01T12:00")?;
    let friends: Vec<String> = (0..250).map(|_| new_user()).collect();
    for batch in friends.chunks(50) {
        let events = batch
            .iter()
            .map(|u| user::follow(u, env.now_ms(), false))
            .collect();
        let (status, body) = env.deliver(events).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    env.set_local_time("2026-06-01T04:00")?;
    let now = env.clock_in_tokyo("2026-06-01T04:00")?;
    let no_time = std::time::Duration::ZERO;
    let first = crm::dormancy_sweep::sweep_within(&env.deps, now, no_time).await?;
    assert_eq!(first.backfilled, 200, "one page, then paused: {first:?}");

    // An import lands while the walk is paused: the walk may already be past that friend, so
    // the import gets a purchase-tier walk of its own afterwards.
    let buyer = &friends[0];
    env.set_local_time("2026-06-01T04:30")?;
    let csv = format!(
        "orderId,userId,amount,purchasedAt,product,category\nB-1,{buyer},3000,2026-03-01 10:00,商品B,\n"
    );
    let req = http::Request::post("/admin/purchases/import")
        .header("authorization", format!("Bearer {}", env.tenant.api_key))
        .header("content-type", "text/csv")
        .body(axum::body::Body::from(csv))?;
    let (status, body) = env.call(req).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = env.clock_in_tokyo("2026-06-01T05:00")?;

    let second = crm::dormancy_sweep::sweep_within(&env.deps, now, no_time).await?;
    assert_eq!(
        second.backfill_friends_read, 50,
        "the rest, same day: {second:?}"
    );
    let plenty = std::time::Duration::from_secs(600);
    let third = crm::dormancy_sweep::sweep_within(&env.deps, now, plenty).await?;
    assert_eq!(
        third.backfill_friends_read, 250,
        "the import's walk: {third:?}"
    );
    assert!(
        tags(&env, buyer)
            .await?
            .contains(&"購入休眠60日".to_owned())
    );
    let fourth = crm::dormancy_sweep::sweep_within(&env.deps, now, plenty).await?;
    assert_eq!(
        (fourth.backfill_friends_read, fourth.backfilled),
        (0, 0),
        "recorded as done"
    );
    let tag = crm::domain::TagName::parse("休眠30日")?;
    assert_eq!(env.store.tag_member_count(&env.tenant.id, &tag).await?, 250);
    Ok(())
}

/// A tick that claims the digest and dies before sending leaves it leased; when the lease ends
/// the next tick sends it, once, with the day's retry key.
#[tokio::test]
async fn a_digest_claimed_by_a_tick_that_died_goes_out_once_after_the_lease() -> anyhow::Result<()>
{
    let env = TestEnv::start().await?;
    let staff = new_user();
    configure(
        &env,
        json!({
            "tiers": [{ "days": 30, "tag": "休眠30日" }],
            "alerts": { "staffUserIds": [staff] }
        }),
    )
    .await?;
    sweep_on(&env, "2026-04-01").await?;
    env.follow_at(&new_user(), "2026-04-01T12:00").await?;
    sweep_on(&env, "2026-05-01").await?;

    let opening = env.clock_in_tokyo("2026-05-01T09:00")?;
    let due = env.store.due_digests(opening).await?;
    assert_eq!(due.len(), 1);
    let lease = opening.checked_add(jiff::SignedDuration::from_mins(5))?;
    assert!(env.store.claim_digest(&due[0], lease).await?.is_some());
    // … and the tick that held it died here.

    env.set_local_time("2026-05-01T09:01")?;
    assert_eq!(env.tick().await?.digests_sent, 0, "still leased");
    env.set_local_time("2026-05-01T09:05")?;
    assert_eq!(env.tick().await?.digests_sent, 1);
    env.set_local_time("2026-05-01T09:20")?;
    assert_eq!(env.tick().await?.digests_sent, 0);
    assert_eq!(env.texts_sent_to(&staff).len(), 1);
    Ok(())
}
