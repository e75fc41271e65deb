//! The shared test environment: DynamoDB Local (the table from template.yaml), a fresh tenant
//! per test, the fake LINE Platform, an in-process bus and a clock the test moves.
//!
//! Domain events travel as in AWS: outbox items in the table, read from DynamoDB Local's stream
//! by the relay, published to the bus and routed to survey-tagging. After every request, tick
//! and sweep the environment runs that chain until it is quiet ([`TestEnv::flush`]), as the
//! deployed bus would within moments; [`TestEnv::bus_refuses`] makes the bus fail for a while.
pub mod browser;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{Router, body::Body};
use crm::{
    Config, Deps,
    bus::{BusError, DomainEvent, EventBus, InProcessBus},
    clock::ManualClock,
    domain::{DeliveryWindow, Tenant, TenantId},
    secret::Secret,
    store::Store,
};
use http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use tsunagu_local::{fake_line::FakeLine, line_user, outbox_stream::OutboxStream, stack};

mod console;

pub use console::{Browser, Page};
pub use tsunagu_local::line_user as user;

pub const OPERATOR_KEY: &str = "test-operator-key";

/// One test's world. Tenants are unique per test, so tests share the table and run in parallel.
pub struct TestEnv {
    pub deps: Deps,
    pub store: Store,
    pub fake: FakeLine,
    pub bus: InProcessBus,
    pub clock: ManualClock,
    pub app: Router,
    pub tenant: TestTenant,
    /// The table's stream, read by the relay.
    outbox: Arc<tokio::sync::Mutex<OutboxStream>>,
    /// The relay's bus: `bus`, unless told to refuse.
    relay_bus: FlakyBus,
    /// How many published bus events have been routed to their consumer.
    routed: Arc<std::sync::Mutex<usize>>,
    /// What survey-tagging answered, since [`TestEnv::run_bus`] last returned them.
    consumed: Arc<std::sync::Mutex<Vec<Value>>>,
}

/// The bus as the relay sees it: refuses the next `refuse` publishes (EventBridge down), then
/// passes them to the in-process bus.
#[derive(Clone)]
struct FlakyBus {
    inner: InProcessBus,
    refuse: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl EventBus for FlakyBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), BusError> {
        let refused = self
            .refuse
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            return Err(BusError::PutEvents("the test made the bus refuse".into()));
        }
        self.inner.publish(events).await
    }
}

/// A tenant with its plain secrets, as the test (playing LINE and the marketer) knows them.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub id: TenantId,
    pub channel_secret: String,
    pub access_token: String,
    pub api_key: String,
}

/// What LINE's in-app browser on an iPhone says it is.
pub const LINE_BROWSER: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
    AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.3.0";

/// A table of its own per test: the scheduled-sends tick reads the whole due-index, so tests
/// sharing a table would claim each other's sends. DynamoDB Local creates one in milliseconds.
pub fn table_name() -> String {
    format!(
        "tsunagu-test-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A LINE user id nobody else in the run uses.
pub fn new_user() -> String {
    format!("U{}", uuid::Uuid::new_v4().simple())
}

impl TestEnv {
    pub async fn start() -> anyhow::Result<Self> {
        let aws = stack::aws_config().await;
        let table = table_name();
        stack::ensure_table(&aws_sdk_dynamodb::Client::new(&aws), &table).await?;
        let outbox = OutboxStream::new(&aws, &table);

        let fake = FakeLine::new();
        let (fake_url, _task) = fake.spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let clock = ManualClock::at("2026-04-01T00:00:00Z".parse()?);
        let bus = InProcessBus::new();
        let config = Config {
            table_name: table,
            bus_name: None,
            line_api_base: fake_url,
            public_base_url: Some("https://api.example.test".parse()?),
            operator_key_sha256: Some(crm::admin_api::hash_key(OPERATOR_KEY)),
            // Staff-webhook receivers listen on loopback here.
            allow_loopback_webhooks: true,
            vault_key: crm::config::VaultKey::local_default(),
        };
        let deps = Deps::new(config, &aws, Arc::new(clock.clone()))?;
        let store = deps.store.clone();
        let app = crm::webhook::router(deps.clone())
            .merge(crm::admin_api::router(deps.clone()))
            .merge(crm::console::router(deps.clone()));
        let mut env = Self {
            deps,
            store,
            fake,
            relay_bus: FlakyBus {
                inner: bus.clone(),
                refuse: Arc::default(),
            },
            bus,
            clock,
            app,
            outbox: Arc::new(tokio::sync::Mutex::new(outbox)),
            consumed: Arc::default(),
            tenant: TestTenant {
                id: TenantId::parse("placeholder")?,
                channel_secret: String::new(),
                access_token: String::new(),
                api_key: String::new(),
            },
            routed: Arc::default(),
        };
        env.tenant = env.new_tenant().await?;
        Ok(env)
    }

    /// Another tenant on the same stack (for isolation tests), registered with the fake LINE.
    pub async fn new_tenant(&self) -> anyhow::Result<TestTenant> {
        let short = uuid::Uuid::new_v4().simple().to_string();
        let t = TestTenant {
            id: TenantId::parse(&format!("t-{}", &short[..12]))?,
            channel_secret: format!("secret-{short}"),
            access_token: format!("token-{short}"),
            api_key: format!("key-{short}"),
        };
        let now = self.clock.now_ts();
        let tenant = Tenant {
            id: t.id.clone(),
            name: format!("Shop {}", t.id),
            channel_id: None,
            channel_secret: Secret::new(&t.channel_secret),
            access_token: Secret::new(&t.access_token),
            zone: "Asia/Tokyo".into(),
            delivery_window: DeliveryWindow::default(),
            daily_cap: None,
            quota_exhausted_at: None,
            message_text_retention_days: Some(crm::domain::tenant::DEFAULT_TEXT_RETENTION_DAYS),
            created_at: now,
        };
        let key = crm::admin_api::key_listing(&t.api_key, "test", now);
        self.store
            .create_tenant(&tenant, &crm::admin_api::hash_key(&t.api_key), &key)
            .await?;
        self.fake.add_channel(&t.access_token);
        Ok(t)
    }

    /// Runs one scheduled-sends tick at the test clock's now.
    pub async fn tick(&self) -> anyhow::Result<crm::scheduled_sends::TickReport> {
        let report = crm::scheduled_sends::tick(&self.deps, self.clock.now_ts()).await?;
        self.flush().await?;
        Ok(report)
    }

    /// Runs the daily dormancy sweep at the test clock's now (every tenant of this test's table).
    pub async fn sweep(&self) -> anyhow::Result<crm::dormancy_sweep::SweepReport> {
        let report = crm::dormancy_sweep::sweep(&self.deps, self.clock.now_ts()).await?;
        self.flush().await?;
        Ok(report)
    }

    /// The bus refuses the relay's next `publishes` calls (EventBridge down), then recovers.
    pub fn bus_refuses(&self, publishes: usize) {
        self.relay_bus.refuse.store(publishes, Ordering::SeqCst);
    }

    /// Outbox records read from the stream that the bus has not accepted yet.
    pub async fn outbox_waiting(&self) -> usize {
        self.outbox.lock().await.pending()
    }

    /// Runs the event chain until it is quiet: the relay reads the stream and publishes, the
    /// bus routes to survey-tagging (as template.yaml's rule does), whose writes add outbox items.
    pub async fn flush(&self) -> anyhow::Result<()> {
        loop {
            let relayed = self.outbox.lock().await.pump(&self.relay_bus).await?;
            let routed = self.route_published().await?;
            if relayed.published == 0 && routed == 0 {
                return Ok(());
            }
        }
    }

    /// Hands the events published since the last call to their consumer, in EventBridge's envelope.
    async fn route_published(&self) -> anyhow::Result<usize> {
        let published = self.bus.published();
        let start = {
            let mut routed = self.routed.lock().unwrap_or_else(|e| e.into_inner());
            let start = *routed;
            *routed = published.len();
            start
        };
        for event in published.get(start..).unwrap_or_default() {
            if crm::bus::routes_to_survey_tagging(&event.detail_type) {
                let result = crm::survey_tagging::handle(&self.deps, envelope(event)).await?;
                self.consumed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(result);
            }
        }
        Ok(published.len().saturating_sub(start))
    }

    /// Moves the test clock to an instant given in the tenant's zone, e.g. "2026-04-03T10:00".
    pub fn set_local_time(&self, local: &str) -> anyhow::Result<()> {
        let civil: jiff::civil::DateTime = local.parse()?;
        self.clock.set(
            civil
                .to_zoned(jiff::tz::TimeZone::get("Asia/Tokyo")?)?
                .timestamp(),
        );
        Ok(())
    }

    /// An instant given in Tokyo time, e.g. "2026-04-02T10:00".
    pub fn clock_in_tokyo(&self, local: &str) -> anyhow::Result<jiff::Timestamp> {
        let civil: jiff::civil::DateTime = local.parse()?;
        Ok(civil
            .to_zoned(jiff::tz::TimeZone::get("Asia/Tokyo")?)?
            .timestamp())
    }

    /// The texts of every message LINE accepted for `user` (push, multicast or reply), in order.
    pub fn texts_sent_to(&self, user: &str) -> Vec<String> {
        self.fake
            .sent_messages()
            .into_iter()
            .filter(|d| d.to.iter().any(|t| t == user))
            .flat_map(|d| d.messages)
            .filter_map(|m| m["text"].as_str().map(str::to_owned))
            .collect()
    }

    /// Saves a scenario from YAML through the admin API, as `tsunagu-local scenario apply` does.
    pub async fn put_scenario_yaml(
        &self,
        id: &str,
        yaml: &str,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let req = Request::put(format!("/admin/scenarios/{id}"))
            .header("authorization", format!("Bearer {}", self.tenant.api_key))
            .header("content-type", "application/yaml")
            .body(Body::from(yaml.to_owned()))?;
        self.call(req).await
    }

    /// Now, in LINE's milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ts().as_millisecond()
    }

    /// POSTs `events` to this tenant's webhook, signed with its channel secret.
    pub async fn deliver(&self, events: Vec<Value>) -> anyhow::Result<(StatusCode, Value)> {
        self.deliver_as(&self.tenant, &self.tenant.id.to_string(), events)
            .await
    }

    /// POSTs `events` to `/webhook/{path_tenant}`, signed with `signer`'s secret.
    pub async fn deliver_as(
        &self,
        signer: &TestTenant,
        path_tenant: &str,
        events: Vec<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let body = line_user::batch(events);
        let sig = line_user::signature(&signer.channel_secret, &body);
        self.post_raw(path_tenant, Some(&sig), body).await
    }

    pub async fn post_raw(
        &self,
        path_tenant: &str,
        signature: Option<&str>,
        body: Vec<u8>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = Request::post(format!("/webhook/{path_tenant}"))
            .header("content-type", "application/json");
        if let Some(sig) = signature {
            req = req.header("X-Line-Signature", sig);
        }
        self.call(req.body(Body::from(body))?).await
    }

    /// Calls the admin API with an API key.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json");
        let body = body
            .map(|b| Body::from(b.to_string()))
            .unwrap_or_else(Body::empty);
        self.call(req.body(body)?).await
    }

    /// This tenant's admin API.
    pub async fn marketer(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let key = self.tenant.api_key.clone();
        self.admin(method, path, &key, body).await
    }

    pub async fn call<B>(&self, req: Request<B>) -> anyhow::Result<(StatusCode, Value)>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let (status, _, bytes) = self.call_raw(req).await?;
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        Ok((status, json))
    }
}

impl TestEnv {
    /// The hearing survey of `docs/examples/hearing.yaml`, saved to be answered on the web
    /// form (`delivery: form`) instead of in the chat.
    pub async fn put_hearing_as_form(&self) -> anyhow::Result<()> {
        let as_form = include_str!("../../docs/examples/hearing.yaml").replacen(
            "name: 登録時ヒアリング",
            "name: 登録時ヒアリング\ndelivery: form",
            1,
        );
        let (status, body) = self.put_yaml("/admin/surveys/hearing", &as_form).await?;
        anyhow::ensure!(status == StatusCode::CREATED, "{status} {body}");
        Ok(())
    }

    /// Friend `user`'s signed form link for `survey`, as the admin API gives it.
    pub async fn form_link(&self, survey: &str, user: &str) -> anyhow::Result<String> {
        let (status, link) = self
            .marketer(
                "GET",
                &format!("/admin/surveys/{survey}/link?userId={user}"),
                None,
            )
            .await?;
        anyhow::ensure!(status == StatusCode::OK, "{status} {link}");
        Ok(link["url"].as_str().unwrap_or_default().to_owned())
    }

    /// Serves the app on a loopback port (for a real browser) and returns its base URL. What
    /// it publishes stays on the outbox until `flush`.
    pub async fn serve(&self) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = self.app.clone();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(format!("http://{addr}"))
    }

    /// Any request, answered as it is: status, content type and body bytes (for answers that
    /// may not be JSON).
    pub async fn call_raw<B>(
        &self,
        req: Request<B>,
    ) -> anyhow::Result<(StatusCode, Option<String>, bytes::Bytes)>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let res = self.app.clone().oneshot(req.map(Body::new)).await?;
        let status = res.status();
        let content_type = res
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
        self.flush().await?;
        Ok((status, content_type, bytes))
    }

    /// Delivers what is waiting on the outbox and returns what survey-tagging answered since
    /// the last call (for answers and purchases: "applied", "duplicate", "ignored"…).
    pub async fn run_bus(&self) -> anyhow::Result<Vec<Value>> {
        self.flush().await?;
        Ok(std::mem::take(
            &mut *self.consumed.lock().unwrap_or_else(|e| e.into_inner()),
        ))
    }

    /// The friend as the marketer sees it through the admin API.
    pub async fn friend_view(&self, user: &str) -> anyhow::Result<Value> {
        let (status, body) = self
            .marketer("GET", &format!("/admin/friends/{user}"), None)
            .await?;
        anyhow::ensure!(status == StatusCode::OK, "GET friend: {status} {body}");
        Ok(body)
    }

    /// The friend's tags, sorted.
    pub async fn tags_of(&self, user: &str) -> anyhow::Result<Vec<String>> {
        let view = self.friend_view(user).await?;
        let mut tags: Vec<String> = view["tags"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        tags.sort();
        Ok(tags)
    }

    /// A user's event carrying a reply token the fake LINE will accept (replies reach `user`).
    pub fn with_reply_token(&self, user: &str, mut event: Value) -> Value {
        let token = self
            .fake
            .issue_reply_token_to(&self.tenant.access_token, user);
        event["replyToken"] = Value::String(token);
        event
    }

    /// The user taps a button or quick reply whose postback data is `data`.
    pub async fn tap(&self, user: &str, data: &str) -> anyhow::Result<()> {
        let event = self.with_reply_token(user, line_user::postback(user, self.now_ms(), data));
        let (status, body) = self.deliver(vec![event]).await?;
        anyhow::ensure!(status == StatusCode::OK, "webhook: {status} {body}");
        Ok(())
    }

    /// The user types `text`.
    pub async fn say(&self, user: &str, text: &str) -> anyhow::Result<()> {
        let event = self.with_reply_token(user, line_user::text_message(user, self.now_ms(), text));
        let (status, body) = self.deliver(vec![event]).await?;
        anyhow::ensure!(status == StatusCode::OK, "webhook: {status} {body}");
        Ok(())
    }

    /// Saves a definition from YAML through the admin API (`PUT {path}`).
    pub async fn put_yaml(&self, path: &str, yaml: &str) -> anyhow::Result<(StatusCode, Value)> {
        let req = Request::put(path)
            .header("authorization", format!("Bearer {}", self.tenant.api_key))
            .header("content-type", "application/yaml")
            .body(Body::from(yaml.to_owned()))?;
        self.call(req).await
    }

    /// The user adds the account as a friend now (no reply token: the welcome goes by push).
    pub async fn follow(&self, user: &str) -> anyhow::Result<()> {
        let event = line_user::follow(user, self.now_ms(), false);
        let (status, body) = self.deliver(vec![event]).await?;
        anyhow::ensure!(status == StatusCode::OK, "webhook: {status} {body}");
        Ok(())
    }

    /// The user adds the account as a friend now, with a reply token LINE would give.
    pub async fn follow_with_reply_token(&self, user: &str) -> anyhow::Result<()> {
        let event = self.with_reply_token(user, line_user::follow(user, self.now_ms(), false));
        let (status, body) = self.deliver(vec![event]).await?;
        anyhow::ensure!(status == StatusCode::OK, "webhook: {status} {body}");
        Ok(())
    }

    /// Moves the clock to `local` (Tokyo wall time) and the user follows then.
    pub async fn follow_at(&self, user: &str, local: &str) -> anyhow::Result<()> {
        self.set_local_time(local)?;
        self.follow(user).await
    }

    /// The postback data of the quick reply labelled `label` in the last message to `user`.
    pub fn quick_reply(&self, user: &str, label: &str) -> anyhow::Result<String> {
        let last = self
            .last_message_to(user)
            .ok_or_else(|| anyhow::anyhow!("no message to {user}"))?;
        last["quickReply"]["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["action"]["label"] == label)
            .and_then(|i| i["action"]["data"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no quick reply {label} in {last}"))
    }

    /// The state of the user's enrollment in `scenario`, None when never enrolled.
    pub async fn enrollment_state(
        &self,
        user: &str,
        scenario: &str,
    ) -> anyhow::Result<Option<crm::domain::enrollment::EnrollmentState>> {
        let e = self
            .store
            .enrollment(&self.tenant.id, &user.parse()?, &scenario.parse()?)
            .await?;
        Ok(e.map(|e| e.state))
    }

    /// The marketer turns the delivery window off (`deliveryWindow: null`): sends at any hour.
    pub async fn always_open(&self) -> anyhow::Result<()> {
        let patch = serde_json::json!({ "deliveryWindow": null });
        let (status, body) = self.marketer("PATCH", "/admin/tenant", Some(patch)).await?;
        anyhow::ensure!(
            status == StatusCode::OK,
            "PATCH /admin/tenant: {status} {body}"
        );
        anyhow::ensure!(body["deliveryWindow"].is_null(), "{body}");
        Ok(())
    }

    /// The user opens a link from a message (`https://api.example.test/...`) in LINE's in-app
    /// browser: our answer to the browser, before it follows any redirect.
    pub async fn visit(&self, url: &str) -> anyhow::Result<http::Response<Body>> {
        self.visit_as(url, Some(LINE_BROWSER)).await
    }

    /// `url` fetched by a program saying `user_agent` (a link preview, a scanner), or by none.
    pub async fn visit_as(
        &self,
        url: &str,
        user_agent: Option<&str>,
    ) -> anyhow::Result<http::Response<Body>> {
        let path = url.trim_start_matches("https://api.example.test");
        let mut req = Request::get(path);
        if let Some(agent) = user_agent {
            req = req.header("user-agent", agent);
        }
        let res = self.app.clone().oneshot(req.body(Body::empty())?).await?;
        Ok(res)
    }

    /// The last message LINE accepted for `user` (push or reply).
    pub fn last_message_to(&self, user: &str) -> Option<Value> {
        self.fake
            .sent_messages()
            .into_iter()
            .filter(|d| d.to.iter().any(|t| t == user))
            .flat_map(|d| d.messages)
            .last()
    }
}

/// A domain event as EventBridge delivers it to a rule's target.
pub fn envelope(event: &crm::bus::DomainEvent) -> Value {
    serde_json::json!({
        "version": "0", "id": uuid::Uuid::new_v4(), "detail-type": event.detail_type,
        "source": crm::bus::SOURCE, "account": "000000000000", "time": jiff::Timestamp::now(),
        "region": "ap-northeast-1", "resources": [], "detail": event.detail,
    })
}

/// `ManualClock::now` without importing the Clock trait everywhere.
pub trait NowTs {
    fn now_ts(&self) -> jiff::Timestamp;
}

impl NowTs for ManualClock {
    fn now_ts(&self) -> jiff::Timestamp {
        crm::clock::Clock::now(self)
    }
}
