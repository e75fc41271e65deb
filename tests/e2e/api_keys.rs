//! A shop's API keys: several at once, so rotating one never locks an integration out.
use http::StatusCode;
use serde_json::{Value, json};
use tsunagu_tests::{NowTs, OPERATOR_KEY, TestEnv};

fn listed(body: &Value) -> Vec<Value> {
    body["apiKeys"].as_array().cloned().unwrap_or_default()
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_default()
}

async fn status_with(env: &TestEnv, key: &str) -> anyhow::Result<StatusCode> {
    Ok(env.admin("GET", "/admin/tenant", key, None).await?.0)
}

#[tokio::test]
async fn api_key_rotation_has_no_downtime() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let old = env.tenant.api_key.clone();

    let (status, body) = env.marketer("GET", "/admin/api-keys", None).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let keys = listed(&body);
    assert_eq!(
        keys.len(),
        1,
        "the key created with the tenant is listed: {body}"
    );
    let old_id = str_of(&keys[0], "id").to_owned();
    assert_eq!(keys[0]["current"], true, "the caller's own key is marked");
    assert_eq!(str_of(&keys[0], "prefix"), &old[..8]);

    let (status, created) = env
        .marketer("POST", "/admin/api-keys", Some(json!({"name": "POS レジ"})))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let new = str_of(&created, "apiKey").to_owned();
    let new_id = str_of(&created, "id").to_owned();
    assert!(new.starts_with("tsk_") && new.len() > 40, "{created}");
    assert_eq!(str_of(&created, "prefix"), &new[..8]);
    assert_eq!(created["name"], "POS レジ");
    assert!(created["createdAt"].is_string());

    // Both keys open the tenant while integrations move over.
    assert_eq!(status_with(&env, &old).await?, StatusCode::OK);
    assert_eq!(status_with(&env, &new).await?, StatusCode::OK);

    let (_, body) = env.admin("GET", "/admin/api-keys", &new, None).await?;
    let keys = listed(&body);
    assert_eq!(keys.len(), 2, "{body}");
    let dump = body.to_string();
    for secret in [
        &old,
        &new,
        &crm::admin_api::hash_key(&old),
        &crm::admin_api::hash_key(&new),
    ] {
        assert!(
            !dump.contains(secret.as_str()),
            "the list shows no key nor hash: {body}"
        );
    }
    for key in &keys {
        let mut fields: Vec<&str> = key
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        fields.sort_unstable();
        fields.retain(|f| !["current", "lastUsedAt"].contains(f));
        assert_eq!(fields, ["createdAt", "id", "name", "prefix"], "{key}");
    }

    // Revoked with the new key: the old one is refused at once, the new one goes on.
    let (status, _) = env
        .admin("DELETE", &format!("/admin/api-keys/{old_id}"), &new, None)
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(status_with(&env, &old).await?, StatusCode::UNAUTHORIZED);
    assert_eq!(status_with(&env, &new).await?, StatusCode::OK);
    let (_, body) = env.admin("GET", "/admin/api-keys", &new, None).await?;
    let ids: Vec<Value> = listed(&body).iter().map(|k| k["id"].clone()).collect();
    assert_eq!(ids, [json!(new_id)]);
    let (status, _) = env
        .admin("DELETE", &format!("/admin/api-keys/{old_id}"), &new, None)
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "revoked once");
    Ok(())
}

#[tokio::test]
async fn api_key_of_another_tenant_or_unknown_cannot_be_revoked() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let other = env.new_tenant().await?;
    let (_, created) = env
        .admin("POST", "/admin/api-keys", &other.api_key, None)
        .await?;
    let others_id = str_of(&created, "id").to_owned();
    assert_eq!(created["name"], "", "a name is optional");

    for id in [
        others_id.as_str(),
        "0123456789abcdef0123456789abcdef",
        "Not-A-Key",
    ] {
        let (status, err) = env
            .marketer("DELETE", &format!("/admin/api-keys/{id}"), None)
            .await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {err}");
    }
    let (_, body) = env
        .admin("GET", "/admin/api-keys", &other.api_key, None)
        .await?;
    assert_eq!(
        listed(&body).len(),
        2,
        "the other tenant's keys are untouched"
    );
    let (_, body) = env.marketer("GET", "/admin/api-keys", None).await?;
    assert_eq!(listed(&body).len(), 1, "lists only its own tenant's keys");

    let (status, _) = env
        .admin("GET", "/admin/api-keys", OPERATOR_KEY, None)
        .await?;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the operator has no keys of its own"
    );
    Ok(())
}

#[tokio::test]
async fn api_key_the_last_one_is_kept_and_the_count_is_capped() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (_, body) = env.marketer("GET", "/admin/api-keys", None).await?;
    let only = str_of(&listed(&body)[0], "id").to_owned();

    let (status, err) = env
        .marketer("DELETE", &format!("/admin/api-keys/{only}"), None)
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(
        str_of(&err["error"], "message").contains("last active API key"),
        "{err}"
    );
    assert_eq!(
        status_with(&env, &env.tenant.api_key).await?,
        StatusCode::OK
    );

    let cap = crm::admin_api::MAX_ACTIVE_KEYS;
    let mut created = Vec::new();
    for _ in 1..cap {
        let (status, key) = env.marketer("POST", "/admin/api-keys", None).await?;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        created.push(key);
    }
    let (status, err) = env.marketer("POST", "/admin/api-keys", None).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(
        str_of(&err["error"], "message").contains("at most 10"),
        "{err}"
    );
    let (_, body) = env.marketer("GET", "/admin/api-keys", None).await?;
    assert_eq!(listed(&body).len(), cap as usize);

    // A revoke makes room again; a key may revoke itself while another remains.
    let last = created.last().cloned().unwrap_or_default();
    let (status, _) = env
        .admin(
            "DELETE",
            &format!("/admin/api-keys/{}", str_of(&last, "id")),
            str_of(&last, "apiKey"),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = env.marketer("POST", "/admin/api-keys", None).await?;
    assert_eq!(status, StatusCode::CREATED);

    let (status, err) = env
        .marketer(
            "POST",
            "/admin/api-keys",
            Some(json!({"name": "x".repeat(101)})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"]["field"], "name");
    Ok(())
}

#[tokio::test]
async fn api_key_last_use_is_recorded_at_most_hourly() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let first_use = env.clock.now_ts().to_string();
    let (_, body) = env.marketer("GET", "/admin/api-keys", None).await?;
    assert_eq!(listed(&body)[0]["lastUsedAt"], first_use.as_str());

    env.clock.advance(jiff::SignedDuration::from_mins(30));
    let (_, body) = env.marketer("GET", "/admin/api-keys", None).await?;
    assert_eq!(
        listed(&body)[0]["lastUsedAt"],
        first_use.as_str(),
        "within the hour"
    );

    env.clock.advance(jiff::SignedDuration::from_mins(31));
    let later = env.clock.now_ts().to_string();
    let (_, body) = env.marketer("GET", "/admin/api-keys", None).await?;
    assert_eq!(listed(&body)[0]["lastUsedAt"], later.as_str());
    Ok(())
}

#[tokio::test]
async fn api_key_from_before_listing_is_listed_on_first_use() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    // A key as the admin API stored it before keys were listed: a lookup item only.
    let legacy = "legacy-key-of-a-shop-created-long-ago";
    let client = aws_sdk_dynamodb::Client::new(&tsunagu_local::stack::aws_config().await);
    let s = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned());
    client
        .put_item()
        .table_name(&env.deps.config.table_name)
        .item(
            "pk",
            s(&format!("KEY#{}", crm::admin_api::hash_key(legacy))),
        )
        .item("sk", s("KEY"))
        .item("entity", s("api_key"))
        .item("tenant", s(env.tenant.id.as_str()))
        .item("role", s("tenant"))
        .item("label", s("initial"))
        .item("createdAt", s("2025-01-01T00:00:00Z"))
        .send()
        .await?;

    let (status, body) = env.admin("GET", "/admin/api-keys", legacy, None).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let keys = listed(&body);
    assert_eq!(keys.len(), 2, "{body}");
    let listed_legacy = keys
        .iter()
        .find(|k| k["current"] == true)
        .cloned()
        .unwrap_or_default();
    assert_eq!(listed_legacy["name"], "initial");
    assert_eq!(listed_legacy["prefix"], "legacy-k");
    assert_eq!(listed_legacy["createdAt"], "2025-01-01T00:00:00Z");

    // Counted like any key: revocable while another remains, and then refused.
    let id = str_of(&listed_legacy, "id").to_owned();
    let (status, _) = env
        .marketer("DELETE", &format!("/admin/api-keys/{id}"), None)
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(status_with(&env, legacy).await?, StatusCode::UNAUTHORIZED);
    let (_, body) = env.marketer("GET", "/admin/api-keys", None).await?;
    let only = str_of(&listed(&body)[0], "id").to_owned();
    let (status, _) = env
        .marketer("DELETE", &format!("/admin/api-keys/{only}"), None)
        .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    Ok(())
}

#[tokio::test]
async fn api_keys_of_a_tenant_are_managed_by_the_operator_too() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let id = format!("shop-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let req = json!({ "id": id, "name": "カフェ", "channelSecret": "s", "accessToken": "t" });
    let (status, tenant) = env
        .admin("POST", "/admin/tenants", OPERATOR_KEY, Some(req))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{tenant}");
    let first = str_of(&tenant, "apiKey").to_owned();
    let first_id = str_of(&tenant, "apiKeyId").to_owned();

    let path = format!("/admin/tenants/{id}/api-keys");
    let (status, body) = env.admin("GET", &path, OPERATOR_KEY, None).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(listed(&body).len(), 1);
    assert_eq!(listed(&body)[0]["id"], first_id.as_str());
    assert_eq!(listed(&body)[0]["name"], "initial");

    // The shop lost (or leaked) its key: the operator issues one and revokes the old.
    let (status, created) = env
        .admin(
            "POST",
            &path,
            OPERATOR_KEY,
            Some(json!({"name": "reissued"})),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = env
        .admin("DELETE", &format!("{path}/{first_id}"), OPERATOR_KEY, None)
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(status_with(&env, &first).await?, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status_with(&env, str_of(&created, "apiKey")).await?,
        StatusCode::OK
    );

    let (status, _) = env
        .admin("GET", &path, str_of(&created, "apiKey"), None)
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "a tenant key is no operator");
    let (status, _) = env
        .admin(
            "GET",
            "/admin/tenants/no-such-shop/api-keys",
            OPERATOR_KEY,
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn api_key_concurrent_revokes_never_remove_the_last_one() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (_, second) = env.marketer("POST", "/admin/api-keys", None).await?;
    let (_, body) = env.marketer("GET", "/admin/api-keys", None).await?;
    let ids: Vec<String> = listed(&body)
        .iter()
        .map(|k| str_of(k, "id").to_owned())
        .collect();
    assert_eq!(ids.len(), 2);

    // Both keys revoked at the same moment: the count's condition lets at most one through.
    let [first, second_path] =
        [&ids[0], &ids[1]].map(|id| format!("/admin/tenants/{}/api-keys/{id}", env.tenant.id));
    let (a, b) = tokio::join!(
        env.admin("DELETE", &first, OPERATOR_KEY, None),
        env.admin("DELETE", &second_path, OPERATOR_KEY, None),
    );
    let statuses = [a?.0, b?.0];
    assert!(
        statuses.contains(&StatusCode::CONFLICT),
        "one of them is refused: {statuses:?}"
    );
    let working = [env.tenant.api_key.as_str(), str_of(&second, "apiKey")];
    let mut open = 0;
    for key in working {
        if status_with(&env, key).await? == StatusCode::OK {
            open += 1;
        }
    }
    assert!(open >= 1, "the shop keeps a key: {statuses:?}");
    Ok(())
}
