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

/// The owner on her phone: the dashboard's figures, then the coupon tag for every VIP at once.
/// Nothing is wider than the phone's screen.
#[tokio::test]
async fn the_owner_checks_her_numbers_on_a_phone_and_tags_every_vip() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let friends = [new_user(), new_user(), new_user()];
    for u in &friends {
        env.follow(u).await?;
    }
    for u in &friends[..2] {
        let (status, body) = env
            .marketer(
                "POST",
                &format!("/admin/friends/{u}/tags"),
                Some(json!({"tags": ["VIP"]})),
            )
            .await?;
        assert!(status.is_success(), "{body}");
    }

    let browser = Browser::open(&env, PHONE).await?;
    browser.sign_in(&email, &password).await?;
    browser.go("/console/").await?;
    browser.wait_for_text("友だち数").await?;
    assert_eq!(browser.find("#friends-total").await?.text().await?, "3");
    assert_eq!(browser.find("#new-today").await?.text().await?, "3");
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth",
            vec![],
        )
        .await?;
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "wider than the phone: {overflow}"
    );

    browser.go("/console/friends?tag=VIP").await?;
    browser.wait_for_text("絞り込んだ友だち全員のタグ").await?;
    assert_eq!(
        browser.overflow().await?,
        0,
        "the friend list fits the phone"
    );
    browser
        .find("input[name='bulk_tag']")
        .await?
        .send_keys("クーポン")
        .await?;
    browser
        .find(".bulk button[value='add']")
        .await?
        .click()
        .await?;
    browser.wait_for_text("人を更新しました").await?;
    assert_eq!(browser.find("#updated").await?.text().await?, "2");
    browser.close().await?;
    for (i, u) in friends.iter().enumerate() {
        let has = env.tags_of(u).await?.contains(&"クーポン".to_owned());
        assert_eq!(has, i < 2, "friend {i}");
    }
    Ok(())
}

/// A marketer builds a segment, sees its count, schedules a broadcast and cancels it, then
/// opens a report. Without script: each button is a form post the server answers.
#[tokio::test]
async fn a_marketer_builds_a_segment_sees_its_count_schedules_a_broadcast_and_cancels_it_then_opens_a_report()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.set_local_time("2026-04-01T12:00")?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let (vip, resting_vip, other) = (new_user(), new_user(), new_user());
    env.follow(&other).await?;
    for (u, tags) in [(&vip, vec!["VIP"]), (&resting_vip, vec!["VIP", "休眠"])] {
        env.follow(u).await?;
        let (status, body) = env
            .marketer(
                "POST",
                &format!("/admin/friends/{u}/tags"),
                Some(json!({ "tags": tags })),
            )
            .await?;
        assert!(status.is_success(), "{body}");
    }

    let browser = Browser::open(&env, DESKTOP).await?;
    browser.sign_in(&email, &password).await?;
    browser
        .find("nav a[href='/console/broadcasts']")
        .await?
        .click()
        .await?;
    browser.wait_for_text("新規配信").await?;
    browser
        .find("a[href='/console/broadcasts/new']")
        .await?
        .click()
        .await?;
    browser.wait_for_text("配信対象").await?;
    for (field, value) in [
        ("input[name='name']", "VIP先行セール"),
        (
            "textarea[name='text']",
            "VIPの皆さまへ先行セールのご案内です",
        ),
    ] {
        browser.find(field).await?.send_keys(value).await?;
    }
    // The page's script recounts as the segment changes…
    browser
        .find("input[name='all_tags']")
        .await?
        .send_keys("VIP")
        .await?;
    browser.wait_for_text("対象人数: 2").await?;
    browser
        .find("input[name='none_tags']")
        .await?
        .send_keys("休眠")
        .await?;
    browser.wait_for_text("対象人数: 1").await?;
    // …and the button counts with a page load, as it does without script.
    browser.find("button[value='count']").await?.click().await?;
    // The form posts to the list's address (the new page's own contains it: compare whole).
    for _ in 0..150 {
        if browser.path().await.unwrap_or_default() == "/console/broadcasts" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(browser.path().await?, "/console/broadcasts");
    browser.wait_for_text("対象人数: 1").await?;
    // The preview shows the message as the friend's chat would.
    let bubble = browser.find(".line-chat .bubble").await?.text().await?;
    assert_eq!(bubble, "VIPの皆さまへ先行セールのご案内です");

    // Tomorrow 10:00 in the shop's zone. A datetime-local field takes keys per segment and
    // per locale; its value is set as a picker would.
    browser
        .client
        .execute(
            "document.querySelector(\"input[name='send_at']\").value = arguments[0];",
            vec![json!("2026-04-02T10:00")],
        )
        .await?;
    browser
        .find("button[value='schedule']")
        .await?
        .click()
        .await?;
    browser.wait_for_text("予約を取り消す").await?;
    let text = browser.text().await?;
    assert!(
        text.contains("予約済み") && text.contains("2026-04-02 10:00"),
        "{text}"
    );
    browser
        .find("form[action$='/cancel'] button")
        .await?
        .click()
        .await?;
    browser.wait_for_text("取り消し済み").await?;
    let stored = env.store.broadcasts(&env.tenant.id).await?;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].state,
        crm::domain::broadcast::BroadcastState::Cancelled
    );

    browser
        .find("nav a[href='/console/reports']")
        .await?
        .click()
        .await?;
    browser.wait_for_text("CSVダウンロード").await?;
    let bars = browser
        .client
        .find_all(Locator::Css("#broadcast-report svg.bars"))
        .await?;
    assert_eq!(bars.len(), 1, "a bar per broadcast");
    assert!(browser.text().await?.contains("VIP先行セール"));
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
    env.marketer(
        "PUT",
        "/admin/fields/age_band",
        Some(json!({"label": "年代", "kind": "choice", "choices": ["20代", "30代", "40代以上"]})),
    )
    .await?;
    env.marketer(
        "PUT",
        "/admin/dormancy",
        Some(json!({"tiers": [{"days": 30, "tag": "休眠30日"}, {"days": 90, "tag": "休眠90日"}]})),
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
    // Broadcasts for the broadcast pages and the report: one sent, one scheduled.
    env.set_local_time("2026-04-01T12:00")?;
    let (_, sent) = env
        .marketer(
            "POST",
            "/admin/broadcasts",
            Some(json!({"name": "春のセール", "messages": [{"type": "text", "text": "春のセール開始！\n今週末まで全品10%オフです"}]})),
        )
        .await?;
    env.tick().await?;
    env.marketer(
        "POST",
        "/admin/broadcasts",
        Some(
            json!({"name": "VIP先行のご案内", "segment": {"allTags": ["VIP"]},
            "sendAt": env.clock_in_tokyo("2026-04-02T10:00")?,
            "messages": [{"type": "text", "text": "VIPの皆さまへ"}]}),
        ),
    )
    .await?;
    let sent = sent["id"].as_str().unwrap_or_default().to_owned();
    // A month of silence: the sweep puts the friends into the 30-day tier, for the report.
    env.set_local_time("2026-05-02T12:00")?;
    env.sweep().await?;
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
            ("fields", "/console/fields".to_owned(), "友だち情報欄"),
            ("staff", "/console/staff".to_owned(), "スタッフ"),
            ("broadcasts", "/console/broadcasts".to_owned(), "一斉配信"),
            (
                "broadcast",
                format!("/console/broadcasts/{sent}"),
                "配信レポート",
            ),
            ("reports", "/console/reports".to_owned(), "レポート"),
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
        // The new broadcast, its segment counted and its message previewed.
        browser.go("/console/broadcasts/new").await?;
        browser.wait_for_text("配信対象").await?;
        for (field, value) in [
            ("input[name='name']", "VIP先行のご案内"),
            (
                "textarea[name='text']",
                "VIPの皆さまへ\n先行セールのご案内です",
            ),
            ("input[name='all_tags']", "VIP"),
        ] {
            browser.find(field).await?.send_keys(value).await?;
        }
        browser.find("button[value='count']").await?.click().await?;
        browser.wait_for_text("対象人数: ").await?;
        std::fs::write(
            dir.join(format!("broadcast-new-{suffix}.png")),
            browser.screenshot().await?,
        )?;
        browser.close().await?;
    }
    Ok(())
}
