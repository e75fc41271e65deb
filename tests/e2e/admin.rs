//! The marketer and the operator using the admin API.
use http::StatusCode;
use serde_json::{Value, json};
use tsunagu_tests::{OPERATOR_KEY, TestEnv, new_user, user};

async fn follow(env: &TestEnv, u: &str, at_ms: i64) -> anyhow::Result<()> {
    let (status, _) = env.deliver(vec![user::follow(u, at_ms, false)]).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

fn ids(page: &Value) -> Vec<String> {
    page["friends"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .filter_map(|f| f["userId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_operator_creates_a_tenant_whose_key_then_works() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let id = format!("shop-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let req = json!({ "id": id, "name": "カフェ渋谷", "channelSecret": "s3cret", "accessToken": "t0ken" });

    let (status, created) = env
        .admin("POST", "/admin/tenants", OPERATOR_KEY, Some(req.clone()))
        .await?;

    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["webhookUrl"],
        format!("https://api.example.test/webhook/{id}")
    );
    assert!(
        !created.to_string().contains("s3cret") && !created.to_string().contains("t0ken"),
        "secrets never returned"
    );
    let key = created["apiKey"].as_str().unwrap_or_default().to_owned();
    let (status, me) = env.admin("GET", "/admin/tenant", &key, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["zone"], "Asia/Tokyo");

    let (status, _) = env
        .admin("POST", "/admin/tenants", OPERATOR_KEY, Some(req))
        .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = env
        .admin("POST", "/admin/tenants", &key, Some(json!({})))
        .await?;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a tenant key cannot create tenants"
    );
    Ok(())
}

#[tokio::test]
async fn invalid_tenant_settings_name_the_field() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let req = json!({ "id": "shop-x", "name": "x", "channelSecret": "s", "accessToken": "t", "zone": "Mars/Olympus" });
    let (status, err) = env
        .admin("POST", "/admin/tenants", OPERATOR_KEY, Some(req))
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["field"], "zone");

    let (status, err) = env
        .admin(
            "POST",
            "/admin/tenants",
            OPERATOR_KEY,
            Some(json!({"id": 1})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("malformed JSON"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn a_key_of_one_tenant_sees_nothing_of_another() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let other = env.new_tenant().await?;
    let u = new_user();
    follow(&env, &u, env.now_ms()).await?;

    let (status, _) = env
        .admin("GET", &format!("/admin/friends/{u}"), &other.api_key, None)
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = env
        .admin("GET", "/admin/friends", &other.api_key, None)
        .await?;
    assert_eq!(ids(&page), Vec::<String>::new());
    let (status, _) = env
        .admin(
            "POST",
            &format!("/admin/friends/{u}/tags"),
            &other.api_key,
            Some(json!({"tags": ["VIP"]})),
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let friend = env
        .store
        .get_friend(&env.tenant.id, &u.parse()?)
        .await?
        .expect("friend");
    assert!(
        friend.tags.is_empty(),
        "the other tenant's key changed nothing"
    );

    // A cursor from this tenant's listing is refused for the other tenant.
    follow(&env, &new_user(), env.now_ms() + 1).await?;
    let (_, page) = env.marketer("GET", "/admin/friends?limit=1", None).await?;
    let cursor = page["cursor"].as_str().unwrap_or_default().to_owned();
    let (status, _) = env
        .admin(
            "GET",
            &format!("/admin/friends?cursor={cursor}"),
            &other.api_key,
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = env
        .admin("GET", "/admin/friends", "made-up-key", None)
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = env
        .admin("GET", "/admin/friends", OPERATOR_KEY, None)
        .await?;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the operator does not browse shops' friends"
    );
    Ok(())
}

#[tokio::test]
async fn a_marketer_tags_a_friend_sets_fields_and_sees_the_history() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = new_user();
    follow(&env, &u, env.now_ms()).await?;
    env.deliver(vec![user::text_message(
        &u,
        env.now_ms() + 1000,
        "クーポンください",
    )])
    .await?;

    let (status, friend) = env
        .marketer(
            "POST",
            &format!("/admin/friends/{u}/tags"),
            Some(json!({"tags": ["美容", "20代"]})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{friend}");
    let (status, _) = env
        .marketer(
            "PATCH",
            &format!("/admin/friends/{u}/fields"),
            Some(json!({"fields": {"age_band": "20s", "gender": "female"}})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, friend) = env
        .marketer("DELETE", &format!("/admin/friends/{u}/tags/20代"), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(friend["tags"].get("20代").is_none());

    let (status, friend) = env
        .marketer("GET", &format!("/admin/friends/{u}"), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(friend["tags"].get("美容").is_some());
    assert_eq!(
        friend["fields"],
        json!({"age_band": "20s", "gender": "female"})
    );
    let kinds: Vec<_> = friend["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| h["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("message"), json!("follow")], "newest first");

    let (_, tags) = env.marketer("GET", "/admin/tags", None).await?;
    let names: Vec<_> = tags["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["name"].clone())
        .collect();
    assert!(
        names.contains(&json!("美容")) && names.contains(&json!("20代")),
        "ad-hoc tags are catalogued"
    );

    let (status, err) = env
        .marketer(
            "POST",
            &format!("/admin/friends/{u}/tags"),
            Some(json!({"tags": ["ok", ""]})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["field"], "tags[1]");
    Ok(())
}

#[tokio::test]
async fn tag_definitions_have_folders_and_descriptions() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (status, _) = env
        .marketer(
            "PUT",
            "/admin/tags/初回購入",
            Some(json!({"folder": "購入", "description": "first purchase"})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, tags) = env.marketer("GET", "/admin/tags", None).await?;
    assert_eq!(tags["tags"][0]["folder"], "購入");
    let (status, _) = env.marketer("DELETE", "/admin/tags/初回購入", None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = env.marketer("DELETE", "/admin/tags/初回購入", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn friends_are_filtered_and_paged_in_follow_order() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let t0 = env.now_ms();
    let mut friends = Vec::new();
    for i in 0..7 {
        let u = new_user();
        follow(&env, &u, t0 + i * 86_400_000).await?;
        if i % 2 == 0 {
            env.marketer(
                "POST",
                &format!("/admin/friends/{u}/tags"),
                Some(json!({"tags": ["VIP"]})),
            )
            .await?;
        }
        friends.push(u);
    }
    env.deliver(vec![user::unfollow(&friends[6], t0 + 7 * 86_400_000)])
        .await?;

    // Pages of 3 walk all seven in follow order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/friends?limit=3&cursor={c}"),
            None => "/admin/friends?limit=3".into(),
        };
        let (status, page) = env.marketer("GET", &path, None).await?;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(ids(&page).len() <= 3);
        seen.extend(ids(&page));
        match page["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, friends);

    let (_, page) = env.marketer("GET", "/admin/friends?tags=VIP", None).await?;
    assert_eq!(
        ids(&page),
        [
            friends[0].clone(),
            friends[2].clone(),
            friends[4].clone(),
            friends[6].clone()
        ]
    );
    let (_, page) = env
        .marketer("GET", "/admin/friends?tags=VIP&blocked=false", None)
        .await?;
    assert_eq!(
        ids(&page),
        [friends[0].clone(), friends[2].clone(), friends[4].clone()]
    );
    let (_, page) = env
        .marketer("GET", "/admin/friends?notTags=VIP", None)
        .await?;
    assert_eq!(
        ids(&page),
        [friends[1].clone(), friends[3].clone(), friends[5].clone()]
    );

    // Followed on days 2..=4 (tenant dates are instants here; the window is inclusive).
    let from = jiff::Timestamp::from_millisecond(t0 + 2 * 86_400_000)?;
    let to = jiff::Timestamp::from_millisecond(t0 + 4 * 86_400_000)?;
    let (_, page) = env
        .marketer(
            "GET",
            &format!("/admin/friends?followedFrom={from}&followedTo={to}"),
            None,
        )
        .await?;
    assert_eq!(
        ids(&page),
        [friends[2].clone(), friends[3].clone(), friends[4].clone()]
    );

    // A sparse filter over small pages still fills the page or says where to go on.
    let (_, page) = env
        .marketer("GET", "/admin/friends?tags=VIP&limit=2", None)
        .await?;
    assert_eq!(ids(&page), [friends[0].clone(), friends[2].clone()]);
    let c = page["cursor"].as_str().unwrap_or_default().to_owned();
    let (_, page) = env
        .marketer(
            "GET",
            &format!("/admin/friends?tags=VIP&limit=2&cursor={c}"),
            None,
        )
        .await?;
    assert_eq!(ids(&page), [friends[4].clone(), friends[6].clone()]);

    let (status, err) = env.marketer("GET", "/admin/friends?limit=0", None).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["field"], "limit");
    Ok(())
}

#[tokio::test]
async fn friends_are_found_by_name() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (hanako, taro) = (new_user(), new_user());
    env.fake
        .set_profile(&env.tenant.access_token, &hanako, "山田花子", None, None);
    env.fake
        .set_profile(&env.tenant.access_token, &taro, "佐藤太郎", None, None);
    follow(&env, &hanako, env.now_ms()).await?;
    follow(&env, &taro, env.now_ms() + 1).await?;

    let (_, page) = env
        .marketer("GET", "/admin/friends?name=花子", None)
        .await?;
    assert_eq!(ids(&page), [hanako]);
    Ok(())
}

#[tokio::test]
async fn the_operator_rotates_a_shops_channel_secret_and_the_old_one_stops_working()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let u = new_user();
    let body = user::batch(vec![user::follow(&u, env.now_ms(), false)]);
    let path = format!("/admin/tenants/{}/credentials", env.tenant.id);
    let rotation = json!({ "channelSecret": "the-new-channel-secret" });

    // A shop's own key cannot; the operator's can.
    let (status, _) = env
        .admin("PUT", &path, &env.tenant.api_key, Some(rotation.clone()))
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, err) = env
        .admin("PUT", &path, OPERATOR_KEY, Some(json!({})))
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, _) = env
        .admin("PUT", &path, OPERATOR_KEY, Some(rotation))
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let old = user::signature(&env.tenant.channel_secret, &body);
    let (status, _) = env
        .post_raw(env.tenant.id.as_str(), Some(&old), body.clone())
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let new = user::signature("the-new-channel-secret", &body);
    let (status, _) = env
        .post_raw(env.tenant.id.as_str(), Some(&new), body)
        .await?;
    assert_eq!(status, StatusCode::OK);
    // The access token was kept: the shop can still send.
    let t = env.store.get_tenant(&env.tenant.id).await?.expect("tenant");
    assert_eq!(t.access_token.expose(), env.tenant.access_token);
    Ok(())
}

#[tokio::test]
async fn changing_settings_keeps_a_quota_mark_the_tick_wrote_meanwhile() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    // What the admin API read just before the tick marked the monthly quota exhausted.
    let read = env.store.get_tenant(&env.tenant.id).await?.expect("tenant");
    env.store
        .set_quota_exhausted(&env.tenant.id, Some(jiff::Timestamp::now()))
        .await?;
    let mut changed = read.clone();
    changed.name = "新しい店名".into();
    env.store.update_tenant_settings(&changed).await?;

    let stored = env.store.get_tenant(&env.tenant.id).await?.expect("tenant");
    assert_eq!(stored.name, "新しい店名");
    assert!(
        stored.quota_exhausted_at.is_some(),
        "the tick's mark survives"
    );
    // Through the API too, and the credentials still open afterwards.
    let (status, body) = env
        .marketer("PATCH", "/admin/tenant", Some(json!({ "dailyCap": 3 })))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dailyCap"], 3);
    let (status, body) = env
        .marketer("PATCH", "/admin/tenant", Some(json!({ "dailyCap": null })))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = env.store.get_tenant(&env.tenant.id).await?.expect("tenant");
    assert_eq!(stored.daily_cap, None);
    assert!(stored.quota_exhausted_at.is_some());
    assert_eq!(stored.access_token.expose(), env.tenant.access_token);
    Ok(())
}

/// A sparse filter read in small pages: every match comes exactly once, in follow order,
/// whatever each page read ahead to find them.
#[tokio::test]
async fn a_sparse_filter_pages_through_every_match_once() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let users: Vec<String> = (0..300).map(|_| new_user()).collect();
    for (i, batch) in users.chunks(100).enumerate() {
        let events = batch
            .iter()
            .enumerate()
            .map(|(j, u)| user::follow(u, env.now_ms() + (i * 100 + j) as i64, false))
            .collect();
        let (status, body) = env.deliver(events).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut tagged = Vec::new();
    for u in users.iter().step_by(7) {
        let (status, body) = env
            .marketer(
                "POST",
                &format!("/admin/friends/{u}/tags"),
                Some(json!({"tags": ["七番目"]})),
            )
            .await?;
        assert!(status.is_success(), "{body}");
        tagged.push(u.clone());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let path = match &cursor {
            Some(c) => {
                format!("/admin/friends?tags=%E4%B8%83%E7%95%AA%E7%9B%AE&limit=5&cursor={c}")
            }
            None => "/admin/friends?tags=%E4%B8%83%E7%95%AA%E7%9B%AE&limit=5".to_owned(),
        };
        let (status, page) = env.marketer("GET", &path, None).await?;
        assert_eq!(status, StatusCode::OK, "{page}");
        let friends = page["friends"].as_array().cloned().unwrap_or_default();
        assert!(friends.len() <= 5);
        seen.extend(
            friends
                .iter()
                .filter_map(|f| f["userId"].as_str().map(str::to_owned)),
        );
        cursor = page["cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, tagged, "every match once, in follow order");
    Ok(())
}
