//! `bench_sends`: the sends benchmark of issue 4 (`make bench`, a release build).
//!
//! A broadcast to N friends and a due queue of M step sends go through the product path — the
//! scheduled-sends tick over DynamoDB Local — to the fake LINE Platform, which enforces LINE's
//! real per-channel rate limits in real time (multicast 200 req/s, push 2,000 req/s). Wall time is
//! reported as a ratio to that physical limit and to a bare `LineClient` sending the same requests
//! to the same fake in the same run; DynamoDB units per delivered message come from the
//! `ConsumedCapacity` DynamoDB Local returns when asked, which a metering interceptor on this
//! program's client (never production's) asks for. Results go to stdout and, with `--docs`, into
//! their section of docs/benchmarks.md with the date and the machine.
use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use aws_sdk_dynamodb::{
    config::{
        ConfigBag, Intercept, RuntimeComponents,
        interceptors::{BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef},
    },
    error::BoxError,
    operation::{
        batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
        batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput},
        delete_item::{DeleteItemInput, DeleteItemOutput},
        get_item::{GetItemInput, GetItemOutput},
        put_item::{PutItemInput, PutItemOutput},
        query::{QueryInput, QueryOutput},
        scan::{ScanInput, ScanOutput},
        transact_get_items::{TransactGetItemsInput, TransactGetItemsOutput},
        transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
        update_item::{UpdateItemInput, UpdateItemOutput},
    },
    types::{ConsumedCapacity, ReturnConsumedCapacity},
};
use aws_smithy_runtime_api::client::interceptors::context::{Input, Output};
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use clap::Parser;
use crm::{
    Config, Deps,
    clock::ManualClock,
    deps::line_http_client,
    domain::{
        DeliveryWindow, Friend, LineUserId, Tenant, TenantId,
        broadcast::{Broadcast, BroadcastRequest, BroadcastState, MAX_MULTICAST, Progress},
        scenario::ScenarioDefinition,
    },
    enrollments::Enrolled,
    line::client::{LineClient, LineError},
    scheduled_sends::{TickReport, tick},
    secret::Secret,
    store::Store,
};
use futures::{StreamExt, TryStreamExt, stream};
use jiff::{Timestamp, tz::TimeZone};
use serde_json::json;
use tsunagu_local::{
    bench::{Machine, thousands, write_section},
    fake_line::{Endpoint, FakeLine},
    stack,
};

const ZONE: &str = "Asia/Tokyo";
/// Inside the default delivery window (09:00–21:00 Tokyo), so nothing is deferred to an opening.
const BENCH_TIME: &str = "2026-04-01T12:00";
/// The tick's step concurrency (scheduled_sends::CONCURRENCY); the push baseline uses the same.
const PUSH_CONCURRENCY: usize = 64;
/// Ticks a phase may take before the bench calls it stuck.
const MAX_TICKS: usize = 200;
/// The bare client's pause after a 429 (LINE sends no Retry-After).
const RETRY_PAUSE: Duration = Duration::from_millis(10);
const SECTION_START: &str = "<!-- bench:sends:start -->";
const SECTION_END: &str = "<!-- bench:sends:end -->";

#[derive(Parser)]
#[command(about = "Broadcast and step-send benchmark against DynamoDB Local and the fake LINE")]
struct Args {
    /// Friends the broadcast goes to.
    #[arg(long, default_value_t = 100_000)]
    friends: usize,
    /// Step sends due in the same minute.
    #[arg(long, default_value_t = 10_000)]
    steps: usize,
    /// Concurrent writes while seeding friends and enrollments (not measured).
    #[arg(long, default_value_t = 64)]
    seed_concurrency: usize,
    /// Replace the "Sends (issue 4)" section of this markdown file with the results.
    #[arg(long)]
    docs: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.friends > 0 && args.steps > 0,
        "--friends and --steps must be positive"
    );
    let machine = Machine::read();
    let aws = stack::aws_config().await;
    let plain = aws_sdk_dynamodb::Client::new(&aws);
    let table = format!(
        "tsunagu-bench-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    stack::ensure_table(&plain, &table).await?;
    eprintln!("bench: table {table} on DynamoDB Local");
    let result = run(&args, &aws, &table).await;
    // The table lives in DynamoDB Local's memory, shared with everyone's tests: give it back.
    if let Err(e) = plain.delete_table().table_name(&table).send().await {
        eprintln!("bench: could not delete table {table}: {e}");
    }
    let results = result?;
    let section = results.markdown(&args, &machine);
    println!("{section}");
    if let Some(path) = &args.docs {
        write_section(path, SECTION_START, SECTION_END, &section)?;
        eprintln!("bench: wrote the section to {}", path.display());
    }
    Ok(())
}

/// Everything one run measured.
struct Results {
    seeding: Duration,
    broadcast: Phase,
    multicast_baseline: Duration,
    multicast_baseline_429: usize,
    chunks: usize,
    steps: Phase,
    push_baseline: Duration,
    push_baseline_429: usize,
    lateness: Percentiles,
    /// As if the ticks were a minute apart, as EventBridge Scheduler runs them.
    at_cadence: Percentiles,
    baseline_lateness: Percentiles,
}

/// One product-path phase: wall time, ticks, DynamoDB use and the fake's 429s.
struct Phase {
    delivered: usize,
    wall: Duration,
    ticks: Vec<(TickReport, Duration)>,
    dynamo: BTreeMap<&'static str, OpStats>,
    rate_limited: usize,
}

async fn run(args: &Args, aws: &aws_config::SdkConfig, table: &str) -> anyhow::Result<Results> {
    let meter = Meter::default();
    let metered = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(aws)
            .interceptor(meter.clone())
            .build(),
    );
    let store = Store::new(
        metered,
        table,
        crm::vault::Vault::local(&crm::secret::Secret::new("bench")),
    );
    let fake = FakeLine::new();
    let (fake_url, _server) = fake.spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let zone = TimeZone::get(ZONE)?;
    let now = jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M", BENCH_TIME)?
        .to_zoned(zone.clone())?
        .timestamp();
    let clock = ManualClock::at(now);
    let deps = Deps {
        store: store.clone(),
        line: LineClient::new(line_http_client()?, fake_url.clone()),
        clock: Arc::new(clock),
        config: Arc::new(Config {
            table_name: table.to_owned(),
            bus_name: None,
            line_api_base: fake_url.clone(),
            public_base_url: None,
            operator_key_sha256: None,
            allow_loopback_webhooks: false,
            vault_key: crm::config::VaultKey::local_default(),
        }),
    };
    let tenant = Tenant {
        id: TenantId::parse("bench")?,
        name: "Bench shop".into(),
        channel_id: None,
        channel_secret: Secret::new("bench-channel-secret"),
        access_token: Secret::new("bench-product-token"),
        zone: ZONE.into(),
        delivery_window: DeliveryWindow::default(),
        daily_cap: None,
        quota_exhausted_at: None,
        message_text_retention_days: Some(crm::domain::tenant::DEFAULT_TEXT_RETENTION_DAYS),
        created_at: now,
    };
    store.put_tenant(&tenant).await?;
    fake.add_channel(tenant.access_token.expose());
    let product = FakeLine::channel_id(tenant.access_token.expose());

    let population = args.friends.max(args.steps);
    let users = (0..population)
        .map(|i| LineUserId::parse(&format!("U{i:032x}")))
        .collect::<Result<Vec<_>, _>>()?;
    let friend = |i: usize| {
        // Distinct follow times keep the friend list in a stable order.
        let at = now
            .checked_sub(jiff::SignedDuration::from_millis(i as i64 + 1))
            .unwrap_or(now);
        Friend::new(tenant.id.clone(), users[i].clone(), at)
    };

    eprintln!("bench: seeding {} friends", args.friends);
    let started = Instant::now();
    stream::iter(0..args.friends)
        .map(|i| {
            let (store, zone, f) = (&store, &zone, friend(i));
            async move { store.save_friend(None, &f, zone, now).await }
        })
        .buffer_unordered(args.seed_concurrency)
        .try_collect::<()>()
        .await?;
    let seeding = started.elapsed();
    eprintln!(
        "bench: seeded in {:.1} s ({:.0} friends/s)",
        seeding.as_secs_f64(),
        args.friends as f64 / seeding.as_secs_f64()
    );

    // 1. The broadcast, through the tick.
    meter.reset();
    fake.clear();
    let b = Broadcast {
        tenant: tenant.id.clone(),
        id: uuid::Uuid::new_v4().simple().to_string(),
        request: BroadcastRequest {
            name: "bench".into(),
            segment: Default::default(),
            messages: vec![json!({ "type": "text", "text": "春のセール開始！" })],
            send_at: None,
            transactional: false,
        },
        state: BroadcastState::Scheduled,
        created_at: now,
        next_due_at: Some(now),
        progress: Progress::default(),
        cursor: None,
        listed_all: false,
        pending: None,
        finished_at: None,
    };
    store.create_broadcast(&b).await?;
    eprintln!("bench: broadcast to {} friends", args.friends);
    let started = Instant::now();
    let mut ticks = Vec::new();
    loop {
        ensure!(ticks.len() < MAX_TICKS, "the broadcast did not finish");
        let t = Instant::now();
        let report = tick(&deps, now).await?;
        ticks.push((report, t.elapsed()));
        let state = store
            .broadcast(&tenant.id, &b.id)
            .await?
            .map(|b| b.state)
            .context("the broadcast vanished")?;
        if state == BroadcastState::Done {
            break;
        }
        ensure!(
            state == BroadcastState::Running || state == BroadcastState::Scheduled,
            "the broadcast ended {state:?}"
        );
    }
    let wall = started.elapsed();
    let dynamo = meter.take();
    let chunks = verify_multicasts(&fake, &product, &users[..args.friends])?;
    let broadcast = Phase {
        delivered: args.friends,
        wall,
        ticks,
        dynamo,
        rate_limited: rate_limited(&fake, &product),
    };
    eprintln!("bench: broadcast took {:.2} s", wall.as_secs_f64());
    broadcast.log("broadcast");

    // The baseline: the same multicasts from a bare client, one chunk at a time like the tick.
    let token = Secret::new("bench-baseline-multicast");
    fake.add_channel(token.expose());
    let bare = LineClient::new(line_http_client()?, fake_url.clone());
    let messages = vec![json!({ "type": "text", "text": "春のセール開始！" })];
    let started = Instant::now();
    for chunk in users[..args.friends].chunks(MAX_MULTICAST) {
        let to: Vec<String> = chunk.iter().map(|u| u.to_string()).collect();
        let key = uuid::Uuid::new_v4();
        while let Err(e) = bare.multicast(&token, &to, &messages, key).await {
            ensure!(matches!(e, LineError::RateLimited), "{e}");
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
    let multicast_baseline = started.elapsed();
    let multicast_baseline_429 = rate_limited(&fake, &FakeLine::channel_id(token.expose()));
    fake.clear();

    // 2. M step sends due in the same minute.
    if population > args.friends {
        eprintln!("bench: seeding {} more friends", population - args.friends);
        stream::iter(args.friends..population)
            .map(|i| {
                let (store, zone, f) = (&store, &zone, friend(i));
                async move { store.save_friend(None, &f, zone, now).await }
            })
            .buffer_unordered(args.seed_concurrency)
            .try_collect::<()>()
            .await?;
    }
    let def = ScenarioDefinition::parse_yaml(
        r#"
id: bench-steps
name: ベンチ
trigger: { type: manual }
steps:
  - id: hello
    messages:
      - { type: text, text: "ご来店ありがとうございます" }
"#,
    )
    .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
    store.save_scenario(&tenant.id, &def, now).await?;
    eprintln!("bench: enrolling {} friends, all due at {now}", args.steps);
    stream::iter(0..args.steps)
        .map(|i| {
            let (deps, tenant, id, f) = (&deps, &tenant, &def.id, friend(i));
            async move {
                match crm::enrollments::enroll(
                    deps,
                    tenant,
                    &f,
                    id,
                    crm::enrollments::Entry::Trigger,
                    now,
                )
                .await?
                {
                    Enrolled::Yes(_) => Ok(()),
                    other => Err(anyhow::anyhow!("not enrolled: {other:?}")),
                }
            }
        })
        .buffer_unordered(args.seed_concurrency)
        .try_collect::<()>()
        .await?;

    meter.reset();
    fake.clear();
    eprintln!("bench: ticking {} due step sends", args.steps);
    let first_tick = Timestamp::now();
    let started = Instant::now();
    let mut ticks = Vec::new();
    let mut tick_starts = Vec::new();
    loop {
        ensure!(ticks.len() < MAX_TICKS, "the step sends did not finish");
        let t = Instant::now();
        tick_starts.push(Timestamp::now());
        let report = tick(&deps, now).await?;
        let claimed = report.claimed;
        ticks.push((report, t.elapsed()));
        if claimed == 0 {
            break;
        }
    }
    let wall = started.elapsed();
    let dynamo = meter.take();
    let accepted = verify_pushes(&fake, &product, &users[..args.steps])?;
    let lateness = Percentiles::of(accepted.iter().map(|at| ms_since(first_tick, *at)));
    // In production tick k starts k minutes after the first: a send made by tick k waits that too.
    let at_cadence = Percentiles::of(accepted.iter().map(|at| {
        let k = tick_starts.iter().rposition(|s| s <= at).unwrap_or(0);
        ms_since(tick_starts[k], *at) + 60_000.0 * k as f64
    }));
    let steps = Phase {
        delivered: args.steps,
        wall,
        ticks,
        dynamo,
        rate_limited: rate_limited(&fake, &product),
    };
    eprintln!("bench: step sends took {:.2} s", wall.as_secs_f64());
    steps.log("step sends");

    // The baseline: the same pushes from a bare client, as many in flight as the tick has.
    fake.clear();
    let token = Secret::new("bench-baseline-push");
    fake.add_channel(token.expose());
    let baseline_channel = FakeLine::channel_id(token.expose());
    let bare = LineClient::new(line_http_client()?, fake_url);
    let messages = vec![json!({ "type": "text", "text": "ご来店ありがとうございます" })];
    let first = Timestamp::now();
    let started = Instant::now();
    stream::iter(&users[..args.steps])
        .map(|u| push_until_accepted(&bare, &token, u, &messages))
        .buffer_unordered(PUSH_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    let push_baseline = started.elapsed();
    let baseline_429 = rate_limited(&fake, &baseline_channel);
    let baseline_accepted = verify_pushes(&fake, &baseline_channel, &users[..args.steps])?;
    let baseline_lateness =
        Percentiles::of(baseline_accepted.iter().map(|at| ms_since(first, *at)));

    Ok(Results {
        seeding,
        broadcast,
        multicast_baseline,
        multicast_baseline_429,
        chunks,
        steps,
        push_baseline,
        push_baseline_429: baseline_429,
        lateness,
        at_cadence,
        baseline_lateness,
    })
}

/// A bare push, retried with its retry key while LINE answers 429.
async fn push_until_accepted(
    client: &LineClient,
    token: &Secret,
    to: &LineUserId,
    messages: &[serde_json::Value],
) -> anyhow::Result<()> {
    let key = uuid::Uuid::new_v4();
    while let Err(e) = client.push(token, to.as_str(), messages, key).await {
        ensure!(matches!(e, LineError::RateLimited), "{e}");
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    Ok(())
}

/// Every friend got exactly one multicast, in chunks of at most 500. Returns the chunk count.
fn verify_multicasts(
    fake: &FakeLine,
    channel: &str,
    users: &[LineUserId],
) -> anyhow::Result<usize> {
    let sent: Vec<_> = fake
        .sent_messages()
        .into_iter()
        .filter(|d| d.endpoint == Endpoint::Multicast && d.channel == channel)
        .collect();
    let mut got: HashMap<&str, usize> = HashMap::new();
    for d in &sent {
        ensure!(d.to.len() <= MAX_MULTICAST, "a multicast to {}", d.to.len());
        for to in &d.to {
            *got.entry(to.as_str()).or_default() += 1;
        }
    }
    for u in users {
        let n = got.get(u.as_str()).copied().unwrap_or(0);
        ensure!(n == 1, "{} got {n} multicasts", u.as_str());
    }
    ensure!(got.len() == users.len(), "multicasts to unknown users");
    Ok(sent.len())
}

/// Every user got exactly one accepted push. Returns when LINE accepted each.
fn verify_pushes(
    fake: &FakeLine,
    channel: &str,
    users: &[LineUserId],
) -> anyhow::Result<Vec<Timestamp>> {
    let requests: HashMap<u64, Timestamp> =
        fake.requests().into_iter().map(|r| (r.seq, r.at)).collect();
    let mut got: HashMap<String, usize> = HashMap::new();
    let mut accepted = Vec::new();
    for d in fake.sent_messages() {
        if d.endpoint != Endpoint::Push || d.channel != channel {
            continue;
        }
        for to in d.to {
            *got.entry(to).or_default() += 1;
        }
        accepted.push(*requests.get(&d.seq).context("a send without its request")?);
    }
    for u in users {
        let n = got.get(u.as_str()).copied().unwrap_or(0);
        ensure!(n == 1, "{} got {n} pushes", u.as_str());
    }
    ensure!(got.len() == users.len(), "pushes to unknown users");
    Ok(accepted)
}

fn rate_limited(fake: &FakeLine, channel: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.status == 429 && r.channel.as_deref() == Some(channel))
        .count()
}

fn ms_since(start: Timestamp, at: Timestamp) -> f64 {
    at.duration_since(start).as_secs_f64() * 1000.0
}

#[derive(Debug, Default, Clone, Copy)]
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    fn of(values: impl Iterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.collect();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        // Nearest rank.
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Self {
            p50: rank(0.50),
            p99: rank(0.99),
            max: v[v.len() - 1],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DynamoDB metering: ask every request for its consumed capacity and add up the answers.

/// Calls, capacity units and time spent per DynamoDB operation.
#[derive(Debug, Default, Clone, Copy)]
struct OpStats {
    calls: u64,
    units: Units,
    /// Summed over calls; calls overlap, so this can exceed wall time.
    busy: Duration,
}

#[derive(Debug, Default, Clone)]
struct Meter(Arc<Mutex<BTreeMap<&'static str, OpStats>>>);

impl Meter {
    fn reset(&self) {
        self.take();
    }

    fn take(&self) -> BTreeMap<&'static str, OpStats> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// When and which operation a request started, kept in the request's config bag.
#[derive(Debug, Clone)]
struct Started {
    op: &'static str,
    at: Instant,
}

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

/// Sets `ReturnConsumedCapacity: INDEXES` (the total and its split by index) on the input of every operation the store uses.
macro_rules! ask_capacity {
    ($input:expr, $($ty:ty => $name:literal),+ $(,)?) => {{
        $(
            if let Some(i) = $input.downcast_mut::<$ty>() {
                i.return_consumed_capacity = Some(ReturnConsumedCapacity::Indexes);
                return $name;
            }
        )+
        "other"
    }};
}

fn ask_capacity(input: &mut Input) -> &'static str {
    ask_capacity!(input,
        GetItemInput => "GetItem",
        PutItemInput => "PutItem",
        UpdateItemInput => "UpdateItem",
        DeleteItemInput => "DeleteItem",
        QueryInput => "Query",
        ScanInput => "Scan",
        BatchGetItemInput => "BatchGetItem",
        BatchWriteItemInput => "BatchWriteItem",
        TransactGetItemsInput => "TransactGetItems",
        TransactWriteItemsInput => "TransactWriteItems",
    )
}

/// Capacity units one response reports.
#[derive(Debug, Default, Clone, Copy)]
struct Units {
    read: f64,
    write: f64,
    /// The part of `read` or `write` spent on global secondary indexes.
    gsi: f64,
}

impl std::ops::Add for Units {
    type Output = Units;
    fn add(self, o: Units) -> Units {
        Units {
            read: self.read + o.read,
            write: self.write + o.write,
            gsi: self.gsi + o.gsi,
        }
    }
}

fn gsi_units(c: &ConsumedCapacity) -> f64 {
    c.global_secondary_indexes
        .iter()
        .flat_map(|m| m.values())
        .filter_map(|cap| cap.capacity_units)
        .sum()
}

/// Read units of a read, write units of a write: DynamoDB may answer only `CapacityUnits`.
fn read_units(c: &ConsumedCapacity) -> Units {
    Units {
        read: c.read_capacity_units.or(c.capacity_units).unwrap_or(0.0),
        write: 0.0,
        gsi: gsi_units(c),
    }
}

fn write_units(c: &ConsumedCapacity) -> Units {
    Units {
        read: 0.0,
        write: c.write_capacity_units.or(c.capacity_units).unwrap_or(0.0),
        gsi: gsi_units(c),
    }
}

fn one(c: Option<&ConsumedCapacity>, units: fn(&ConsumedCapacity) -> Units) -> Units {
    c.map(units).unwrap_or_default()
}

fn all(cs: Option<&Vec<ConsumedCapacity>>, units: fn(&ConsumedCapacity) -> Units) -> Units {
    cs.into_iter()
        .flatten()
        .map(units)
        .fold(Units::default(), |a, b| a + b)
}

/// The units an operation's output reports.
fn consumed(out: &Output) -> Units {
    if let Some(o) = out.downcast_ref::<GetItemOutput>() {
        one(o.consumed_capacity.as_ref(), read_units)
    } else if let Some(o) = out.downcast_ref::<QueryOutput>() {
        one(o.consumed_capacity.as_ref(), read_units)
    } else if let Some(o) = out.downcast_ref::<ScanOutput>() {
        one(o.consumed_capacity.as_ref(), read_units)
    } else if let Some(o) = out.downcast_ref::<BatchGetItemOutput>() {
        all(o.consumed_capacity.as_ref(), read_units)
    } else if let Some(o) = out.downcast_ref::<TransactGetItemsOutput>() {
        all(o.consumed_capacity.as_ref(), read_units)
    } else if let Some(o) = out.downcast_ref::<PutItemOutput>() {
        one(o.consumed_capacity.as_ref(), write_units)
    } else if let Some(o) = out.downcast_ref::<UpdateItemOutput>() {
        one(o.consumed_capacity.as_ref(), write_units)
    } else if let Some(o) = out.downcast_ref::<DeleteItemOutput>() {
        one(o.consumed_capacity.as_ref(), write_units)
    } else if let Some(o) = out.downcast_ref::<BatchWriteItemOutput>() {
        all(o.consumed_capacity.as_ref(), write_units)
    } else if let Some(o) = out.downcast_ref::<TransactWriteItemsOutput>() {
        all(o.consumed_capacity.as_ref(), write_units)
    } else {
        Units::default()
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "BenchCapacityMeter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = ask_capacity(context.input_mut());
        cfg.interceptor_state().store_put(Started {
            op,
            at: Instant::now(),
        });
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(started) = cfg.load::<Started>().cloned() else {
            return Ok(());
        };
        let units = match context.output_or_error() {
            Some(Ok(out)) => consumed(out),
            // A refused conditional write reports nothing here; the bench expects none.
            _ => Units::default(),
        };
        let mut ops = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let s = ops.entry(started.op).or_default();
        s.calls += 1;
        s.units = s.units + units;
        s.busy += started.at.elapsed();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

impl Phase {
    fn units(&self) -> Units {
        self.dynamo
            .values()
            .fold(Units::default(), |a, s| a + s.units)
    }

    /// The phase's raw numbers on stderr, as soon as it ends.
    fn log(&self, name: &str) {
        for (r, wall) in &self.ticks {
            eprintln!("bench: {name} tick {:.2} s {r:?}", wall.as_secs_f64());
        }
        for (op, st) in &self.dynamo {
            eprintln!("bench: {name} {op} {st:?}");
        }
    }

    fn dynamo_busy(&self) -> Duration {
        self.dynamo.values().map(|s| s.busy).sum()
    }
}

impl Results {
    fn markdown(&self, args: &Args, m: &Machine) -> String {
        // The physical limit is LINE's own rate (what the fake enforces), not the client's
        // slightly lower limiter setting.
        let multicast_limit = Duration::from_secs_f64(
            args.friends as f64
                / (MAX_MULTICAST as f64 * f64::from(Endpoint::Multicast.default_rate_limit())),
        );
        let push_limit = Duration::from_secs_f64(
            args.steps as f64 / f64::from(Endpoint::Push.default_rate_limit()),
        );
        let ratio = |wall: Duration, limit: Duration| wall.as_secs_f64() / limit.as_secs_f64();
        let b = &self.broadcast;
        let s = &self.steps;
        let mut out = String::new();
        let mut line = |l: String| {
            out.push_str(&l);
            out.push('\n');
        };
        line(SECTION_START.into());
        line("## Sends (issue 4)".into());
        line(String::new());
        line(format!(
            "Run {} on {} CPUs ({}), {} RAM, load average at start {}. DynamoDB Local \
             (in-memory, `infra/dynamodb-local.sh`) and the fake LINE Platform (LINE's per-channel \
             limits, real time) on the same machine; release build. Sizes: broadcast to {} \
             friends, {} step sends due in the same minute. `make bench` reruns it.",
            m.date.strftime("%Y-%m-%d %H:%M UTC"),
            m.cpus,
            m.cpu_model,
            m.memory,
            m.load,
            thousands(args.friends),
            thousands(args.steps),
        ));
        line(String::new());
        line("| Phase | Physical limit | Product path (tick) | Ratio to limit | Bare `LineClient` | Ratio to limit | Product / bare |".into());
        line("|---|---:|---:|---:|---:|---:|---:|".into());
        line(format!(
            "| Broadcast, {} friends in {} multicasts (≤ 500 each) | {} (N / (500 × 200/s)) | {} | {:.1} | {} | {:.1} | {:.1} |",
            thousands(args.friends),
            self.chunks,
            secs(multicast_limit),
            secs(b.wall),
            ratio(b.wall, multicast_limit),
            secs(self.multicast_baseline),
            ratio(self.multicast_baseline, multicast_limit),
            b.wall.as_secs_f64() / self.multicast_baseline.as_secs_f64(),
        ));
        line(format!(
            "| Step sends, {} pushes due at once | {} (N / 2,000/s) | {} | {:.2} | {} | {:.2} | {:.2} |",
            thousands(args.steps),
            secs(push_limit),
            secs(s.wall),
            ratio(s.wall, push_limit),
            secs(self.push_baseline),
            ratio(self.push_baseline, push_limit),
            s.wall.as_secs_f64() / self.push_baseline.as_secs_f64(),
        ));
        line(String::new());
        line(
            "Both LINE limits are token buckets holding one second's worth of requests, on LINE's \
             side (the fake) and in the client (`line/throttle.rs`): the first second's requests \
             go out at once, so a run can beat N / rate by up to one second. The baselines send \
             the same requests to the same fake from a bare client with no DynamoDB: multicasts \
             one at a time (as the tick does), pushes 64 in flight (the tick's concurrency)."
                .into(),
        );
        line(String::new());
        line("**Lateness of step sends** (from the start of the first tick to LINE accepting the push; all were due at that minute):".into());
        line(String::new());
        line("| | p50 | p99 | max |".into());
        line("|---|---:|---:|---:|".into());
        for (name, p) in [
            ("Product path, ticks back to back", self.lateness),
            (
                "Product path, ticks a minute apart (tick k adds k − 1 minutes)",
                self.at_cadence,
            ),
            ("Bare `LineClient`", self.baseline_lateness),
        ] {
            line(format!(
                "| {name} | {:.0} ms | {:.0} ms | {:.0} ms |",
                p.p50, p.p99, p.max
            ));
        }
        line(String::new());
        line(
            "These are measured from the tick's start. EventBridge Scheduler ticks once a minute, \
             so in production a step due at hh:mm:ss waits for the next tick: add up to 60 s of \
             tick granularity to every figure here. The bench runs ticks back to back (see \
             below); in production each further tick a due queue needs is another minute, which \
             the second row adds."
                .into(),
        );
        line(String::new());
        line("**DynamoDB per delivered message** (consumed capacity as DynamoDB Local reports it with `ReturnConsumedCapacity: INDEXES`; seeding excluded):".into());
        line(String::new());
        line("| Phase | Delivered | RCU / message | WCU / message | RCU total | WCU total | of which GSIs | DynamoDB calls | Summed call time |".into());
        line("|---|---:|---:|---:|---:|---:|---:|---:|---:|".into());
        for (name, p) in [("Broadcast", b), ("Step sends", s)] {
            let u = p.units();
            let calls: u64 = p.dynamo.values().map(|s| s.calls).sum();
            line(format!(
                "| {name} | {} | {:.3} | {:.3} | {:.0} | {:.0} | {:.0} | {} | {} |",
                thousands(p.delivered),
                u.read / p.delivered as f64,
                u.write / p.delivered as f64,
                u.read,
                u.write,
                u.gsi,
                thousands(calls as usize),
                secs(p.dynamo_busy()),
            ));
        }
        line(String::new());
        line("| Phase | Operation | Calls | RCU | WCU | of which GSIs | Mean latency |".into());
        line("|---|---|---:|---:|---:|---:|---:|".into());
        for (name, p) in [("Broadcast", b), ("Step sends", s)] {
            for (op, st) in &p.dynamo {
                line(format!(
                    "| {name} | {op} | {} | {:.0} | {:.0} | {:.0} | {:.2} ms |",
                    thousands(st.calls as usize),
                    st.units.read,
                    st.units.write,
                    st.units.gsi,
                    st.busy.as_secs_f64() * 1000.0 / st.calls.max(1) as f64,
                ));
            }
        }
        line(String::new());
        line("**Ticks** (run back to back at the same `now`):".into());
        line(String::new());
        line(
            "| Phase | Tick | Wall | Claimed | Sent | Broadcast chunks | Deferred | Failed |"
                .into(),
        );
        line("|---|---:|---:|---:|---:|---:|---:|---:|".into());
        for (name, p) in [("Broadcast", b), ("Step sends", s)] {
            for (i, (r, wall)) in p.ticks.iter().enumerate() {
                line(format!(
                    "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                    i + 1,
                    secs(*wall),
                    r.claimed,
                    r.sent,
                    r.broadcast_chunks,
                    r.deferred,
                    r.failed,
                ));
            }
        }
        line(String::new());
        line(format!(
            "LINE (the fake) answered 429 to the product path {} times in the broadcast and {} \
             times in the step sends; to the bare client {} times (multicasts) and {} times \
             (pushes), each retried after {} ms with the same retry key. Seeding {} friends (not \
             measured above) took {}.",
            b.rate_limited,
            s.rate_limited,
            self.multicast_baseline_429,
            self.push_baseline_429,
            RETRY_PAUSE.as_millis(),
            thousands(args.friends.max(args.steps)),
            secs(self.seeding),
        ));
        line(SECTION_END.into());
        out
    }
}
