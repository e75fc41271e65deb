//! The table's stream on DynamoDB Local, read the way Lambda's event source mapping reads it in
//! AWS for the outbox-relay function: every new record, in order per shard, handed to
//! `crm::outbox::relay`; records the bus refused are offered again, first, on the next pump.
//! The local stack pumps a few times a second; the tests pump after every step they take.
use std::collections::{BTreeMap, VecDeque};

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use crm::{
    Deps,
    bus::{DomainEvent, EventBus, InProcessBus},
    outbox::{RelayReport, StreamRecord, relay},
};
use serde_json::json;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

#[derive(Default)]
struct Shard {
    iterator: Option<String>,
    /// The last record read, to re-open an expired iterator right after it.
    last_sequence: Option<String>,
    /// Read but not yet accepted by the bus, in stream order.
    pending: VecDeque<StreamRecord>,
    /// The shard was split or closed and everything in it has been read.
    exhausted: bool,
}

pub struct OutboxStream {
    streams: aws_sdk_dynamodbstreams::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    arn: Option<String>,
    shards: BTreeMap<String, Shard>,
}

impl OutboxStream {
    pub fn new(aws: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self {
            streams: aws_sdk_dynamodbstreams::Client::new(aws),
            dynamodb: aws_sdk_dynamodb::Client::new(aws),
            table: table.into(),
            arn: None,
            shards: BTreeMap::new(),
        }
    }

    /// Reads what is new on the stream and relays it, after what the bus refused before.
    pub async fn pump(&mut self, bus: &dyn EventBus) -> anyhow::Result<RelayReport> {
        self.read().await?;
        let mut total = RelayReport::default();
        for shard in self.shards.values_mut() {
            if shard.pending.is_empty() {
                continue;
            }
            let batch: Vec<StreamRecord> = shard.pending.iter().cloned().collect();
            let report = relay(bus, &batch).await;
            let done = batch.len() - report.failed.len();
            shard.pending.drain(..done);
            total.published += report.published;
            total.failed.extend(report.failed);
        }
        Ok(total)
    }

    /// Records read but not yet accepted by the bus.
    pub fn pending(&self) -> usize {
        self.shards.values().map(|s| s.pending.len()).sum()
    }

    async fn stream_arn(&mut self) -> anyhow::Result<String> {
        if let Some(arn) = &self.arn {
            return Ok(arn.clone());
        }
        let table = self
            .dynamodb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .with_context(|| format!("cannot describe table {}", self.table))?;
        let arn = table
            .table()
            .and_then(|t| t.latest_stream_arn())
            .with_context(|| {
                format!(
                    "table {} has no stream (template.yaml's StreamSpecification)",
                    self.table
                )
            })?
            .to_owned();
        self.arn = Some(arn.clone());
        Ok(arn)
    }

    async fn read(&mut self) -> anyhow::Result<()> {
        let arn = self.stream_arn().await?;
        let mut start: Option<String> = None;
        loop {
            let page = self
                .streams
                .describe_stream()
                .stream_arn(&arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .context("DescribeStream")?;
            let Some(description) = page.stream_description() else {
                break;
            };
            for shard in description.shards() {
                if let Some(id) = shard.shard_id() {
                    self.shards.entry(id.to_owned()).or_default();
                }
            }
            start = description.last_evaluated_shard_id().map(str::to_owned);
            if start.is_none() {
                break;
            }
        }
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        for id in ids {
            self.read_shard(&arn, &id).await?;
        }
        Ok(())
    }

    async fn read_shard(&mut self, arn: &str, id: &str) -> anyhow::Result<()> {
        let Some(shard) = self.shards.get_mut(id) else {
            return Ok(());
        };
        if shard.exhausted {
            return Ok(());
        }
        loop {
            let iterator = match &shard.iterator {
                Some(i) => i.clone(),
                None => {
                    let mut get = self
                        .streams
                        .get_shard_iterator()
                        .stream_arn(arn)
                        .shard_id(id);
                    get = match &shard.last_sequence {
                        Some(seq) => get
                            .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                            .sequence_number(seq),
                        None => get.shard_iterator_type(ShardIteratorType::TrimHorizon),
                    };
                    let out = get.send().await.context("GetShardIterator")?;
                    match out.shard_iterator() {
                        Some(i) => i.to_owned(),
                        None => {
                            shard.exhausted = true;
                            return Ok(());
                        }
                    }
                }
            };
            let out = match self
                .streams
                .get_records()
                .shard_iterator(&iterator)
                .send()
                .await
            {
                Ok(out) => out,
                // Iterators expire after a while; open a new one after the last record read.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_expired_iterator_exception()) =>
                {
                    shard.iterator = None;
                    continue;
                }
                Err(e) => return Err(anyhow::Error::new(e).context("GetRecords")),
            };
            let records = out.records();
            for r in records {
                let Some(change) = r.dynamodb() else { continue };
                let sequence = change.sequence_number().unwrap_or_default().to_owned();
                shard.last_sequence = Some(sequence.clone());
                let Some(image) = change.new_image() else {
                    continue;
                };
                shard.pending.push_back(StreamRecord {
                    sequence_number: sequence,
                    new_image: serde_dynamo::Item::from(image.clone()),
                });
            }
            shard.iterator = out.next_shard_iterator().map(str::to_owned);
            if shard.iterator.is_none() {
                shard.exhausted = true;
                return Ok(());
            }
            if records.is_empty() {
                return Ok(());
            }
        }
    }
}

/// The local stack's event chain, as AWS runs it: the stream → the outbox relay → the bus →
/// its rule → survey-tagging. [`EventChain::flush`] runs it until nothing new comes out, so the
/// time machine can settle the effects of a tick or a sweep before the clock moves on.
#[derive(Clone)]
pub struct EventChain {
    deps: Deps,
    inner: Arc<tokio::sync::Mutex<Chain>>,
}

struct Chain {
    stream: OutboxStream,
    bus: InProcessBus,
    routed: UnboundedReceiver<DomainEvent>,
}

impl EventChain {
    pub fn new(aws: &aws_config::SdkConfig, deps: Deps) -> Self {
        let (tx, routed) = unbounded_channel();
        let stream = OutboxStream::new(aws, deps.config.table_name.clone());
        Self {
            deps,
            inner: Arc::new(tokio::sync::Mutex::new(Chain {
                stream,
                bus: InProcessBus::routed_to(tx),
                routed,
            })),
        }
    }

    /// Relays and delivers until quiet; returns how many events were delivered. A consumer's
    /// failure is logged and the event dropped, as Lambda would after its retries.
    pub async fn flush(&self) -> anyhow::Result<usize> {
        let mut guard = self.inner.lock().await;
        let Chain {
            stream,
            bus,
            routed,
        } = &mut *guard;
        let mut delivered = 0;
        loop {
            let relayed = stream.pump(bus).await?;
            let mut round = 0;
            while let Ok(event) = routed.try_recv() {
                round += 1;
                if !crm::bus::routes_to_survey_tagging(&event.detail_type) {
                    continue;
                }
                let envelope = json!({
                    "version": "0", "id": uuid::Uuid::new_v4(), "detail-type": event.detail_type,
                    "source": crm::bus::SOURCE, "time": self.deps.clock.now(), "detail": event.detail,
                });
                if let Err(e) = crm::survey_tagging::handle(&self.deps, envelope).await {
                    tracing::error!(error = %e, "survey-tagging failed");
                }
            }
            delivered += round;
            if relayed.published == 0 && round == 0 {
                return Ok(delivered);
            }
        }
    }

    /// Flushes every `every`, as the stream's event source mapping polls in AWS.
    pub fn spawn(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let chain = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(every);
            loop {
                every.tick().await;
                if let Err(e) = chain.flush().await {
                    tracing::error!(error = %e, "outbox relay failed; retrying");
                }
            }
        })
    }
}
