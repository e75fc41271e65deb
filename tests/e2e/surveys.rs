//! Surveys as a marketer sets them up: the registration hearing right after follow, answers that
//! tag the friend and branch them into a scenario, and at-least-once delivery applied once.
use crm::domain::enrollment::EnrollmentState;
use http::StatusCode;
use serde_json::Value;
use tsunagu_tests::{TestEnv, envelope, new_user};

const HEARING: &str = include_str!("../../docs/examples/hearing.yaml");

const WELCOME: &str = r#"
id: welcome
name: ようこそ
trigger: { type: follow }
steps:
  - id: hearing
    messages: [ { type: text, text: "友だち追加ありがとうございます!" } ]
    survey: hearing
  - id: tips
    timing: { day: 2, at: "10:00" }
    messages: [ { type: text, text: "一般向けのコツ" } ]
"#;

const BEAUTY: &str = r#"
id: beauty-welcome
name: 美容ジャンルのウェルカム
trigger: { type: manual }
steps:
  - id: hello
    messages: [ { type: text, text: "美容好きのあなたへ、おすすめをお届けします" } ]
"#;

async fn set_up(env: &TestEnv) -> anyhow::Result<()> {
    for (path, yaml) in [
        ("/admin/surveys/hearing", HEARING),
        ("/admin/scenarios/welcome", WELCOME),
        ("/admin/scenarios/beauty-welcome", BEAUTY),
    ] {
        let (status, body) = env.put_yaml(path, yaml).await?;
        assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
    }
    Ok(())
}

fn last_text(env: &TestEnv, u: &str) -> String {
    env.last_message_to(u)
        .and_then(|m| m["text"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[tokio::test]
async fn the_registration_hearing_tags_at_once_and_moves_a_beauty_fan_into_her_scenario()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    set_up(&env).await?;
    let hanako = new_user();
    env.set_local_time("2026-04-01T12:00")?;
    env.follow_with_reply_token(&hanako).await?;

    // Step 0 of the welcome scenario: the greeting and the first question, in one push.
    env.tick().await?;
    assert_eq!(
        env.texts_sent_to(&hanako),
        [
            "友だち追加ありがとうございます!",
            "ご登録ありがとうございます!興味のあるジャンルを教えてください"
        ]
    );

    // 美容: the next question comes back at once through the reply token.
    env.tap(&hanako, &env.quick_reply(&hanako, "美容")?).await?;
    assert_eq!(last_text(&env, &hanako), "ご購入の目的は?");
    env.run_bus().await?;
    assert_eq!(env.tags_of(&hanako).await?, ["美容"]);
    let enrollment = |scenario: &'static str| {
        let env = &env;
        let hanako = hanako.clone();
        async move {
            env.store
                .enrollment(&env.tenant.id, &hanako.parse()?, &scenario.parse()?)
                .await?
                .map(|e| e.state)
                .ok_or_else(|| anyhow::anyhow!("not enrolled in {scenario}"))
        }
    };
    assert_eq!(enrollment("beauty-welcome").await?, EnrollmentState::Active);
    assert_eq!(
        enrollment("welcome").await?,
        EnrollmentState::Stopped,
        "moved out"
    );

    env.tap(&hanako, &env.quick_reply(&hanako, "プレゼント用")?)
        .await?;
    env.tap(&hanako, &env.quick_reply(&hanako, "20代")?).await?;
    env.tap(&hanako, &env.quick_reply(&hanako, "女性")?).await?;
    assert_eq!(
        last_text(&env, &hanako),
        "お誕生日を教えてください(誕生日クーポンをお送りします)"
    );
    // A typed answer to the open date question is its answer.
    env.say(&hanako, "1995-04-01").await?;
    assert_eq!(
        last_text(&env, &hanako),
        "ご回答ありがとうございました!あなたに合った情報をお届けします。"
    );
    env.run_bus().await?;

    let view = env.friend_view(&hanako).await?;
    assert_eq!(
        env.tags_of(&hanako).await?,
        ["プレゼント用", "美容", "誕生日登録済み"]
    );
    for (field, value) in [
        ("genre", "美容"),
        ("purpose", "プレゼント用"),
        ("age_band", "20代"),
        ("gender", "女性"),
        ("birthday", "1995-04-01"),
    ] {
        assert_eq!(view["fields"][field], value, "{field}");
    }
    assert_eq!(view["currentScore"], 5);
    assert_eq!(view["answers"].as_array().map(Vec::len), Some(5));
    assert!(view.get("openQuestion").is_none(), "the survey is over");

    // The branch: beauty-welcome sends now; the general welcome's day-2 tip never comes.
    env.tick().await?;
    assert!(
        env.texts_sent_to(&hanako)
            .contains(&"美容好きのあなたへ、おすすめをお届けします".to_owned())
    );
    env.set_local_time("2026-04-03T10:00")?;
    env.tick().await?;
    assert!(
        !env.texts_sent_to(&hanako)
            .contains(&"一般向けのコツ".to_owned())
    );
    Ok(())
}

#[tokio::test]
async fn the_same_survey_answered_delivered_twice_applies_once() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    set_up(&env).await?;
    let u = new_user();
    env.follow_with_reply_token(&u).await?;
    env.tick().await?;
    env.tap(&u, &env.quick_reply(&u, "美容")?).await?;

    let answered = env
        .bus
        .published()
        .into_iter()
        .find(|e| e.detail_type == "SurveyAnswered")
        .expect("published");
    // The bus delivered it once already; EventBridge's at-least-once delivery brings the same
    // event (same id) twice more.
    let delivered = env.run_bus().await?;
    assert!(
        delivered.iter().any(|r| r["status"] == "applied"),
        "{delivered:?}"
    );
    let event = envelope(&answered);
    let first = crm::survey_tagging::handle(&env.deps, event.clone()).await?;
    let second = crm::survey_tagging::handle(&env.deps, event).await?;
    assert_eq!(first["status"], "duplicate", "{first}");
    assert_eq!(second["status"], "duplicate", "{second}");

    let view = env.friend_view(&u).await?;
    assert_eq!(view["score"], 5, "points once");
    assert_eq!(env.tags_of(&u).await?, ["美容"]);
    let (_, enrollments) = env
        .marketer("GET", &format!("/admin/friends/{u}/enrollments"), None)
        .await?;
    let beauty: Vec<&Value> = enrollments["enrollments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["scenario"] == "beauty-welcome")
        .collect();
    assert_eq!(beauty.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_rich_menu_tap_and_a_keyword_tag_the_friend_and_the_keyword_is_answered()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let rules = [
        (
            "coupon-tap",
            "id: coupon-tap\nwhen: { type: postback, data: menu=coupon }\naddTags: [クーポン興味]\nscore: 3",
        ),
        (
            "reserve",
            "id: reserve\nwhen: { type: keyword, text: 予約, match: contains }\naddTags: [予約希望]",
        ),
    ];
    for (id, yaml) in rules {
        let (status, body) = env.put_yaml(&format!("/admin/rules/{id}"), yaml).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = env
        .put_yaml(
            "/admin/auto-replies/reserve",
            "id: reserve\npriority: 10\nmatch: { type: contains, text: 予約 }\nmessages: [ { type: text, text: \"ご予約はこちらから\" } ]",
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    env.put_yaml(
        "/admin/auto-replies/default",
        "id: default\nmatch: { type: fallback }\nmessages: [ { type: text, text: \"担当者よりご連絡します\" } ]",
    )
    .await?;
    let u = new_user();
    env.follow_with_reply_token(&u).await?;

    env.tap(&u, "menu=coupon").await?;
    env.say(&u, "明日予約できますか").await?;
    assert_eq!(last_text(&env, &u), "ご予約はこちらから");
    env.say(&u, "こんにちは").await?;
    assert_eq!(last_text(&env, &u), "担当者よりご連絡します");

    assert_eq!(env.tags_of(&u).await?, ["クーポン興味", "予約希望"]);
    assert_eq!(env.friend_view(&u).await?["currentScore"], 3);
    Ok(())
}

#[tokio::test]
async fn a_survey_with_fourteen_quick_replies_is_refused_naming_the_question() -> anyhow::Result<()>
{
    let env = TestEnv::start().await?;
    let choices: String = (0..14)
        .map(|i| format!("      - {{ id: c{i}, label: 選択{i} }}\n"))
        .collect();
    let yaml = format!(
        "id: big\nname: big\nquestions:\n  - id: q\n    type: singleChoice\n    text: どれ?\n    choices:\n{choices}"
    );
    let (status, body) = env.put_yaml("/admin/surveys/big", &yaml).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "questions[0].choices");
    Ok(())
}

/// Calls the stack and returns status and body text (the form answers HTML, not JSON).
async fn call_text(
    env: &TestEnv,
    req: http::Request<axum::body::Body>,
) -> anyhow::Result<(StatusCode, String)> {
    use tower::ServiceExt;
    let res = env.app.clone().oneshot(req).await?;
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
    Ok((status, String::from_utf8(bytes.to_vec())?))
}

#[tokio::test]
async fn a_long_survey_is_answered_once_on_the_friends_signed_form() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.put_hearing_as_form().await?;
    let (u, other) = (new_user(), new_user());
    env.follow_with_reply_token(&u).await?;
    env.follow_with_reply_token(&other).await?;

    let url = env.form_link("hearing", &u).await?;
    let url = url.as_str();
    let path = url
        .strip_prefix("https://api.example.test")
        .unwrap_or_else(|| panic!("{url}"))
        .to_owned();
    let get = |p: String| http::Request::get(p).body(axum::body::Body::empty());
    let (status, html) = call_text(&env, get(path.clone())?).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("興味のあるジャンル") && html.contains("type=\"date\""),
        "{html}"
    );
    // The page runs no script, can't be framed and posts only back to us.
    let page = env.visit(url).await?;
    let csp = page.headers()["content-security-policy"].to_str()?;
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    // The same signature does not open the form for another friend.
    let (status, _) = call_text(&env, get(path.replace(&u, &other))?).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Only the nonce our page carries is taken: made-up ones cannot multiply the answers.
    let post = |answers: String| {
        http::Request::post(path.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(answers))
    };
    let filled = "q.genre=beauty&q.age=twenties&q.birthday=1995-04-01";
    let (status, _) = call_text(&env, post(format!("n=abc123&{filled}"))?).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let nonce = html
        .split("name=\"n\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let answers = format!("n={nonce}&{filled}");
    for _ in 0..2 {
        // A double tap on 送信する posts the same page twice.
        let (status, html) = call_text(&env, post(answers.clone())?).await?;
        assert_eq!(status, StatusCode::OK, "{html}");
    }
    env.run_bus().await?;
    assert_eq!(env.tags_of(&u).await?, ["美容", "誕生日登録済み"]);
    let view = env.friend_view(&u).await?;
    assert_eq!(view["fields"]["age_band"], "20代");
    assert_eq!(view["fields"]["birthday"], "1995-04-01");
    assert_eq!(view["score"], 5, "applied once");

    // A month on, the link no longer opens the form.
    env.clock.advance(jiff::SignedDuration::from_hours(31 * 24));
    let (status, _) = call_text(&env, get(path.clone())?).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}
