//! Purchases as a shop's system reports them: counted once per order id, tagged by the tenant's
//! purchase rules, and the start of the post-purchase care that branches on satisfaction.
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tsunagu_tests::{TestEnv, new_user};

const PURCHASE_RULES: &str = include_str!("../../docs/examples/purchase-rules.yaml");
const SATISFACTION: &str = include_str!("../../docs/examples/satisfaction.yaml");

const AFTER_PURCHASE: &str = r#"
id: after-purchase
name: 購入後フォロー
trigger: { type: purchase }
allowReentry: true
steps:
  - id: thanks
    messages: [ { type: text, text: "ご購入ありがとうございます!" } ]
  - id: guide
    timing: { day: 3, at: "10:00" }
    messages: [ { type: text, text: "使い方ガイドはこちら" } ]
  - id: survey
    timing: { day: 7, at: "10:00" }
    messages: [ { type: text, text: "商品はいかがでしたか?" } ]
    survey: satisfaction
"#;

const REVIEW: &str = r#"
id: review-request
name: レビュー依頼
trigger: { type: manual }
steps:
  - id: ask
    messages: [ { type: text, text: "よろしければレビューをお願いします" } ]
"#;

const SUPPORT: &str = r#"
id: support-follow-up
name: サポートフォロー
trigger: { type: manual }
steps:
  - id: care
    messages: [ { type: text, text: "ご不便をおかけしました。サポート担当よりご連絡します" } ]
"#;

async fn put_rules(env: &TestEnv) -> anyhow::Result<()> {
    for doc in PURCHASE_RULES.split("\n---\n") {
        let id = doc
            .lines()
            .find_map(|l| l.strip_prefix("id: "))
            .expect("rule id");
        let (status, body) = env.put_yaml(&format!("/admin/rules/{id}"), doc).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    Ok(())
}

async fn post_order(
    env: &TestEnv,
    order: &str,
    u: &str,
    amount: i64,
    product: &str,
) -> anyhow::Result<(StatusCode, Value)> {
    env.marketer(
        "POST",
        "/admin/purchases",
        Some(json!({
            "orderId": order, "userId": u, "amount": amount,
            "items": [{ "product": product, "category": "美容" }],
        })),
    )
    .await
}

#[tokio::test]
async fn a_purchase_leads_to_a_review_request_for_a_5_and_support_for_a_1() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    put_rules(&env).await?;
    for (path, yaml) in [
        ("/admin/surveys/satisfaction", SATISFACTION),
        ("/admin/scenarios/after-purchase", AFTER_PURCHASE),
        ("/admin/scenarios/review-request", REVIEW),
        ("/admin/scenarios/support-follow-up", SUPPORT),
    ] {
        let (status, body) = env.put_yaml(path, yaml).await?;
        assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
    }
    let (happy, unhappy) = (new_user(), new_user());
    env.set_local_time("2026-04-01T12:00")?;
    for u in [&happy, &unhappy] {
        env.follow(u).await?;
    }
    let (status, body) = post_order(&env, "EC-1", &happy, 8000, "商品B").await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["friend"]["purchaseCount"], 1);
    post_order(&env, "EC-2", &unhappy, 3000, "商品A").await?;
    env.run_bus().await?;
    assert_eq!(
        env.tags_of(&happy).await?,
        ["カテゴリ:美容", "初回購入", "商品:商品B"]
    );

    env.tick().await?;
    assert_eq!(env.texts_sent_to(&happy), ["ご購入ありがとうございます!"]);
    env.set_local_time("2026-04-04T10:00")?;
    env.tick().await?;
    env.set_local_time("2026-04-08T10:00")?;
    env.tick().await?;
    for u in [&happy, &unhappy] {
        assert_eq!(
            env.texts_sent_to(u)[2..],
            [
                "商品はいかがでしたか?",
                "ご購入いただいた商品の満足度を教えてください(5が最高です)"
            ]
        );
    }

    env.tap(&happy, &env.quick_reply(&happy, "とても満足")?)
        .await?;
    env.tap(&unhappy, &env.quick_reply(&unhappy, "不満")?)
        .await?;
    assert_eq!(
        env.last_message_to(&happy).expect("reply")["text"],
        "よろしければご感想をお聞かせください"
    );
    env.run_bus().await?;
    env.tick().await?;

    let happy_texts = env.texts_sent_to(&happy);
    let unhappy_texts = env.texts_sent_to(&unhappy);
    assert!(happy_texts.contains(&"よろしければレビューをお願いします".to_owned()));
    assert!(!happy_texts.iter().any(|t| t.contains("サポート")));
    assert!(
        unhappy_texts.contains(&"ご不便をおかけしました。サポート担当よりご連絡します".to_owned())
    );
    assert!(!unhappy_texts.iter().any(|t| t.contains("レビュー")));
    assert!(env.tags_of(&happy).await?.contains(&"満足".to_owned()));
    assert!(env.tags_of(&unhappy).await?.contains(&"不満".to_owned()));
    assert_eq!(
        env.friend_view(&happy).await?["fields"]["satisfaction"],
        "とても満足"
    );

    // The free-text comment is kept as the friend's field.
    env.say(&unhappy, "届くのが遅かったです").await?;
    env.run_bus().await?;
    assert_eq!(
        env.friend_view(&unhappy).await?["fields"]["satisfaction_comment"],
        "届くのが遅かったです"
    );
    Ok(())
}

#[tokio::test]
async fn an_order_posted_twice_is_counted_once() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    put_rules(&env).await?;
    let u = new_user();
    env.follow(&u).await?;

    let (first, body) = post_order(&env, "EC-42", &u, 12000, "商品B").await?;
    assert_eq!(first, StatusCode::CREATED, "{body}");
    let (second, body) = post_order(&env, "EC-42", &u, 12000, "商品B").await?;
    assert_eq!(second, StatusCode::OK, "{body}");
    assert_eq!(body["duplicate"], true);

    let view = env.friend_view(&u).await?;
    assert_eq!(view["purchaseCount"], 1);
    assert_eq!(view["purchaseTotal"], 12000);
    assert_eq!(view["purchases"].as_array().map(Vec::len), Some(1));
    assert!(!env.tags_of(&u).await?.contains(&"リピート".to_owned()));
    let recorded = env
        .bus
        .published()
        .iter()
        .filter(|e| e.detail_type == "PurchaseRecorded")
        .count();
    assert_eq!(recorded, 1);

    // A second, different order is a repeat; past 50,000 yen the friend is VIP.
    post_order(&env, "EC-43", &u, 40000, "商品C").await?;
    let tags = env.tags_of(&u).await?;
    assert!(tags.contains(&"リピート".to_owned()), "{tags:?}");
    assert!(tags.contains(&"VIP".to_owned()), "{tags:?}");
    Ok(())
}

#[tokio::test]
async fn a_csv_with_a_bad_row_imports_the_good_rows_and_reports_the_bad_line() -> anyhow::Result<()>
{
    let env = TestEnv::start().await?;
    put_rules(&env).await?;
    let (a, b) = (new_user(), new_user());
    for u in [&a, &b] {
        env.follow(u).await?;
    }
    let stranger = new_user();
    let csv = format!(
        "orderId,userId,amount,purchasedAt,product,category\n\
         OLD-1,{a},3000,2025-12-01 10:00,商品A,美容\n\
         OLD-2,{b},not-a-number,2025-12-02 10:00,商品B,健康\n\
         OLD-3,{b},5000,2025-12-03,商品B,健康\n\
         OLD-4,{stranger},1000,2025-12-04,商品C,\n"
    );
    let req = Request::post("/admin/purchases/import")
        .header("authorization", format!("Bearer {}", env.tenant.api_key))
        .header("content-type", "text/csv")
        .body(axum::body::Body::from(csv))?;
    let (status, body) = env.call(req).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["imported"], 2, "{body}");
    let lines: Vec<u64> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["line"].as_u64())
        .collect();
    assert_eq!(lines, [3, 5], "{body}");
    assert!(
        body["errors"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("amount")
    );

    assert_eq!(env.friend_view(&a).await?["purchaseCount"], 1);
    let b_view = env.friend_view(&b).await?;
    assert_eq!(b_view["purchaseCount"], 1);
    assert_eq!(b_view["purchaseTotal"], 5000);
    assert!(env.tags_of(&b).await?.contains(&"商品:商品B".to_owned()));
    // Past orders count and tag, but start no post-purchase scenario (the follows' own
    // events find their reaction done: "duplicate").
    let reports = env.run_bus().await?;
    assert!(
        reports.iter().all(|r| r["status"] != "applied"),
        "{reports:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_purchase_stops_a_scenario_whose_stop_rule_is_purchase() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let nurture = r#"
id: nurture
name: 購入までのフォロー
trigger: { type: follow }
stopRules: [ { type: purchase } ]
steps:
  - id: hello
    messages: [ { type: text, text: "ようこそ" } ]
  - id: nudge
    timing: { day: 3, at: "10:00" }
    messages: [ { type: text, text: "まだ迷っていますか？" } ]
"#;
    let (status, body) = env.put_scenario_yaml("nurture", nurture).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    env.set_local_time("2026-04-01T12:00")?;
    let u = new_user();
    env.follow(&u).await?;
    env.tick().await?;

    let (status, body) = post_order(&env, "order-stop-1", &u, 3000, "商品A").await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    env.run_bus().await?;
    env.set_local_time("2026-04-04T10:00")?;
    env.tick().await?;

    assert_eq!(
        env.texts_sent_to(&u),
        ["ようこそ"],
        "no nudge after the purchase"
    );
    let e = env
        .store
        .enrollment(&env.tenant.id, &u.parse()?, &"nurture".parse()?)
        .await?
        .expect("enrolled");
    assert_eq!(e.state, crm::domain::enrollment::EnrollmentState::Stopped);
    Ok(())
}
