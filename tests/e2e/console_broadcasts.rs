//! The console's broadcasts and reports over HTTP: a segment built from form fields is counted
//! by the same code the send uses (and the JSON API agrees), a broadcast scheduled in Tokyo
//! time is stored in UTC and can be cancelled, one sent now shows its delivery report with
//! LINE's reason for a refused chunk, and the reports download as CSV that Excel opens.
use http::StatusCode;
use serde_json::json;
use tsunagu_local::fake_line::Endpoint;
use tsunagu_tests::{Page, TestEnv, new_user};

/// The broadcast id a create redirected to.
fn created_id(page: &Page) -> String {
    page.location
        .as_deref()
        .and_then(|l| l.strip_prefix("/console/broadcasts/"))
        .unwrap_or_default()
        .to_owned()
}

fn multicast_recipients(env: &TestEnv) -> Vec<Vec<String>> {
    env.fake
        .sent_messages()
        .into_iter()
        .filter(|d| d.endpoint == Endpoint::Multicast)
        .map(|d| d.to)
        .collect()
}

#[tokio::test]
async fn console_an_editor_counts_a_segment_schedules_cancels_and_sends_a_broadcast()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    env.set_local_time("2026-04-01T12:00")?;
    let (vip, resting_vip, other, gone_vip) = (new_user(), new_user(), new_user(), new_user());
    for u in [&vip, &resting_vip, &other, &gone_vip] {
        env.follow(u).await?;
    }
    for (u, tags) in [
        (&vip, vec!["VIP"]),
        (&resting_vip, vec!["VIP", "休眠"]),
        (&gone_vip, vec!["VIP"]),
    ] {
        let (status, body) = env
            .marketer(
                "POST",
                &format!("/admin/friends/{u}/tags"),
                Some(json!({ "tags": tags })),
            )
            .await?;
        assert!(status.is_success(), "{body}");
    }
    // A VIP who blocked the account is in no segment.
    env.deliver(vec![tsunagu_tests::user::unfollow(
        &gone_vip,
        env.now_ms() + 1_000,
    )])
    .await?;

    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let editor = env.browser();
    assert!(
        editor
            .sign_in(&email, &password)
            .await?
            .redirects_to("/console/")
    );
    let form = editor.get("/console/broadcasts/new").await?;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("配信対象") && form.body.contains("今すぐ配信"));

    // The segment: VIP, and not 休眠. Counting shows the form again with the count and preview.
    let draft = [
        ("name", "VIP先行セール"),
        ("text", "VIPの皆さまへ\n先行セールのご案内です"),
        ("all_tags", "VIP"),
        ("none_tags", "休眠"),
    ];
    let mut fields = draft.to_vec();
    fields.push(("action", "count"));
    let counted = editor
        .submit("/console/broadcasts/new", "/console/broadcasts", &fields)
        .await?;
    assert_eq!(counted.status, StatusCode::OK, "{}", counted.body);
    assert!(
        counted.body.contains("data-count=\"1\""),
        "{}",
        counted.body
    );
    assert!(
        counted.body.contains("value=\"休眠\""),
        "fields kept as typed"
    );
    assert!(
        counted
            .body
            .contains("class=\"bubble\">VIPの皆さまへ\n先行セールのご案内です"),
        "the LINE-like preview"
    );
    // The JSON API counts the same segment the same way.
    let (status, audience) = env
        .marketer(
            "POST",
            "/admin/broadcasts/audience",
            Some(json!({ "segment": { "allTags": ["VIP"], "noneTags": ["休眠"] } })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{audience}");
    assert_eq!(audience["count"], 1);
    // And so does the page's script, through the console's own JSON answer.
    let mut fields = vec![("csrf", counted.csrf().unwrap_or_default())];
    fields.extend(draft.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let live = editor.post("/console/broadcasts/audience", &fields).await?;
    assert_eq!(live.status, StatusCode::OK, "{live:?}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&live.body)?,
        json!({ "count": 1 })
    );

    // Scheduled for tomorrow 10:00 in Tokyo: stored as that instant, listed in Tokyo time.
    let mut fields = draft.to_vec();
    fields.extend([("send_at", "2026-04-02T10:00"), ("action", "schedule")]);
    let scheduled = editor
        .submit("/console/broadcasts/new", "/console/broadcasts", &fields)
        .await?;
    assert_eq!(
        scheduled.status,
        StatusCode::SEE_OTHER,
        "{}",
        scheduled.body
    );
    let id = created_id(&scheduled);
    let (_, report) = env
        .marketer("GET", &format!("/admin/broadcasts/{id}"), None)
        .await?;
    let at: jiff::Timestamp = report["broadcast"]["sendAt"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    assert_eq!(at, env.clock_in_tokyo("2026-04-02T10:00")?);
    assert_eq!(report["broadcast"]["segment"]["noneTags"], json!(["休眠"]));
    let list = editor.get("/console/broadcasts").await?;
    assert!(
        list.body.contains("VIP先行セール")
            && list.body.contains("2026-04-02 10:00")
            && list.body.contains("予約済み"),
        "{}",
        list.body
    );

    // Cancelled before its time: nothing goes out when the time comes.
    let page_path = format!("/console/broadcasts/{id}");
    let cancelled = editor
        .submit(&page_path, &format!("{page_path}/cancel"), &[])
        .await?;
    assert!(cancelled.redirects_to(&page_path), "{cancelled:?}");
    let page = editor.get(&page_path).await?;
    assert!(page.body.contains("取り消し済み"));
    assert!(
        page.body
            .contains("<dt>いずれのタグもなし</dt><dd>休眠</dd>"),
        "the segment in the form's words: {}",
        page.body
    );
    assert!(!page.body.contains("/cancel\""), "no cancel form any more");
    env.set_local_time("2026-04-02T10:00")?;
    env.tick().await?;
    assert!(multicast_recipients(&env).is_empty());
    // A day later her 12-hour session has ended.
    editor.sign_in(&email, &password).await?;

    // Sent now: after the tick its page shows the delivery report.
    let mut fields = draft.to_vec();
    fields.push(("action", "send"));
    let sent = editor
        .submit("/console/broadcasts/new", "/console/broadcasts", &fields)
        .await?;
    let now_id = created_id(&sent);
    env.tick().await?;
    assert_eq!(multicast_recipients(&env), vec![vec![vip.clone()]]);
    let page = editor.get(&format!("/console/broadcasts/{now_id}")).await?;
    assert!(page.body.contains("配信完了"), "{}", page.body);
    assert!(
        page.body.contains("<dd class=\"sent\">1</dd>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<td>配信済み</td>"), "{}", page.body);

    // LINE refuses the next one: its report says so, with LINE's reason.
    env.fake.fail_next(Endpoint::Multicast, 400, 1);
    let fields = [("name", "全員へ"), ("text", "お知らせ"), ("action", "send")];
    let refused = editor
        .submit("/console/broadcasts/new", "/console/broadcasts", &fields)
        .await?;
    let refused_id = created_id(&refused);
    env.tick().await?;
    let page = editor
        .get(&format!("/console/broadcasts/{refused_id}"))
        .await?;
    assert!(
        page.body.contains("<dd class=\"failed\">3</dd>") && page.body.contains("400 Bad Request"),
        "{}",
        page.body
    );

    // The report and its CSV: BOM, header row, the numbers.
    let reports = editor.get("/console/reports").await?;
    assert_eq!(reports.status, StatusCode::OK);
    assert!(reports.body.contains("<svg class=\"bars\""));
    let csv = editor.get("/console/reports/broadcasts.csv").await?;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.set_cookies.is_empty(),
        "a download sets no cookie: {csv:?}"
    );
    assert!(csv.body.starts_with('\u{feff}'), "a BOM for Excel");
    let lines: Vec<&str> = csv.body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines[0],
        "id,配信名,状態,配信日時,対象,配信済み,失敗,上限で除外"
    );
    assert!(
        lines.contains(
            &format!("{now_id},VIP先行セール,配信完了,2026-04-02 10:00,1,1,0,0").as_str()
        ),
        "{lines:?}"
    );
    assert!(
        lines.contains(
            &format!("{id},VIP先行セール,取り消し済み,2026-04-02 10:00,0,0,0,0").as_str()
        ),
        "{lines:?}"
    );
    let reactivation = editor.get("/console/reports/reactivation.csv").await?;
    assert!(reactivation.body.starts_with(
        "\u{feff}休眠段階,タグ,シナリオ,流入経路,該当,メッセージ送信,再来店,再来店率"
    ));

    // A viewer sees the broadcasts but no form, and her post is refused.
    let viewer = env.console_viewer(&editor).await?;
    let seen = viewer.get("/console/broadcasts").await?;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(seen.body.contains("VIP先行セール"));
    assert!(!seen.body.contains("/console/broadcasts/new"));
    assert_eq!(
        viewer.get("/console/broadcasts/new").await?.status,
        StatusCode::FORBIDDEN
    );
    let csrf = seen.csrf().unwrap_or_default();
    let before = env.store.broadcasts(&env.tenant.id).await?.len();
    let refused = viewer
        .post(
            "/console/broadcasts",
            &[
                ("csrf", &csrf),
                ("name", "x"),
                ("text", "x"),
                ("action", "send"),
            ],
        )
        .await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(env.store.broadcasts(&env.tenant.id).await?.len(), before);

    // A month of silence later the sweep has put them into the 30-day tier: the reactivation
    // CSV says what the API says.
    env.set_local_time("2026-05-03T12:00")?;
    env.sweep().await?;
    editor.sign_in(&email, &password).await?;
    let (_, api) = env
        .marketer("GET", "/admin/reports/reactivation", None)
        .await?;
    let tier = &api["tiers"][0];
    assert!(tier["entered"].as_u64() > Some(0), "{api}");
    let csv = editor.get("/console/reports/reactivation.csv").await?;
    let expected = format!(
        "最終アクションから30日,休眠30日,,,{},{},{},",
        tier["entered"], tier["messaged"], tier["returned"]
    );
    assert!(
        csv.body.lines().any(|l| l == expected),
        "{expected} in {}",
        csv.body
    );
    let page = editor.get("/console/reports").await?;
    assert!(page.body.contains("最終アクションから30日"));
    Ok(())
}

#[tokio::test]
async fn console_a_refused_broadcast_form_comes_back_as_typed_with_the_reason() -> anyhow::Result<()>
{
    let env = TestEnv::start().await?;
    env.set_local_time("2026-04-01T12:00")?;
    let (email, password) = env.console_owner(env.tenant.id.as_str()).await?;
    let editor = env.browser();
    editor.sign_in(&email, &password).await?;
    for (fields, reason) in [
        (
            vec![
                ("name", "過去"),
                ("text", "x"),
                ("send_at", "2026-03-31T10:00"),
                ("action", "schedule"),
            ],
            "配信日時が過去です",
        ),
        (
            vec![("name", "空"), ("text", " "), ("action", "send")],
            "メッセージを入力してください",
        ),
        (
            vec![
                ("name", "JSON"),
                ("messages_json", "[{\"type\": \"text\"}]"),
                ("action", "send"),
            ],
            "messages",
        ),
        (
            vec![
                ("name", "金額"),
                ("text", "x"),
                ("purchase_total", "たくさん"),
                ("action", "count"),
            ],
            "purchase_total",
        ),
    ] {
        let page = editor
            .submit("/console/broadcasts/new", "/console/broadcasts", &fields)
            .await?;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(page.body.contains(reason), "{reason}: {}", page.body);
        assert!(page.body.contains(&format!("value=\"{}\"", fields[0].1)));
    }
    assert!(env.store.broadcasts(&env.tenant.id).await?.is_empty());
    Ok(())
}
