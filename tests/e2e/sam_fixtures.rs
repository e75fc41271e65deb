//! Every fixture under infra/events/ (the files `sam local invoke -e` uses) runs through its
//! handler in-process, parsed the way the Lambda runtime parses it.
use http::StatusCode;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use tsunagu_local::stack::Demo;
use tsunagu_tests::{NowTs, TestEnv};

fn fixture(name: &str) -> anyhow::Result<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/events")
        .join(name);
    Ok(std::fs::read_to_string(path)?)
}

/// The demo tenant with the default secrets the fixtures are signed with.
async fn seed_demo(env: &TestEnv) -> anyhow::Result<()> {
    let demo = Demo {
        tenant: "demo".parse()?,
        channel_secret: "demo-channel-secret-change-me".into(),
        access_token: "demo-access-token-change-me".into(),
        api_key: "demo-api-key-change-me".into(),
        operator_key: "operator-key-change-me".into(),
        owner_email: "owner@demo.example".into(),
        owner_password: "tsunagu-demo-2026".into(),
    };
    demo.seed(&env.store, jiff::Timestamp::now()).await?;
    env.fake.add_channel(&demo.access_token);
    Ok(())
}

#[tokio::test]
async fn the_webhook_fixture_is_a_correctly_signed_follow_for_the_demo_tenant() -> anyhow::Result<()>
{
    let env = TestEnv::start().await?;
    seed_demo(&env).await?;
    let req = lambda_http::request::from_str(&fixture("webhook-follow.json")?)?;

    let (status, body) = env.call(req).await?;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["received"], 1);
    Ok(())
}

#[tokio::test]
async fn the_admin_fixture_lists_the_demo_tenants_friends() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    seed_demo(&env).await?;
    // A restart of the local stack seeds again: the demo key stays one key.
    seed_demo(&env).await?;
    let req = lambda_http::request::from_str(&fixture("admin-list-friends.json")?)?;

    let (status, body) = env.call(req).await?;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["friends"].is_array());
    let (_, keys) = env
        .admin("GET", "/admin/api-keys", "demo-api-key-change-me", None)
        .await?;
    assert_eq!(keys["apiKeys"].as_array().map(Vec::len), Some(1), "{keys}");
    Ok(())
}

#[tokio::test]
async fn the_scheduled_and_bus_fixtures_reach_their_handlers() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let payload: Value = serde_json::from_str(&fixture("scheduled-sends.json")?)?;
    let event = LambdaEvent::new(payload, Context::default());
    let report = crm::scheduled_sends::handle(&env.deps, event.payload).await?;
    assert_eq!(report.failed, 0);

    let payload: Value = serde_json::from_str(&fixture("dormancy-sweep.json")?)?;
    let event = LambdaEvent::new(payload, Context::default());
    let report = crm::dormancy_sweep::handle(&env.deps, event.payload).await?;
    // The test's own tenant is swept for today: nothing is dormant yet, and nothing failed.
    assert_eq!(report.tenants, 1);
    assert_eq!(report.days, 1);
    assert_eq!(report.failed_tenants, 0);
    assert_eq!(report.entered, 0);
    Ok(())
}

#[tokio::test]
async fn the_survey_answered_fixture_tags_the_demo_friend_once() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    seed_demo(&env).await?;
    let demo = "demo".parse()?;
    let def = crm::domain::survey::SurveyDefinition::parse_yaml(include_str!(
        "../../docs/examples/hearing.yaml"
    ))?;
    env.store
        .save_survey(&demo, &def, jiff::Timestamp::now())
        .await?;
    let friend = crm::domain::Friend::new(
        demo.clone(),
        "Ud5f4b2dadbef4a6832c6dd0450ab6211".parse()?,
        jiff::Timestamp::now(),
    );
    let zone = jiff::tz::TimeZone::get("Asia/Tokyo")?;
    env.store
        .save_friend(None, &friend, &zone, env.clock.now_ts())
        .await?;

    for expected in ["applied", "duplicate"] {
        let payload: Value = serde_json::from_str(&fixture("survey-answered.json")?)?;
        let event = LambdaEvent::new(payload, Context::default());
        let out = crm::survey_tagging::handle(&env.deps, event.payload).await?;
        assert_eq!(out["status"], expected, "{out}");
    }

    let f = env
        .store
        .get_friend(&demo, &friend.user_id)
        .await?
        .expect("friend");
    assert!(f.has_tag(&crm::domain::TagName::parse("美容")?));
    assert_eq!(f.fields["genre"], "美容");
    assert_eq!(f.score, 5, "the answer's points, once");
    Ok(())
}

#[tokio::test]
async fn the_outbox_stream_fixture_puts_its_event_on_the_bus() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let event: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_str(&fixture("outbox-stream.json")?)?;
    let event = LambdaEvent::new(event, Context::default());

    let response = crm::outbox::handle(&env.bus, event.payload).await;

    assert!(response.batch_item_failures.is_empty());
    let published = env.bus.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].detail_type, "FriendTagged");
    assert_eq!(published[0].detail["added"][0], "VIP");
    Ok(())
}
