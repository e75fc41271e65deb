//! `tsunagu-local`: the whole product on one machine, and a way to act as a LINE user.
//!
//! `serve` (the default) starts the fake LINE Platform, creates the table on DynamoDB Local from
//! template.yaml, seeds the demo tenant and serves the webhook and admin API on 127.0.0.1:3000.
//! `send` posts a correctly signed webhook event, as LINE would for a user's follow or message.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use crm::{Config, Deps, bus::InProcessBus, clock::SystemClock};
use serde_json::json;
use tsunagu_local::{fake_line::FakeLine, line_user, stack};

#[derive(Parser)]
#[command(about = "Tsunagu's local stack and LINE-user simulator")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
// Parsed once at start; the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the local stack (default).
    Serve {
        /// Port of the webhook + admin API.
        #[arg(long, env = "PORT", default_value_t = 3000)]
        port: u16,
        /// Port of the fake LINE Platform.
        #[arg(long, env = "FAKE_LINE_PORT", default_value_t = 3001)]
        fake_line_port: u16,
        /// Seconds between scheduled-sends ticks (EventBridge Scheduler ticks every 60 s).
        #[arg(long, env = "TICK_SECONDS", default_value_t = 60)]
        tick_seconds: u64,
        /// Seconds between dormancy sweeps (the Scheduler runs it daily at 04:00 Asia/Tokyo).
        #[arg(long, env = "SWEEP_SECONDS", default_value_t = 86_400)]
        sweep_seconds: u64,
    },
    /// Create the table on DynamoDB Local from template.yaml and seed the demo tenant, then exit.
    Bootstrap,
    /// Apply definitions kept in version control (YAML) through the admin API: each file is
    /// PUT to /admin/{kind}s/{id}, creating a new version when it changed.
    Apply {
        #[arg(value_enum)]
        kind: DefinitionKind,
        /// YAML files, e.g. docs/examples/welcome.yaml
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        #[arg(long, env = "TSUNAGU_URL", default_value = "http://127.0.0.1:3000")]
        url: String,
        #[arg(
            long,
            env = "TSUNAGU_API_KEY",
            default_value = "demo-api-key-change-me"
        )]
        key: String,
    },
    /// Act as a LINE user: send a signed webhook event to the local stack.
    Send {
        #[arg(value_enum)]
        kind: EventKind,
        /// The user's LINE id (U + 32 hex).
        #[arg(long, default_value = "U0123456789abcdef0123456789abcdef")]
        user: String,
        /// Text of a `message` event.
        #[arg(long, default_value = "こんにちは")]
        text: String,
        /// Data of a `postback` event.
        #[arg(long, default_value = "action=hello")]
        data: String,
        /// Display name the fake LINE profile API returns for this user (on `follow`).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, env = "TSUNAGU_URL", default_value = "http://127.0.0.1:3000")]
        url: String,
        #[arg(long, env = "FAKE_LINE_URL", default_value = "http://127.0.0.1:3001")]
        fake_line_url: String,
        #[arg(long, default_value = "demo")]
        tenant: String,
        #[arg(
            long,
            env = "DEMO_CHANNEL_SECRET",
            default_value = "demo-channel-secret-change-me"
        )]
        secret: String,
        /// The channel's access token, to get a reply token the fake LINE accepts.
        #[arg(
            long,
            env = "DEMO_ACCESS_TOKEN",
            default_value = "demo-access-token-change-me"
        )]
        access_token: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DefinitionKind {
    Scenario,
}

#[derive(Clone, Copy, ValueEnum)]
enum EventKind {
    Follow,
    Unfollow,
    Message,
    Postback,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    // No subcommand means `serve`, with its flags and environment (PORT…) read as usual.
    let command = match Cli::parse().command {
        Some(c) => c,
        None => Cli::parse_from(["tsunagu-local", "serve"])
            .command
            .context("serve is a subcommand")?,
    };
    match command {
        Command::Serve {
            port,
            fake_line_port,
            tick_seconds,
            sweep_seconds,
        } => serve(port, fake_line_port, tick_seconds, sweep_seconds).await,
        Command::Bootstrap => bootstrap().await.map(|_| ()),
        Command::Apply {
            kind,
            files,
            url,
            key,
        } => apply(kind, &files, &url, &key).await,
        Command::Send {
            kind,
            user,
            text,
            data,
            name,
            url,
            fake_line_url,
            tenant,
            secret,
            access_token,
        } => {
            send(
                kind,
                &user,
                &text,
                &data,
                name,
                &url,
                &fake_line_url,
                &tenant,
                &secret,
                &access_token,
            )
            .await
        }
    }
}

fn table_name() -> String {
    std::env::var("TABLE_NAME").unwrap_or_else(|_| stack::DEFAULT_TABLE.to_owned())
}

async fn bootstrap() -> anyhow::Result<(aws_config::SdkConfig, stack::Demo)> {
    let aws = stack::aws_config().await;
    let table = table_name();
    stack::ensure_table(&aws_sdk_dynamodb::Client::new(&aws), &table).await?;
    let demo = stack::Demo::from_env()?;
    let store = crm::store::Store::new(aws_sdk_dynamodb::Client::new(&aws), table.clone());
    demo.seed(&store, jiff::Timestamp::now()).await?;
    println!("table {table} ready on DynamoDB Local; demo tenant seeded");
    Ok((aws, demo))
}

async fn serve(
    port: u16,
    fake_line_port: u16,
    tick_seconds: u64,
    sweep_seconds: u64,
) -> anyhow::Result<()> {
    let (aws, demo) = bootstrap().await?;

    let fake = FakeLine::new();
    fake.add_channel(&demo.access_token);
    let (fake_url, _fake_task) = fake
        .spawn(SocketAddr::from(([127, 0, 0, 1], fake_line_port)))
        .await
        .with_context(|| {
            format!("cannot listen on 127.0.0.1:{fake_line_port} for the fake LINE Platform")
        })?;

    let public = format!("http://127.0.0.1:{port}");
    let config = Config {
        table_name: table_name(),
        bus_name: None,
        line_api_base: fake_url.clone(),
        public_base_url: Some(public.parse()?),
        operator_key_sha256: Some(crm::admin_api::hash_key(&demo.operator_key)),
    };
    let deps = Deps::new(config, &aws, Arc::new(SystemClock))?;
    // The outbox relay on DynamoDB Local's stream, as the outbox-relay function runs on the
    // table's stream in AWS; it publishes to the in-process bus, which routes as template.yaml's
    // rule does (crm::bus::SURVEY_TAGGING_EVENTS → survey-tagging).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let bus = InProcessBus::routed_to(tx);
    let mut outbox = tsunagu_local::outbox_stream::OutboxStream::new(&aws, table_name());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(200));
        loop {
            every.tick().await;
            if let Err(e) = outbox.pump(&bus).await {
                tracing::error!(error = %e, "outbox relay failed; retrying");
            }
        }
    });
    let bus_deps = deps.clone();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            if crm::bus::routes_to_survey_tagging(&event.detail_type) {
                let envelope = json!({
                    "version": "0", "id": uuid::Uuid::new_v4(), "detail-type": event.detail_type,
                    "source": crm::bus::SOURCE, "time": jiff::Timestamp::now(), "detail": event.detail,
                });
                if let Err(e) = crm::survey_tagging::handle(&bus_deps, envelope).await {
                    tracing::error!(error = %e, "survey-tagging failed");
                }
            }
        }
    });
    // The Scheduler's every-minute tick, as the scheduled-sends function receives it.
    let tick_deps = deps.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(tick_seconds.max(1)));
        every.tick().await;
        loop {
            every.tick().await;
            let tick = json!({ "version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler",
                "time": jiff::Timestamp::now(), "detail": {} });
            if let Err(e) = crm::scheduled_sends::handle(&tick_deps, tick).await {
                tracing::error!(error = %e, "scheduled-sends tick failed");
            }
        }
    });

    // The Scheduler's daily dormancy sweep, with the event it receives.
    let sweep_deps = deps.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(sweep_seconds.max(1)));
        every.tick().await;
        loop {
            every.tick().await;
            let run = json!({ "version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler",
                "time": jiff::Timestamp::now(), "detail": {} });
            if let Err(e) = crm::dormancy_sweep::handle(&sweep_deps, run).await {
                tracing::error!(error = %e, "dormancy sweep failed");
            }
        }
    });

    let app = crm::webhook::router(deps.clone()).merge(crm::admin_api::router(deps));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .with_context(|| {
            format!("cannot listen on 127.0.0.1:{port} (set PORT to choose another)")
        })?;
    println!(
        "\nTsunagu local stack is up.\n\
         \n  webhook          POST {public}/webhook/demo   (channel secret: {secret})\
         \n  admin API        {public}/admin/…             (Authorization: Bearer {key})\
         \n  operator key     {op}   (POST {public}/admin/tenants)\
         \n  fake LINE        {fake_url}  — what was sent: GET {fake_url}__fake/requests\
         \n\n  act as a LINE user:  cargo run -q -p tsunagu-local -- send follow --user U0123456789abcdef0123456789abcdef --name Hanako\n",
        secret = demo.channel_secret,
        key = demo.api_key,
        op = demo.operator_key,
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn apply(
    kind: DefinitionKind,
    files: &[std::path::PathBuf],
    url: &str,
    key: &str,
) -> anyhow::Result<()> {
    let collection = match kind {
        DefinitionKind::Scenario => "scenarios",
    };
    let http = reqwest::Client::new();
    let mut failed = 0;
    for file in files {
        let yaml = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        // The id inside the file names the definition; the server checks it against the path.
        let id = yaml
            .lines()
            .find_map(|l| {
                l.strip_prefix("id:")
                    .map(|v| v.trim().trim_matches(['"', '\'']).to_owned())
            })
            .with_context(|| format!("{}: no top-level `id:`", file.display()))?;
        let res = http
            .put(format!(
                "{}/admin/{collection}/{id}",
                url.trim_end_matches('/')
            ))
            .bearer_auth(key)
            .header("content-type", "application/yaml")
            .body(yaml)
            .send()
            .await
            .context("cannot reach the admin API; start the local stack with `make dev`")?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        if status.is_success() {
            println!(
                "{}: {id} saved as version {}",
                file.display(),
                body["version"]
            );
        } else {
            failed += 1;
            println!("{}: {status} {}", file.display(), body["error"]);
        }
    }
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} files were refused",
        files.len()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn send(
    kind: EventKind,
    user: &str,
    text: &str,
    data: &str,
    name: Option<String>,
    url: &str,
    fake_line_url: &str,
    tenant: &str,
    secret: &str,
    access_token: &str,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    if let (EventKind::Follow, Some(name)) = (kind, &name) {
        http.post(format!(
            "{}/__fake/profiles",
            fake_line_url.trim_end_matches('/')
        ))
        .json(&json!({ "userId": user, "displayName": name }))
        .send()
        .await
        .context("cannot reach the fake LINE Platform to set the profile")?
        .error_for_status()?;
    }
    let now = jiff::Timestamp::now().as_millisecond();
    let event = match kind {
        EventKind::Follow => line_user::follow(user, now, false),
        EventKind::Unfollow => line_user::unfollow(user, now),
        EventKind::Message => line_user::text_message(user, now, text),
        EventKind::Postback => line_user::postback(user, now, data),
    };
    let mut event = event;
    if event.get("replyToken").is_some() {
        // LINE's reply tokens are its own; ask the fake for one it will accept, so replies
        // (the next survey question, an auto-reply) show up in /__fake/requests.
        let issued: serde_json::Value = http
            .post(format!(
                "{}/__fake/reply-tokens",
                fake_line_url.trim_end_matches('/')
            ))
            .json(&json!({ "accessToken": access_token, "userId": user }))
            .send()
            .await
            .context("cannot reach the fake LINE Platform for a reply token")?
            .error_for_status()?
            .json()
            .await?;
        event["replyToken"] = issued["replyToken"].clone();
    }
    let body = line_user::batch(vec![event]);
    let res = http
        .post(format!("{}/webhook/{tenant}", url.trim_end_matches('/')))
        .header("content-type", "application/json")
        .header("x-line-signature", line_user::signature(secret, &body))
        .body(body)
        .send()
        .await
        .context("cannot reach the local stack; start it with `make dev`")?;
    println!("{} {}", res.status(), res.text().await?);
    Ok(())
}
