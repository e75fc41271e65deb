//! Domain events leave through the outbox: written with the change that caused them, relayed from
//! the table's stream, never lost when the bus is down and never delivered twice when it comes
//! back. Every source of a tag starts the scenarios that tag triggers, through one consumer.
use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use http::StatusCode;
use serde_json::{Value, json};
use tsunagu_tests::{TestEnv, new_user, user};

const SATISFACTION: &str = include_str!("../../docs/examples/satisfaction.yaml");

async fn ok(res: anyhow::Result<(StatusCode, Value)>) -> anyhow::Result<Value> {
    let (status, body) = res?;
    anyhow::ensure!(status.is_success(), "{status} {body}");
    Ok(body)
}

/// A one-step scenario started by `tag`.
async fn on_tag_scenario(env: &TestEnv, id: &str, tag: &str) -> anyhow::Result<()> {
    let yaml = format!(
        "id: {id}\nname: {id}\ntrigger: {{ type: tagAdded, tag: \"{tag}\" }}\nsteps:\n  - id: hello\n    messages: [ {{ type: text, text: \"{id}\" }} ]\n"
    );
    ok(env.put_scenario_yaml(id, &yaml).await).await?;
    Ok(())
}

async fn enrolled_in(env: &TestEnv, u: &str) -> anyhow::Result<BTreeSet<String>> {
    let list = ok(env
        .marketer("GET", &format!("/admin/friends/{u}/enrollments"), None)
        .await)
    .await?;
    Ok(list
        .as_array()
        .or_else(|| list["enrollments"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e["scenario"].as_str().map(str::to_owned))
        .collect())
}

/// Event ids (`eventId`, unique per event) of what reached the bus, by detail type.
fn arrived(env: &TestEnv) -> BTreeMap<String, Vec<String>> {
    let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in env.bus.published() {
        by_type
            .entry(e.detail_type.clone())
            .or_default()
            .push(e.detail["eventId"].as_str().unwrap_or_default().to_owned());
    }
    by_type
}

/// Follows, writes, is tagged `tag` by the marketer, buys, and answers satisfaction 5: a webhook
/// event of each kind, an admin change, a purchase and an answer.
async fn a_friend_does_everything(env: &TestEnv, u: &str, tag: &str) -> anyhow::Result<()> {
    env.follow(u).await?;
    env.say(u, "こんにちは").await?;
    ok(env
        .marketer(
            "POST",
            &format!("/admin/friends/{u}/tags"),
            Some(json!({ "tags": [tag] })),
        )
        .await)
    .await?;
    ok(env
        .marketer(
            "POST",
            "/admin/purchases",
            Some(
                json!({ "orderId": format!("order-{u}"), "userId": u, "amount": 3000,
                         "items": [{ "product": "コーヒー豆" }] }),
            ),
        )
        .await)
    .await?;
    env.tap(u, "svy=satisfaction&q=score&a=5").await
}

#[tokio::test]
async fn a_bus_that_fails_then_recovers_loses_no_event_and_delivers_none_twice()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    ok(env
        .put_yaml("/admin/surveys/satisfaction", SATISFACTION)
        .await)
    .await?;
    let u = new_user();
    env.bus_refuses(usize::MAX);

    // Webhook events, an admin change, a purchase and a survey answer while EventBridge is down.
    a_friend_does_everything(&env, &u, "来店予定").await?;

    assert!(env.bus.published().is_empty(), "nothing got through");
    assert!(
        env.outbox_waiting().await > 0,
        "the events wait on the stream"
    );
    // The changes themselves are all there.
    assert!(env.tags_of(&u).await?.contains(&"来店予定".to_owned()));

    // The bus comes back, stumbles once more, then takes everything.
    env.bus_refuses(1);
    env.flush().await?;
    env.flush().await?;
    assert_eq!(env.outbox_waiting().await, 0);

    let arrived = arrived(&env);
    for (kind, ids) in &arrived {
        let unique: BTreeSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{kind} arrived twice: {ids:?}");
        assert!(ids.iter().all(|id| !id.is_empty()), "{kind} has an eventId");
    }
    let count = |kind: &str| arrived.get(kind).map_or(0, Vec::len);
    assert_eq!(count("FriendFollowed"), 1);
    assert_eq!(count("MessageReceived"), 1);
    assert_eq!(count("PurchaseRecorded"), 1);
    assert_eq!(count("PostbackReceived"), 1);
    assert_eq!(count("SurveyAnswered"), 1);
    // The admin's tag, then the answer's 満足 tag (applied by survey-tagging once it got the answer).
    assert_eq!(count("FriendTagged"), 2);
    // And the consumer applied the answer: its tag is there.
    assert!(env.tags_of(&u).await?.contains(&"満足".to_owned()));
    Ok(())
}

#[tokio::test]
async fn a_redelivered_webhook_event_adds_nothing_to_the_outbox() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = new_user();
    let event = user::text_message(&u, env.now_ms(), "hi");
    for _ in 0..3 {
        ok(env.deliver(vec![event.clone()]).await).await?;
    }
    assert_eq!(arrived(&env).get("MessageReceived").map(Vec::len), Some(1));
    Ok(())
}

// ---------------------------------------------------------------- every source of a tag

#[tokio::test]
async fn a_tag_added_by_the_admin_api_starts_its_scenario() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    on_tag_scenario(&env, "vip-care", "VIP").await?;
    let u = new_user();
    env.follow(&u).await?;
    ok(env
        .marketer(
            "POST",
            &format!("/admin/friends/{u}/tags"),
            Some(json!({ "tags": ["VIP"] })),
        )
        .await)
    .await?;
    assert!(enrolled_in(&env, &u).await?.contains("vip-care"));
    Ok(())
}

#[tokio::test]
async fn a_tag_added_by_a_postback_rule_starts_its_scenario() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    on_tag_scenario(&env, "coupon-care", "クーポン興味").await?;
    ok(env
        .put_yaml(
            "/admin/rules/coupon-tap",
            "id: coupon-tap\nwhen: { type: postback, data: menu=coupon }\naddTags: [クーポン興味]\n",
        )
        .await)
    .await?;
    let u = new_user();
    env.follow(&u).await?;
    env.tap(&u, "menu=coupon").await?;
    assert!(enrolled_in(&env, &u).await?.contains("coupon-care"));
    Ok(())
}

#[tokio::test]
async fn a_tag_added_by_a_survey_answer_starts_its_scenario() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    ok(env
        .put_yaml("/admin/surveys/satisfaction", SATISFACTION)
        .await)
    .await?;
    on_tag_scenario(&env, "thanks-for-rating", "満足").await?;
    let u = new_user();
    env.follow(&u).await?;
    env.tap(&u, "svy=satisfaction&q=score&a=4").await?;
    assert!(enrolled_in(&env, &u).await?.contains("thanks-for-rating"));
    Ok(())
}

#[tokio::test]
async fn a_tag_added_by_a_purchase_rule_starts_its_scenario() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    ok(env
        .put_yaml(
            "/admin/rules/first-purchase",
            "id: first-purchase\nwhen: { type: purchase }\nconditions:\n  - { type: purchaseCount, op: eq, value: 1 }\naddTags: [初回購入]\n",
        )
        .await)
    .await?;
    on_tag_scenario(&env, "first-purchase-care", "初回購入").await?;
    let u = new_user();
    env.follow(&u).await?;
    ok(env
        .marketer(
            "POST",
            "/admin/purchases",
            Some(json!({ "orderId": "B-1", "userId": u, "amount": 1200,
                         "items": [{ "product": "マグカップ" }] })),
        )
        .await)
    .await?;
    assert!(enrolled_in(&env, &u).await?.contains("first-purchase-care"));
    Ok(())
}

#[tokio::test]
async fn a_tag_added_by_a_link_click_starts_its_scenario() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    ok(env
        .put_yaml(
            "/admin/rules/sale-click",
            "id: sale-click\nwhen: { type: linkClick, link: sale }\naddTags: [セール関心]\n",
        )
        .await)
    .await?;
    on_tag_scenario(&env, "sale-follow-up", "セール関心").await?;
    let u = new_user();
    env.follow(&u).await?;
    let link = ok(env
        .marketer(
            "GET",
            &format!("/admin/links/sale?userId={u}&to=https%3A%2F%2Fshop.example.jp%2F"),
            None,
        )
        .await)
    .await?;
    let res = env.visit(link["url"].as_str().unwrap_or_default()).await?;
    assert_eq!(res.status(), StatusCode::FOUND);
    env.flush().await?;
    assert!(enrolled_in(&env, &u).await?.contains("sale-follow-up"));
    Ok(())
}

#[tokio::test]
async fn a_tag_added_by_the_dormancy_sweep_starts_its_scenario() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    on_tag_scenario(&env, "dormant-care", "休眠30日").await?;
    ok(env
        .marketer(
            "PUT",
            "/admin/dormancy",
            Some(json!({ "tiers": [{ "days": 30, "tag": "休眠30日" }] })),
        )
        .await)
    .await?;
    let u = new_user();
    env.set_local_time("2026-04-01T12:00")?;
    env.follow(&u).await?;
    env.set_local_time("2026-05-01T04:00")?;
    env.sweep().await?;
    assert!(env.tags_of(&u).await?.contains(&"休眠30日".to_owned()));
    assert!(enrolled_in(&env, &u).await?.contains("dormant-care"));
    Ok(())
}

// ---------------------------------------------------------------- stored names

/// Attributes the table itself defines (template.yaml); every other attribute is camelCase.
const SCHEMA_ATTRIBUTES: &[&str] = &[
    "pk",
    "sk",
    "gsi1pk",
    "gsi1sk",
    "gsi2pk",
    "gsi2sk",
    "gsi3pk",
    "gsi3sk",
    "expires_at",
];

/// Entities that must expire, by the TTL attribute template.yaml names.
const EXPIRING: &[&str] = &[
    "webhook_event",
    "event",
    "message_content",
    "applied",
    "outbox",
    "staff_session",
    "staff_invitation",
    "login_attempts",
    "day_count",
];

#[tokio::test]
async fn every_item_follows_one_naming_rule_and_expiring_ones_carry_the_tables_ttl()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    ok(env
        .put_yaml("/admin/surveys/satisfaction", SATISFACTION)
        .await)
    .await?;
    on_tag_scenario(&env, "vip-care", "VIP").await?;
    let u = new_user();
    a_friend_does_everything(&env, &u, "VIP").await?;
    env.tick().await?;
    // A second API key: its lookup, listing and count items (the list records the keys' use).
    let (status, created) = env
        .marketer("POST", "/admin/api-keys", Some(json!({"name": "pos"})))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let second_key = created["apiKey"].as_str().unwrap_or_default().to_owned();
    env.admin("GET", "/admin/api-keys", &second_key, None)
        .await?;

    // Console staff: an owner (member and email claim), a session, an invitation, a sign-in
    // window's counter.
    let (owner_email, owner_password) = env.console_owner(env.tenant.id.as_str()).await?;
    let browser = env.browser();
    browser.sign_in(&owner_email, &owner_password).await?;
    let session = browser.cookie("tsunagu_session").unwrap_or_default();
    assert!(!session.is_empty(), "signed in");
    let invitee = format!("invited-{}@shop.example", uuid::Uuid::new_v4().simple());
    let invited = browser
        .submit(
            "/console/staff",
            "/console/staff",
            &[("email", invitee.as_str()), ("role", "viewer")],
        )
        .await?;
    let invitation = invited
        .body
        .split("/console/invite/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    assert!(!invitation.is_empty(), "{}", invited.body);

    let table = env.deps.config.table_name.clone();
    let client = aws_sdk_dynamodb::Client::new(&tsunagu_local::stack::aws_config().await);
    let items = client.scan().table_name(&table).send().await?;
    let now = env.now_ms() / 1000;
    let mut seen_entities = BTreeSet::new();
    let mut wrong = BTreeSet::new();
    // Credentials are sealed (crm::vault) and API keys stored as hashes: none shows in any
    // item, index copies included.
    let secrets = [
        env.tenant.channel_secret.clone(),
        env.tenant.access_token.clone(),
        env.tenant.api_key.clone(),
        second_key,
        owner_password,
        session,
        invitation,
    ];
    for item in items.items() {
        let dump = format!("{item:?}");
        for secret in &secrets {
            assert!(
                !dump.contains(secret.as_str()),
                "a credential stored in the clear"
            );
        }
        let entity = match item.get("entity") {
            Some(AttributeValue::S(e)) => e.clone(),
            _ => String::new(),
        };
        for name in item.keys() {
            let camel = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && name.chars().all(|c| c.is_ascii_alphanumeric());
            if !(SCHEMA_ATTRIBUTES.contains(&name.as_str()) || camel) {
                wrong.insert(format!("{entity}.{name}"));
            }
        }
        if EXPIRING.contains(&entity.as_str()) {
            let Some(AttributeValue::N(at)) = item.get("expires_at") else {
                panic!("{entity} item has no expires_at: {:?}", item.keys());
            };
            assert!(at.parse::<i64>()? > now, "{entity} expires in the future");
        }
        seen_entities.insert(entity);
    }
    assert!(
        wrong.is_empty(),
        "neither table attributes nor camelCase: {wrong:?}"
    );
    for entity in [
        "tenant_credentials",
        "api_key",
        "api_key_listing",
        "api_key_count",
        "staff",
        "staff_email",
        "friend_count",
        "tag_count",
    ] {
        assert!(
            seen_entities.contains(entity),
            "a {entity} item was written"
        );
    }
    for entity in EXPIRING {
        assert!(
            seen_entities.contains(*entity),
            "the flow wrote a {entity} item"
        );
    }
    Ok(())
}
