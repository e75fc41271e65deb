//! The Messaging API calls Tsunagu makes. One type with a base URL: production points it at
//! `https://api.line.me`, tests and the local stack at a fake LINE Platform.
//!
//! Never logged: the access token, message objects (they hold what we say to a friend), user ids.
//! Logged: the endpoint's template, the status and LINE's `X-Line-Request-Id`, which LINE's
//! support asks for.
use std::{fmt, time::Duration};

use reqwest::{RequestBuilder, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{debug, warn};
use url::Url;
use uuid::Uuid;

use crate::domain::friend::Profile;
use crate::secret::Secret;

/// LINE answers within a second or two; a call that takes longer is treated as lost (and a send
/// retried with the same retry key), rather than holding a Lambda invocation.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The 429 body that means the monthly message quota, not the rate limit, was hit.
const MONTHLY_LIMIT_MESSAGE: &str = "You have reached your monthly limit.";

#[derive(Clone, Debug)]
pub struct LineClient {
    http: reqwest::Client,
    base: Url,
    throttle: super::throttle::Throttle,
}

/// LINE's `X-Line-Request-Id` for one call (empty if a response lacked it; LINE's never do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_header(res: &Response, name: &str) -> Self {
        Self(
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        )
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a push or multicast ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// LINE took the request now.
    Accepted { request_id: RequestId },
    /// 409: LINE had already accepted a request with this retry key (within 24 h), the one
    /// named here. The messages were sent then; this attempt sent nothing. Treat as delivered.
    AlreadyAccepted { accepted_request_id: RequestId },
}

/// `GET /v2/bot/message/quota`: the month's target limit for sent messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// `type: none`: no target limit is set.
    Unlimited,
    /// `type: limited`: at most `value` messages this month (each recipient counts as one).
    Limited(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// 429 from the per-channel rate limit (push 2,000 req/s, multicast 200 req/s). LINE sends no
    /// Retry-After: back off and retry, with the same retry key.
    #[error("LINE rate limit reached")]
    RateLimited,
    /// 429 "You have reached your monthly limit.": nothing more goes out this month unless the
    /// plan or the limit changes. Retrying is pointless.
    #[error("LINE monthly message quota exhausted")]
    MonthlyQuotaExhausted,
    /// 5xx: LINE failed; it may or may not have sent. Retry with the same retry key.
    #[error("LINE server error {status} (request {request_id})")]
    Server { status: u16, request_id: RequestId },
    /// Another 4xx: the request itself is wrong (400 invalid, 403 not allowed, 404, 413 too
    /// large). Retrying the same request fails the same way.
    #[error("LINE rejected the request: {status} {message} (request {request_id})")]
    Rejected {
        status: u16,
        message: String,
        /// `details[]` as (property, message); property is empty when LINE leaves it out.
        details: Vec<(String, String)>,
        request_id: RequestId,
    },
    /// 401: the channel access token is invalid, expired or revoked.
    #[error("LINE refused the channel access token")]
    Unauthorized,
    /// No usable answer: timeout, connection failure, or a 2xx body we cannot read. A send may
    /// have reached LINE: retry with the same retry key.
    #[error("LINE unreachable: {0}")]
    Transport(String),
}

impl LineError {
    /// Whether the same call may succeed later. For push and multicast, retry with the same
    /// retry key so LINE sends at most once; a reply has no retry key and its token is
    /// single-use, so a "retryable" reply error usually means the reply is lost.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited | Self::Server { .. } | Self::Transport(_) => true,
            Self::MonthlyQuotaExhausted | Self::Rejected { .. } | Self::Unauthorized => false,
        }
    }
}

/// LINE's error body: `{"message", "details": [{"message", "property"}]}`.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    property: Option<String>,
}

#[derive(Deserialize)]
struct QuotaBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    value: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsumptionBody {
    total_usage: u64,
}

/// Whether a call may carry `X-Line-Retry-Key`. LINE accepts it only on push, multicast,
/// narrowcast and broadcast, and answers 400 on any other endpoint (reply included).
#[derive(Clone, Copy)]
enum Retry {
    Key(Uuid),
    NotAllowed,
}

impl LineClient {
    /// `base` is LINE's API root (`https://api.line.me`), with or without a trailing slash; a
    /// path prefix (a fake LINE mounted under `/line`) is kept.
    pub fn new(http: reqwest::Client, mut base: Url) -> Self {
        // `Url::join` replaces the last segment of a base without a trailing slash.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Self {
            http,
            base,
            throttle: super::throttle::Throttle::default(),
        }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// A friend's profile; `Ok(None)` on 404, which LINE answers once the user blocked the account
    /// (or for an id that is not a friend).
    pub async fn profile(
        &self,
        token: &Secret,
        user_id: &str,
    ) -> Result<Option<Profile>, LineError> {
        const ENDPOINT: &str = "/v2/bot/profile/{userId}";
        let mut url = self.url("v2/bot/profile/")?;
        // Pushed as a path segment so any character is percent-encoded, not interpreted.
        url.path_segments_mut()
            .map_err(|()| {
                LineError::Transport(format!("LINE base URL {} cannot be a base", self.base))
            })?
            .pop_if_empty()
            .push(user_id);
        let res = self
            .send(ENDPOINT, self.http.get(url), token, Retry::NotAllowed)
            .await?;
        if res.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let res = check(ENDPOINT, res).await?;
        read_json(ENDPOINT, res).await.map(Some)
    }

    /// Replies with up to 5 messages. Free of quota; the token is single-use, valid ~1 minute.
    pub async fn reply(
        &self,
        token: &Secret,
        reply_token: &str,
        messages: &[Value],
    ) -> Result<RequestId, LineError> {
        const ENDPOINT: &str = "/v2/bot/message/reply";
        let body = json!({ "replyToken": reply_token, "messages": messages });
        let req = self
            .http
            .post(self.url("v2/bot/message/reply")?)
            .json(&body);
        let res = self.send(ENDPOINT, req, token, Retry::NotAllowed).await?;
        let res = check(ENDPOINT, res).await?;
        Ok(RequestId::from_header(&res, "x-line-request-id"))
    }

    /// Pushes up to 5 messages to one user, group or room. `retry_key` is sent on the first
    /// attempt too: keep it with the delivery and reuse it on every retry of the same send.
    pub async fn push(
        &self,
        token: &Secret,
        to: &str,
        messages: &[Value],
        retry_key: Uuid,
    ) -> Result<SendOutcome, LineError> {
        let body = json!({ "to": to, "messages": messages });
        self.throttle.push(token).await;
        self.send_with_key(
            "/v2/bot/message/push",
            "v2/bot/message/push",
            &body,
            token,
            retry_key,
        )
        .await
    }

    /// Sends the same messages to up to 500 user ids (not groups or rooms). Quota counts each
    /// recipient. Same retry-key rule as [`LineClient::push`].
    pub async fn multicast(
        &self,
        token: &Secret,
        to: &[String],
        messages: &[Value],
        retry_key: Uuid,
    ) -> Result<SendOutcome, LineError> {
        let body = json!({ "to": to, "messages": messages });
        self.throttle.multicast(token).await;
        self.send_with_key(
            "/v2/bot/message/multicast",
            "v2/bot/message/multicast",
            &body,
            token,
            retry_key,
        )
        .await
    }

    /// This month's target limit.
    pub async fn quota(&self, token: &Secret) -> Result<Quota, LineError> {
        const ENDPOINT: &str = "/v2/bot/message/quota";
        let req = self.http.get(self.url("v2/bot/message/quota")?);
        let res = self.send(ENDPOINT, req, token, Retry::NotAllowed).await?;
        let body: QuotaBody = read_json(ENDPOINT, check(ENDPOINT, res).await?).await?;
        match (body.kind.as_str(), body.value) {
            ("none", _) => Ok(Quota::Unlimited),
            ("limited", Some(v)) => Ok(Quota::Limited(v)),
            (kind, value) => Err(LineError::Transport(format!(
                "unexpected quota answer: type {kind:?}, value {value:?}"
            ))),
        }
    }

    /// Messages sent this month (each recipient counts as one).
    pub async fn quota_consumption(&self, token: &Secret) -> Result<u64, LineError> {
        const ENDPOINT: &str = "/v2/bot/message/quota/consumption";
        let req = self.http.get(self.url("v2/bot/message/quota/consumption")?);
        let res = self.send(ENDPOINT, req, token, Retry::NotAllowed).await?;
        let body: ConsumptionBody = read_json(ENDPOINT, check(ENDPOINT, res).await?).await?;
        Ok(body.total_usage)
    }

    async fn send_with_key(
        &self,
        endpoint: &'static str,
        path: &str,
        body: &Value,
        token: &Secret,
        retry_key: Uuid,
    ) -> Result<SendOutcome, LineError> {
        let req = self.http.post(self.url(path)?).json(body);
        let res = self
            .send(endpoint, req, token, Retry::Key(retry_key))
            .await?;
        if res.status() == StatusCode::CONFLICT {
            // Only a retry key LINE already accepted yields 409 here: the send happened.
            let accepted_request_id = RequestId::from_header(&res, "x-line-accepted-request-id");
            debug!(endpoint, status = 409, request_id = %RequestId::from_header(&res, "x-line-request-id"),
                accepted_request_id = %accepted_request_id, "LINE had already accepted this retry key");
            return Ok(SendOutcome::AlreadyAccepted {
                accepted_request_id,
            });
        }
        let res = check(endpoint, res).await?;
        Ok(SendOutcome::Accepted {
            request_id: RequestId::from_header(&res, "x-line-request-id"),
        })
    }

    fn url(&self, path: &str) -> Result<Url, LineError> {
        self.base.join(path).map_err(|e| {
            LineError::Transport(format!("cannot build LINE URL from {}: {e}", self.base))
        })
    }

    async fn send(
        &self,
        endpoint: &'static str,
        req: RequestBuilder,
        token: &Secret,
        retry: Retry,
    ) -> Result<Response, LineError> {
        let mut req = req.bearer_auth(token.expose()).timeout(REQUEST_TIMEOUT);
        if let Retry::Key(key) = retry {
            // LINE wants the UUID in its hyphenated hex form (123e4567-e89b-12d3-a456-426614174000).
            req = req.header("X-Line-Retry-Key", key.hyphenated().to_string());
        }
        req.send().await.map_err(|e| {
            // The URL can hold a user id (profile); the error is logged and kept without it.
            let e = e.without_url();
            warn!(endpoint, error = %e, "LINE call failed before an answer");
            LineError::Transport(e.to_string())
        })
    }
}

/// Passes a 2xx through and turns anything else into a [`LineError`].
async fn check(endpoint: &'static str, res: Response) -> Result<Response, LineError> {
    let status = res.status();
    let request_id = RequestId::from_header(&res, "x-line-request-id");
    if status.is_success() {
        debug!(endpoint, status = status.as_u16(), request_id = %request_id, "LINE call succeeded");
        return Ok(res);
    }
    // LINE's error bodies are small JSON; one we cannot read still gets its status mapped.
    let body: Option<ErrorBody> = res
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let message = body.as_ref().map(|b| b.message.clone()).unwrap_or_default();
    warn!(endpoint, status = status.as_u16(), request_id = %request_id, message = %message, "LINE call refused");
    Err(match status {
        StatusCode::UNAUTHORIZED => LineError::Unauthorized,
        StatusCode::TOO_MANY_REQUESTS if message.trim() == MONTHLY_LIMIT_MESSAGE => {
            LineError::MonthlyQuotaExhausted
        }
        StatusCode::TOO_MANY_REQUESTS => LineError::RateLimited,
        s if s.is_server_error() => LineError::Server {
            status: s.as_u16(),
            request_id,
        },
        s => LineError::Rejected {
            status: s.as_u16(),
            message: if message.is_empty() {
                s.canonical_reason().unwrap_or_default().to_owned()
            } else {
                message
            },
            details: body
                .map(|b| {
                    b.details
                        .into_iter()
                        .map(|d| {
                            (
                                d.property.unwrap_or_default(),
                                d.message.unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            request_id,
        },
    })
}

async fn read_json<T: serde::de::DeserializeOwned>(
    endpoint: &'static str,
    res: Response,
) -> Result<T, LineError> {
    let bytes = res
        .bytes()
        .await
        .map_err(|e| LineError::Transport(e.without_url().to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        // serde's message can quote values (a display name); its position is enough.
        let reason = format!(
            "unreadable answer from {endpoint}: {:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        );
        warn!(endpoint, error = %reason, "LINE answered 2xx with a body we cannot read");
        LineError::Transport(reason)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::{
        Router,
        body::Bytes,
        http::{HeaderMap, Method as HttpMethod, StatusCode as HttpStatus, Uri},
        response::IntoResponse,
    };

    use super::*;

    /// What the fake LINE saw of one request.
    #[derive(Debug, Clone)]
    struct Seen {
        method: HttpMethod,
        path: String,
        headers: HeaderMap,
        body: Bytes,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }

        fn json(&self) -> Value {
            serde_json::from_slice(&self.body).unwrap_or(Value::Null)
        }
    }

    struct Fake {
        client: LineClient,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl Fake {
        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().map(|s| s.clone()).unwrap_or_default()
        }
    }

    /// Serves one canned answer to every request on 127.0.0.1:0 and records what arrived.
    /// `prefix` is the base URL's path, to check joining with and without a trailing slash.
    async fn fake_line(
        status: u16,
        headers: &[(&'static str, &'static str)],
        body: &'static str,
        prefix: &str,
    ) -> Fake {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let headers: Vec<(&'static str, &'static str)> = headers.to_vec();
        let app = Router::new().fallback(
            move |method: HttpMethod, uri: Uri, req_headers: HeaderMap, req_body: Bytes| {
                let log = Arc::clone(&log);
                let headers = headers.clone();
                async move {
                    if let Ok(mut l) = log.lock() {
                        l.push(Seen {
                            method,
                            path: uri.path().to_owned(),
                            headers: req_headers,
                            body: req_body,
                        });
                    }
                    let mut res = (HttpStatus::from_u16(status).unwrap(), body).into_response();
                    for (k, v) in headers {
                        res.headers_mut().insert(k, v.parse().unwrap());
                    }
                    res.headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    res
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let base = Url::parse(&format!("http://{addr}{prefix}")).unwrap();
        Fake {
            client: LineClient::new(reqwest::Client::new(), base),
            seen,
        }
    }

    fn token() -> Secret {
        Secret::new("test-access-token")
    }

    fn hello() -> Vec<Value> {
        vec![json!({ "type": "text", "text": "こんにちは" })]
    }

    const FRIEND: &str = "Ud5f4b2dadbef4a6832c6dd0450ab6211";
    const SENT: &str =
        r#"{"sentMessages":[{"id":"461230966842064897","quoteToken":"IStG5h1Tz7b..."}]}"#;

    #[tokio::test]
    async fn push_sends_the_retry_key_and_returns_the_request_id() {
        let fake = fake_line(200, &[("x-line-request-id", "req-push-1")], SENT, "").await;
        let key = Uuid::parse_str("123e4567-e89b-12d3-a456-426614174000").unwrap();
        let out = fake
            .client
            .push(&token(), FRIEND, &hello(), key)
            .await
            .unwrap();
        assert_eq!(
            out,
            SendOutcome::Accepted {
                request_id: RequestId::new("req-push-1")
            }
        );

        let seen = fake.seen();
        assert_eq!(seen.len(), 1);
        let req = &seen[0];
        assert_eq!(req.method, HttpMethod::POST);
        assert_eq!(req.path, "/v2/bot/message/push");
        assert_eq!(
            req.header("x-line-retry-key"),
            Some("123e4567-e89b-12d3-a456-426614174000")
        );
        assert_eq!(
            req.header("authorization"),
            Some("Bearer test-access-token")
        );
        assert_eq!(req.json(), json!({ "to": FRIEND, "messages": hello() }));
    }

    #[tokio::test]
    async fn multicast_sends_the_retry_key_and_every_recipient() {
        let fake = fake_line(200, &[("x-line-request-id", "req-mc-1")], "{}", "").await;
        let key = Uuid::new_v4();
        let to = vec![
            FRIEND.to_owned(),
            "U0c9dfbf7fcbfd47dfd9413459011f716".to_owned(),
        ];
        let out = fake
            .client
            .multicast(&token(), &to, &hello(), key)
            .await
            .unwrap();
        assert_eq!(
            out,
            SendOutcome::Accepted {
                request_id: RequestId::new("req-mc-1")
            }
        );
        let req = &fake.seen()[0];
        assert_eq!(req.path, "/v2/bot/message/multicast");
        assert_eq!(
            req.header("x-line-retry-key"),
            Some(key.hyphenated().to_string().as_str())
        );
        assert_eq!(req.json()["to"], json!(to));
    }

    #[tokio::test]
    async fn reply_never_sends_a_retry_key() {
        let fake = fake_line(200, &[("x-line-request-id", "req-reply-1")], SENT, "").await;
        let id = fake
            .client
            .reply(&token(), "reply-token-1", &hello())
            .await
            .unwrap();
        assert_eq!(id, RequestId::new("req-reply-1"));
        let req = &fake.seen()[0];
        assert_eq!(req.path, "/v2/bot/message/reply");
        assert_eq!(req.header("x-line-retry-key"), None);
        assert_eq!(
            req.json(),
            json!({ "replyToken": "reply-token-1", "messages": hello() })
        );
    }

    #[tokio::test]
    async fn conflict_means_already_delivered() {
        let fake = fake_line(
            409,
            &[("x-line-request-id", "req-2"), ("x-line-accepted-request-id", "req-1")],
            r#"{"message":"The retry key is already accepted","sentMessages":[{"id":"461230966842064897"}]}"#,
            "",
        )
        .await;
        let out = fake
            .client
            .push(&token(), FRIEND, &hello(), Uuid::new_v4())
            .await
            .unwrap();
        assert_eq!(
            out,
            SendOutcome::AlreadyAccepted {
                accepted_request_id: RequestId::new("req-1")
            }
        );
        let out = fake
            .client
            .multicast(&token(), &[FRIEND.to_owned()], &hello(), Uuid::new_v4())
            .await
            .unwrap();
        assert!(matches!(out, SendOutcome::AlreadyAccepted { .. }));
    }

    #[tokio::test]
    async fn too_many_requests_is_the_rate_limit_unless_the_month_is_used_up() {
        let rate = fake_line(
            429,
            &[("x-line-request-id", "r")],
            r#"{"message":"Too Many Requests"}"#,
            "",
        )
        .await;
        let err = rate
            .client
            .push(&token(), FRIEND, &hello(), Uuid::new_v4())
            .await
            .unwrap_err();
        assert!(matches!(err, LineError::RateLimited), "{err:?}");
        assert!(err.is_retryable());

        let month = fake_line(
            429,
            &[("x-line-request-id", "r")],
            r#"{"message":"You have reached your monthly limit."}"#,
            "",
        )
        .await;
        let err = month
            .client
            .multicast(&token(), &[FRIEND.to_owned()], &hello(), Uuid::new_v4())
            .await
            .unwrap_err();
        assert!(matches!(err, LineError::MonthlyQuotaExhausted), "{err:?}");
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn server_errors_are_retryable_and_keep_the_request_id() {
        let fake = fake_line(
            500,
            &[("x-line-request-id", "req-500")],
            r#"{"message":"Internal server error"}"#,
            "",
        )
        .await;
        let err = fake
            .client
            .push(&token(), FRIEND, &hello(), Uuid::new_v4())
            .await
            .unwrap_err();
        match &err {
            LineError::Server { status, request_id } => {
                assert_eq!(*status, 500);
                assert_eq!(request_id.as_str(), "req-500");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn bad_requests_are_rejected_with_details() {
        let fake = fake_line(
            400,
            &[("x-line-request-id", "req-400")],
            r#"{"message":"The request body has 1 error(s)","details":[{"message":"Length must be between 0 and 5000","property":"messages[0].text"}]}"#,
            "",
        )
        .await;
        let err = fake
            .client
            .reply(&token(), "t", &hello())
            .await
            .unwrap_err();
        match &err {
            LineError::Rejected {
                status,
                message,
                details,
                request_id,
            } => {
                assert_eq!(*status, 400);
                assert_eq!(message, "The request body has 1 error(s)");
                assert_eq!(
                    details,
                    &[(
                        "messages[0].text".to_owned(),
                        "Length must be between 0 and 5000".to_owned()
                    )]
                );
                assert_eq!(request_id.as_str(), "req-400");
            }
            other => panic!("{other:?}"),
        }
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn a_bad_token_is_unauthorized() {
        let fake = fake_line(
            401,
            &[],
            r#"{"message":"Authentication failed due to the following reason: invalid token."}"#,
            "",
        )
        .await;
        let err = fake.client.quota(&token()).await.unwrap_err();
        assert!(matches!(err, LineError::Unauthorized), "{err:?}");
        assert!(!err.is_retryable());
        assert!(!format!("{err} {err:?}").contains("test-access-token"));
    }

    #[tokio::test]
    async fn profile_of_a_blocked_user_is_none() {
        let fake = fake_line(
            404,
            &[("x-line-request-id", "r")],
            r#"{"message":"Not found"}"#,
            "",
        )
        .await;
        assert_eq!(fake.client.profile(&token(), FRIEND).await.unwrap(), None);
        assert_eq!(fake.seen()[0].path, format!("/v2/bot/profile/{FRIEND}"));
        assert_eq!(fake.seen()[0].method, HttpMethod::GET);
    }

    #[tokio::test]
    async fn profile_is_read_and_debug_hides_the_name() {
        let fake = fake_line(
            200,
            &[("x-line-request-id", "r")],
            r#"{"displayName":"LINE taro","userId":"Ud5f4b2dadbef4a6832c6dd0450ab6211","language":"ja","pictureUrl":"https://obs.line-apps.com/abc","statusMessage":"Hello, LINE!"}"#,
            "",
        )
        .await;
        let p = fake
            .client
            .profile(&token(), FRIEND)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.display_name.as_deref(), Some("LINE taro"));
        assert_eq!(p.language.as_deref(), Some("ja"));
        assert_eq!(
            p.picture_url.as_deref(),
            Some("https://obs.line-apps.com/abc")
        );
        assert_eq!(p.status_message.as_deref(), Some("Hello, LINE!"));
        assert!(!format!("{p:?}").contains("taro"));
    }

    #[tokio::test]
    async fn quota_and_consumption() {
        let limited = fake_line(200, &[], r#"{"type":"limited","value":5000}"#, "").await;
        assert_eq!(
            limited.client.quota(&token()).await.unwrap(),
            Quota::Limited(5000)
        );
        assert_eq!(limited.seen()[0].path, "/v2/bot/message/quota");
        assert_eq!(limited.seen()[0].header("x-line-retry-key"), None);

        let none = fake_line(200, &[], r#"{"type":"none"}"#, "").await;
        assert_eq!(none.client.quota(&token()).await.unwrap(), Quota::Unlimited);

        let used = fake_line(200, &[], r#"{"totalUsage":500}"#, "").await;
        assert_eq!(used.client.quota_consumption(&token()).await.unwrap(), 500);
        assert_eq!(used.seen()[0].path, "/v2/bot/message/quota/consumption");
    }

    #[tokio::test]
    async fn a_base_with_a_path_is_joined_with_or_without_a_trailing_slash() {
        for prefix in ["/line", "/line/"] {
            let fake = fake_line(200, &[("x-line-request-id", "r")], SENT, prefix).await;
            fake.client.reply(&token(), "t", &hello()).await.unwrap();
            // The canned body is not a profile; only the path matters here.
            let _ = fake.client.profile(&token(), "U a/b").await;
            let seen = fake.seen();
            assert_eq!(seen[0].path, "/line/v2/bot/message/reply", "{prefix}");
            // A user id is one path segment, whatever it contains.
            assert_eq!(seen[1].path, "/line/v2/bot/profile/U%20a%2Fb", "{prefix}");
        }
    }

    #[tokio::test]
    async fn nobody_listening_is_a_retryable_transport_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = LineClient::new(
            reqwest::Client::new(),
            Url::parse(&format!("http://{addr}")).unwrap(),
        );
        let err = client
            .push(&token(), FRIEND, &hello(), Uuid::new_v4())
            .await
            .unwrap_err();
        assert!(matches!(err, LineError::Transport(_)), "{err:?}");
        assert!(err.is_retryable());
    }
}
