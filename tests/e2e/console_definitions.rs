//! The console's definition pages over HTTP: an editor writes a scenario in the YAML editor, a
//! refused one comes back with its field path and the text as typed, the journey preview says
//! what a friend would get and when (Tokyo time), and surveys, auto-replies and tag rules save
//! and delete through the same editor. What is saved is what the JSON API reads; a viewer
//! looks and cannot post.
use http::StatusCode;
use serde_json::json;
use tsunagu_tests::{Browser, TestEnv, new_user};

const TWO_STEPS: &str = r#"id: spring
name: 春の来店案内
trigger: { type: tagAdded, tag: 春キャンペーン }
stopRules:
  - { type: tagAdded, tag: 来店済み }
steps:
  - id: hello
    messages:
      - type: text
        text: ご登録ありがとうございます
        quickReply:
          items:
            - { type: action, action: { type: message, label: 予約する, text: 予約 } }
  - id: coupon
    timing: { day: 3, at: "10:00" }
    messages:
      - { type: text, text: 春のクーポンです }
"#;

/// An owner of the test tenant, signed in.
async fn owner(env: &TestEnv) -> anyhow::Result<Browser<'_>> {
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let owner = env.browser();
    assert!(
        owner
            .sign_in(&email, &password)
            .await?
            .redirects_to("/console/")
    );
    Ok(owner)
}

#[tokio::test]
async fn console_an_editor_writes_a_two_step_scenario_and_previews_a_friends_journey()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let owner = owner(&env).await?;

    // A broken step names its path, and the text stays as typed.
    let broken = TWO_STEPS.replace("day: 3, at:", "day: 3, att:");
    let page = owner
        .submit(
            "/console/scenarios/new",
            "/console/scenarios",
            &[("definition", &broken)],
        )
        .await?;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{page:?}");
    assert!(
        page.body.contains("<code>steps[1].timing</code>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("att"), "the text is kept");
    assert!(page.body.contains("春のクーポンです"));
    let (status, _) = env.marketer("GET", "/admin/scenarios/spring", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was saved");

    let page = owner
        .submit(
            "/console/scenarios/new",
            "/console/scenarios",
            &[("definition", TWO_STEPS)],
        )
        .await?;
    assert!(page.redirects_to("/console/scenarios/spring"), "{page:?}");
    let (status, saved) = env.marketer("GET", "/admin/scenarios/spring", None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["definition"]["steps"][1]["id"], "coupon");
    // A second "new" with the same id does not overwrite it.
    let page = owner
        .submit(
            "/console/scenarios/new",
            "/console/scenarios",
            &[("definition", TWO_STEPS)],
        )
        .await?;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("<code>id</code>"));

    let list = owner.get("/console/scenarios").await?;
    assert!(
        list.body.contains("/console/scenarios/spring"),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("春の来店案内")
            && list.body.contains("タグ「春キャンペーン」が付いたとき")
    );

    // The read view: timing in words, the stop rule, the messages as chat bubbles.
    let page = owner.get("/console/scenarios/spring").await?;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "登録日から3日後の10:00",
        "タグ「来店済み」が付いたら停止",
        "ご登録ありがとうございます",
        "<span>予約する</span>",
        "ショップの設定（09:00–21:00）",
    ] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }

    // A made-up friend entering at 22:30 on 1 April, Tokyo: greeted when the window opens,
    // the coupon on day 3 at 10:00.
    let preview = owner
        .get("/console/scenarios/spring?user_id=&tags=VIP&fields=&start=2026-04-01T22%3A30")
        .await?;
    assert!(
        preview.body.contains("<td>2026-04-02 09:00</td>")
            && preview.body.contains("2026-04-01 22:30 から移動"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("<td>2026-04-04 10:00</td>"));
    assert!(preview.body.contains("全ステップ完了"));
    // A made-up friend who already visited gets nothing: the stop rule.
    let stopped = owner
        .get("/console/scenarios/spring?tags=来店済み&start=2026-04-01T10%3A00")
        .await?;
    assert!(!stopped.body.contains("class=\"visit\""));
    assert!(
        stopped
            .body
            .contains("停止 (タグ「来店済み」が付いたら停止)")
    );

    // A real friend, by LINE user id; and the JSON API agrees with the page.
    let u = new_user();
    env.follow(&u).await?;
    let page = owner
        .get(&format!(
            "/console/scenarios/spring?user_id={u}&start=2026-04-01T10%3A00"
        ))
        .await?;
    assert!(
        page.body.contains("<td>2026-04-01 10:00</td>")
            && page.body.contains("<td>2026-04-04 10:00</td>")
    );
    let (status, journey) = env
        .marketer(
            "POST",
            "/admin/scenarios/spring/journey",
            Some(json!({"userId": u, "startAt": env.clock_in_tokyo("2026-04-01T10:00")?})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{journey}");
    let visits = journey["journey"]["visits"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(visits.len(), 2, "{journey}");
    assert_eq!(visits[1]["step"], "coupon");
    assert_eq!(
        visits[1]["at"],
        json!(env.clock_in_tokyo("2026-04-04T10:00")?)
    );
    assert_eq!(journey["journey"]["end"]["type"], "finished");
    let (status, journey) = env
        .marketer(
            "POST",
            "/admin/scenarios/spring/journey",
            Some(json!({"tags": ["来店済み"]})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{journey}");
    assert_eq!(journey["journey"]["end"]["type"], "stopped");
    assert_eq!(
        journey["journey"]["end"]["reason"],
        "stop rule: tag 来店済み"
    );
    let (status, _) = env
        .marketer("POST", "/admin/scenarios/nothing/journey", Some(json!({})))
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Previewing sent nothing and enrolled no one.
    assert!(
        env.texts_sent_to(&u)
            .iter()
            .all(|t| t != "春のクーポンです")
    );
    let (_, enrollments) = env
        .marketer("GET", &format!("/admin/friends/{u}/enrollments"), None)
        .await?;
    assert_eq!(enrollments["enrollments"], json!([]));

    // A second version through the same editor.
    let page = owner
        .submit(
            "/console/scenarios/spring",
            "/console/scenarios/spring",
            &[("definition", &TWO_STEPS.replace("day: 3", "day: 2"))],
        )
        .await?;
    assert!(page.redirects_to("/console/scenarios/spring"), "{page:?}");
    let page = owner.get("/console/scenarios/spring").await?;
    assert!(page.body.contains("v2") && page.body.contains("登録日から2日後の10:00"));

    // The test send pushes the step once, with the form's key, and enrolls no one.
    let page = owner.get("/console/scenarios/spring").await?;
    let key = page
        .body
        .split("name=\"key\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    for _ in 0..2 {
        let csrf = page.csrf().unwrap_or_default();
        let sent = owner
            .post(
                "/console/scenarios/spring/test-send",
                &[
                    ("csrf", &csrf),
                    ("step", "coupon"),
                    ("user_id", &u),
                    ("key", &key),
                ],
            )
            .await?;
        assert_eq!(
            sent.location.as_deref(),
            Some("/console/scenarios/spring?test=sent#test-send"),
            "{sent:?}"
        );
    }
    assert_eq!(
        env.texts_sent_to(&u)
            .iter()
            .filter(|t| *t == "春のクーポンです")
            .count(),
        1,
        "a double submit sends once"
    );
    let (_, enrollments) = env
        .marketer("GET", &format!("/admin/friends/{u}/enrollments"), None)
        .await?;
    assert_eq!(enrollments["enrollments"], json!([]));
    Ok(())
}

#[tokio::test]
async fn console_surveys_auto_replies_and_tag_rules_save_and_delete_through_one_editor()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let owner = owner(&env).await?;
    let cases = [
        (
            "surveys",
            "/admin/surveys/visit",
            "id: visit\nname: 来店アンケート\nquestions:\n  - id: shop\n    type: singleChoice\n    text: どの店舗に来ましたか\n    choices:\n      - { id: shibuya, label: 渋谷店 }\n",
            "questions[0]",
            "type: singleChoice",
            "type: singleChoise",
        ),
        (
            "auto-replies",
            "/admin/auto-replies",
            "id: hours\nmatch: { type: contains, text: 営業時間 }\nmessages:\n  - { type: text, text: 10時から19時です }\n",
            "match",
            "type: contains",
            "type: startsWith",
        ),
        (
            "rules",
            "/admin/rules",
            "id: repeat\nname: リピーター\nwhen: { type: purchase }\nconditions:\n  - { type: purchaseCount, op: gte, value: 2 }\naddTags: [リピーター]\n",
            "conditions[0]",
            "op: gte",
            "op: more",
        ),
    ];
    for (kind, api, yaml, field, good, bad) in cases {
        let list = format!("/console/{kind}");
        let new = format!("/console/{kind}/new");
        let page = owner
            .submit(&new, &list, &[("definition", &yaml.replace(good, bad))])
            .await?;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{kind}: {page:?}"
        );
        assert!(
            page.body.contains(&format!("<code>{field}</code>")),
            "{kind}: {}",
            page.body
        );
        let id = yaml
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("id: "))
            .unwrap_or_default();
        let page = owner.submit(&new, &list, &[("definition", yaml)]).await?;
        let one = format!("/console/{kind}/{id}");
        assert!(page.redirects_to(&one), "{kind}: {page:?}");
        let (status, body) = env.marketer("GET", api, None).await?;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.to_string().contains(&format!("\"id\":\"{id}\"")),
            "{kind}: {body}"
        );
        assert!(owner.get(&list).await?.body.contains(&one));
        let shown = owner.get(&one).await?;
        assert!(
            shown.body.contains(&format!("id: {id}")),
            "{kind}: {}",
            shown.body
        );
        if kind == "surveys" {
            // A friend's signed form link, to paste into a message by hand.
            let u = new_user();
            env.follow(&u).await?;
            let linked = owner.get(&format!("{one}?user_id={u}")).await?;
            let expected = format!("/forms/{}/visit?f={u}", env.tenant.id);
            assert!(linked.body.contains(&expected), "{}", linked.body);
            let unknown = owner.get(&format!("{one}?user_id={}", new_user())).await?;
            assert!(
                unknown
                    .body
                    .contains("この LINE ユーザーIDの友だちはいません")
            );
        }

        let page = owner.submit(&one, &format!("{one}/delete"), &[]).await?;
        assert!(page.redirects_to(&list), "{kind}: {page:?}");
        let (_, body) = env.marketer("GET", api, None).await?;
        assert!(
            !body.to_string().contains(&format!("\"id\":\"{id}\"")),
            "{kind}: {body}"
        );
        assert_eq!(owner.get(&one).await?.status, StatusCode::NOT_FOUND);
    }
    Ok(())
}

#[tokio::test]
async fn console_a_viewer_reads_definitions_but_cannot_change_them() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let owner = owner(&env).await?;
    let (status, body) = env.put_scenario_yaml("spring", TWO_STEPS).await?;
    assert!(status.is_success(), "{body}");
    let viewer = env.console_viewer(&owner).await?;

    let page = viewer.get("/console/scenarios/spring").await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("春のクーポンです"));
    assert!(
        !page.body.contains("action=\"/console/scenarios/spring\""),
        "no save form"
    );
    assert!(!page.body.contains("/test-send"), "no test send");
    // Previewing changes nothing, so a viewer may.
    let preview = viewer
        .get("/console/scenarios/spring?tags=&start=2026-04-01T10%3A00")
        .await?;
    assert!(preview.body.contains("<td>2026-04-04 10:00</td>"));
    assert_eq!(
        viewer.get("/console/scenarios/new").await?.status,
        StatusCode::FORBIDDEN
    );

    let csrf = page.csrf().unwrap_or_default();
    let changed = TWO_STEPS.replace("春のクーポンです", "変更");
    for (path, fields) in [
        (
            "/console/scenarios/spring",
            vec![("csrf", csrf.as_str()), ("definition", changed.as_str())],
        ),
        (
            "/console/scenarios/spring/delete",
            vec![("csrf", csrf.as_str())],
        ),
        (
            "/console/rules",
            vec![("csrf", csrf.as_str()), ("definition", "id: x")],
        ),
        (
            "/console/dormancy",
            vec![("csrf", csrf.as_str()), ("definition", "tiers: []")],
        ),
        (
            "/console/scenarios/spring/test-send",
            vec![
                ("csrf", csrf.as_str()),
                ("step", "hello"),
                ("user_id", "U00000000000000000000000000000001"),
                ("key", "6f1d5a0e-8c2b-4e57-9a43-2b7c1d0ef3a9"),
            ],
        ),
    ] {
        let refused = viewer.post(path, &fields).await?;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
    let (_, saved) = env.marketer("GET", "/admin/scenarios/spring", None).await?;
    assert_eq!(saved["version"], 1);

    // In English, the same page in English words.
    viewer.get("/console/lang/en").await?;
    let page = viewer
        .get("/console/scenarios/spring?tags=&start=2026-04-01T10%3A00")
        .await?;
    for text in [
        "Journey preview",
        "day 3 after enrollment at 10:00",
        "When tagged 春キャンペーン",
        "Stops when tagged 来店済み",
        "all steps done",
    ] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }
    Ok(())
}

#[tokio::test]
async fn console_dormancy_settings_are_saved_as_the_api_saves_them() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let owner = owner(&env).await?;
    let page = owner.get("/console/dormancy").await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("休眠30日"),
        "the defaults: {}",
        page.body
    );
    assert!(page.body.contains("再来店レポート"));

    // A scenario that does not exist yet is refused at its field, the text kept.
    let yaml =
        "tiers:\n  - { days: 45, tag: 休眠45日, scenario: comeback }\nreturnWindowDays: 21\n";
    let page = owner
        .submit(
            "/console/dormancy",
            "/console/dormancy",
            &[("definition", yaml)],
        )
        .await?;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("<code>tiers[0].scenario</code>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("休眠45日"));

    let (status, body) = env
        .put_scenario_yaml(
            "comeback",
            "id: comeback\nname: おかえり\ntrigger: { type: manual }\nsteps:\n  - id: hi\n    messages: [{ type: text, text: お久しぶりです }]\n",
        )
        .await?;
    assert!(status.is_success(), "{body}");
    let page = owner
        .submit(
            "/console/dormancy",
            "/console/dormancy",
            &[("definition", yaml)],
        )
        .await?;
    assert!(page.redirects_to("/console/dormancy?saved=1"), "{page:?}");
    let (_, saved) = env.marketer("GET", "/admin/dormancy", None).await?;
    assert_eq!(saved["tiers"][0]["days"], 45);
    assert_eq!(saved["returnWindowDays"], 21);
    let page = owner.get("/console/dormancy?saved=1").await?;
    assert!(page.body.contains("保存しました") && page.body.contains("再来店の判定期間：21日"));
    Ok(())
}
