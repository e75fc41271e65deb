//! Benchmark of the web console (`make bench`, not part of the tests).
//!
//! Writes a shop of N friends (10,000 by default) through the product's own friend writes (tags,
//! fields, counts), signs in as its owner and asks every console page many times, in process,
//! the way the admin-api function serves them. Reports each page's server time (p50, p99) and
//! size against the targets (50 ms, 150 KB) and against one GetItem in the same run, the least
//! any page costs.
//!
//!     cargo run --release -p tsunagu-local --bin bench_console -- --friends 10000
use std::{path::PathBuf, sync::Arc, time::Duration, time::Instant};

use anyhow::{Context, ensure};
use axum::{Router, body::Body};
use clap::Parser;
use crm::{
    Config, Deps,
    clock::ManualClock,
    deps::line_http_client,
    domain::{Friend, LineUserId, TagName, Tenant, field_definition::FieldDefinition},
    line::client::LineClient,
    store::Store,
};
use futures::{StreamExt, TryStreamExt, stream};
use http::{Request, StatusCode, header};
use tsunagu_local::{
    bench::{Machine, thousands, write_section},
    fake_line::FakeLine,
    stack::{self, Demo},
};

const SECTION_START: &str = "<!-- bench:console:start -->";
const SECTION_END: &str = "<!-- bench:console:end -->";
/// The targets: server time per page at p99, and size over the wire.
const TARGET_P99: Duration = Duration::from_millis(50);
const TARGET_BYTES: usize = 150 * 1024;

#[derive(Parser)]
#[command(about = "Console pages' server time and size with a shop of N friends")]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    friends: usize,
    /// Requests per page (after 10 not measured).
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Replace the "Console" section of this markdown file with the results.
    #[arg(long)]
    docs: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let machine = Machine::read();
    let aws = stack::aws_config().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let table = format!(
        "tsunagu-bench-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    stack::ensure_table(&client, &table).await?;
    let result = run(&args, client.clone(), &table).await;
    client.delete_table().table_name(&table).send().await.ok();
    let rows = result?;
    let section = markdown(&args, &machine, &rows);
    println!("{section}");
    if let Some(path) = &args.docs {
        write_section(path, SECTION_START, SECTION_END, &section)?;
    }
    Ok(())
}

/// One page's measurements.
struct Row {
    page: &'static str,
    p50: Duration,
    p99: Duration,
    bytes: usize,
}

async fn run(
    args: &Args,
    client: aws_sdk_dynamodb::Client,
    table: &str,
) -> anyhow::Result<Vec<Row>> {
    let store = Store::new(
        client,
        table,
        crm::vault::Vault::local(&crm::secret::Secret::new("bench")),
    );
    let fake = FakeLine::new();
    let (fake_url, _server) = fake.spawn(([127, 0, 0, 1], 0).into()).await?;
    let now = jiff::Timestamp::now();
    let deps = Deps {
        store: store.clone(),
        line: LineClient::new(line_http_client()?, fake_url.clone()),
        clock: Arc::new(ManualClock::at(now)),
        config: Arc::new(Config {
            table_name: table.to_owned(),
            bus_name: None,
            line_api_base: fake_url,
            public_base_url: None,
            operator_key_sha256: None,
            allow_loopback_webhooks: false,
            vault_key: crm::config::VaultKey::local_default(),
        }),
    };
    let demo = Demo::from_env()?;
    demo.seed(&store, now).await?;
    fake.add_channel(&demo.access_token);
    let tenant = store
        .get_tenant(&demo.tenant)
        .await?
        .context("the demo tenant")?;
    let someone = seed_shop(&deps, &tenant, args.friends, now).await?;

    let app = crm::admin_api::router(deps.clone()).merge(crm::console::router(deps.clone()));
    seed_definitions(&app, &demo).await?;
    let cookies = sign_in(&app, &demo).await?;
    let pages: Vec<(&'static str, String)> = vec![
        ("ダッシュボード `/console/`", "/console/".into()),
        ("友だち一覧 `/console/friends`", "/console/friends".into()),
        (
            "友だち一覧, tag VIP (10 %)",
            "/console/friends?tag=VIP".into(),
        ),
        (
            "友だち一覧, tag 休眠30日 (1 %)",
            "/console/friends?tag=%E4%BC%91%E7%9C%A030%E6%97%A5".into(),
        ),
        (
            "友だち一覧, field age_band = 30代 (25 %)",
            "/console/friends?field=age_band&field_value=30%E4%BB%A3".into(),
        ),
        (
            "友だち詳細 `/console/friends/{id}`",
            format!("/console/friends/{someone}"),
        ),
        ("タグ管理 `/console/tags`", "/console/tags".into()),
        ("友だち情報欄 `/console/fields`", "/console/fields".into()),
        (
            "シナリオ一覧 `/console/scenarios`",
            "/console/scenarios".into(),
        ),
        (
            "シナリオ `/console/scenarios/welcome`",
            "/console/scenarios/welcome".into(),
        ),
        (
            "ジャーニープレビュー (a made-up VIP)",
            "/console/scenarios/welcome?tags=VIP&start=2026-04-01T22%3A30".into(),
        ),
        (
            "回答フォーム `/console/surveys/hearing`",
            "/console/surveys/hearing".into(),
        ),
        ("休眠設定 `/console/dormancy`", "/console/dormancy".into()),
        (
            "一斉配信 `/console/broadcasts`",
            "/console/broadcasts".into(),
        ),
        (
            "新規配信 `/console/broadcasts/new`",
            "/console/broadcasts/new".into(),
        ),
        ("レポート `/console/reports`", "/console/reports".into()),
        ("スタッフ `/console/staff`", "/console/staff".into()),
    ];
    let mut rows = Vec::new();
    // The floor: one GetItem of the tenant, as every signed-in page reads it (and more).
    let mut floor = Vec::new();
    for _ in 0..args.requests {
        let started = Instant::now();
        store.get_tenant(&tenant.id).await?;
        floor.push(started.elapsed());
    }
    rows.push(Row {
        page: "Baseline: one GetItem (the tenant)",
        p50: percentile(&mut floor, 50),
        p99: percentile(&mut floor, 99),
        bytes: 0,
    });
    for (page, path) in pages {
        let mut times = Vec::new();
        let mut bytes = 0;
        for i in 0..args.requests + 10 {
            let started = Instant::now();
            let (status, body) = get(&app, &path, &cookies).await?;
            let took = started.elapsed();
            ensure!(status == StatusCode::OK, "{path}: {status}");
            bytes = body.len();
            if i >= 10 {
                times.push(took);
            }
        }
        eprintln!("bench: {page} done");
        rows.push(Row {
            page,
            p50: percentile(&mut times, 50),
            p99: percentile(&mut times, 99),
            bytes,
        });
    }
    Ok(rows)
}

/// The shop: every friend written through the product's friend writes (profile, tag members,
/// counts), with tags and fields in the proportions a page filters on.
async fn seed_shop(
    deps: &Deps,
    tenant: &Tenant,
    friends: usize,
    now: jiff::Timestamp,
) -> anyhow::Result<LineUserId> {
    let zone = tenant.time_zone();
    deps.store
        .put_field_definition(
            &tenant.id,
            &FieldDefinition {
                name: "age_band".into(),
                label: "年代".into(),
                kind: crm::domain::field_definition::FieldKind::Choice,
                choices: ["20代", "30代", "40代", "50代以上"]
                    .map(String::from)
                    .to_vec(),
                description: None,
            },
        )
        .await?;
    let settings = serde_json::from_value(serde_json::json!({
        "tiers": [{"days": 30, "tag": "休眠30日"}, {"days": 90, "tag": "休眠90日"}]
    }))?;
    deps.store
        .put_dormancy_settings(&tenant.id, &settings, now)
        .await?;
    let started = Instant::now();
    let bands = ["20代", "30代", "40代", "50代以上"];
    stream::iter(0..friends)
        .map(|i| {
            let zone = zone.clone();
            async move {
                let u = LineUserId::parse(&format!("U{i:032x}"))?;
                let at = now
                    .checked_sub(jiff::SignedDuration::from_mins(i as i64))
                    .unwrap_or(now);
                let mut f = Friend::new(tenant.id.clone(), u, at);
                f.profile.display_name = Some(format!("友だち{i}"));
                let mut tag = |name: &str| -> anyhow::Result<()> {
                    f.tags.insert(TagName::parse(name)?, at);
                    Ok(())
                };
                if i % 10 == 0 {
                    tag("VIP")?;
                }
                if i % 3 == 0 {
                    tag("美容")?;
                }
                if i % 100 == 0 {
                    tag("休眠30日")?;
                }
                f.fields
                    .insert("age_band".into(), bands[i % bands.len()].into());
                f.fields.insert("favorite_shop".into(), "渋谷店".into());
                deps.store.save_friend(None, &f, &zone, now).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await?;
    eprintln!(
        "bench: {} friends written in {:.1} s",
        thousands(friends),
        started.elapsed().as_secs_f64()
    );
    Ok(LineUserId::parse(&format!("U{:032x}", 0))?)
}

/// The examples from docs/examples (a welcome scenario, the hearing survey) and two
/// broadcasts, put through the admin API as a shop would.
async fn seed_definitions(app: &Router, demo: &Demo) -> anyhow::Result<()> {
    let puts = [
        (
            "PUT",
            "/admin/scenarios/welcome",
            include_str!("../../../../docs/examples/welcome.yaml").to_owned(),
        ),
        (
            "PUT",
            "/admin/surveys/hearing",
            include_str!("../../../../docs/examples/hearing.yaml").to_owned(),
        ),
        (
            "POST",
            "/admin/broadcasts",
            serde_json::json!({"name": "VIP先行セール", "segment": {"allTags": ["VIP"]},
                "messages": [{"type": "text", "text": "VIPの皆さまへ"}]})
            .to_string(),
        ),
    ];
    for (method, path, body) in puts {
        let res = tower::ServiceExt::oneshot(
            app.clone(),
            Request::builder()
                .method(method)
                .uri(path)
                .header(header::AUTHORIZATION, format!("Bearer {}", demo.api_key))
                .header(header::CONTENT_TYPE, "application/yaml")
                .body(Body::from(body))?,
        )
        .await?;
        ensure!(
            res.status().is_success(),
            "{method} {path}: {}",
            res.status()
        );
    }
    Ok(())
}

/// Signs in as the demo owner through the sign-in form; returns the cookies to send.
async fn sign_in(app: &Router, demo: &Demo) -> anyhow::Result<String> {
    let res = tower::ServiceExt::oneshot(
        app.clone(),
        Request::get("/console/login").body(Body::empty())?,
    )
    .await?;
    let form_cookie = set_cookies(&res).join("; ");
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
    let page = String::from_utf8_lossy(&body);
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the sign-in form's token")?;
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("csrf", csrf),
            ("email", demo.owner_email.as_str()),
            ("password", demo.owner_password.as_str()),
        ])
        .finish();
    let res = tower::ServiceExt::oneshot(
        app.clone(),
        Request::post("/console/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, form_cookie)
            .body(Body::from(form))?,
    )
    .await?;
    ensure!(
        res.status() == StatusCode::SEE_OTHER,
        "sign-in: {}",
        res.status()
    );
    Ok(set_cookies(&res).join("; "))
}

/// `name=value` of every cookie the response sets.
fn set_cookies(res: &http::Response<Body>) -> Vec<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect()
}

async fn get(app: &Router, path: &str, cookies: &str) -> anyhow::Result<(StatusCode, Vec<u8>)> {
    let res = tower::ServiceExt::oneshot(
        app.clone(),
        Request::get(path)
            .header(header::COOKIE, cookies)
            .body(Body::empty())?,
    )
    .await?;
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
    Ok((status, body.to_vec()))
}

fn percentile(times: &mut [Duration], p: usize) -> Duration {
    times.sort();
    let i = (times.len() * p).div_ceil(100).saturating_sub(1);
    times.get(i).copied().unwrap_or_default()
}

fn markdown(args: &Args, m: &Machine, rows: &[Row]) -> String {
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let floor = rows.first().map_or(Duration::ZERO, |r| r.p99);
    let mut out = vec![
        SECTION_START.to_owned(),
        "## Console (issue 12)".to_owned(),
        String::new(),
        format!(
            "{} DynamoDB Local (in-memory) on the same machine; release build; the pages served in \
             process by the admin-api function's router, signed in as the demo owner. A shop of {} \
             friends written through the product's own friend writes (tags, fields, counts); {} \
             requests per page after 10 not measured. Targets: p99 ≤ 50 ms, ≤ 150 KB. `make bench` \
             reruns it (`BENCH_CONSOLE_FRIENDS`).",
            m.describe(),
            thousands(args.friends),
            thousands(args.requests),
        ),
        String::new(),
        "| Page | p50 | p99 | p99 / 50 ms | p99 / GetItem p99 | Size | Size / 150 KB |".to_owned(),
        "|---|---:|---:|---:|---:|---:|---:|".to_owned(),
    ];
    for r in rows {
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        out.push(format!(
            "| {} | {} | {} | {:.2} | {:.1} | {} | {} |",
            r.page,
            ms(r.p50),
            ms(r.p99),
            ratio(r.p99, TARGET_P99),
            ratio(r.p99, floor),
            if r.bytes == 0 {
                "—".to_owned()
            } else {
                format!("{:.1} KB", r.bytes as f64 / 1024.0)
            },
            if r.bytes == 0 {
                "—".to_owned()
            } else {
                format!("{:.2}", r.bytes as f64 / TARGET_BYTES as f64)
            },
        ));
    }
    out.push(SECTION_END.to_owned());
    out.join("\n") + "\n"
}
