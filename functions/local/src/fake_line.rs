//! The fake LINE Platform: the project's only fake, served over real HTTP to the LINE client by
//! the end-to-end tests and the local stack.
//!
//! It answers like LINE's Messaging API (`api.line.me`) for the calls Tsunagu makes — reply,
//! push, multicast, profile, quota — with LINE's status codes, error bodies and limits, and it
//! records every request it receives (refused ones included) so tests can assert on what LINE
//! would have seen. Shapes come from LINE's OpenAPI spec (`messaging-api.yml`) and
//! `LINE-PLATFORM.md`.
//!
//! Time is the fake's [`Clock`] (the wall clock unless given one, [`FakeLine::with_clock`]): the
//! local stack hands it the clock it moves, so a reply token issued before "three days later"
//! has expired, as on LINE (about one minute), and the monthly quota's usage starts again at
//! 00:00 on the 1st, Asia/Tokyo, as LINE counts months. [`FakeLine::expire_reply_tokens`]
//! expires tokens without moving any clock. One deliberate simplification: accepted retry keys
//! are remembered until the process ends (LINE: 24 hours).
//!
//! Rate limits, on the other hand, run on real (tokio) time: they are the physical limit a
//! benchmark against this server measures.
//!
//! Control endpoints under `/__fake/` (no auth, not recorded) let the local stack and people
//! inspect and steer it: `GET /__fake/requests[?since=<seq>]` (JSON lines),
//! `DELETE /__fake/requests`, `POST /__fake/profiles`, `POST /__fake/channels`,
//! `POST /__fake/reply-tokens`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use crm::clock::{Clock, SystemClock};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;
use uuid::Uuid;

/// LINE refuses request bodies over 2 MB with 413.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// LINE: "The reply token is valid for about one minute" after the event; later it is refused
/// like a made-up one.
pub const REPLY_TOKEN_LIFETIME: SignedDuration = SignedDuration::from_mins(1);

const REQUEST_ID: &str = "x-line-request-id";
const ACCEPTED_REQUEST_ID: &str = "x-line-accepted-request-id";
const RETRY_KEY: &str = "x-line-retry-key";

const AUTH_FAILED: &str =
    "Authentication failed. Confirm that the access token in the authorization header is valid.";
const RATE_LIMITED: &str = "The API rate limit has been exceeded. Try again later.";
const MONTHLY_LIMIT: &str = "You have reached your monthly limit.";
const RETRY_KEY_ACCEPTED: &str = "The retry key is already accepted";
const NOT_FOUND: &str = "Not found";
const INTERNAL_ERROR: &str = "Internal server error";
const TOO_LARGE: &str = "Request Entity Too Large";
/// LINE's wording when the push `to` is not a user, group or room id.
const PUSH_TO_INVALID: &str =
    "The property, 'to', in the request body is invalid (line: -, column: -)";

/// The message object types LINE's spec lists for sending (textV2 and coupon are not used by
/// Tsunagu, so the fake refuses them like any unknown type).
const MESSAGE_TYPES: [&str; 9] = [
    "text", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex",
];
const ACTION_TYPES: [&str; 9] = [
    "postback",
    "message",
    "uri",
    "datetimepicker",
    "camera",
    "cameraRoll",
    "location",
    "richmenuswitch",
    "clipboard",
];

/// The rate-limited, failure-injectable groups of LINE endpoints the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Endpoint {
    /// `POST /v2/bot/message/reply`
    Reply,
    /// `POST /v2/bot/message/push`
    Push,
    /// `POST /v2/bot/message/multicast`
    Multicast,
    /// `GET /v2/bot/profile/{userId}`
    Profile,
    /// `GET /v2/bot/message/quota` and `GET /v2/bot/message/quota/consumption`
    Quota,
}

impl Endpoint {
    /// LINE's published per-channel limits: multicast 200 requests/s, push and the other
    /// endpoints used here 2,000 requests/s.
    pub fn default_rate_limit(self) -> u32 {
        match self {
            Endpoint::Multicast => 200,
            Endpoint::Reply | Endpoint::Push | Endpoint::Profile | Endpoint::Quota => 2_000,
        }
    }

    /// LINE honours `X-Line-Retry-Key` on push, multicast, narrowcast and broadcast only; on
    /// anything else the header itself is a 400.
    fn accepts_retry_key(self) -> bool {
        matches!(self, Endpoint::Push | Endpoint::Multicast)
    }
}

/// One request as the fake received it, with what it answered. Secrets are never kept: the
/// `Authorization` value is recorded as `Bearer ***` and the channel by [`FakeLine::channel_id`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// 1, 2, 3… in arrival order; `GET /__fake/requests?since=N` returns `seq > N`.
    pub seq: u64,
    /// The `X-Line-Request-Id` the fake answered with.
    pub request_id: String,
    /// Arrival time on the fake's clock (RFC 3339, UTC): the local stack's moved time.
    pub at: jiff::Timestamp,
    pub method: String,
    pub path: String,
    /// Lowercased header names; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The JSON body, or `null` when there was none, it was not JSON or it was too large.
    pub body: Value,
    /// The status the fake answered.
    pub status: u16,
    /// The JSON body the fake answered.
    pub response: Value,
    /// [`FakeLine::channel_id`] of the access token, when it names a known channel.
    pub channel: Option<String>,
}

/// A send LINE accepted (2xx): reply, push or multicast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivered {
    /// The [`RecordedRequest::seq`] of the accepting request.
    pub seq: u64,
    pub request_id: String,
    pub endpoint: Endpoint,
    /// [`FakeLine::channel_id`] of the sending channel.
    pub channel: String,
    /// Push: the one `to`; multicast: every `to`; reply: the user the reply token was issued
    /// for by [`FakeLine::issue_reply_token_to`], else empty.
    pub to: Vec<String>,
    pub messages: Vec<Value>,
    pub retry_key: Option<String>,
    pub reply_token: Option<String>,
    pub notification_disabled: bool,
}

/// The fake LINE Platform. Clones share one state and one clock.
#[derive(Clone)]
pub struct FakeLine {
    state: Arc<Mutex<FakeState>>,
    clock: Arc<dyn Clock>,
}

impl Default for FakeLine {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }
}

#[derive(Default)]
struct FakeState {
    /// Keyed by access token: a token is valid exactly when it has an entry.
    channels: HashMap<String, Channel>,
    /// Profiles set without a channel: every channel, present or later, sees them.
    shared_profiles: HashMap<String, Profile>,
    rate_limits: HashMap<Endpoint, u32>,
    injected: HashMap<Endpoint, VecDeque<u16>>,
    profile_failure: Option<u16>,
    requests: Vec<RecordedRequest>,
    delivered: Vec<Delivered>,
    next_seq: u64,
    next_message_id: u64,
}

struct Channel {
    id: String,
    /// Unused reply tokens: the user each one answers, if known, and when it was issued.
    reply_tokens: HashMap<String, IssuedToken>,
    profiles: HashMap<String, Profile>,
    blocked: HashSet<String>,
    accepted_keys: HashMap<Uuid, Accepted>,
    monthly_quota: Option<u64>,
    /// Messages counted in `usage_month` (its first day, Asia/Tokyo).
    usage: u64,
    usage_month: Option<jiff::civil::Date>,
    buckets: HashMap<Endpoint, Bucket>,
}

struct IssuedToken {
    user: Option<String>,
    issued_at: Timestamp,
}

#[derive(Clone)]
struct Profile {
    display_name: String,
    picture_url: Option<String>,
    language: Option<String>,
}

/// What a repeated retry key gets back: LINE's 409 names the original request and, for push,
/// repeats its `sentMessages`.
struct Accepted {
    request_id: String,
    sent_messages: Option<Value>,
}

/// A token bucket holding up to one second's worth of requests, refilled continuously.
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn full(per_second: u32, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(per_second),
            refilled: now,
        }
    }

    fn take(&mut self, per_second: u32, now: Instant) -> bool {
        let capacity = f64::from(per_second);
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * capacity).min(capacity);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Channel {
    fn new(access_token: &str) -> Self {
        Channel {
            id: FakeLine::channel_id(access_token),
            reply_tokens: HashMap::new(),
            profiles: HashMap::new(),
            blocked: HashSet::new(),
            accepted_keys: HashMap::new(),
            monthly_quota: None,
            usage: 0,
            usage_month: None,
            buckets: HashMap::new(),
        }
    }

    /// The usage of the month `at` falls in: LINE counts calendar months in Japan time, so the
    /// count starts again at 00:00 JST on the 1st.
    fn usage_at(&mut self, at: Timestamp) -> u64 {
        let month = at.to_zoned(crm::clock::tokyo()).date().first_of_month();
        if self.usage_month != Some(month) {
            self.usage_month = Some(month);
            self.usage = 0;
        }
        self.usage
    }

    /// LINE counts one message per recipient (not per message object), and not for friends who
    /// blocked the account; a send that does not fit in what is left is refused whole.
    fn charge(&mut self, recipients: &[&str], at: Timestamp) -> Result<(), Outcome> {
        let used = self.usage_at(at);
        let count = recipients
            .iter()
            .filter(|user| !self.blocked.contains(**user))
            .count() as u64;
        if let Some(quota) = self.monthly_quota
            && used.saturating_add(count) > quota
        {
            return Err(Outcome::error(StatusCode::TOO_MANY_REQUESTS, MONTHLY_LIMIT));
        }
        self.usage += count;
        Ok(())
    }
}

impl FakeLine {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fake whose reply-token lifetime, quota months and recordings follow `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Arc::default(),
            clock,
        }
    }

    /// The non-secret name under which a channel appears in recordings: `ch_` and the first
    /// 12 hex digits of the token's SHA-256.
    pub fn channel_id(access_token: &str) -> String {
        let digest = Sha256::digest(access_token.as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("ch_{hex}")
    }

    /// The Messaging API and the `/__fake/` control endpoints.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/__fake/requests",
                get(control_list_requests).delete(control_clear_requests),
            )
            .route("/__fake/profiles", post(control_set_profile))
            .route("/__fake/channels", post(control_add_channel))
            .route("/__fake/reply-tokens", post(control_issue_reply_token))
            .fallback(line_api)
            .layer(axum::middleware::map_response(stamp_request_id))
            .with_state(self.clone())
    }

    /// Binds `addr` (port 0 picks a free port) and serves [`FakeLine::router`] until the task
    /// is aborted. The URL names the port actually bound, with a wildcard address replaced by
    /// loopback so a client can use it as the LINE API base.
    pub async fn spawn(&self, addr: SocketAddr) -> io::Result<(Url, JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let mut local = listener.local_addr()?;
        if local.ip().is_unspecified() {
            local.set_ip(match local {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        let base = Url::parse(&format!("http://{local}/")).map_err(io::Error::other)?;
        let router = self.router();
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "fake LINE Platform stopped serving");
            }
        });
        Ok((base, task))
    }

    /// Makes `access_token` a valid channel access token. Adding it again keeps its state.
    pub fn add_channel(&self, access_token: &str) {
        self.lock().channel(access_token);
    }

    /// Requests per second per channel for `endpoint`, as a token bucket of one second's size.
    pub fn set_rate_limit(&self, endpoint: Endpoint, per_second: u32) {
        self.lock().rate_limits.insert(endpoint, per_second);
    }

    /// The channel's monthly target limit (`None`: no limit, LINE's `type: none`, the default).
    /// Registers the channel if needed.
    pub fn set_monthly_quota(&self, access_token: &str, quota: Option<u64>) {
        self.lock().channel(access_token).monthly_quota = quota;
    }

    /// Messages counted against the channel's quota this month on the fake's clock (0 for an
    /// unknown channel).
    pub fn quota_usage(&self, access_token: &str) -> u64 {
        let now = self.clock.now();
        self.lock()
            .channels
            .get_mut(access_token)
            .map_or(0, |channel| channel.usage_at(now))
    }

    /// A single-use reply token for the channel, as a webhook event would carry. Registers the
    /// channel if needed.
    pub fn issue_reply_token(&self, access_token: &str) -> String {
        self.issue(access_token, None)
    }

    /// Like [`FakeLine::issue_reply_token`], remembering which user the reply goes to so
    /// [`Delivered::to`] names them.
    pub fn issue_reply_token_to(&self, access_token: &str, user_id: &str) -> String {
        self.issue(access_token, Some(user_id.to_owned()))
    }

    fn issue(&self, access_token: &str, user: Option<String>) -> String {
        let reply_token = Uuid::new_v4().simple().to_string();
        let issued = IssuedToken {
            user,
            issued_at: self.clock.now(),
        };
        self.lock()
            .channel(access_token)
            .reply_tokens
            .insert(reply_token.clone(), issued);
        reply_token
    }

    /// Makes every unused reply token of the channel invalid, as a minute passing would on LINE.
    pub fn expire_reply_tokens(&self, access_token: &str) {
        if let Some(channel) = self.lock().channels.get_mut(access_token) {
            channel.reply_tokens.clear();
        }
    }

    /// The profile `GET /v2/bot/profile/{userId}` returns for this channel. Registers the
    /// channel if needed.
    pub fn set_profile(
        &self,
        access_token: &str,
        user_id: &str,
        display_name: &str,
        picture_url: Option<&str>,
        language: Option<&str>,
    ) {
        let profile = Profile {
            display_name: display_name.to_owned(),
            picture_url: picture_url.map(str::to_owned),
            language: language.map(str::to_owned),
        };
        self.lock()
            .channel(access_token)
            .profiles
            .insert(user_id.to_owned(), profile);
    }

    /// The user blocked the account: their profile answers 404 and sends to them stop counting
    /// against the quota. Registers the channel if needed.
    pub fn block(&self, access_token: &str, user_id: &str) {
        self.lock()
            .channel(access_token)
            .blocked
            .insert(user_id.to_owned());
    }

    /// The user unblocked the account (a follow event with `isUnblocked: true`).
    pub fn unblock(&self, access_token: &str, user_id: &str) {
        if let Some(channel) = self.lock().channels.get_mut(access_token) {
            channel.blocked.remove(user_id);
        }
    }

    /// The next `count` authenticated requests to `endpoint` (any channel) answer `status` with
    /// a LINE error body. They are recorded but not accepted: nothing is sent or counted and a
    /// retry key they carried can be used again. Calls queue up behind each other.
    pub fn fail_next(&self, endpoint: Endpoint, status: u16, count: usize) {
        self.lock()
            .injected
            .entry(endpoint)
            .or_default()
            .extend(std::iter::repeat_n(status, count));
    }

    /// Every profile request answers `status` until [`FakeLine::heal_profiles`].
    pub fn fail_profiles(&self, status: u16) {
        self.lock().profile_failure = Some(status);
    }

    pub fn heal_profiles(&self) {
        self.lock().profile_failure = None;
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Every accepted reply, push and multicast, in arrival order.
    pub fn sent_messages(&self) -> Vec<Delivered> {
        self.lock().delivered.clone()
    }

    /// Forgets the recordings (requests and sent messages). Channels, quotas, retry keys and
    /// reply tokens stay, as they would on LINE.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.requests.clear();
        state.delivered.clear();
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A test that panicked while holding the lock must not take every later test down.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers one Messaging API request and records it. The whole decision runs under one
    /// lock, so two attempts with the same retry key can never both be accepted.
    fn answer(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        payload: &Payload,
    ) -> Response {
        let request_id = Uuid::new_v4().to_string();
        let token = bearer_token(headers);
        let now = Instant::now();
        let at = self.clock.now();
        let mut state = self.lock();
        state.next_seq += 1;
        let seq = state.next_seq;
        let channel = token
            .and_then(|token| state.channels.get(token))
            .map(|channel| channel.id.clone());
        let incoming = Incoming {
            method,
            path,
            headers,
            token,
            payload,
            request_id: &request_id,
            now,
            at,
        };
        let outcome = state.process(&incoming);
        if let Some(delivery) = &outcome.delivery {
            let retry_key = headers
                .get(RETRY_KEY)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            state.delivered.push(Delivered {
                seq,
                request_id: request_id.clone(),
                endpoint: delivery.endpoint,
                channel: channel.clone().unwrap_or_default(),
                to: delivery.to.clone(),
                messages: delivery.messages.clone(),
                retry_key,
                reply_token: delivery.reply_token.clone(),
                notification_disabled: delivery.notification_disabled,
            });
        }
        state.requests.push(RecordedRequest {
            seq,
            request_id: request_id.clone(),
            at,
            method: method.to_string(),
            path: path.to_owned(),
            headers: recorded_headers(headers),
            body: match payload {
                Payload::Json(body) => body.clone(),
                Payload::NotJson | Payload::TooLarge => Value::Null,
            },
            status: outcome.status.as_u16(),
            response: outcome.body.clone(),
            channel,
        });
        drop(state);
        outcome.into_response(&request_id)
    }
}

/// The request body as far as the fake cares.
enum Payload {
    Json(Value),
    NotJson,
    TooLarge,
}

struct Incoming<'a> {
    method: &'a Method,
    path: &'a str,
    headers: &'a HeaderMap,
    token: Option<&'a str>,
    payload: &'a Payload,
    request_id: &'a str,
    /// Real time, for the rate limits.
    now: Instant,
    /// The fake's clock, for reply-token lifetimes and quota months.
    at: Timestamp,
}

/// One Messaging API call, routed.
enum Call<'a> {
    Reply,
    Push,
    Multicast,
    Profile(&'a str),
    Quota,
    QuotaConsumption,
}

impl Call<'_> {
    fn endpoint(&self) -> Endpoint {
        match self {
            Call::Reply => Endpoint::Reply,
            Call::Push => Endpoint::Push,
            Call::Multicast => Endpoint::Multicast,
            Call::Profile(_) => Endpoint::Profile,
            Call::Quota | Call::QuotaConsumption => Endpoint::Quota,
        }
    }
}

fn route<'a>(method: &Method, path: &'a str) -> Result<Call<'a>, Outcome> {
    let (call, allowed) = match path {
        "/v2/bot/message/reply" => (Call::Reply, Method::POST),
        "/v2/bot/message/push" => (Call::Push, Method::POST),
        "/v2/bot/message/multicast" => (Call::Multicast, Method::POST),
        "/v2/bot/message/quota" => (Call::Quota, Method::GET),
        "/v2/bot/message/quota/consumption" => (Call::QuotaConsumption, Method::GET),
        _ => match path.strip_prefix("/v2/bot/profile/") {
            Some(user) if !user.is_empty() && !user.contains('/') => {
                (Call::Profile(user), Method::GET)
            }
            _ => return Err(Outcome::error(StatusCode::NOT_FOUND, NOT_FOUND)),
        },
    };
    if *method == allowed {
        Ok(call)
    } else {
        Err(Outcome::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        ))
    }
}

/// What the fake answers, and what it accepted for sending.
struct Outcome {
    status: StatusCode,
    body: Value,
    accepted_request_id: Option<String>,
    /// Boxed so refusals, the common case, stay small.
    delivery: Option<Box<Delivery>>,
}

struct Delivery {
    endpoint: Endpoint,
    to: Vec<String>,
    messages: Vec<Value>,
    reply_token: Option<String>,
    notification_disabled: bool,
}

impl Outcome {
    fn ok(body: Value) -> Self {
        Outcome {
            status: StatusCode::OK,
            body,
            accepted_request_id: None,
            delivery: None,
        }
    }

    fn delivering(mut self, delivery: Delivery) -> Self {
        self.delivery = Some(Box::new(delivery));
        self
    }

    /// LINE's error body: `{"message": …}`, `details` only when there are some.
    fn error(status: StatusCode, message: &str) -> Self {
        Outcome {
            status,
            body: json!({ "message": message }),
            accepted_request_id: None,
            delivery: None,
        }
    }

    fn invalid(message: &str, details: Vec<Detail>) -> Self {
        Outcome {
            status: StatusCode::BAD_REQUEST,
            body: json!({ "message": message, "details": details }),
            accepted_request_id: None,
            delivery: None,
        }
    }

    fn malformed() -> Self {
        Self::error(
            StatusCode::BAD_REQUEST,
            "The request body could not be read as a JSON object",
        )
    }

    /// A status forced by [`FakeLine::fail_next`] or [`FakeLine::fail_profiles`], with the body
    /// LINE sends for that status.
    fn injected(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match status {
            StatusCode::UNAUTHORIZED => AUTH_FAILED,
            StatusCode::NOT_FOUND => NOT_FOUND,
            StatusCode::CONFLICT => RETRY_KEY_ACCEPTED,
            StatusCode::PAYLOAD_TOO_LARGE => TOO_LARGE,
            StatusCode::TOO_MANY_REQUESTS => RATE_LIMITED,
            StatusCode::INTERNAL_SERVER_ERROR => INTERNAL_ERROR,
            other => other.canonical_reason().unwrap_or("Error"),
        };
        Self::error(status, message)
    }

    fn into_response(self, request_id: &str) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(request_id) {
            headers.insert(REQUEST_ID, value);
        }
        if let Some(accepted) = self.accepted_request_id
            && let Ok(value) = HeaderValue::from_str(&accepted)
        {
            headers.insert(ACCEPTED_REQUEST_ID, value);
        }
        response
    }
}

impl FakeState {
    fn channel(&mut self, access_token: &str) -> &mut Channel {
        self.channels
            .entry(access_token.to_owned())
            .or_insert_with(|| Channel::new(access_token))
    }

    fn rate_limit(&self, endpoint: Endpoint) -> u32 {
        self.rate_limits
            .get(&endpoint)
            .copied()
            .unwrap_or_else(|| endpoint.default_rate_limit())
    }

    /// LINE's order of refusal: route, size, token, retry-key header, rate, repeated retry key,
    /// then the body and the endpoint's own rules.
    fn process(&mut self, req: &Incoming<'_>) -> Outcome {
        let call = match route(req.method, req.path) {
            Ok(call) => call,
            Err(refusal) => return refusal,
        };
        let body = match req.payload {
            Payload::TooLarge => return Outcome::error(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE),
            Payload::Json(body) => Some(body),
            Payload::NotJson => None,
        };
        let Some(token) = req.token.filter(|t| self.channels.contains_key(*t)) else {
            return Outcome::error(StatusCode::UNAUTHORIZED, AUTH_FAILED);
        };
        let endpoint = call.endpoint();
        let retry_key = match retry_key(req.headers, endpoint) {
            Ok(key) => key,
            Err(refusal) => return refusal,
        };
        if let Some(status) = self
            .injected
            .get_mut(&endpoint)
            .and_then(VecDeque::pop_front)
        {
            return Outcome::injected(status);
        }
        if let (Call::Profile(_), Some(status)) = (&call, self.profile_failure) {
            return Outcome::injected(status);
        }
        let per_second = self.rate_limit(endpoint);
        let shared_profiles = &self.shared_profiles;
        let message_ids = &mut self.next_message_id;
        let Some(channel) = self.channels.get_mut(token) else {
            return Outcome::error(StatusCode::UNAUTHORIZED, AUTH_FAILED);
        };
        let bucket = channel
            .buckets
            .entry(endpoint)
            .or_insert_with(|| Bucket::full(per_second, req.now));
        if !bucket.take(per_second, req.now) {
            return Outcome::error(StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED);
        }
        // LINE executes a request with a retry key once: later attempts get 409 naming the
        // accepted request (and, for push, its sentMessages) and send nothing.
        if let Some(key) = retry_key
            && let Some(accepted) = channel.accepted_keys.get(&key)
        {
            let mut body = json!({ "message": RETRY_KEY_ACCEPTED });
            if let (Some(sent), Some(map)) = (&accepted.sent_messages, body.as_object_mut()) {
                map.insert("sentMessages".to_owned(), sent.clone());
            }
            return Outcome {
                status: StatusCode::CONFLICT,
                body,
                accepted_request_id: Some(accepted.request_id.clone()),
                delivery: None,
            };
        }
        let outcome = match call {
            Call::Reply => reply(channel, body, message_ids, req.at),
            Call::Push => push(channel, body, message_ids, req.at),
            Call::Multicast => multicast(channel, body, req.at),
            Call::Profile(user) => profile(channel, shared_profiles, user),
            Call::Quota => Outcome::ok(match channel.monthly_quota {
                None => json!({ "type": "none" }),
                Some(value) => json!({ "type": "limited", "value": value }),
            }),
            Call::QuotaConsumption => {
                Outcome::ok(json!({ "totalUsage": channel.usage_at(req.at) }))
            }
        };
        if outcome.status.is_success()
            && let Some(key) = retry_key
        {
            channel.accepted_keys.insert(
                key,
                Accepted {
                    request_id: req.request_id.to_owned(),
                    sent_messages: outcome.body.get("sentMessages").cloned(),
                },
            );
        }
        outcome
    }
}

/// `X-Line-Retry-Key`: a hyphenated UUID, and only where LINE allows one.
fn retry_key(headers: &HeaderMap, endpoint: Endpoint) -> Result<Option<Uuid>, Outcome> {
    let Some(value) = headers.get(RETRY_KEY) else {
        return Ok(None);
    };
    if !endpoint.accepts_retry_key() {
        return Err(Outcome::error(
            StatusCode::BAD_REQUEST,
            "The retry key cannot be used for this request",
        ));
    }
    let text = value.to_str().unwrap_or_default();
    match Uuid::try_parse(text) {
        Ok(key) if text.len() == 36 => Ok(Some(key)),
        _ => Err(Outcome::invalid(
            "The retry key is invalid",
            vec![Detail::new(
                "X-Line-Retry-Key",
                "Must be a UUID in hexadecimal notation",
            )],
        )),
    }
}

fn reply(
    channel: &mut Channel,
    body: Option<&Value>,
    message_ids: &mut u64,
    at: Timestamp,
) -> Outcome {
    let Some(body) = body.filter(|b| b.is_object()) else {
        return Outcome::malformed();
    };
    let mut problems = Problems::default();
    let reply_token = problems.required_str(body, "", "replyToken", usize::MAX);
    let messages = problems.messages(body);
    let notification_disabled = problems.notification_disabled(body);
    if let Some(refusal) = problems.refusal() {
        return refusal;
    }
    let (Some(reply_token), Some(messages)) = (reply_token, messages) else {
        return Outcome::malformed();
    };
    // A reply token is single-use and short-lived: a used or expired one fails exactly like a
    // made-up one.
    let Some(issued) = channel.reply_tokens.remove(reply_token) else {
        return Outcome::error(StatusCode::BAD_REQUEST, "Invalid reply token");
    };
    if at.duration_since(issued.issued_at) > REPLY_TOKEN_LIFETIME {
        return Outcome::error(StatusCode::BAD_REQUEST, "Invalid reply token");
    }
    let user = issued.user;
    // Replies are free: nothing is charged against the monthly quota.
    let sent = sent_messages(messages, message_ids);
    Outcome::ok(json!({ "sentMessages": sent })).delivering(Delivery {
        endpoint: Endpoint::Reply,
        to: user.into_iter().collect(),
        messages: messages.to_vec(),
        reply_token: Some(reply_token.to_owned()),
        notification_disabled,
    })
}

fn push(
    channel: &mut Channel,
    body: Option<&Value>,
    message_ids: &mut u64,
    at: Timestamp,
) -> Outcome {
    let Some(body) = body.filter(|b| b.is_object()) else {
        return Outcome::malformed();
    };
    let mut problems = Problems::default();
    let to = problems.required_str(body, "", "to", usize::MAX);
    let messages = problems.messages(body);
    let notification_disabled = problems.notification_disabled(body);
    problems.aggregation_units(body);
    if let Some(refusal) = problems.refusal() {
        return refusal;
    }
    let (Some(to), Some(messages)) = (to, messages) else {
        return Outcome::malformed();
    };
    // Push goes to a user (U…), group (C…) or room (R…) id; anything else is LINE's "to is
    // invalid" error, without details.
    if !is_chat_id(to) {
        return Outcome::error(StatusCode::BAD_REQUEST, PUSH_TO_INVALID);
    }
    if let Err(refusal) = channel.charge(&[to], at) {
        return refusal;
    }
    let sent = sent_messages(messages, message_ids);
    Outcome::ok(json!({ "sentMessages": sent })).delivering(Delivery {
        endpoint: Endpoint::Push,
        to: vec![to.to_owned()],
        messages: messages.to_vec(),
        reply_token: None,
        notification_disabled,
    })
}

fn multicast(channel: &mut Channel, body: Option<&Value>, at: Timestamp) -> Outcome {
    let Some(body) = body.filter(|b| b.is_object()) else {
        return Outcome::malformed();
    };
    let mut problems = Problems::default();
    let mut recipients = Vec::new();
    if let Some(to) = problems.array(body, "", "to", 1, 500) {
        for (i, id) in to.iter().enumerate() {
            match id.as_str() {
                // Multicast reaches users only: group and room ids are refused too.
                Some(id) if is_user_id(id) => recipients.push(id),
                Some(_) => problems.add(
                    format!("to[{i}]"),
                    "Must be a user ID (U followed by 32 hex digits)",
                ),
                None => problems.add(format!("to[{i}]"), "Must be a string"),
            }
        }
    }
    let messages = problems.messages(body);
    let notification_disabled = problems.notification_disabled(body);
    problems.aggregation_units(body);
    if let Some(refusal) = problems.refusal() {
        return refusal;
    }
    let Some(messages) = messages else {
        return Outcome::malformed();
    };
    if let Err(refusal) = channel.charge(&recipients, at) {
        return refusal;
    }
    Outcome::ok(json!({})).delivering(Delivery {
        endpoint: Endpoint::Multicast,
        to: recipients.iter().map(|id| (*id).to_owned()).collect(),
        messages: messages.to_vec(),
        reply_token: None,
        notification_disabled,
    })
}

fn profile(channel: &Channel, shared: &HashMap<String, Profile>, user: &str) -> Outcome {
    // LINE stops returning the profile of a user who blocked the account.
    if channel.blocked.contains(user) {
        return Outcome::error(StatusCode::NOT_FOUND, NOT_FOUND);
    }
    let Some(profile) = channel.profiles.get(user).or_else(|| shared.get(user)) else {
        return Outcome::error(StatusCode::NOT_FOUND, NOT_FOUND);
    };
    // pictureUrl and language are absent, not null, when the user has none.
    let mut body = Map::new();
    body.insert("userId".to_owned(), json!(user));
    body.insert("displayName".to_owned(), json!(profile.display_name));
    if let Some(url) = &profile.picture_url {
        body.insert("pictureUrl".to_owned(), json!(url));
    }
    if let Some(language) = &profile.language {
        body.insert("language".to_owned(), json!(language));
    }
    Outcome::ok(Value::Object(body))
}

/// LINE message ids are decimal strings; the quote token comes back for messages a user can
/// quote (text, sticker, image, video).
fn sent_messages(messages: &[Value], message_ids: &mut u64) -> Vec<Value> {
    messages
        .iter()
        .map(|message| {
            *message_ids += 1;
            let mut sent = Map::new();
            sent.insert(
                "id".to_owned(),
                json!((500_000_000_000_000_000 + *message_ids).to_string()),
            );
            let kind = message.get("type").and_then(Value::as_str);
            if matches!(kind, Some("text" | "sticker" | "image" | "video")) {
                sent.insert(
                    "quoteToken".to_owned(),
                    json!(Uuid::new_v4().simple().to_string()),
                );
            }
            Value::Object(sent)
        })
        .collect()
}

fn is_user_id(id: &str) -> bool {
    id.strip_prefix('U').is_some_and(is_32_hex)
}

fn is_chat_id(id: &str) -> bool {
    id.strip_prefix(['U', 'C', 'R']).is_some_and(is_32_hex)
}

fn is_32_hex(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Headers as received, with the access token masked: recordings end up in test output and
/// `/__fake/requests`, where a token must never appear.
fn recorded_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut recorded: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = if *name == header::AUTHORIZATION {
            if value.as_bytes().starts_with(b"Bearer ") {
                "Bearer ***".to_owned()
            } else {
                "***".to_owned()
            }
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        recorded
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    recorded
}

/// One entry of LINE's `details`: which property broke which rule.
#[derive(Debug, Clone, Serialize)]
struct Detail {
    message: String,
    property: String,
}

impl Detail {
    fn new(property: impl Into<String>, message: impl Into<String>) -> Self {
        Detail {
            message: message.into(),
            property: property.into(),
        }
    }
}

/// Collects every rule a body breaks, as LINE does ("The request body has 2 error(s)"), with
/// the property spelled LINE's way: `messages[0].quickReply.items[3].action.data`.
#[derive(Default)]
struct Problems(Vec<Detail>);

fn prop(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn field<'v>(obj: &'v Value, key: &str) -> Option<&'v Value> {
    obj.get(key).filter(|v| !v.is_null())
}

impl Problems {
    fn add(&mut self, property: impl Into<String>, message: impl Into<String>) {
        self.0.push(Detail::new(property, message));
    }

    fn refusal(self) -> Option<Outcome> {
        if self.0.is_empty() {
            return None;
        }
        let message = format!("The request body has {} error(s)", self.0.len());
        Some(Outcome::invalid(&message, self.0))
    }

    /// A string that must be present, non-empty and at most `max` characters (characters, not
    /// bytes: LINE's 5,000 for text is 5,000 kana as much as 5,000 letters).
    fn required_str<'v>(
        &mut self,
        obj: &'v Value,
        path: &str,
        key: &str,
        max: usize,
    ) -> Option<&'v str> {
        let property = prop(path, key);
        let Some(value) = field(obj, key) else {
            self.add(property, "Must be specified");
            return None;
        };
        let Some(text) = value.as_str() else {
            self.add(property, "Must be a string");
            return None;
        };
        if text.is_empty() {
            self.add(property, "May not be empty");
            return None;
        }
        if text.chars().count() > max {
            self.add(property, format!("Length must be between 1 and {max}"));
        }
        Some(text)
    }

    fn optional_str(&mut self, obj: &Value, path: &str, key: &str, max: usize) {
        let Some(value) = field(obj, key) else {
            return;
        };
        match value.as_str() {
            Some(text) if text.chars().count() > max => {
                self.add(
                    prop(path, key),
                    format!("Length must be between 0 and {max}"),
                );
            }
            Some(_) => {}
            None => self.add(prop(path, key), "Must be a string"),
        }
    }

    /// A string that must be present but may be empty (postback `data`, whose length the
    /// walk in [`Problems::postback_data`] checks).
    fn present_str(&mut self, obj: &Value, path: &str, key: &str) {
        match field(obj, key) {
            None => self.add(prop(path, key), "Must be specified"),
            Some(value) if !value.is_string() => self.add(prop(path, key), "Must be a string"),
            Some(_) => {}
        }
    }

    /// Media URLs must be HTTPS and at most 2,000 characters.
    fn required_https(&mut self, obj: &Value, path: &str, key: &str) {
        if let Some(url) = self.required_str(obj, path, key, 2000)
            && !url.starts_with("https://")
        {
            self.add(prop(path, key), "Must be a valid HTTPS URL");
        }
    }

    fn optional_https(&mut self, obj: &Value, path: &str, key: &str) {
        if field(obj, key).is_some() {
            self.required_https(obj, path, key);
        }
    }

    fn required_number(&mut self, obj: &Value, path: &str, key: &str) {
        match field(obj, key) {
            None => self.add(prop(path, key), "Must be specified"),
            Some(value) if !value.is_number() => self.add(prop(path, key), "Must be a number"),
            Some(_) => {}
        }
    }

    fn required_object<'v>(&mut self, obj: &'v Value, path: &str, key: &str) -> Option<&'v Value> {
        match field(obj, key) {
            None => {
                self.add(prop(path, key), "Must be specified");
                None
            }
            Some(value) if !value.is_object() => {
                self.add(prop(path, key), "Must be an object");
                None
            }
            Some(value) => Some(value),
        }
    }

    fn array<'v>(
        &mut self,
        obj: &'v Value,
        path: &str,
        key: &str,
        min: usize,
        max: usize,
    ) -> Option<&'v [Value]> {
        let property = prop(path, key);
        let Some(value) = field(obj, key) else {
            self.add(property, "Must be specified");
            return None;
        };
        let Some(items) = value.as_array() else {
            self.add(property, "Must be an array");
            return None;
        };
        if !(min..=max).contains(&items.len()) {
            self.add(property, format!("Size must be between {min} and {max}"));
            return None;
        }
        Some(items)
    }

    fn one_of<'v>(
        &mut self,
        obj: &'v Value,
        path: &str,
        key: &str,
        allowed: &[&str],
    ) -> Option<&'v str> {
        let property = prop(path, key);
        match field(obj, key).map(Value::as_str) {
            None => {
                self.add(property, "Must be specified");
                None
            }
            Some(Some(value)) if allowed.contains(&value) => Some(value),
            Some(_) => {
                let values = allowed.join(", ");
                self.add(
                    property,
                    format!("Must be one of the following values: [{values}]"),
                );
                None
            }
        }
    }

    fn notification_disabled(&mut self, body: &Value) -> bool {
        match field(body, "notificationDisabled") {
            None => false,
            Some(Value::Bool(disabled)) => *disabled,
            Some(_) => {
                self.add("notificationDisabled", "Must be a boolean");
                false
            }
        }
    }

    /// `customAggregationUnits`: at most one name of 1–30 letters, digits or underscores.
    fn aggregation_units(&mut self, body: &Value) {
        if field(body, "customAggregationUnits").is_none() {
            return;
        }
        let Some(units) = self.array(body, "", "customAggregationUnits", 0, 1) else {
            return;
        };
        for (i, unit) in units.iter().enumerate() {
            let valid = unit.as_str().is_some_and(|name| {
                (1..=30).contains(&name.len())
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
            if !valid {
                self.add(
                    format!("customAggregationUnits[{i}]"),
                    "Must match ^[a-zA-Z0-9_]{1,30}$",
                );
            }
        }
    }

    /// `messages`: 1 to 5 message objects, each checked against its type's rules.
    fn messages<'v>(&mut self, body: &'v Value) -> Option<&'v [Value]> {
        let messages = self.array(body, "", "messages", 1, 5)?;
        for (i, message) in messages.iter().enumerate() {
            self.message(message, &format!("messages[{i}]"));
        }
        Some(messages)
    }

    fn message(&mut self, message: &Value, path: &str) {
        if !message.is_object() {
            self.add(path, "Must be an object");
            return;
        }
        let Some(kind) = self.one_of(message, path, "type", &MESSAGE_TYPES) else {
            return;
        };
        match kind {
            "text" => {
                self.required_str(message, path, "text", 5000);
            }
            "sticker" => {
                self.required_str(message, path, "packageId", usize::MAX);
                self.required_str(message, path, "stickerId", usize::MAX);
            }
            "image" | "video" => {
                self.required_https(message, path, "originalContentUrl");
                self.required_https(message, path, "previewImageUrl");
                self.optional_str(message, path, "trackingId", 100);
            }
            "audio" => {
                self.required_https(message, path, "originalContentUrl");
                self.required_number(message, path, "duration");
            }
            "location" => {
                self.required_str(message, path, "title", 100);
                self.required_str(message, path, "address", 100);
                self.required_number(message, path, "latitude");
                self.required_number(message, path, "longitude");
            }
            "imagemap" => self.imagemap(message, path),
            "template" => self.template(message, path),
            _ => self.flex(message, path),
        }
        if field(message, "quickReply").is_some() {
            self.quick_reply(message, path);
        }
        if let Some(sender) = field(message, "sender") {
            let sender_path = prop(path, "sender");
            self.optional_str(sender, &sender_path, "name", 20);
            self.optional_https(sender, &sender_path, "iconUrl");
        }
        self.postback_data(message, path);
    }

    fn imagemap(&mut self, message: &Value, path: &str) {
        self.required_https(message, path, "baseUrl");
        self.required_str(message, path, "altText", 1500);
        if let Some(size) = self.required_object(message, path, "baseSize") {
            let size_path = prop(path, "baseSize");
            self.required_number(size, &size_path, "width");
            self.required_number(size, &size_path, "height");
        }
        let Some(actions) = self.array(message, path, "actions", 1, 50) else {
            return;
        };
        for (i, action) in actions.iter().enumerate() {
            let action_path = format!("{}[{i}]", prop(path, "actions"));
            let kind = self.one_of(
                action,
                &action_path,
                "type",
                &["uri", "message", "clipboard"],
            );
            if let Some(area) = self.required_object(action, &action_path, "area") {
                let area_path = prop(&action_path, "area");
                for key in ["x", "y", "width", "height"] {
                    self.required_number(area, &area_path, key);
                }
            }
            match kind {
                Some("uri") => {
                    self.required_str(action, &action_path, "linkUri", 1000);
                }
                Some("message") => {
                    self.required_str(action, &action_path, "text", 400);
                }
                Some("clipboard") => {
                    self.required_str(action, &action_path, "clipboardText", 1000);
                }
                _ => {}
            }
        }
    }

    /// Template messages: altText ≤ 400 and one of buttons, confirm, carousel, image_carousel
    /// with LINE's per-template text and action counts.
    fn template(&mut self, message: &Value, path: &str) {
        self.required_str(message, path, "altText", 400);
        let Some(template) = self.required_object(message, path, "template") else {
            return;
        };
        let path = prop(path, "template");
        let kinds = ["buttons", "confirm", "carousel", "image_carousel"];
        match self.one_of(template, &path, "type", &kinds) {
            Some("buttons") => {
                self.optional_https(template, &path, "thumbnailImageUrl");
                self.optional_str(template, &path, "title", 40);
                self.required_str(template, &path, "text", 160);
                self.optional_action(template, &path, "defaultAction");
                self.actions(template, &path, 1, 4);
            }
            Some("confirm") => {
                self.required_str(template, &path, "text", 240);
                self.actions(template, &path, 2, 2);
            }
            Some("carousel") => {
                let Some(columns) = self.array(template, &path, "columns", 1, 10) else {
                    return;
                };
                for (i, column) in columns.iter().enumerate() {
                    let column_path = format!("{}[{i}]", prop(&path, "columns"));
                    self.optional_https(column, &column_path, "thumbnailImageUrl");
                    self.optional_str(column, &column_path, "title", 40);
                    self.required_str(column, &column_path, "text", 120);
                    self.optional_action(column, &column_path, "defaultAction");
                    self.actions(column, &column_path, 1, 3);
                }
            }
            Some(_) => {
                let Some(columns) = self.array(template, &path, "columns", 1, 10) else {
                    return;
                };
                for (i, column) in columns.iter().enumerate() {
                    let column_path = format!("{}[{i}]", prop(&path, "columns"));
                    self.required_https(column, &column_path, "imageUrl");
                    if let Some(action) = self.required_object(column, &column_path, "action") {
                        self.action(action, &prop(&column_path, "action"));
                    }
                }
            }
            None => {}
        }
    }

    /// Flex messages: altText ≤ 400 and a bubble or a carousel of 1–12 bubbles. Components are
    /// not checked one by one; postback data inside them is, by [`Problems::postback_data`].
    fn flex(&mut self, message: &Value, path: &str) {
        self.required_str(message, path, "altText", 400);
        let Some(contents) = self.required_object(message, path, "contents") else {
            return;
        };
        let path = prop(path, "contents");
        if self.one_of(contents, &path, "type", &["bubble", "carousel"]) == Some("carousel")
            && let Some(bubbles) = self.array(contents, &path, "contents", 1, 12)
        {
            for (i, bubble) in bubbles.iter().enumerate() {
                self.one_of(
                    bubble,
                    &format!("{}[{i}]", prop(&path, "contents")),
                    "type",
                    &["bubble"],
                );
            }
        }
    }

    /// Quick reply: 1–13 items, each an `action` item with an action.
    fn quick_reply(&mut self, message: &Value, path: &str) {
        let Some(quick_reply) = self.required_object(message, path, "quickReply") else {
            return;
        };
        let path = prop(path, "quickReply");
        let Some(items) = self.array(quick_reply, &path, "items", 1, 13) else {
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{}[{i}]", prop(&path, "items"));
            self.one_of(item, &item_path, "type", &["action"]);
            self.optional_https(item, &item_path, "imageUrl");
            if let Some(action) = self.required_object(item, &item_path, "action") {
                self.action(action, &prop(&item_path, "action"));
            }
        }
    }

    fn actions(&mut self, obj: &Value, path: &str, min: usize, max: usize) {
        let Some(actions) = self.array(obj, path, "actions", min, max) else {
            return;
        };
        for (i, action) in actions.iter().enumerate() {
            self.action(action, &format!("{}[{i}]", prop(path, "actions")));
        }
    }

    fn optional_action(&mut self, obj: &Value, path: &str, key: &str) {
        if let Some(action) = field(obj, key) {
            self.action(action, &prop(path, key));
        }
    }

    /// One action object: a known type and the fields that type requires.
    fn action(&mut self, action: &Value, path: &str) {
        if !action.is_object() {
            self.add(path, "Must be an object");
            return;
        }
        let Some(kind) = self.one_of(action, path, "type", &ACTION_TYPES) else {
            return;
        };
        self.optional_str(action, path, "label", 20);
        match kind {
            "postback" => {
                self.present_str(action, path, "data");
                self.optional_str(action, path, "displayText", 300);
                self.optional_str(action, path, "text", 300);
            }
            "message" => {
                self.required_str(action, path, "text", 300);
            }
            "uri" => {
                self.required_str(action, path, "uri", 1000);
            }
            "datetimepicker" => {
                self.present_str(action, path, "data");
                self.one_of(action, path, "mode", &["date", "time", "datetime"]);
            }
            "richmenuswitch" => {
                self.present_str(action, path, "data");
                self.required_str(action, path, "richMenuAliasId", 32);
            }
            "clipboard" => {
                self.required_str(action, path, "clipboardText", 1000);
            }
            _ => {}
        }
    }

    /// Postback, datetime-picker and rich-menu-switch actions carry `data`, which LINE caps at
    /// 300 characters wherever the action sits: template, quick reply, imagemap or deep inside
    /// a flex bubble. Walking the whole message finds them all.
    fn postback_data(&mut self, value: &Value, path: &str) {
        match value {
            Value::Object(map) => {
                let kind = map.get("type").and_then(Value::as_str);
                if matches!(kind, Some("postback" | "datetimepicker" | "richmenuswitch"))
                    && let Some(data) = map.get("data").and_then(Value::as_str)
                    && data.chars().count() > 300
                {
                    self.add(prop(path, "data"), "Length must be between 0 and 300");
                }
                for (key, child) in map {
                    self.postback_data(child, &prop(path, key));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.postback_data(item, &format!("{path}[{i}]"));
                }
            }
            _ => {}
        }
    }
}

/// Every Messaging API path goes through here, so unknown paths, oversized bodies and bad
/// tokens are recorded like everything else.
async fn line_api(State(fake): State<FakeLine>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // Reading stops at 2 MB; any read failure is taken as "too large", the only way a body
    // fails to read while the client is still there to get an answer.
    let payload = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Err(_) => Payload::TooLarge,
        Ok(bytes) => parse_json(&bytes),
    };
    fake.answer(&parts.method, parts.uri.path(), &parts.headers, &payload)
}

fn parse_json(bytes: &Bytes) -> Payload {
    match serde_json::from_slice(bytes) {
        Ok(value) => Payload::Json(value),
        Err(_) => Payload::NotJson,
    }
}

/// Control endpoints carry an `X-Line-Request-Id` too, so every response has one.
async fn stamp_request_id(mut response: Response) -> Response {
    let name = HeaderName::from_static(REQUEST_ID);
    if !response.headers().contains_key(&name)
        && let Ok(value) = HeaderValue::from_str(&Uuid::new_v4().to_string())
    {
        response.headers_mut().insert(name, value);
    }
    response
}

#[derive(Deserialize)]
struct SinceQuery {
    since: Option<u64>,
}

/// `GET /__fake/requests[?since=<seq>]`: one JSON record a line, `seq > since`.
async fn control_list_requests(
    State(fake): State<FakeLine>,
    Query(query): Query<SinceQuery>,
) -> Response {
    let since = query.since.unwrap_or(0);
    let lines: String = fake
        .lock()
        .requests
        .iter()
        .filter(|record| record.seq > since)
        .filter_map(|record| serde_json::to_string(record).ok())
        .map(|line| line + "\n")
        .collect();
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from(lines),
    )
        .into_response()
}

/// `DELETE /__fake/requests`: see [`FakeLine::clear`].
async fn control_clear_requests(State(fake): State<FakeLine>) -> StatusCode {
    fake.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileBody {
    access_token: Option<String>,
    user_id: String,
    display_name: String,
    picture_url: Option<String>,
    language: Option<String>,
}

/// `POST /__fake/profiles`: for one channel, or without `accessToken` for every channel
/// (including ones added later).
async fn control_set_profile(
    State(fake): State<FakeLine>,
    axum::Json(body): axum::Json<ProfileBody>,
) -> StatusCode {
    match body.access_token {
        Some(token) => fake.set_profile(
            &token,
            &body.user_id,
            &body.display_name,
            body.picture_url.as_deref(),
            body.language.as_deref(),
        ),
        None => {
            let profile = Profile {
                display_name: body.display_name,
                picture_url: body.picture_url,
                language: body.language,
            };
            fake.lock().shared_profiles.insert(body.user_id, profile);
        }
    }
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplyTokenBody {
    access_token: String,
    user_id: String,
}

/// `POST /__fake/reply-tokens {accessToken, userId}`: a reply token the fake will accept, for a
/// simulated webhook event (`tsunagu-local send`), as LINE puts one in each event it delivers.
async fn control_issue_reply_token(
    State(fake): State<FakeLine>,
    axum::Json(body): axum::Json<ReplyTokenBody>,
) -> axum::Json<serde_json::Value> {
    let token = fake.issue_reply_token_to(&body.access_token, &body.user_id);
    axum::Json(serde_json::json!({ "replyToken": token }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelBody {
    access_token: String,
    monthly_quota: Option<u64>,
}

/// `POST /__fake/channels` {accessToken, monthlyQuota?}: registers a channel for the local
/// stack.
async fn control_add_channel(
    State(fake): State<FakeLine>,
    axum::Json(body): axum::Json<ChannelBody>,
) -> StatusCode {
    fake.add_channel(&body.access_token);
    if body.monthly_quota.is_some() {
        fake.set_monthly_quota(&body.access_token, body.monthly_quota);
    }
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    const TOKEN: &str = "test-channel-access-token-abcdef";
    const ALICE: &str = "U0123456789abcdef0123456789abcdef";
    const BOB: &str = "Ufedcba9876543210fedcba9876543210";

    fn fake() -> FakeLine {
        let fake = FakeLine::new();
        fake.add_channel(TOKEN);
        fake
    }

    struct Answer {
        status: u16,
        headers: HeaderMap,
        body: Value,
    }

    impl Answer {
        fn message(&self) -> &str {
            self.body["message"].as_str().unwrap_or_default()
        }

        fn properties(&self) -> Vec<&str> {
            self.body["details"]
                .as_array()
                .map(|details| {
                    details
                        .iter()
                        .filter_map(|d| d["property"].as_str())
                        .collect()
                })
                .unwrap_or_default()
        }

        fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }
    }

    async fn send(
        fake: &FakeLine,
        method: Method,
        path: &str,
        token: Option<&str>,
        retry_key: Option<&str>,
        body: Body,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(key) = retry_key {
            request = request.header(RETRY_KEY, key);
        }
        let response = fake
            .router()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn post(fake: &FakeLine, path: &str, retry_key: Option<&str>, body: Value) -> Answer {
        send(
            fake,
            Method::POST,
            path,
            Some(TOKEN),
            retry_key,
            Body::from(body.to_string()),
        )
        .await
    }

    async fn get_with_token(fake: &FakeLine, path: &str) -> Answer {
        send(fake, Method::GET, path, Some(TOKEN), None, Body::empty()).await
    }

    fn hello() -> Value {
        json!([{ "type": "text", "text": "こんにちは" }])
    }

    async fn push(fake: &FakeLine, retry_key: Option<&str>) -> Answer {
        let body = json!({ "to": ALICE, "messages": hello() });
        post(fake, "/v2/bot/message/push", retry_key, body).await
    }

    #[tokio::test]
    async fn a_missing_or_unknown_token_is_refused_with_lines_message() {
        let fake = fake();
        let body = json!({ "to": ALICE, "messages": hello() }).to_string();
        for token in [None, Some("not-a-channel")] {
            let path = "/v2/bot/message/push";
            let answer = send(
                &fake,
                Method::POST,
                path,
                token,
                None,
                Body::from(body.clone()),
            );
            let answer = answer.await;
            assert_eq!(answer.status, 401);
            assert_eq!(answer.message(), AUTH_FAILED);
            assert!(answer.header(REQUEST_ID).is_some());
        }
        assert!(fake.sent_messages().is_empty());
        assert_eq!(fake.requests().len(), 2);
        assert!(fake.requests().iter().all(|r| r.channel.is_none()));
    }

    #[tokio::test]
    async fn six_messages_are_refused_naming_the_messages_property() {
        let fake = fake();
        let messages: Vec<Value> = (0..6)
            .map(|i| json!({"type": "text", "text": i.to_string()}))
            .collect();
        let answer = post(
            &fake,
            "/v2/bot/message/push",
            None,
            json!({ "to": ALICE, "messages": messages }),
        )
        .await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.message(), "The request body has 1 error(s)");
        assert_eq!(answer.properties(), ["messages"]);
        assert!(fake.sent_messages().is_empty());
    }

    #[tokio::test]
    async fn text_length_counts_characters_not_bytes() {
        let fake = fake();
        let at_limit = "あ".repeat(5000);
        let messages = json!([{ "type": "text", "text": at_limit }]);
        let answer = post(
            &fake,
            "/v2/bot/message/push",
            None,
            json!({ "to": ALICE, "messages": messages }),
        )
        .await;
        assert_eq!(answer.status, 200);

        let over = "a".repeat(5001);
        let messages = json!([{ "type": "text", "text": "ok" }, { "type": "text", "text": over }]);
        let answer = post(
            &fake,
            "/v2/bot/message/push",
            None,
            json!({ "to": ALICE, "messages": messages }),
        )
        .await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.properties(), ["messages[1].text"]);
    }

    #[tokio::test]
    async fn message_rules_name_each_broken_property() {
        let fake = fake();
        let long_data = "d".repeat(301);
        let items: Vec<Value> = (0..14)
            .map(|_| json!({"type": "action", "action": {"type": "message", "label": "a", "text": "a"}}))
            .collect();
        let messages = json!([
            { "type": "text", "text": "pick", "quickReply": { "items": [
                { "type": "action", "action": { "type": "postback", "label": "x", "data": long_data } }
            ]}},
            { "type": "template", "altText": "menu", "template": { "type": "buttons", "text": "t",
                "actions": [{ "type": "postback", "label": "y", "data": long_data }] } },
            { "type": "image", "originalContentUrl": "http://example.com/a.png", "previewImageUrl": "https://example.com/p.png" },
            { "type": "textV2", "text": "hi" },
            { "type": "text", "text": "many", "quickReply": { "items": items } },
        ]);
        let answer = post(
            &fake,
            "/v2/bot/message/reply",
            None,
            json!({ "replyToken": "r", "messages": messages }),
        )
        .await;
        assert_eq!(answer.status, 400);
        assert_eq!(
            answer.properties(),
            [
                "messages[0].quickReply.items[0].action.data",
                "messages[1].template.actions[0].data",
                "messages[2].originalContentUrl",
                "messages[3].type",
                "messages[4].quickReply.items",
            ]
        );

        let flex = json!([{ "type": "flex", "altText": "card", "contents": { "type": "bubble",
        "footer": { "type": "box", "layout": "vertical", "contents": [
            { "type": "button", "action": { "type": "postback", "label": "go", "data": long_data } }
        ]}}}]);
        let answer = post(
            &fake,
            "/v2/bot/message/push",
            None,
            json!({ "to": ALICE, "messages": flex }),
        )
        .await;
        assert_eq!(
            answer.properties(),
            ["messages[0].contents.footer.contents[0].action.data"]
        );

        let sticker = json!([{ "type": "sticker", "packageId": "446" }]);
        let answer = post(
            &fake,
            "/v2/bot/message/push",
            None,
            json!({ "to": ALICE, "messages": sticker }),
        )
        .await;
        assert_eq!(answer.properties(), ["messages[0].stickerId"]);
    }

    #[tokio::test]
    async fn a_repeated_retry_key_answers_409_naming_the_accepted_request() {
        let fake = fake();
        let key = Uuid::new_v4().to_string();
        let first = push(&fake, Some(&key)).await;
        assert_eq!(first.status, 200);
        let again = push(&fake, Some(&key)).await;
        assert_eq!(again.status, 409);
        assert_eq!(again.message(), RETRY_KEY_ACCEPTED);
        assert_eq!(again.header(ACCEPTED_REQUEST_ID), first.header(REQUEST_ID));
        assert_eq!(again.body["sentMessages"], first.body["sentMessages"]);
        assert_ne!(again.header(REQUEST_ID), first.header(REQUEST_ID));

        let sent = fake.sent_messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].retry_key.as_deref(), Some(key.as_str()));
        assert_eq!(fake.quota_usage(TOKEN), 1);
    }

    #[tokio::test]
    async fn a_retry_after_an_injected_500_is_accepted_once() {
        let fake = fake();
        fake.fail_next(Endpoint::Push, 500, 1);
        let key = Uuid::new_v4().to_string();
        let failed = push(&fake, Some(&key)).await;
        assert_eq!(failed.status, 500);
        assert_eq!(failed.message(), INTERNAL_ERROR);
        assert_eq!(push(&fake, Some(&key)).await.status, 200);
        assert_eq!(push(&fake, Some(&key)).await.status, 409);

        assert_eq!(fake.sent_messages().len(), 1);
        assert_eq!(fake.quota_usage(TOKEN), 1);
        let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [500, 200, 409]);
    }

    #[tokio::test]
    async fn an_injected_429_uses_the_rate_limit_message() {
        let fake = fake();
        fake.fail_next(Endpoint::Multicast, 429, 2);
        let body = json!({ "to": [ALICE], "messages": hello() });
        for _ in 0..2 {
            let answer = post(&fake, "/v2/bot/message/multicast", None, body.clone()).await;
            assert_eq!((answer.status, answer.message()), (429, RATE_LIMITED));
        }
        assert_eq!(
            post(&fake, "/v2/bot/message/multicast", None, body)
                .await
                .status,
            200
        );
    }

    #[tokio::test]
    async fn pushes_past_the_rate_limit_get_429() {
        let fake = fake();
        fake.set_rate_limit(Endpoint::Push, 2);
        assert_eq!(push(&fake, None).await.status, 200);
        assert_eq!(push(&fake, None).await.status, 200);
        let refused = push(&fake, None).await;
        assert_eq!(refused.status, 429);
        assert_eq!(refused.message(), RATE_LIMITED);
        assert_eq!(fake.sent_messages().len(), 2);
        // Other endpoints keep their own budget.
        assert_eq!(
            get_with_token(&fake, "/v2/bot/message/quota").await.status,
            200
        );
    }

    #[tokio::test]
    async fn the_monthly_quota_counts_recipients_and_refuses_what_does_not_fit() {
        let fake = fake();
        fake.set_monthly_quota(TOKEN, Some(3));
        let pair = json!({ "to": [ALICE, BOB], "messages": hello() });
        assert_eq!(
            post(&fake, "/v2/bot/message/multicast", None, pair.clone())
                .await
                .status,
            200
        );
        let refused = post(&fake, "/v2/bot/message/multicast", None, pair).await;
        assert_eq!((refused.status, refused.message()), (429, MONTHLY_LIMIT));
        assert_eq!(push(&fake, None).await.status, 200);
        assert_eq!(push(&fake, None).await.status, 429);

        // Replies are free.
        let reply_token = fake.issue_reply_token_to(TOKEN, ALICE);
        let reply = json!({ "replyToken": reply_token, "messages": hello() });
        assert_eq!(
            post(&fake, "/v2/bot/message/reply", None, reply)
                .await
                .status,
            200
        );

        let quota = get_with_token(&fake, "/v2/bot/message/quota").await;
        assert_eq!(quota.body, json!({ "type": "limited", "value": 3 }));
        let used = get_with_token(&fake, "/v2/bot/message/quota/consumption").await;
        assert_eq!(used.body, json!({ "totalUsage": 3 }));

        let sent = fake.sent_messages();
        let endpoints: Vec<Endpoint> = sent.iter().map(|d| d.endpoint).collect();
        assert_eq!(
            endpoints,
            [Endpoint::Multicast, Endpoint::Push, Endpoint::Reply]
        );
        assert_eq!(sent[0].to, [ALICE, BOB]);
        assert_eq!(sent[2].to, [ALICE]);
    }

    #[tokio::test]
    async fn without_a_quota_the_type_is_none() {
        let fake = fake();
        let quota = get_with_token(&fake, "/v2/bot/message/quota").await;
        assert_eq!(quota.body, json!({ "type": "none" }));
    }

    #[tokio::test]
    async fn a_retry_key_on_a_reply_is_refused() {
        let fake = fake();
        let reply_token = fake.issue_reply_token(TOKEN);
        let key = Uuid::new_v4().to_string();
        let body = json!({ "replyToken": reply_token, "messages": hello() });
        let answer = post(&fake, "/v2/bot/message/reply", Some(&key), body.clone()).await;
        assert_eq!(answer.status, 400);
        assert_eq!(
            answer.message(),
            "The retry key cannot be used for this request"
        );
        // The refused request did not use up the token.
        assert_eq!(
            post(&fake, "/v2/bot/message/reply", None, body)
                .await
                .status,
            200
        );
    }

    #[tokio::test]
    async fn a_retry_key_must_be_a_uuid() {
        let fake = fake();
        let answer = push(&fake, Some("not-a-uuid")).await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.properties(), ["X-Line-Retry-Key"]);
    }

    #[tokio::test]
    async fn a_reply_token_works_once() {
        let fake = fake();
        let reply_token = fake.issue_reply_token(TOKEN);
        let body =
            json!({ "replyToken": reply_token, "messages": hello(), "notificationDisabled": true });
        let first = post(&fake, "/v2/bot/message/reply", None, body.clone()).await;
        assert_eq!(first.status, 200);
        assert_eq!(first.body["sentMessages"].as_array().map(Vec::len), Some(1));
        let again = post(&fake, "/v2/bot/message/reply", None, body).await;
        assert_eq!(
            (again.status, again.message()),
            (400, "Invalid reply token")
        );

        let sent = fake.sent_messages();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].notification_disabled);
        assert_eq!(sent[0].reply_token.as_deref(), Some(reply_token.as_str()));
        assert_eq!(fake.quota_usage(TOKEN), 0);

        let expired = fake.issue_reply_token(TOKEN);
        fake.expire_reply_tokens(TOKEN);
        let body = json!({ "replyToken": expired, "messages": hello() });
        assert_eq!(
            post(&fake, "/v2/bot/message/reply", None, body)
                .await
                .status,
            400
        );
    }

    /// A fake on a clock the test moves, at `start`.
    fn fake_at(start: &str) -> (FakeLine, crm::clock::ManualClock) {
        let clock = crm::clock::ManualClock::at(start.parse().unwrap());
        let fake = FakeLine::with_clock(Arc::new(clock.clone()));
        fake.add_channel(TOKEN);
        (fake, clock)
    }

    #[tokio::test]
    async fn a_reply_token_older_than_a_minute_is_refused_as_invalid() {
        let (fake, clock) = fake_at("2026-04-01T00:00:00Z");
        let fresh = fake.issue_reply_token_to(TOKEN, ALICE);
        let stale = fake.issue_reply_token_to(TOKEN, ALICE);
        clock.advance(SignedDuration::from_secs(59));
        let body = json!({ "replyToken": fresh, "messages": hello() });
        assert_eq!(
            post(&fake, "/v2/bot/message/reply", None, body)
                .await
                .status,
            200
        );
        clock.advance(SignedDuration::from_secs(2));
        let body = json!({ "replyToken": stale, "messages": hello() });
        let late = post(&fake, "/v2/bot/message/reply", None, body).await;
        assert_eq!((late.status, late.message()), (400, "Invalid reply token"));
        assert_eq!(fake.sent_messages().len(), 1);
        // Recordings carry the fake's time, not the wall clock's.
        assert_eq!(
            fake.requests()[1].at,
            "2026-04-01T00:01:01Z".parse::<Timestamp>().unwrap()
        );
    }

    #[tokio::test]
    async fn the_monthly_quota_starts_again_on_the_first_in_japan_time() {
        // 2026-04-30 23:59 JST.
        let (fake, clock) = fake_at("2026-04-30T14:59:00Z");
        fake.set_monthly_quota(TOKEN, Some(1));
        assert_eq!(push(&fake, None).await.status, 200);
        let refused = push(&fake, None).await;
        assert_eq!((refused.status, refused.message()), (429, MONTHLY_LIMIT));
        assert_eq!(fake.quota_usage(TOKEN), 1);

        // 2026-05-01 00:00 JST, still April in UTC: a new month for LINE.
        clock.advance(SignedDuration::from_mins(1));
        assert_eq!(fake.quota_usage(TOKEN), 0);
        let used = get_with_token(&fake, "/v2/bot/message/quota/consumption").await;
        assert_eq!(used.body, json!({ "totalUsage": 0 }));
        assert_eq!(push(&fake, None).await.status, 200);
        assert_eq!(push(&fake, None).await.status, 429);
        assert_eq!(fake.quota_usage(TOKEN), 1);
    }

    #[tokio::test]
    async fn the_recording_hides_the_access_token() {
        let fake = fake();
        push(&fake, None).await;
        send(
            &fake,
            Method::GET,
            "/v2/bot/profile/x",
            Some("secret-unknown"),
            None,
            Body::empty(),
        )
        .await;
        let requests = fake.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].headers["authorization"], "Bearer ***");
        assert_eq!(
            requests[0].channel.as_deref(),
            Some(FakeLine::channel_id(TOKEN).as_str())
        );
        assert_eq!(requests[0].body["to"], ALICE);
        assert_eq!(requests[0].status, 200);
        assert_eq!(requests[0].path, "/v2/bot/message/push");
        let recorded = serde_json::to_string(&requests).unwrap();
        assert!(!recorded.contains(TOKEN));
        assert!(!recorded.contains("secret-unknown"));
        let sent = serde_json::to_string(&fake.sent_messages()).unwrap();
        assert!(!sent.contains(TOKEN));
    }

    #[tokio::test]
    async fn profiles_answer_404_once_blocked_or_unknown() {
        let fake = fake();
        let path = format!("/v2/bot/profile/{ALICE}");
        assert_eq!(get_with_token(&fake, &path).await.status, 404);
        fake.set_profile(TOKEN, ALICE, "Alice", None, Some("ja"));
        let found = get_with_token(&fake, &path).await;
        assert_eq!(
            found.body,
            json!({ "userId": ALICE, "displayName": "Alice", "language": "ja" })
        );

        fake.fail_profiles(500);
        assert_eq!(get_with_token(&fake, &path).await.status, 500);
        fake.heal_profiles();

        fake.block(TOKEN, ALICE);
        let blocked = get_with_token(&fake, &path).await;
        assert_eq!((blocked.status, blocked.message()), (404, NOT_FOUND));
        fake.unblock(TOKEN, ALICE);
        assert_eq!(get_with_token(&fake, &path).await.status, 200);
    }

    #[tokio::test]
    async fn multicast_recipients_must_be_1_to_500_user_ids() {
        let fake = fake();
        let body =
            json!({ "to": [ALICE, "Cfedcba9876543210fedcba9876543210"], "messages": hello() });
        let answer = post(&fake, "/v2/bot/message/multicast", None, body).await;
        assert_eq!(answer.properties(), ["to[1]"]);
        let too_many = vec![ALICE; 501];
        let answer = post(
            &fake,
            "/v2/bot/message/multicast",
            None,
            json!({ "to": too_many, "messages": hello() }),
        )
        .await;
        assert_eq!(answer.properties(), ["to"]);
        let none: Vec<&str> = Vec::new();
        let answer = post(
            &fake,
            "/v2/bot/message/multicast",
            None,
            json!({ "to": none, "messages": hello() }),
        )
        .await;
        assert_eq!(answer.properties(), ["to"]);
    }

    #[tokio::test]
    async fn push_needs_a_chat_id() {
        let fake = fake();
        let answer = post(
            &fake,
            "/v2/bot/message/push",
            None,
            json!({ "to": "", "messages": hello() }),
        )
        .await;
        assert_eq!(answer.properties(), ["to"]);
        let answer = post(
            &fake,
            "/v2/bot/message/push",
            None,
            json!({ "to": "alice", "messages": hello() }),
        )
        .await;
        assert_eq!((answer.status, answer.message()), (400, PUSH_TO_INVALID));
    }

    #[tokio::test]
    async fn bodies_too_large_malformed_or_to_unknown_paths_are_refused_and_recorded() {
        let fake = fake();
        let big = Body::from(vec![b' '; MAX_BODY_BYTES + 1]);
        let answer = send(
            &fake,
            Method::POST,
            "/v2/bot/message/push",
            Some(TOKEN),
            None,
            big,
        )
        .await;
        assert_eq!(answer.status, 413);
        let answer = send(
            &fake,
            Method::POST,
            "/v2/bot/message/push",
            Some(TOKEN),
            None,
            Body::from("{"),
        )
        .await;
        assert_eq!(answer.status, 400);
        let answer = get_with_token(&fake, "/v2/bot/followers/ids").await;
        assert_eq!((answer.status, answer.message()), (404, NOT_FOUND));
        assert!(answer.header(REQUEST_ID).is_some());
        let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [413, 400, 404]);
        assert!(fake.requests()[0].body.is_null());
    }

    #[tokio::test]
    async fn the_spawned_server_serves_line_and_the_control_endpoints() {
        let fake = fake();
        let (base, task) = fake
            .spawn(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        assert_ne!(base.port(), Some(0));
        let client = reqwest::Client::new();
        let url = |path: &str| base.join(path).unwrap();

        let response = client
            .post(url("v2/bot/message/push"))
            .bearer_auth(TOKEN)
            .json(&json!({ "to": ALICE, "messages": hello() }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key(REQUEST_ID));

        let profile = json!({ "userId": BOB, "displayName": "Bob", "pictureUrl": "https://example.com/b.png" });
        let response = client
            .post(url("__fake/profiles"))
            .json(&profile)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        let response = client
            .get(url(&format!("v2/bot/profile/{BOB}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.json::<Value>().await.unwrap()["displayName"],
            "Bob"
        );

        let response = client
            .get(url("__fake/requests?since=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/x-ndjson"
        );
        let text = response.text().await.unwrap();
        let records: Vec<RecordedRequest> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].seq, 2);
        assert!(!text.contains(TOKEN));

        let response = client.delete(url("__fake/requests")).send().await.unwrap();
        assert_eq!(response.status(), 204);
        assert!(fake.requests().is_empty());
        task.abort();
    }
}
