//! 友だち情報欄: the shop defines its custom fields once; staff then pick a defined field's value
//! from its choices (or enter a number or a date), in the console and through the API alike.
use http::StatusCode;
use serde_json::json;
use tsunagu_tests::{TestEnv, new_user};

#[tokio::test]
async fn console_defined_fields_take_only_what_their_definition_allows() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let u = new_user();
    env.follow(&u).await?;
    let owner = env.browser();
    owner.sign_in(&email, &password).await?;

    // A choice field without choices is refused, naming the part, with the form kept.
    let refused = owner
        .submit(
            "/console/fields",
            "/console/fields",
            &[
                ("name", "age_band"),
                ("label", "年代"),
                ("kind", "choice"),
                ("choices", ""),
            ],
        )
        .await?;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("choices:") && refused.body.contains("value=\"年代\""));
    let saved = owner
        .submit(
            "/console/fields",
            "/console/fields",
            &[
                ("name", "age_band"),
                ("label", "年代"),
                ("kind", "choice"),
                ("choices", "20代\r\n30代\r\n40代以上"),
            ],
        )
        .await?;
    assert!(saved.redirects_to("/console/fields"), "{saved:?}");

    // Her page offers the choices; a choice is kept, anything else refused.
    let page_path = format!("/console/friends/{u}");
    let page = owner.get(&page_path).await?;
    assert!(page.body.contains("<option>30代</option>"), "{}", page.body);
    let set = owner
        .submit(
            &page_path,
            &format!("{page_path}/fields"),
            &[("name", "age_band"), ("value", "30代")],
        )
        .await?;
    assert!(set.redirects_to(&page_path));
    let wrong = owner
        .submit(
            &page_path,
            &format!("{page_path}/fields"),
            &[("name", "age_band"), ("value", "30才")],
        )
        .await?;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(env.friend_view(&u).await?["fields"]["age_band"], "30代");

    // Through the API: a date field, a wrong date named by its path, the list, the removal.
    let (status, body) = env
        .marketer(
            "PUT",
            "/admin/fields/birthday",
            Some(json!({"label": "誕生日", "kind": "date"})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = env
        .marketer(
            "PATCH",
            &format!("/admin/friends/{u}/fields"),
            Some(json!({"fields": {"birthday": "2001-02-30"}})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("fields.birthday"), "{body}");
    let (status, body) = env
        .marketer(
            "PATCH",
            &format!("/admin/friends/{u}/fields"),
            Some(json!({"fields": {"birthday": "2001-02-28"}})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = env.marketer("GET", "/admin/fields", None).await?;
    let names: Vec<&str> = list["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["age_band", "birthday"]);
    let (status, _) = env
        .marketer(
            "PUT",
            "/admin/fields/x",
            Some(json!({"label": "x", "kind": "number", "choices": ["1"]})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = env
        .marketer("DELETE", "/admin/fields/age_band", None)
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Undefined again, the field is free text; her value stayed.
    let (status, _) = env
        .marketer(
            "PATCH",
            &format!("/admin/friends/{u}/fields"),
            Some(json!({"fields": {"age_band": "30才"}})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}
