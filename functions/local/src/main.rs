//! `tsunagu-local`: the whole product on one machine, and a way to act as a LINE user.
//!
//! `serve` (the default) starts the fake LINE Platform, creates the table on DynamoDB Local from
//! template.yaml, seeds the demo tenant and serves the webhook and admin API on 127.0.0.1:3000.
//! `send` posts a correctly signed webhook event, as LINE would for a user's follow or message.
//! `clock`, `tick` and `sweep` move the running stack's time and run its schedules.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use crm::{Config, Deps, clock::SystemClock};
use serde_json::{Value, json};
use tsunagu_local::{
    apply, control,
    fake_line::FakeLine,
    line_user,
    outbox_stream::EventChain,
    stack,
    time_travel::{OffsetClock, TimeMachine},
};

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
    /// Apply definitions kept in version control through the admin API: scenarios, surveys,
    /// tag rules, auto-replies and dormancy settings, from files (several YAML documents each)
    /// or whole folders; the kind comes from each document. `apply scenario FILE` insists on
    /// one kind.
    Apply {
        /// Files or folders, e.g. docs/examples; optionally a kind first (scenario, survey,
        /// rule, auto-reply, dormancy).
        #[arg(required = true)]
        targets: Vec<String>,
        #[arg(long, env = "TSUNAGU_URL", default_value = "http://127.0.0.1:3000")]
        url: String,
        #[arg(
            long,
            env = "TSUNAGU_API_KEY",
            default_value = "demo-api-key-change-me"
        )]
        key: String,
    },
    /// Act as a LINE user: send a signed webhook event to the local stack, stamped with the
    /// stack's clock.
    Send(SendArgs),
    /// Show the local stack's clock, or move it forward (running the schedules on the way).
    Clock {
        /// How far: s, m, h, d, combined (3d, 90m, 1d12h).
        #[arg(long, conflicts_with = "to")]
        advance: Option<String>,
        /// Where to: RFC 3339 with an offset (2026-12-04T10:00:00+09:00).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, env = "TSUNAGU_URL", default_value = "http://127.0.0.1:3000")]
        url: String,
    },
    /// Run one scheduled-sends tick on the local stack, at its clock's now.
    Tick {
        #[arg(long, env = "TSUNAGU_URL", default_value = "http://127.0.0.1:3000")]
        url: String,
    },
    /// Run the dormancy sweep on the local stack, at its clock's now.
    Sweep {
        #[arg(long, env = "TSUNAGU_URL", default_value = "http://127.0.0.1:3000")]
        url: String,
    },
}

#[derive(Args)]
struct SendArgs {
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
    /// `follow` after a block (`follow.isUnblocked: true`), the same as `refollow`.
    #[arg(long)]
    unblocked: bool,
    /// A date picker's choice in the postback's `params.date` (2026-04-10).
    #[arg(long, group = "picked")]
    date: Option<String>,
    /// A time picker's choice in the postback's `params.time` (10:00).
    #[arg(long, group = "picked")]
    time: Option<String>,
    /// A datetime picker's choice in the postback's `params.datetime` (2026-04-10T10:00).
    #[arg(long, group = "picked")]
    datetime: Option<String>,
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
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EventKind {
    Follow,
    /// A follow after a block: `follow.isUnblocked: true`.
    Refollow,
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
        Command::Apply { targets, url, key } => {
            // `apply scenario FILE` (a kind first) is the older form; a path wins over a word.
            let (expected, paths) = match targets.split_first() {
                Some((first, rest))
                    if !std::path::Path::new(first).exists()
                        && apply::Kind::from_word(first).is_some() =>
                {
                    (apply::Kind::from_word(first), rest)
                }
                _ => (None, targets.as_slice()),
            };
            anyhow::ensure!(!paths.is_empty(), "name the files or folders to apply");
            let paths: Vec<std::path::PathBuf> = paths.iter().map(Into::into).collect();
            let docs = apply::collect(&paths, expected)?;
            apply::apply(&docs, &url, &key).await
        }
        Command::Send(args) => send(args).await,
        Command::Clock { advance, to, url } => {
            let body = match (advance, to) {
                (Some(advance), _) => Some(json!({ "advance": advance })),
                (None, Some(to)) => Some(json!({ "to": to })),
                (None, None) => None,
            };
            control_call(&url, "/__local/clock", body).await
        }
        Command::Tick { url } => control_call(&url, "/__local/tick", Some(json!({}))).await,
        Command::Sweep { url } => control_call(&url, "/__local/sweep", Some(json!({}))).await,
    }
}

/// GET (no body) or POST one of the stack's `/__local/` endpoints and print its JSON answer;
/// a refusal prints the error and fails the command.
async fn control_call(url: &str, path: &str, body: Option<Value>) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let target = format!("{}{path}", url.trim_end_matches('/'));
    let req = match body {
        Some(body) => http.post(target).json(&body),
        None => http.get(target),
    };
    let res = req
        .send()
        .await
        .context("cannot reach the local stack; start it with `make dev`")?;
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or_default();
    println!("{}", serde_json::to_string_pretty(&answer)?);
    anyhow::ensure!(status.is_success(), "the local stack answered {status}");
    Ok(())
}

fn table_name() -> String {
    std::env::var("TABLE_NAME").unwrap_or_else(|_| stack::DEFAULT_TABLE.to_owned())
}

async fn bootstrap() -> anyhow::Result<(aws_config::SdkConfig, stack::Demo)> {
    let aws = stack::aws_config().await;
    let table = table_name();
    stack::ensure_table(&aws_sdk_dynamodb::Client::new(&aws), &table).await?;
    let demo = stack::Demo::from_env()?;
    let vault = match stack::vault_key() {
        crm::config::VaultKey::Local(passphrase) => crm::vault::Vault::local(&passphrase),
        crm::config::VaultKey::Kms(_) => anyhow::bail!("the local stack seals with a local key"),
    };
    let store = crm::store::Store::new(aws_sdk_dynamodb::Client::new(&aws), table.clone(), vault);
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

    // One clock for the handlers, the schedules and the fake LINE: moving it moves them all.
    let clock = OffsetClock::new(Arc::new(SystemClock));
    let fake = FakeLine::with_clock(Arc::new(clock.clone()));
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
        // Staff-webhook receivers listen on loopback here.
        allow_loopback_webhooks: true,
        vault_key: stack::vault_key(),
    };
    let deps = Deps::new(config, &aws, Arc::new(clock.clone()))?;
    // The outbox relay on DynamoDB Local's stream, as the outbox-relay function runs on the
    // table's stream in AWS, publishing to an in-process bus routed as template.yaml's rule
    // routes (crm::bus::SURVEY_TAGGING_EVENTS → survey-tagging).
    let events = EventChain::new(&aws, deps.clone());
    let _relay = events.spawn(Duration::from_millis(200));
    // The Scheduler's every-minute tick and daily sweep, on the clock `clock --advance` moves.
    let machine = TimeMachine::new(deps.clone(), clock, Some(events));
    let _schedules = machine.spawn_schedules(
        Duration::from_secs(tick_seconds),
        Duration::from_secs(sweep_seconds),
    );

    let app = crm::webhook::router(deps.clone())
        .merge(crm::admin_api::router(deps.clone()))
        .merge(crm::console::router(deps))
        .merge(control::router(machine));
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
         \n  web console      {public}/console/   (sign in as {owner} / {password})\
         \n  fake LINE        {fake_url}  — what was sent: GET {fake_url}__fake/requests\
         \n  clock            GET/POST {public}/__local/clock   (cargo run -q -p tsunagu-local -- clock --advance 3d)\
         \n\n  act as a LINE user:  cargo run -q -p tsunagu-local -- send follow --user U0123456789abcdef0123456789abcdef --name Hanako\n",
        secret = demo.channel_secret,
        key = demo.api_key,
        op = demo.operator_key,
        owner = demo.owner_email,
        password = demo.owner_password,
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn send(args: SendArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let fake_line_url = args.fake_line_url.trim_end_matches('/');
    let url = args.url.trim_end_matches('/');
    let follows = matches!(args.kind, EventKind::Follow | EventKind::Refollow);
    if let (true, Some(name)) = (follows, &args.name) {
        http.post(format!("{fake_line_url}/__fake/profiles"))
            .json(&json!({ "userId": args.user, "displayName": name }))
            .send()
            .await
            .context("cannot reach the fake LINE Platform to set the profile")?
            .error_for_status()?;
    }
    // Events happen at the stack's time, which `clock --advance` may have moved: LINE stamps
    // an event when the user acts, and last-seen and dormancy count from that stamp.
    let now = stack_now(&http, url).await.as_millisecond();
    let user = args.user.as_str();
    let picked = match (&args.date, &args.time, &args.datetime) {
        (Some(d), _, _) => Some(line_user::Picked::Date(d.clone())),
        (_, Some(t), _) => Some(line_user::Picked::Time(t.clone())),
        (_, _, Some(dt)) => Some(line_user::Picked::Datetime(dt.clone())),
        _ => None,
    };
    anyhow::ensure!(
        picked.is_none() || args.kind == EventKind::Postback,
        "--date, --time and --datetime belong to a postback"
    );
    let mut event = match args.kind {
        EventKind::Follow => line_user::follow(user, now, args.unblocked),
        EventKind::Refollow => line_user::follow(user, now, true),
        EventKind::Unfollow => line_user::unfollow(user, now),
        EventKind::Message => line_user::text_message(user, now, &args.text),
        EventKind::Postback => match &picked {
            Some(p) => line_user::picked(user, now, &args.data, p),
            None => line_user::postback(user, now, &args.data),
        },
    };
    if event.get("replyToken").is_some() {
        // LINE's reply tokens are its own; ask the fake for one it will accept, so replies
        // (the next survey question, an auto-reply) show up in /__fake/requests.
        let issued: Value = http
            .post(format!("{fake_line_url}/__fake/reply-tokens"))
            .json(&json!({ "accessToken": args.access_token, "userId": user }))
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
        .post(format!("{url}/webhook/{}", args.tenant))
        .header("content-type", "application/json")
        .header(
            "x-line-signature",
            line_user::signature(&args.secret, &body),
        )
        .body(body)
        .send()
        .await
        .context("cannot reach the local stack; start it with `make dev`")?;
    let status = res.status();
    println!("{status} {}", res.text().await?);
    anyhow::ensure!(status.is_success(), "the webhook answered {status}");
    Ok(())
}

/// The stack's clock (`GET /__local/clock`); the wall clock when the stack has none to offer,
/// and then the webhook request itself reports an unreachable stack.
async fn stack_now(http: &reqwest::Client, url: &str) -> jiff::Timestamp {
    let answer = async {
        let res = http.get(format!("{url}/__local/clock")).send().await.ok()?;
        let body: Value = res.error_for_status().ok()?.json().await.ok()?;
        body["now"].as_str()?.parse().ok()
    };
    answer.await.unwrap_or_else(jiff::Timestamp::now)
}
