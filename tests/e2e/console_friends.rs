//! The console's friend pages over HTTP: what an editor changes lands on the friend, exactly
//! as through the JSON API; a viewer sees the same page without a single form that changes
//! anything, and her posts are refused.
use http::StatusCode;
use tsunagu_tests::{TestEnv, new_user};

#[tokio::test]
async fn console_an_editor_tags_and_notes_a_friend_a_viewer_only_looks() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let u = new_user();
    env.follow(&u).await?;
    let owner = env.browser();
    assert!(
        owner
            .sign_in(&email, &password)
            .await?
            .redirects_to("/console/")
    );
    let page_path = format!("/console/friends/{u}");

    let page = owner
        .submit(
            &page_path,
            &format!("{page_path}/tags"),
            &[("tag", "来店予定")],
        )
        .await?;
    assert!(page.redirects_to(&page_path), "{page:?}");
    let page = owner
        .submit(
            &page_path,
            &format!("{page_path}/fields"),
            &[("name", "favorite_shop"), ("value", "渋谷店")],
        )
        .await?;
    assert!(page.redirects_to(&page_path), "{page:?}");
    let friend = env.friend_view(&u).await?;
    assert_eq!(friend["fields"]["favorite_shop"], "渋谷店");
    assert!(env.tags_of(&u).await?.contains(&"来店予定".to_owned()));
    // A bad tag name is refused, and nothing changes.
    let page = owner
        .submit(
            &page_path,
            &format!("{page_path}/tags"),
            &[("tag", &"x".repeat(65))],
        )
        .await?;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);

    // Her orders show on her page, beside her tags and fields.
    let (status, body) = env
        .marketer(
            "POST",
            "/admin/purchases",
            Some(
                serde_json::json!({"orderId": "A-1001", "userId": u, "amount": 3300,
                "items": [{"product": "美容液"}]}),
            ),
        )
        .await?;
    assert!(status.is_success(), "{body}");
    let page = owner.get(&page_path).await?;
    assert!(
        page.body.contains("購入履歴")
            && page.body.contains("¥3300")
            && page.body.contains("美容液")
    );

    // The list filters by tag.
    let list = owner.get("/console/friends?tag=来店予定").await?;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(&page_path), "{}", list.body);
    let list = owner.get("/console/friends?not_tag=来店予定").await?;
    assert!(!list.body.contains(&page_path));

    // A viewer, invited by the owner.
    let viewer = env.console_viewer(&owner).await?;
    let seen = viewer.get(&page_path).await?;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(seen.body.contains("渋谷店"));
    assert!(
        !seen.body.contains(&format!("{page_path}/tags")),
        "no tag form for a viewer"
    );
    // Her session's token does not make her an editor.
    let csrf = seen.csrf().unwrap_or_default();
    let refused = viewer
        .post(
            &format!("{page_path}/tags"),
            &[("csrf", &csrf), ("tag", "x")],
        )
        .await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!env.tags_of(&u).await?.contains(&"x".to_owned()));
    Ok(())
}

#[tokio::test]
async fn console_staff_can_switch_to_english_and_back() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let staff = env.browser();
    staff.sign_in(&email, &password).await?;
    assert!(
        staff
            .get("/console/friends")
            .await?
            .body
            .contains("絞り込む")
    );

    let chosen = staff.get("/console/lang/en").await?;
    assert!(chosen.redirects_to("/console/"), "{chosen:?}");
    let cookie = chosen.set_cookie("tsunagu_lang").unwrap_or_default();
    assert!(
        cookie.contains("tsunagu_lang=en") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let page = staff.get("/console/friends").await?;
    assert!(page.body.contains("<html lang=\"en\">") && page.body.contains("Filter"));

    staff.get("/console/lang/ja").await?;
    assert!(
        staff
            .get("/console/friends")
            .await?
            .body
            .contains("絞り込む")
    );
    assert_eq!(
        staff.get("/console/lang/fr").await?.status,
        StatusCode::NOT_FOUND
    );
    Ok(())
}

#[tokio::test]
async fn console_tags_are_kept_in_folders_with_descriptions() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let staff = env.browser();
    staff.sign_in(&email, &password).await?;
    let defined = staff
        .submit(
            "/console/tags",
            "/console/tags",
            &[
                ("tag", "VIP"),
                ("folder", "顧客ランク"),
                ("description", "累計5万円以上"),
            ],
        )
        .await?;
    assert!(defined.redirects_to("/console/tags"), "{defined:?}");
    let page = staff.get("/console/tags").await?;
    assert!(page.body.contains("顧客ランク") && page.body.contains("累計5万円以上"));
    // The same definition through the admin API.
    let (_, tags) = env.marketer("GET", "/admin/tags", None).await?;
    let vip = tags.to_string();
    assert!(vip.contains("\"folder\":\"顧客ランク\""), "{vip}");
    // A folder name on two lines is refused, as the API refuses it.
    let bad = staff
        .submit(
            "/console/tags",
            "/console/tags",
            &[("tag", "x"), ("folder", "a\nb")],
        )
        .await?;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let removed = staff
        .submit("/console/tags", "/console/tags/remove", &[("tag", "VIP")])
        .await?;
    assert!(removed.redirects_to("/console/tags"));
    assert!(
        !staff
            .get("/console/tags")
            .await?
            .body
            .contains("累計5万円以上")
    );
    Ok(())
}

/// The spring campaign: the marketer filters the friends tagged 春, gives all of them the
/// coupon tag in one go (not page by page), downloads them as CSV for the shop floor, and the
/// tag list counts them.
#[tokio::test]
async fn console_an_editor_tags_every_filtered_friend_and_downloads_them() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let users: Vec<String> = (0..5).map(|_| new_user()).collect();
    for u in &users {
        env.follow(u).await?;
    }
    for u in &users[..3] {
        let (status, body) = env
            .marketer(
                "POST",
                &format!("/admin/friends/{u}/tags"),
                Some(serde_json::json!({"tags": ["春"]})),
            )
            .await?;
        assert!(status.is_success(), "{body}");
    }
    let (status, body) = env
        .marketer(
            "PATCH",
            &format!("/admin/friends/{}/fields", users[0]),
            Some(serde_json::json!({"fields": {"favorite_shop": "渋谷店"}})),
        )
        .await?;
    assert!(status.is_success(), "{body}");
    let owner = env.browser();
    owner.sign_in(&email, &password).await?;

    let done = owner
        .submit(
            "/console/friends?tag=春",
            "/console/friends/bulk-tags",
            &[
                ("tag", "春"),
                ("not_tag", ""),
                ("name", ""),
                ("blocked", ""),
                ("bulk_tag", "クーポン"),
                ("action", "add"),
            ],
        )
        .await?;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("id=\"updated\">3<"), "{}", done.body);
    for (i, u) in users.iter().enumerate() {
        let has = env.tags_of(u).await?.contains(&"クーポン".to_owned());
        assert_eq!(has, i < 3, "friend {i}");
    }
    let tags = owner.get("/console/tags").await?;
    assert!(
        tags.body.contains("クーポン") && tags.body.contains("3人"),
        "member counts on the tag list"
    );

    let csv = owner.get("/console/friends.csv?tag=春").await?;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.body.starts_with('\u{FEFF}'), "a BOM for Excel");
    let lines: Vec<&str> = csv.body.trim_end().lines().collect();
    assert_eq!(lines.len(), 4, "a header and the three friends: {lines:?}");
    assert!(lines[0].ends_with("タグ,favorite_shop"), "{}", lines[0]);
    assert!(csv.body.contains("渋谷店") && csv.body.contains("クーポン; 春"));
    assert!(!csv.body.contains(&users[4]));

    // Custom fields and follow dates filter too (days in the shop's zone).
    let shibuya = owner
        .get("/console/friends?field=favorite_shop&field_value=渋谷店")
        .await?;
    assert!(shibuya.body.contains(&users[0]) && !shibuya.body.contains(&users[1]));
    let today = jiff::Timestamp::from_millisecond(env.now_ms())?
        .to_zoned(jiff::tz::TimeZone::get("Asia/Tokyo")?)
        .date();
    let tomorrow = today.tomorrow()?;
    let since_today = owner.get(&format!("/console/friends?from={today}")).await?;
    assert!(users.iter().all(|u| since_today.body.contains(u.as_str())));
    let since_tomorrow = owner
        .get(&format!("/console/friends?from={tomorrow}"))
        .await?;
    assert!(
        !users
            .iter()
            .any(|u| since_tomorrow.body.contains(u.as_str()))
    );
    let until_today = owner
        .get(&format!("/console/friends?until={today}"))
        .await?;
    assert!(
        users.iter().all(|u| until_today.body.contains(u.as_str())),
        "{today} {}",
        until_today.body
    );

    // An end without a start (DynamoDB takes no empty key bound), through the API as well.
    let (status, page) = env
        .marketer(
            "GET",
            &format!("/admin/friends?followedTo={}&route=&field=favorite_shop&fieldValue=%E6%B8%8B%E8%B0%B7%E5%BA%97",
                jiff::Timestamp::from_millisecond(env.now_ms() + 1000)?),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["friends"].as_array().map(Vec::len), Some(1), "{page}");

    // The same through the JSON API, by a key; one call either adds or removes.
    let (status, progress) = env
        .marketer(
            "POST",
            "/admin/friends/bulk-tags?tags=%E6%98%A5",
            Some(serde_json::json!({"remove": "クーポン"})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{progress}");
    assert_eq!(progress["updated"], 3);
    assert!(progress["cursor"].is_null());
    for u in &users {
        assert!(!env.tags_of(u).await?.contains(&"クーポン".to_owned()));
    }
    let (status, refused) = env
        .marketer(
            "POST",
            "/admin/friends/bulk-tags",
            Some(serde_json::json!({"add": "a", "remove": "b"})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    Ok(())
}

/// More friends than one call changes: the first call stops at its batch and hands back a
/// cursor, the next ones go on from it, and every friend carries the tag exactly once in the
/// counts. (The API and the console change 500 per call; the same loop runs here with 5.)
#[tokio::test]
async fn console_bulk_tagging_past_one_batch_goes_on_from_its_cursor() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let users: Vec<String> = (0..12).map(|_| new_user()).collect();
    for u in &users {
        env.follow(u).await?;
    }
    let tenant = env
        .store
        .get_tenant(&env.tenant.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tenant"))?;
    let tag = crm::domain::TagName::parse("全員")?;
    let change = crm::friends::BulkTagging::Add(tag.clone());
    let filter = crm::store::FriendFilter::default();
    let mut calls = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let progress =
            crm::friends::bulk_tag(&env.deps, &tenant, &filter, &change, cursor.as_deref(), 5)
                .await?;
        calls.push(progress.updated);
        cursor = progress.cursor;
        if cursor.is_none() {
            break;
        }
        assert!(calls.len() < 10, "no end: {calls:?}");
    }
    assert_eq!(calls, [5, 5, 2]);
    for u in &users {
        assert!(env.tags_of(u).await?.contains(&"全員".to_owned()));
    }
    let counts = env.store.tag_counts(&env.tenant.id).await?;
    assert_eq!(counts.get(&tag).copied(), Some(users.len() as i64));
    Ok(())
}
