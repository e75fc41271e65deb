//! The web console's sign-in: staff accounts with roles, sessions in strict cookies, CSRF on
//! every form, a sign-in rate limit, invitations, and the operator's first owner.
use http::StatusCode;
use jiff::SignedDuration;
use serde_json::json;
use tsunagu_tests::{Browser, OPERATOR_KEY, Page, TestEnv};

const WRONG: &str = "メールアドレスまたはパスワードが違います";

async fn signed_in_owner(env: &TestEnv) -> anyhow::Result<(Browser<'_>, String, String)> {
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let browser = env.browser();
    let page = browser.sign_in(&email, &password).await?;
    assert!(page.redirects_to("/console/"), "{page:?}");
    Ok((browser, email, password))
}

/// The owner invites `email` as `role` and gets the invitation's path.
async fn invite(owner: &Browser<'_>, email: &str, role: &str) -> anyhow::Result<String> {
    let page = owner
        .submit(
            "/console/staff",
            "/console/staff",
            &[("email", email), ("role", role)],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let at = page
        .body
        .find("/console/invite/")
        .ok_or_else(|| anyhow::anyhow!("no invitation link: {}", page.body))?;
    let rest = &page.body[at..];
    Ok(rest[..rest.find('"').unwrap_or(rest.len())].to_owned())
}

/// The invitee sets `password` through the link (signed in by it).
async fn accept<'a>(env: &'a TestEnv, link: &str, password: &str) -> anyhow::Result<Browser<'a>> {
    let invitee = env.browser();
    let page = invitee
        .submit(
            link,
            link,
            &[("password", password), ("password_again", password)],
        )
        .await?;
    assert!(page.redirects_to("/console/"), "{page:?}");
    Ok(invitee)
}

fn new_email(who: &str) -> String {
    format!("{who}-{}@shop.example", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn console_sign_in_sets_a_strict_session_cookie_and_shows_the_shop() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let browser = env.browser();

    let page = browser.get("/console/").await?;
    assert!(page.redirects_to("/console/login"), "{page:?}");
    let login = browser.get("/console/login").await?;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("<html lang=\"ja\">"), "{}", login.body);
    assert!(login.body.contains("width=device-width"));

    // The address is matched whatever its case.
    let page = browser.sign_in(&email.to_uppercase(), &password).await?;
    assert!(page.redirects_to("/console/"), "{page:?}");
    let cookie = page.set_cookie("tsunagu_session").unwrap_or_default();
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }

    let page = browser.get("/console/").await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("ダッシュボード"), "{}", page.body);
    assert!(page.body.contains(&format!("Shop {}", env.tenant.id)));
    assert!(page.body.contains("ログアウト"));
    // A signed-in member opening the login page goes to the dashboard.
    assert!(
        browser
            .get("/console/login")
            .await?
            .redirects_to("/console/")
    );

    let missing = browser.get("/console/no-such-page").await?;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("ページが見つかりません"));

    let css = browser.get("/console/assets/app.css").await?;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.body.contains("font-family"));
    Ok(())
}

#[tokio::test]
async fn console_wrong_password_reads_as_an_unknown_email() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (email, _) = env.console_owner(env.tenant.id.as_str()).await?;
    let browser = env.browser();
    let wrong = browser.sign_in(&email, "not the password").await?;
    let unknown = browser
        .sign_in(&new_email("nobody"), "not the password")
        .await?;
    for page in [&wrong, &unknown] {
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(page.body.contains(WRONG), "{}", page.body);
        assert!(page.set_cookie("tsunagu_session").is_none());
    }
    assert!(
        browser
            .get("/console/")
            .await?
            .redirects_to("/console/login")
    );
    Ok(())
}

#[tokio::test]
async fn console_form_without_its_csrf_token_is_refused() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (browser, _, _) = signed_in_owner(&env).await?;
    for fields in [vec![], vec![("csrf", "forged")]] {
        let page = browser.post("/console/logout", &fields).await?;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{page:?}");
        let page = browser
            .post(
                "/console/staff",
                &[&fields[..], &[("email", "x@y.jp"), ("role", "owner")]].concat(),
            )
            .await?;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{page:?}");
    }
    // Still signed in: a refused form changes nothing.
    assert_eq!(browser.get("/console/").await?.status, StatusCode::OK);

    // The login form checks its token against its cookie: another site can set neither.
    let stranger = env.browser();
    let page = stranger
        .post(
            "/console/login",
            &[("csrf", "x"), ("email", "a@b.jp"), ("password", "p")],
        )
        .await?;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn console_viewer_changes_nothing_and_an_editor_manages_no_staff() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (owner, _, _) = signed_in_owner(&env).await?;
    let viewer = accept(
        &env,
        &invite(&owner, &new_email("viewer"), "viewer").await?,
        "viewer password 1",
    )
    .await?;
    let editor = accept(
        &env,
        &invite(&owner, &new_email("editor"), "editor").await?,
        "editor password 1",
    )
    .await?;

    for member in [&viewer, &editor] {
        assert_eq!(member.get("/console/").await?.status, StatusCode::OK);
        assert_eq!(
            member.get("/console/staff").await?.status,
            StatusCode::FORBIDDEN
        );
        // With the session's own token, the role still decides.
        let csrf = member.get("/console/").await?.csrf().unwrap_or_default();
        let page = member
            .post(
                "/console/staff",
                &[
                    ("csrf", csrf.as_str()),
                    ("email", "x@y.jp"),
                    ("role", "owner"),
                ],
            )
            .await?;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{page:?}");
        assert!(page.body.contains("操作できません"));
    }
    // Signing out is for everyone.
    let page = viewer.submit("/console/", "/console/logout", &[]).await?;
    assert!(page.redirects_to("/console/login"), "{page:?}");
    Ok(())
}

#[tokio::test]
async fn console_sign_out_ends_the_session() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (browser, _, _) = signed_in_owner(&env).await?;
    let stolen = browser.cookie("tsunagu_session").unwrap_or_default();
    let page = browser.submit("/console/", "/console/logout", &[]).await?;
    assert!(page.redirects_to("/console/login"), "{page:?}");
    assert!(
        page.set_cookie("tsunagu_session")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "{page:?}"
    );
    // The old cookie, replayed, opens nothing.
    let replay = env.browser();
    replay.set_cookie("tsunagu_session", &stolen);
    assert!(
        replay
            .get("/console/")
            .await?
            .redirects_to("/console/login")
    );
    Ok(())
}

#[tokio::test]
async fn console_session_expires_after_twelve_hours() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (browser, _, _) = signed_in_owner(&env).await?;
    env.clock.advance(SignedDuration::from_hours(11));
    assert_eq!(browser.get("/console/").await?.status, StatusCode::OK);
    env.clock.advance(SignedDuration::from_hours(1));
    assert!(
        browser
            .get("/console/")
            .await?
            .redirects_to("/console/login")
    );
    Ok(())
}

#[tokio::test]
async fn console_sixth_wrong_password_is_refused_until_the_window_passes() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let browser = env.browser();
    // Right passwords use no attempts up.
    for _ in 0..6 {
        assert!(
            browser
                .sign_in(&email, &password)
                .await?
                .redirects_to("/console/")
        );
        browser.submit("/console/", "/console/logout", &[]).await?;
    }
    for _ in 0..5 {
        let page: Page = browser.sign_in(&email, "guess guess guess").await?;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let page = browser.sign_in(&email, "guess guess guess").await?;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.body.contains("ログインの試行が多すぎます"),
        "{}",
        page.body
    );
    let page = browser.sign_in(&email, &password).await?;
    assert_eq!(
        page.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password"
    );
    // Another address is not held up by this one's guesses.
    let (other, other_password) = env.console_owner(env.tenant.id.as_str()).await?;
    assert!(
        env.browser()
            .sign_in(&other, &other_password)
            .await?
            .redirects_to("/console/")
    );

    env.clock.advance(SignedDuration::from_mins(15));
    assert!(
        browser
            .sign_in(&email, &password)
            .await?
            .redirects_to("/console/")
    );
    Ok(())
}

#[tokio::test]
async fn console_invited_editor_sets_a_password_signs_in_and_cannot_open_staff()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (owner, owner_email, _) = signed_in_owner(&env).await?;
    let email = new_email("editor");
    let link = invite(&owner, &email, "editor").await?;
    let listed = owner.get("/console/staff").await?;
    assert!(
        listed.body.contains(&email) && listed.body.contains("招待中"),
        "{}",
        listed.body
    );
    // Inviting the same address twice is refused.
    let again = owner
        .submit(
            "/console/staff",
            "/console/staff",
            &[("email", &email), ("role", "viewer")],
        )
        .await?;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("既に登録されています"));

    // Not signed in until the password is set.
    let stranger = env.browser();
    assert_eq!(
        stranger.sign_in(&email, "").await?.status,
        StatusCode::UNAUTHORIZED
    );
    let invitee = env.browser();
    let page = invitee.get(&link).await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&email), "{}", page.body);
    let refused = invitee
        .submit(
            &link,
            &link,
            &[("password", "short"), ("password_again", "short")],
        )
        .await?;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("10文字以上"));
    let refused = invitee
        .submit(
            &link,
            &link,
            &[
                ("password", "editor password 1"),
                ("password_again", "editor password 2"),
            ],
        )
        .await?;
    assert!(refused.body.contains("パスワードが一致しません"));

    let editor = accept(&env, &link, "editor password 1").await?;
    assert_eq!(editor.get("/console/").await?.status, StatusCode::OK);
    assert_eq!(
        editor.get("/console/staff").await?.status,
        StatusCode::FORBIDDEN
    );
    // The link sets a password once.
    assert_eq!(
        env.browser().get(&link).await?.status,
        StatusCode::NOT_FOUND
    );
    let fresh = env.browser();
    assert!(
        fresh
            .sign_in(&email, "editor password 1")
            .await?
            .redirects_to("/console/")
    );

    // The owner removes the editor: their sessions end with them. The last owner stays.
    let staff = owner.get("/console/staff").await?;
    let remove_path = |who: &str| -> Option<String> {
        let row = &staff.body[staff.body.find(who)?..];
        let at = row.find("/console/staff/")?;
        let path = &row[at..];
        Some(path[..path.find('"')?].to_owned())
    };
    let editor_remove = remove_path(&email).unwrap_or_default();
    let owner_remove = remove_path(&owner_email).unwrap_or_default();
    let page = owner.submit("/console/staff", &owner_remove, &[]).await?;
    assert_eq!(page.status, StatusCode::CONFLICT, "{page:?}");
    assert!(page.body.contains("最後のオーナー"));
    let page = owner.submit("/console/staff", &editor_remove, &[]).await?;
    assert!(page.redirects_to("/console/staff"), "{page:?}");
    assert!(
        editor
            .get("/console/")
            .await?
            .redirects_to("/console/login")
    );
    assert_eq!(
        fresh.sign_in(&email, "editor password 1").await?.status,
        StatusCode::UNAUTHORIZED
    );

    // An invitation lasts seven days.
    let late = invite(&owner, &new_email("late"), "viewer").await?;
    env.clock.advance(SignedDuration::from_hours(7 * 24));
    assert_eq!(
        env.browser().get(&late).await?.status,
        StatusCode::NOT_FOUND
    );
    Ok(())
}

#[tokio::test]
async fn console_operator_creates_the_first_owner() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let path = format!("/admin/tenants/{}/owner", env.tenant.id);
    let email = new_email("first");
    let body = json!({"email": email, "password": "first owner password"});

    let (status, _) = env.marketer("POST", &path, Some(body.clone())).await?;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a tenant key creates no owner"
    );
    let (status, short) = env
        .admin(
            "POST",
            &path,
            OPERATOR_KEY,
            Some(json!({"email": email, "password": "short"})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{short}");
    assert_eq!(short["error"]["field"], "password");
    let (status, _) = env
        .admin(
            "POST",
            "/admin/tenants/no-such-shop/owner",
            OPERATOR_KEY,
            Some(body.clone()),
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, created) = env
        .admin("POST", &path, OPERATOR_KEY, Some(body.clone()))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["role"], "owner");
    assert_eq!(created["email"], email.as_str());
    assert!(created.get("password").is_none());

    // An email is one member's, in any tenant.
    let other = env.new_tenant().await?;
    let (status, _) = env
        .admin(
            "POST",
            &format!("/admin/tenants/{}/owner", other.id),
            OPERATOR_KEY,
            Some(body),
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT);

    let browser = env.browser();
    assert!(
        browser
            .sign_in(&email, "first owner password")
            .await?
            .redirects_to("/console/")
    );
    assert!(
        browser
            .get("/console/")
            .await?
            .body
            .contains(&format!("Shop {}", env.tenant.id))
    );
    Ok(())
}

/// A browser that chose English keeps it before signing in and on error pages.
#[tokio::test]
async fn console_english_is_kept_on_the_sign_in_and_error_pages() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let browser = env.browser();
    browser.set_cookie("tsunagu_lang", "en");
    let login = browser.get("/console/login").await?;
    assert!(login.body.contains("lang=\"en\"") && login.body.contains("Sign in"));
    let wrong = browser
        .sign_in("nobody@shop.example", "not the password")
        .await?;
    assert!(
        wrong.body.contains("Wrong email or password"),
        "{}",
        wrong.body
    );
    let missing = browser.get("/console/invite/not-a-token").await?;
    assert!(
        missing.body.contains("invalid or has expired"),
        "{}",
        missing.body
    );
    let lost = browser.get("/console/no/such/page").await?;
    assert_eq!(lost.status, StatusCode::NOT_FOUND);
    assert!(lost.body.contains("Page not found"));
    Ok(())
}
