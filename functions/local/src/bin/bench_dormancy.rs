//! Benchmark of the daily dormancy sweep (`make bench`, not part of the tests).
//!
//! Writes N synthetic friends of one tenant, last seen on days spread evenly over two years,
//! into DynamoDB Local; runs one day's sweep and reports the items it read and its time, then a
//! full Scan of the same table finding the same friends, in the same run. The friend items carry
//! only what the sweep reads: table keys, the index keys of a friend and the profile fields.
//!
//! Then (unless `--no-backfill`) the one-time backfill of the same tenant: every friend already
//! silent 30 days or more put into their tier, with its time and read/write units.
//!
//!     cargo run --release -p tsunagu-local --bin bench_dormancy -- --friends 100000
use std::{sync::Arc, time::Instant};

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use clap::Parser;
use crm::{
    Config, Deps,
    clock::ManualClock,
    domain::{DeliveryWindow, Friend, LineUserId, Tenant, TenantId, dormancy},
    secret::Secret,
    store::{keys, new_friend_item},
};
use jiff::{ToSpan, civil::Date};
use tokio::{sync::Semaphore, task::JoinSet};
use tsunagu_local::stack;

#[derive(Parser)]
#[command(about = "Dormancy sweep vs full scan on DynamoDB Local")]
struct Args {
    /// Friends to write.
    #[arg(long, default_value_t = 1_000_000)]
    friends: u64,
    /// Days of last-seen spread (two years).
    #[arg(long, default_value_t = 730)]
    days: u64,
    /// BatchWriteItem calls in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Keep the table afterwards (it is deleted by default).
    #[arg(long)]
    keep: bool,
    /// Skip the full scan (DynamoDB Local's Scan slows more than linearly past ~200k items).
    #[arg(long)]
    no_scan: bool,
    /// Skip the one-time backfill measured after the daily sweep (it writes a transition for
    /// every friend already silent 30 days or more: ~96 % of them here).
    #[arg(long)]
    no_backfill: bool,
}

const TENANT: &str = "bench";
const ZONE: &str = "Asia/Tokyo";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let aws = stack::aws_config().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let table = format!(
        "tsunagu-bench-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    stack::ensure_table(&client, &table).await?;
    let result = run(&args, &aws, &client, &table).await;
    if !args.keep {
        client.delete_table().table_name(&table).send().await.ok();
    }
    result
}

async fn run(
    args: &Args,
    aws: &aws_config::SdkConfig,
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> anyhow::Result<()> {
    let t = TenantId::parse(TENANT)?;
    let zone = jiff::tz::TimeZone::get(ZONE)?;
    // The sweep runs at 04:00 on `today`; friends were last seen on the days before it.
    let today: Date = "2026-04-01".parse()?;
    let now = today.at(4, 0, 0, 0).to_zoned(zone.clone())?.timestamp();
    let deps = Deps::new(
        Config {
            table_name: table.to_owned(),
            bus_name: None,
            line_api_base: "http://127.0.0.1:9".parse()?,
            public_base_url: None,
            operator_key_sha256: None,
            allow_loopback_webhooks: false,
            vault_key: crm::config::VaultKey::local_default(),
        },
        aws,
        Arc::new(ManualClock::at(now)),
    )?;
    let tenant = Tenant {
        id: t.clone(),
        name: "Bench shop".into(),
        channel_id: None,
        channel_secret: Secret::new("bench"),
        access_token: Secret::new("bench"),
        zone: ZONE.into(),
        delivery_window: DeliveryWindow::default(),
        daily_cap: None,
        quota_exhausted_at: None,
        message_text_retention_days: Some(crm::domain::tenant::DEFAULT_TEXT_RETENTION_DAYS),
        created_at: now,
    };
    deps.store.put_tenant(&tenant).await?;
    // Yesterday is swept: this run sweeps exactly one day, as the daily schedule does. The
    // one-time backfill is recorded as done, so the daily sweep is measured alone; the backfill
    // is measured afterwards on its own.
    let yesterday = today.yesterday()?;
    deps.store.set_last_swept_day(&t, yesterday, now).await?;
    deps.store.record_backfill(&t, now, None).await?;

    println!(
        "writing {} friends over {} days into {table} …",
        args.friends, args.days
    );
    let started = Instant::now();
    write_friends(args, client, table, &t, today).await?;
    let write_secs = started.elapsed().as_secs_f64();
    println!(
        "  written in {write_secs:.1} s ({:.0} items/s)",
        args.friends as f64 / write_secs
    );

    let settings = dormancy::DormancySettings::default();
    let crossing_days: Vec<Date> = settings
        .tiers
        .iter()
        .filter_map(|tier| dormancy::crossing_day(today, tier.days))
        .collect();
    let expected: u64 = (0..args.friends)
        .filter(|i| crossing_days.contains(&last_seen_day(today, *i, args.days)))
        .count() as u64;

    let started = Instant::now();
    let report = crm::dormancy_sweep::sweep_tenant(&deps, &tenant, now).await?;
    let sweep_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.entered as u64 == expected,
        "the sweep moved {} friends, {expected} cross a threshold today",
        report.entered
    );

    let read = report.index_items_read + report.friends_read;
    println!(
        "  sweep: {} queries, {read} items read ({} index keys + {} profiles), {} transitions, {sweep_secs:.2} s",
        report.buckets_queried, report.index_items_read, report.friends_read, report.entered
    );
    if args.no_scan {
        if !args.no_backfill {
            backfill(args, &deps, client, &tenant, now, expected).await?;
        }
        return Ok(());
    }
    println!("  full scan …");
    let started = Instant::now();
    let (scanned, matched) = full_scan(client, table, &t, &crossing_days).await?;
    let scan_secs = started.elapsed().as_secs_f64();

    println!(
        "\n| friends | crossing today | sweep: queries | sweep: items read | sweep: time | full scan: items read | full scan: time |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {expected} | {} | {read} ({} index keys + {} profiles) | {sweep_secs:.2} s | {scanned} (found {matched}) | {scan_secs:.2} s |",
        args.friends, report.buckets_queried, report.index_items_read, report.friends_read,
    );
    println!(
        "\nwrite: {write_secs:.1} s; sweep wrote {} transitions (friend + tier entry + counter + tag member each)",
        report.entered
    );
    // After the scan, so the scan reads the same table as before the backfill existed.
    if !args.no_backfill {
        backfill(args, &deps, client, &tenant, now, expected).await?;
    }
    Ok(())
}

/// The one-time backfill a tenant's first sweep (or a purchase import) runs, measured apart:
/// time, items read and the read units of walking the friend list (asked of DynamoDB Local with
/// `ReturnConsumedCapacity`), and the transitions written with their write units: 2 per item
/// of each transaction (tier entry, counter, profile, tag member; items under 1 KB) and 1 for
/// the follow-up that clears the entry's `pending`.
async fn backfill(
    args: &Args,
    deps: &crm::Deps,
    client: &aws_sdk_dynamodb::Client,
    tenant: &Tenant,
    now: jiff::Timestamp,
    placed_by_sweep: u64,
) -> anyhow::Result<()> {
    let expected = (0..args.friends)
        .filter(|i| 1 + (i % args.days) >= 30)
        .count() as u64
        - placed_by_sweep;
    println!("  backfill …");
    let list_rcu = friend_list_read_units(client, deps.store.table(), &tenant.id).await?;
    let started = Instant::now();
    let report = crm::dormancy_sweep::backfill_tenant(deps, tenant, now).await?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.backfilled as u64 == expected,
        "the backfill placed {} friends, {expected} are silent 30 days or more (not crossing today)",
        report.backfilled
    );
    // Each placement re-reads the profile (eventually consistent, < 4 KB: 0.5 units).
    let read_units = list_rcu + 0.5 * report.backfilled as f64;
    let write_units = (2 * 4 + 1) * report.backfilled;
    println!(
        "\n| friends | backfill: placed | backfill: items read | backfill: read units | backfill: write units | backfill: time |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} ({} listed + {} profiles) | {read_units:.0} ({list_rcu:.0} list + {:.0} profiles) | {write_units} | {secs:.2} s |",
        args.friends,
        report.backfilled,
        report.backfill_friends_read + report.backfilled,
        report.backfill_friends_read,
        report.backfilled,
        0.5 * report.backfilled as f64,
    );
    // Recorded: the next daily sweep is back to reading only the crossing buckets.
    let state = deps.store.sweep_state(&tenant.id).await?;
    anyhow::ensure!(
        state.backfilled_at.is_some(),
        "the backfill was not recorded"
    );
    Ok(())
}

/// Read units of one pass over the tenant's friend list (gsi1, full items), as the backfill
/// pages it.
async fn friend_list_read_units(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    t: &TenantId,
) -> anyhow::Result<f64> {
    let mut units = 0.0;
    let mut start = None;
    loop {
        let page = client
            .query()
            .table_name(table)
            .index_name(keys::GSI1)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(keys::friends_index_pk(t)))
            .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("Query")?;
        units += page
            .consumed_capacity
            .and_then(|c| c.capacity_units)
            .unwrap_or(0.0);
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(units);
        }
    }
}

/// Friend `i` was last seen this many days before `today`: 1..=days, evenly.
fn last_seen_day(today: Date, i: u64, days: u64) -> Date {
    let back = 1 + (i % days) as i64;
    today.checked_sub(back.days()).unwrap_or(today)
}

fn user(i: u64) -> anyhow::Result<LineUserId> {
    Ok(LineUserId::parse(&format!("U{i:032x}"))?)
}

async fn write_friends(
    args: &Args,
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    t: &TenantId,
    today: Date,
) -> anyhow::Result<()> {
    let zone = jiff::tz::TimeZone::get(ZONE)?;
    let permits = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for chunk_start in (0..args.friends).step_by(25) {
        let mut batch = Vec::with_capacity(25);
        for i in chunk_start..(chunk_start + 25).min(args.friends) {
            let u = user(i)?;
            let day = last_seen_day(today, i, args.days);
            let seen = day.at(12, 0, 0, 0).to_zoned(zone.clone())?.timestamp();
            // The store's own item for a friend followed and last seen that noon.
            let mut friend = Friend::new(t.clone(), u, seen);
            friend.last_seen_at = Some(seen);
            let item = new_friend_item(&friend, &zone)?;
            batch.push(
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                    .build(),
            );
        }
        let permit = permits.clone().acquire_owned().await?;
        let (client, table) = (client.clone(), table.to_owned());
        tasks.spawn(async move {
            let _permit = permit;
            let mut pending = batch;
            while !pending.is_empty() {
                let out = client
                    .batch_write_item()
                    .request_items(&table, pending)
                    .send()
                    .await
                    .context("BatchWriteItem")?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&table))
                    .unwrap_or_default();
            }
            anyhow::Ok(())
        });
        while tasks.len() > args.concurrency * 2 {
            if let Some(r) = tasks.join_next().await {
                r??;
            }
        }
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

/// What a sweep without the day-bucket index would do: read every item and keep the friends
/// whose last-seen bucket crosses a threshold today.
async fn full_scan(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    t: &TenantId,
    crossing_days: &[Date],
) -> anyhow::Result<(u64, u64)> {
    let wanted: Vec<String> = crossing_days
        .iter()
        .map(|d| keys::seen_bucket_pk(t, &d.to_string()))
        .collect();
    let (mut scanned, mut matched) = (0u64, 0u64);
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("Scan")?;
        scanned += u64::try_from(page.scanned_count).unwrap_or(0);
        matched += page
            .items
            .unwrap_or_default()
            .iter()
            .filter(|item| {
                item.get("entity")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    == Some("friend")
                    && item
                        .get("gsi3pk")
                        .and_then(|v| v.as_s().ok())
                        .is_some_and(|pk| wanted.contains(pk))
            })
            .count() as u64;
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok((scanned, matched));
        }
    }
}
