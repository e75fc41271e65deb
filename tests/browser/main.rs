//! In a real browser (Debian's headless Chromium): what friends and shop staff see. Each test
//! serves its own stack on a loopback port; `infra/chromium.sh` installs the browser.
use tsunagu_tests::{
    TestEnv,
    browser::{Browser, PHONE},
    new_user,
};

const HEARING: &str = include_str!("../../docs/examples/hearing.yaml");

#[tokio::test]
async fn a_friend_answers_the_survey_form_on_a_phone() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let as_form = HEARING.replacen(
        "name: 登録時ヒアリング",
        "name: 登録時ヒアリング\ndelivery: form",
        1,
    );
    let (status, body) = env.put_yaml("/admin/surveys/hearing", &as_form).await?;
    assert!(status.is_success(), "{body}");
    let u = new_user();
    env.follow_with_reply_token(&u).await?;
    let (_, link) = env
        .marketer(
            "GET",
            &format!("/admin/surveys/hearing/link?userId={u}"),
            None,
        )
        .await?;
    let url = link["url"].as_str().unwrap_or_default();
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
