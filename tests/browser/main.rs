//! In a real browser (Debian's headless Chromium): what friends and shop staff see. Each test
//! serves its own stack on a loopback port; `infra/chromium.sh` installs the browser.
use fantoccini::Locator;
use serde_json::json;
use tsunagu_tests::{
    TestEnv,
    browser::{Browser, DESKTOP, PHONE},
    new_user,
};

#[tokio::test]
async fn a_friend_answers_the_survey_form_on_a_phone() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.put_hearing_as_form().await?;
    let u = new_user();
    env.follow_with_reply_token(&u).await?;
    let url = env.form_link("hearing", &u).await?;
    let path = url.trim_start_matches("https://api.example.test");

    let browser = Browser::open(&env, PHONE).await?;
    browser.go(path).await?;
    browser.wait_for_text("興味のあるジャンル").await?;
    browser
        .find("input[name='q.genre'][value='beauty']")
        .await?
        .click()
        .await?;
    browser
        .find("input[name='q.age'][value='twenties']")
        .await?
        .click()
        .await?;
    browser.find("button[type='submit']").await?.click().await?;
    // The thank-you page, on the same (signed) address.
    browser.wait_for_text("ありがとう").await?;
    browser.close().await?;

    env.flush().await?;
    let tags = env.tags_of(&u).await?;
    assert!(tags.iter().any(|t| t == "美容"), "{tags:?}");
    Ok(())
}

/// The marketer's first morning: signs in, finds her VIP customer, tags her for the spring
/// campaign, notes her preferred shop, takes the tag off again, signs out. On a desktop.
#[tokio::test]
async fn a_marketer_signs_in_finds_a_friend_tags_her_and_signs_out() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let (vip, other) = (new_user(), new_user());
    env.follow(&vip).await?;
    env.follow(&other).await?;
    let (status, body) = env
        .marketer(
            "POST",
            &format!("/admin/friends/{vip}/tags"),
            Some(json!({"tags": ["VIP"]})),
        )
        .await?;
    assert!(status.is_success(), "{body}");

    let browser = Browser::open(&env, DESKTOP).await?;
    browser.go("/console/friends").await?;
    // Not signed in: the console sends her to the sign-in page first.
    browser.wait_for_text("ログイン").await?;
    assert_eq!(browser.path().await?, "/console/login");
    browser.sign_in(&email, &password).await?;

    browser.go("/console/friends").await?;
    browser.wait_for_text("友だち").await?;
    assert_eq!(
        browser
            .client
            .find_all(Locator::Css(".friends li"))
            .await?
            .len(),
        2
    );
    browser
        .find("input[name='tag']")
        .await?
        .send_keys("VIP")
        .await?;
    browser
        .find(".filters button[type='submit']")
        .await?
        .click()
        .await?;
    // "VIP" is on the unfiltered page too: wait for the filtered page itself.
    browser.wait_for_path("tag=VIP").await?;
    browser.wait_for_text("VIP").await?;
    let rows = browser.client.find_all(Locator::Css(".friends li")).await?;
    assert_eq!(rows.len(), 1, "only the VIP");
    browser.find(".friends li a.name").await?.click().await?;
    browser.wait_for_text("行動履歴").await?;
    assert_eq!(browser.path().await?, format!("/console/friends/{vip}"));

    browser
        .find("form[action$='/tags'] input[name='tag']")
        .await?
        .send_keys("春キャンペーン")
        .await?;
    browser
        .find("form[action$='/tags'] button")
        .await?
        .click()
        .await?;
    browser.wait_for_text("春キャンペーン").await?;
    browser
        .find("form[action$='/fields'] input[name='name']")
        .await?
        .send_keys("favorite_shop")
        .await?;
    browser
        .find("form[action$='/fields'] input[name='value']")
        .await?
        .send_keys("渋谷店")
        .await?;
    browser
        .find("form[action$='/fields'] button")
        .await?
        .click()
        .await?;
    browser.wait_for_text("渋谷店").await?;
    env.flush().await?;
    let tags = env.tags_of(&vip).await?;
    assert!(tags.iter().any(|t| t == "春キャンペーン"), "{tags:?}");

    browser
        .find("button[aria-label='削除 春キャンペーン']")
        .await?
        .click()
        .await?;
    for _ in 0..100 {
        if !browser
            .text()
            .await
            .unwrap_or_default()
            .contains("春キャンペーン")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!browser.text().await?.contains("春キャンペーン"));

    browser
        .find("form[action='/console/logout'] button")
        .await?
        .click()
        .await?;
    browser.wait_for_text("ログイン").await?;
    browser.go(&format!("/console/friends/{vip}")).await?;
    browser.wait_for_text("ログイン").await?;
    assert_eq!(browser.path().await?, "/console/login", "signed out");
    browser.close().await?;
    Ok(())
}

/// A scenario written and checked in the console: the marketer pastes a two-step scenario into
/// the editor, saves it, and asks when a VIP entering now would get each step. On a desktop.
#[tokio::test]
async fn a_marketer_creates_a_two_step_scenario_and_sees_its_journey_preview() -> anyhow::Result<()>
{
    let env = TestEnv::start().await?;
    env.set_local_time("2026-04-01T10:00")?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let browser = Browser::open(&env, DESKTOP).await?;
    browser.sign_in(&email, &password).await?;

    browser
        .find("nav a[href='/console/scenarios']")
        .await?
        .click()
        .await?;
    browser.wait_for_text("シナリオ一覧").await?;
    browser
        .find("a[href='/console/scenarios/new']")
        .await?
        .click()
        .await?;
    browser.wait_for_text("新規作成").await?;
    let editor = browser.find("textarea[name='definition']").await?;
    editor.clear().await?;
    editor.send_keys(TWO_STEPS).await?;
    browser
        .find("#editor form button[type='submit']")
        .await?
        .click()
        .await?;
    browser.wait_for_path("/console/scenarios/spring").await?;
    browser.wait_for_text("ジャーニープレビュー").await?;
    assert!(browser.text().await?.contains("登録日から3日後の10:00"));

    browser
        .find("input[name='tags']")
        .await?
        .send_keys("VIP")
        .await?;
    browser.find(".journey-form button").await?.click().await?;
    browser.wait_for_path("tags=VIP").await?;
    let text = browser.wait_for_text("全ステップ完了").await?;
    let rows = browser.client.find_all(Locator::Css("tr.visit")).await?;
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].text().await?.contains("2026-04-01 10:00"), "{text}");
    assert!(rows[1].text().await?.contains("2026-04-04 10:00"), "{text}");
    assert!(rows[1].text().await?.contains("coupon"), "{text}");
    browser.close().await?;
    Ok(())
}

const TWO_STEPS: &str = "id: spring
name: 春の来店案内
trigger: { type: tagAdded, tag: 春キャンペーン }
steps:
  - id: hello
    messages: [{ type: text, text: ご登録ありがとうございます }]
  - id: coupon
    timing: { day: 3, at: \"10:00\" }
    messages: [{ type: text, text: 春のクーポンです }]
";

/// `make screenshots`: every console page at desktop and phone width, as PNGs in
/// `docs/console/` (the README shows them). Ignored by `make test`: it writes files.
#[tokio::test]
#[ignore = "writes docs/console/*.png; run by `make screenshots`"]
async fn screenshots_of_every_page() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let friend = new_user();
    for u in [friend.clone(), new_user(), new_user()] {
        env.follow(&u).await?;
    }
    env.marketer(
        "POST",
        &format!("/admin/friends/{friend}/tags"),
        Some(json!({"tags": ["VIP", "美容", "初回購入"]})),
    )
    .await?;
    env.marketer(
        "PATCH",
        &format!("/admin/friends/{friend}/fields"),
        Some(json!({"fields": {"age_band": "30代", "favorite_shop": "渋谷店"}})),
    )
    .await?;
    for (path, yaml) in [
        (
            "/admin/scenarios/welcome",
            include_str!("../../docs/examples/welcome.yaml"),
        ),
        (
            "/admin/surveys/hearing",
            include_str!("../../docs/examples/hearing.yaml"),
        ),
    ] {
        let (status, body) = env.put_yaml(path, yaml).await?;
        anyhow::ensure!(status.is_success(), "{path}: {body}");
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
    std::fs::create_dir_all(&dir)?;
    for (size, suffix) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
        let browser = Browser::open(&env, size).await?;
        browser.go("/console/login").await?;
        browser.wait_for_text("ログイン").await?;
        std::fs::write(
            dir.join(format!("login-{suffix}.png")),
            browser.screenshot().await?,
        )?;
        browser.sign_in(&email, &password).await?;
        for (page, path, text) in [
            ("dashboard", "/console/".to_owned(), "ダッシュボード"),
            ("friends", "/console/friends".to_owned(), "友だち"),
            ("friend", format!("/console/friends/{friend}"), "行動履歴"),
            ("tags", "/console/tags".to_owned(), "タグ管理"),
            ("staff", "/console/staff".to_owned(), "スタッフ"),
            ("scenarios", "/console/scenarios".to_owned(), "シナリオ一覧"),
            (
                "scenario",
                "/console/scenarios/welcome".to_owned(),
                "ジャーニープレビュー",
            ),
            (
                "journey",
                "/console/scenarios/welcome?tags=VIP&start=2026-04-01T22%3A30#journey".to_owned(),
                "全ステップ完了",
            ),
            ("surveys", "/console/surveys".to_owned(), "回答フォーム"),
            (
                "survey",
                "/console/surveys/hearing".to_owned(),
                "登録時ヒアリング",
            ),
            (
                "auto-replies",
                "/console/auto-replies".to_owned(),
                "自動応答",
            ),
            ("rules", "/console/rules".to_owned(), "タグルール"),
            ("dormancy", "/console/dormancy".to_owned(), "再来店レポート"),
        ] {
            browser.go(&path).await?;
            browser.wait_for_text(text).await?;
            let png = browser.screenshot().await?;
            std::fs::write(dir.join(format!("{page}-{suffix}.png")), png)?;
        }
        browser.close().await?;
    }
    Ok(())
}
