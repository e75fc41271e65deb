//! The webhook payload LINE posts: `{"destination": "U…", "events": [ … ]}`.
//!
//! LINE adds event types and fields without notice, and one delivery can batch several events,
//! so parsing is layered to never lose a batch over one event:
//!
//! 1. The body must be JSON with a top-level `events` array; otherwise [`parse_payload`] fails
//!    with serde's reason (line, column) and the request is answered 400. This is the only
//!    failure of the whole request.
//! 2. Each element is read on its own. One lacking the fields every event carries (`type`,
//!    `timestamp`, `webhookEventId`) cannot be ordered or deduplicated, so it lands in
//!    [`WebhookPayload::rejected`] with the element and the reason, for the caller to log; no id
//!    is made up for it. The other events are unaffected.
//! 3. A known `type` whose own part does not match LINE's schema (say a `beacon` without `hwid`)
//!    and a `type` we do not know both become [`EventBody::Unknown`]; the event is kept, with its
//!    common fields and its JSON in [`WebhookEvent::raw`].
//!
//! Unknown fields are ignored everywhere (no `deny_unknown_fields`) and stay available in `raw`.
//! Field names and shapes follow LINE's `webhook.yml`.
use std::fmt;

use serde::{Deserialize, Deserializer, de::Error as _};
use serde_json::Value;

/// A parsed delivery. `events` keep LINE's order; LINE may deliver out of order, so sort by
/// [`EventCommon::timestamp`] before applying them.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookPayload {
    /// The bot's user id. LINE always sends it; a body without it is still accepted.
    pub destination: Option<String>,
    /// Empty for the console's "Verify" request, which must be answered 200.
    pub events: Vec<WebhookEvent>,
    /// Elements of `events` that are not events at all (see the module documentation).
    pub rejected: Vec<RejectedEvent>,
}

/// The body is not JSON, or has no top-level `events` array. Display gives serde's reason with
/// its line and column.
#[derive(Debug, thiserror::Error)]
#[error("invalid webhook body: {0}")]
pub struct PayloadError(#[from] serde_json::Error);

impl PayloadError {
    pub fn line(&self) -> usize {
        self.0.line()
    }

    pub fn column(&self) -> usize {
        self.0.column()
    }
}

/// An element of `events` lacking `type`, `timestamp` or `webhookEventId`.
#[derive(Clone, PartialEq)]
pub struct RejectedEvent {
    /// The element as LINE sent it. May hold message text: store it, don't log it.
    pub raw: Value,
    pub reason: String,
}

impl fmt::Debug for RejectedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RejectedEvent")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// One webhook event: the fields every event has, the typed part for its `type`, and the event
/// exactly as received.
#[derive(Clone, PartialEq)]
pub struct WebhookEvent {
    pub common: EventCommon,
    pub body: EventBody,
    /// The whole event object as LINE sent it, unknown fields included.
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventCommon {
    /// LINE's `type`, as sent (`"follow"`, `"message"`, or a type added after this code).
    pub kind: String,
    pub mode: Mode,
    /// Milliseconds since the epoch; LINE delivers out of order, so this is the order to apply.
    pub timestamp: i64,
    /// Absent on channel-level events (`botSuspended`, `botResumed`, `module`).
    pub source: Option<Source>,
    /// A ULID. Redeliveries keep it, so it is the deduplication key.
    pub webhook_event_id: String,
    /// `deliveryContext.isRedelivery`: LINE resent it because an earlier delivery was not 2xx.
    pub is_redelivery: bool,
    /// Single-use and valid for about a minute. Absent in standby mode and on events that cannot
    /// be replied to (unfollow, leave, memberLeft, unsend, a failed accountLink).
    pub reply_token: Option<String>,
}

/// Channel state. In `standby` another channel (a module) owns the chat: there is no
/// `replyToken` and we must not send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Active,
    Standby,
    Other(String),
}

impl Mode {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "active",
            Self::Standby => "standby",
            Self::Other(s) => s,
        }
    }
}

impl From<&str> for Mode {
    fn from(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "standby" => Self::Standby,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// Where the event happened. Ids appear in `Debug`: log them hashed, never raw.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Source {
    /// A one-to-one chat with a friend of the account.
    #[serde(rename_all = "camelCase")]
    User { user_id: String },
    /// `userId` is only sent on some events (messages) and only for users of LINE's mobile apps.
    #[serde(rename_all = "camelCase")]
    Group {
        group_id: String,
        #[serde(default)]
        user_id: Option<String>,
    },
    /// A multi-person chat; `userId` as for groups.
    #[serde(rename_all = "camelCase")]
    Room {
        room_id: String,
        #[serde(default)]
        user_id: Option<String>,
    },
    /// A source type added later, or one that does not match the schema above.
    #[serde(other)]
    Other,
}

/// The part of an event that depends on its `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    Message(MessageContent),
    /// The user unsent a message: delete what we keep of it.
    Unsend {
        message_id: String,
    },
    /// Added as a friend, or unblocked (`follow.isUnblocked`).
    Follow {
        is_unblocked: bool,
    },
    /// Blocked. Pushes to this user are no longer delivered (but still cost quota).
    Unfollow,
    Join,
    Leave,
    MemberJoined {
        user_ids: Vec<String>,
    },
    MemberLeft {
        user_ids: Vec<String>,
    },
    Postback {
        /// Our own data from the action, at most 300 characters.
        data: String,
        params: Option<PostbackParams>,
    },
    VideoPlayComplete {
        tracking_id: String,
    },
    Beacon {
        hwid: String,
        /// `beacon.type`: `enter`, `banner` or `stay`.
        kind: String,
        /// Device message, hex.
        dm: Option<String>,
    },
    AccountLink {
        /// `ok` or `failed`.
        result: String,
        nonce: String,
    },
    Membership {
        /// `membership.type`: `joined`, `left` or `renewed`.
        kind: String,
        membership_id: Option<i64>,
    },
    /// Module channels: a module was attached to or detached from the account.
    Module {
        /// `module.type`: `attached` or `detached`.
        kind: String,
    },
    /// Module channels: this channel became the active one, until `expire_at` (ms) if set.
    Activated {
        expire_at: Option<i64>,
    },
    Deactivated,
    BotSuspended,
    BotResumed,
    /// LINE notification messages: delivery completed (`delivery.data`).
    Delivery {
        data: String,
    },
    /// A type we do not know (`malformed: None`), or a known type whose own part does not match
    /// LINE's schema (`malformed: Some(serde's reason)`). Everything is still in `raw`.
    Unknown {
        malformed: Option<String>,
    },
}

/// `postback.params`: what a datetime picker chose, or the result of a rich-menu switch action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostbackParams {
    /// `YYYY-MM-DD`, from a datetime picker in `date` mode.
    pub date: Option<String>,
    /// `HH:mm`, from a picker in `time` mode.
    pub time: Option<String>,
    /// `YYYY-MM-DDTHH:mm`, from a picker in `datetime` mode.
    pub datetime: Option<String>,
    /// Rich-menu switch action: the alias switched to.
    pub new_rich_menu_alias_id: Option<String>,
    /// Rich-menu switch action: `SUCCESS`, `RICHMENU_ALIAS_ID_NOTFOUND`, `RICHMENU_NOTFOUND` or `FAILED`.
    pub status: Option<String>,
}

/// `message` of a message event. Message types we do not know become `Other { kind }`; a known
/// type that does not match its schema is an error (and its event becomes [`EventBody::Unknown`]).
///
/// `Debug` shows only the type and id: text, file names and locations are the friend's words and
/// whereabouts and never go to a log.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(remote = "Self", tag = "type", rename_all = "camelCase")]
pub enum MessageContent {
    #[serde(rename_all = "camelCase")]
    Text {
        id: String,
        text: String,
        /// Lets a reply or push quote this message.
        #[serde(default)]
        quote_token: Option<String>,
        /// Present when this message quotes an earlier one.
        #[serde(default)]
        quoted_message_id: Option<String>,
    },
    Image {
        id: String,
    },
    Video {
        id: String,
    },
    Audio {
        id: String,
    },
    #[serde(rename_all = "camelCase")]
    File {
        id: String,
        file_name: String,
        file_size: u64,
    },
    Location {
        id: String,
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        address: Option<String>,
        latitude: f64,
        longitude: f64,
    },
    #[serde(rename_all = "camelCase")]
    Sticker {
        id: String,
        package_id: String,
        sticker_id: String,
        /// `STATIC`, `ANIMATION`, `SOUND`, `POPUP`, `MESSAGE`, …
        #[serde(default)]
        sticker_resource_type: Option<String>,
    },
    /// A message type added after this code; `kind` is its `type`.
    #[serde(skip_deserializing)]
    Other {
        kind: String,
    },
}

/// Message types [`MessageContent`] has a variant for; anything else is `Other`.
const KNOWN_MESSAGE_TYPES: [&str; 7] = [
    "text", "image", "video", "audio", "file", "location", "sticker",
];

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match v.get("type").and_then(Value::as_str) {
            Some(kind) if !KNOWN_MESSAGE_TYPES.contains(&kind) => Ok(Self::Other {
                kind: kind.to_owned(),
            }),
            // `remote = "Self"` makes the derived impl this inherent fn: the known types, with
            // serde's own errors (missing `type` included).
            _ => MessageContent::deserialize(&v).map_err(D::Error::custom),
        }
    }
}

impl MessageContent {
    /// LINE's `message.type`.
    pub fn kind(&self) -> &str {
        match self {
            Self::Text { .. } => "text",
            Self::Image { .. } => "image",
            Self::Video { .. } => "video",
            Self::Audio { .. } => "audio",
            Self::File { .. } => "file",
            Self::Location { .. } => "location",
            Self::Sticker { .. } => "sticker",
            Self::Other { kind } => kind,
        }
    }

    /// The message id (for unsend, content download); unknown for `Other`.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::Text { id, .. }
            | Self::Image { id }
            | Self::Video { id }
            | Self::Audio { id }
            | Self::File { id, .. }
            | Self::Location { id, .. }
            | Self::Sticker { id, .. } => Some(id),
            Self::Other { .. } => None,
        }
    }
}

impl fmt::Debug for MessageContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageContent")
            .field("kind", &self.kind())
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl WebhookEvent {
    /// LINE's `type`, as sent.
    pub fn kind(&self) -> &str {
        &self.common.kind
    }

    /// The LINE user id of the friend this event is about: only for one-to-one (`user`)
    /// sources. A group or room member is not a friend of the account (they may never have
    /// added it), so group and room events never create friends.
    pub fn friend_id(&self) -> Option<&str> {
        match &self.common.source {
            Some(Source::User { user_id }) => Some(user_id),
            _ => None,
        }
    }

    /// Reads one element of `events`. Fails only when `type`, `timestamp` or `webhookEventId`
    /// is missing or of the wrong type; see the module documentation.
    pub fn from_value(raw: Value) -> Result<Self, RejectedEvent> {
        let wire = match WireCommon::deserialize(&raw) {
            Ok(w) => w,
            Err(e) => {
                return Err(RejectedEvent {
                    reason: e.to_string(),
                    raw,
                });
            }
        };
        let common = EventCommon {
            mode: match &wire.mode {
                Some(Value::String(s)) => Mode::from(s.as_str()),
                Some(other) => Mode::Other(other.to_string()),
                // `mode` came with module channels; before them every channel was active.
                None => Mode::Active,
            },
            timestamp: wire.timestamp,
            // A source we cannot read is still a source: the event is kept without a friend.
            source: wire
                .source
                .as_ref()
                .map(|s| Source::deserialize(s).unwrap_or(Source::Other)),
            webhook_event_id: wire.webhook_event_id,
            is_redelivery: wire
                .delivery_context
                .as_ref()
                .and_then(|c| c.get("isRedelivery"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            reply_token: wire
                .reply_token
                .as_ref()
                .and_then(Value::as_str)
                .map(str::to_owned),
            kind: wire.kind,
        };
        let body = match WireBody::deserialize(&raw) {
            Ok(b) => b.into(),
            Err(e) => EventBody::Unknown {
                malformed: Some(e.to_string()),
            },
        };
        Ok(Self { common, body, raw })
    }
}

/// Summary only: `raw` and the body may hold message text, and ids are logged hashed.
impl fmt::Debug for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.common.source {
            Some(Source::User { .. }) => "user",
            Some(Source::Group { .. }) => "group",
            Some(Source::Room { .. }) => "room",
            Some(Source::Other) => "other",
            None => "none",
        };
        f.debug_struct("WebhookEvent")
            .field("kind", &self.common.kind)
            .field("webhook_event_id", &self.common.webhook_event_id)
            .field("timestamp", &self.common.timestamp)
            .field("mode", &self.common.mode)
            .field("is_redelivery", &self.common.is_redelivery)
            .field("source", &source)
            .finish_non_exhaustive()
    }
}

/// Parses a webhook body (after its signature was verified over these same bytes).
pub fn parse_payload(bytes: &[u8]) -> Result<WebhookPayload, PayloadError> {
    let wire: WirePayload = serde_json::from_slice(bytes)?;
    let mut events = Vec::with_capacity(wire.events.len());
    let mut rejected = Vec::new();
    for raw in wire.events {
        match WebhookEvent::from_value(raw) {
            Ok(e) => events.push(e),
            Err(r) => rejected.push(r),
        }
    }
    Ok(WebhookPayload {
        destination: wire
            .destination
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_owned),
        events,
        rejected,
    })
}

// ---------------------------------------------------------------- wire shapes

#[derive(Deserialize)]
#[serde(rename = "WebhookPayload")]
struct WirePayload {
    #[serde(default)]
    destination: Option<Value>,
    events: Vec<Value>,
}

/// The fields an event cannot do without are typed; the rest are read leniently from `Value`.
#[derive(Deserialize)]
#[serde(rename = "Event", rename_all = "camelCase")]
struct WireCommon {
    #[serde(rename = "type")]
    kind: String,
    timestamp: i64,
    webhook_event_id: String,
    #[serde(default)]
    mode: Option<Value>,
    #[serde(default)]
    source: Option<Value>,
    #[serde(default)]
    delivery_context: Option<Value>,
    #[serde(default)]
    reply_token: Option<Value>,
}

/// Each event type keeps its own part under a property of its own (`follow`, `link`, …).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum WireBody {
    Message {
        message: MessageContent,
    },
    Unsend {
        unsend: WireUnsend,
    },
    Follow {
        // `follow.isUnblocked` came later than the follow event; without it, it is a follow.
        #[serde(default)]
        follow: WireFollow,
    },
    Unfollow,
    Join,
    Leave,
    MemberJoined {
        joined: WireMembers,
    },
    MemberLeft {
        left: WireMembers,
    },
    Postback {
        postback: WirePostback,
    },
    VideoPlayComplete {
        #[serde(rename = "videoPlayComplete")]
        video_play_complete: WireVideoPlayComplete,
    },
    Beacon {
        beacon: WireBeacon,
    },
    AccountLink {
        link: WireLink,
    },
    Membership {
        membership: WireMembership,
    },
    Module {
        module: WireTyped,
    },
    Activated {
        #[serde(default, rename = "chatControl")]
        chat_control: Option<WireChatControl>,
    },
    Deactivated,
    BotSuspended,
    BotResumed,
    Delivery {
        delivery: WireDelivery,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUnsend {
    message_id: String,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFollow {
    #[serde(default)]
    is_unblocked: bool,
}

#[derive(Deserialize)]
struct WireMembers {
    members: Vec<WireMember>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMember {
    #[serde(default)]
    user_id: Option<String>,
}

impl WireMembers {
    fn user_ids(self) -> Vec<String> {
        self.members.into_iter().filter_map(|m| m.user_id).collect()
    }
}

#[derive(Deserialize)]
struct WirePostback {
    data: String,
    #[serde(default)]
    params: Option<PostbackParams>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireVideoPlayComplete {
    tracking_id: String,
}

#[derive(Deserialize)]
struct WireBeacon {
    hwid: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    dm: Option<String>,
}

#[derive(Deserialize)]
struct WireLink {
    result: String,
    nonce: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMembership {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    membership_id: Option<i64>,
}

#[derive(Deserialize)]
struct WireTyped {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireChatControl {
    #[serde(default)]
    expire_at: Option<i64>,
}

#[derive(Deserialize)]
struct WireDelivery {
    data: String,
}

impl From<WireBody> for EventBody {
    fn from(w: WireBody) -> Self {
        match w {
            WireBody::Message { message } => Self::Message(message),
            WireBody::Unsend { unsend } => Self::Unsend {
                message_id: unsend.message_id,
            },
            WireBody::Follow { follow } => Self::Follow {
                is_unblocked: follow.is_unblocked,
            },
            WireBody::Unfollow => Self::Unfollow,
            WireBody::Join => Self::Join,
            WireBody::Leave => Self::Leave,
            WireBody::MemberJoined { joined } => Self::MemberJoined {
                user_ids: joined.user_ids(),
            },
            WireBody::MemberLeft { left } => Self::MemberLeft {
                user_ids: left.user_ids(),
            },
            WireBody::Postback { postback } => Self::Postback {
                data: postback.data,
                params: postback.params,
            },
            WireBody::VideoPlayComplete {
                video_play_complete,
            } => Self::VideoPlayComplete {
                tracking_id: video_play_complete.tracking_id,
            },
            WireBody::Beacon { beacon } => Self::Beacon {
                hwid: beacon.hwid,
                kind: beacon.kind,
                dm: beacon.dm,
            },
            WireBody::AccountLink { link } => Self::AccountLink {
                result: link.result,
                nonce: link.nonce,
            },
            WireBody::Membership { membership } => Self::Membership {
                kind: membership.kind,
                membership_id: membership.membership_id,
            },
            WireBody::Module { module } => Self::Module { kind: module.kind },
            WireBody::Activated { chat_control } => Self::Activated {
                expire_at: chat_control.and_then(|c| c.expire_at),
            },
            WireBody::Deactivated => Self::Deactivated,
            WireBody::BotSuspended => Self::BotSuspended,
            WireBody::BotResumed => Self::BotResumed,
            WireBody::Delivery { delivery } => Self::Delivery {
                data: delivery.data,
            },
            WireBody::Unknown => Self::Unknown { malformed: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/line/", $name, ".json"))
        };
    }

    const FRIEND: &str = "Ud5f4b2dadbef4a6832c6dd0450ab6211";
    const GROUP: &str = "Cf1d032002251ad696809570c16dd22d9";

    fn event(json: &str) -> WebhookEvent {
        let raw: Value = match serde_json::from_str(json) {
            Ok(v) => v,
            Err(e) => panic!("fixture is not JSON: {e}"),
        };
        match WebhookEvent::from_value(raw) {
            Ok(e) => e,
            Err(r) => panic!("fixture rejected: {}", r.reason),
        }
    }

    /// Every fixture is a well-formed event: its common fields are read and it is never Unknown
    /// because of a malformed body.
    fn ok(json: &str) -> WebhookEvent {
        let e = event(json);
        assert!(
            !matches!(e.body, EventBody::Unknown { malformed: Some(_) }),
            "{} malformed: {:?}",
            e.kind(),
            e.body
        );
        assert_eq!(e.common.webhook_event_id.len(), 26, "ULID");
        assert!(e.common.timestamp > 1_700_000_000_000);
        e
    }

    #[test]
    fn follow_is_a_friend_event_with_a_reply_token() {
        let e = ok(fixture!("follow"));
        assert_eq!(e.kind(), "follow");
        assert_eq!(
            e.body,
            EventBody::Follow {
                is_unblocked: false
            }
        );
        assert_eq!(e.common.mode, Mode::Active);
        assert!(!e.common.is_redelivery);
        assert!(e.common.reply_token.is_some());
        assert_eq!(e.friend_id(), Some(FRIEND));
        assert_eq!(e.raw["follow"]["isUnblocked"], Value::Bool(false));
    }

    #[test]
    fn follow_after_a_block_says_unblocked() {
        let e = ok(fixture!("follow-unblocked"));
        assert_eq!(e.body, EventBody::Follow { is_unblocked: true });
    }

    #[test]
    fn follow_without_its_detail_is_still_a_follow() {
        let mut raw: Value = serde_json::from_str(fixture!("follow")).unwrap_or_default();
        if let Some(o) = raw.as_object_mut() {
            o.remove("follow");
        }
        let e = WebhookEvent::from_value(raw).map_err(|r| r.reason);
        assert_eq!(
            e.map(|e| e.body),
            Ok(EventBody::Follow {
                is_unblocked: false
            })
        );
    }

    #[test]
    fn unfollow_has_no_reply_token() {
        let e = ok(fixture!("unfollow"));
        assert_eq!(e.body, EventBody::Unfollow);
        assert_eq!(e.common.reply_token, None);
        assert_eq!(e.friend_id(), Some(FRIEND));
    }

    #[test]
    fn text_message_keeps_text_and_quote_token() {
        let e = ok(fixture!("message-text"));
        match &e.body {
            EventBody::Message(MessageContent::Text {
                id,
                text,
                quote_token,
                quoted_message_id,
            }) => {
                assert_eq!(id, "719487013203743202");
                assert_eq!(text, "予約したいです $");
                assert!(quote_token.is_some());
                assert_eq!(quoted_message_id, &None);
            }
            other => panic!("not a text message: {other:?}"),
        }
    }

    #[test]
    fn media_messages_parse_to_their_variants() {
        for (json, kind) in [
            (fixture!("message-image"), "image"),
            (fixture!("message-video"), "video"),
            (fixture!("message-audio"), "audio"),
        ] {
            let e = ok(json);
            let EventBody::Message(m) = &e.body else {
                panic!("{kind}: not a message: {:?}", e.body)
            };
            assert_eq!(m.kind(), kind);
            assert!(matches!(
                m,
                MessageContent::Image { .. }
                    | MessageContent::Video { .. }
                    | MessageContent::Audio { .. }
            ));
            assert!(m.id().is_some_and(|id| !id.is_empty()));
        }
    }

    #[test]
    fn file_message_has_name_and_size() {
        let e = ok(fixture!("message-file"));
        assert!(matches!(
            &e.body,
            EventBody::Message(MessageContent::File { file_name, file_size: 2138, .. })
                if file_name == "menu-2025-12.pdf"
        ));
    }

    #[test]
    fn location_message_has_coordinates() {
        let e = ok(fixture!("message-location"));
        let EventBody::Message(MessageContent::Location {
            title,
            address,
            latitude,
            longitude,
            ..
        }) = &e.body
        else {
            panic!("not a location: {:?}", e.body)
        };
        assert_eq!(title.as_deref(), Some("my location"));
        assert!(address.is_some());
        assert!((latitude - 35.67966).abs() < 1e-9);
        assert!((longitude - 139.73669).abs() < 1e-9);
    }

    #[test]
    fn sticker_message_has_package_and_sticker() {
        let e = ok(fixture!("message-sticker"));
        assert!(matches!(
            &e.body,
            EventBody::Message(MessageContent::Sticker { package_id, sticker_id, sticker_resource_type, .. })
                if package_id == "11537" && sticker_id == "52002738"
                    && sticker_resource_type.as_deref() == Some("ANIMATION")
        ));
    }

    #[test]
    fn unsend_names_the_message() {
        let e = ok(fixture!("unsend"));
        assert!(matches!(&e.body, EventBody::Unsend { message_id } if !message_id.is_empty()));
    }

    #[test]
    fn group_events_never_name_a_friend() {
        let join = ok(fixture!("join"));
        assert_eq!(join.body, EventBody::Join);
        assert_eq!(join.friend_id(), None);
        assert!(matches!(
            &join.common.source,
            Some(Source::Group { group_id, user_id: None }) if group_id == GROUP
        ));

        let leave = ok(fixture!("leave"));
        assert_eq!(leave.body, EventBody::Leave);
        assert_eq!(leave.friend_id(), None);

        let said = ok(fixture!("message-group"));
        // The speaker's id is known, but a group member has not added the account.
        assert!(matches!(
            &said.common.source,
            Some(Source::Group { user_id: Some(u), .. }) if u == "Uc375eb788afcfdb9a2a4d82348c3956e"
        ));
        assert_eq!(said.friend_id(), None);
        assert!(matches!(
            &said.body,
            EventBody::Message(MessageContent::Text { .. })
        ));
    }

    #[test]
    fn member_joined_and_left_list_the_members() {
        let ids = vec![
            "Uc375eb788afcfdb9a2a4d82348c3956e".to_owned(),
            "U0c9dfbf7fcbfd47dfd9413459011f716".to_owned(),
        ];
        let joined = ok(fixture!("member-joined"));
        assert_eq!(
            joined.body,
            EventBody::MemberJoined {
                user_ids: ids.clone()
            }
        );
        assert_eq!(joined.friend_id(), None);
        let left = ok(fixture!("member-left"));
        assert_eq!(left.body, EventBody::MemberLeft { user_ids: ids });
    }

    #[test]
    fn postbacks_carry_data_and_params() {
        let plain = ok(fixture!("postback"));
        assert_eq!(
            plain.body,
            EventBody::Postback {
                data: "action=coupon&id=winter-10".into(),
                params: None
            }
        );

        let date = ok(fixture!("postback-date"));
        assert_eq!(
            date.body,
            EventBody::Postback {
                data: "action=reserve&menu=cut".into(),
                params: Some(PostbackParams {
                    date: Some("2025-12-06".into()),
                    ..PostbackParams::default()
                })
            }
        );

        let datetime = ok(fixture!("postback-datetime"));
        assert!(matches!(
            &datetime.body,
            EventBody::Postback { params: Some(PostbackParams { datetime: Some(d), .. }), .. }
                if d == "2025-12-06T14:30"
        ));

        let switch = ok(fixture!("postback-richmenu-switch"));
        assert_eq!(
            switch.body,
            EventBody::Postback {
                data: "richmenu-changed-to-b".into(),
                params: Some(PostbackParams {
                    new_rich_menu_alias_id: Some("richmenu-alias-b".into()),
                    status: Some("SUCCESS".into()),
                    ..PostbackParams::default()
                })
            }
        );
    }

    #[test]
    fn video_beacon_link_and_membership_events() {
        assert_eq!(
            ok(fixture!("video-play-complete")).body,
            EventBody::VideoPlayComplete {
                tracking_id: "salon-intro-2025".into()
            }
        );
        assert_eq!(
            ok(fixture!("beacon")).body,
            EventBody::Beacon {
                hwid: "d41d8cd98f".into(),
                kind: "enter".into(),
                dm: Some("1234567890abcdef".into())
            }
        );
        assert_eq!(
            ok(fixture!("account-link")).body,
            EventBody::AccountLink {
                result: "ok".into(),
                nonce: "xxxxxxxxxxxxxxx".into()
            }
        );
        assert_eq!(
            ok(fixture!("membership")).body,
            EventBody::Membership {
                kind: "joined".into(),
                membership_id: Some(3189)
            }
        );
    }

    #[test]
    fn module_channel_events() {
        assert_eq!(
            ok(fixture!("activated")).body,
            EventBody::Activated {
                expire_at: Some(1_764_129_600_000)
            }
        );
        let deactivated = ok(fixture!("deactivated"));
        assert_eq!(deactivated.body, EventBody::Deactivated);
        assert_eq!(deactivated.common.mode, Mode::Standby);
        for (json, body) in [
            (fixture!("bot-suspended"), EventBody::BotSuspended),
            (fixture!("bot-resumed"), EventBody::BotResumed),
        ] {
            let e = ok(json);
            assert_eq!(e.body, body);
            assert_eq!(e.common.source, None);
            assert_eq!(e.friend_id(), None);
        }
        assert_eq!(
            ok(fixture!("module-attached")).body,
            EventBody::Module {
                kind: "attached".into()
            }
        );
        assert!(matches!(
            ok(fixture!("delivery")).body,
            EventBody::Delivery { .. }
        ));
    }

    #[test]
    fn standby_message_is_kept_without_a_reply_token() {
        let e = ok(fixture!("message-standby"));
        assert_eq!(e.common.mode, Mode::Standby);
        assert_eq!(e.common.reply_token, None);
        assert_eq!(e.friend_id(), Some(FRIEND));
        assert!(matches!(
            e.body,
            EventBody::Message(MessageContent::Text { .. })
        ));
    }

    #[test]
    fn a_future_event_type_is_kept_raw() {
        let e = ok(fixture!("something-new"));
        assert_eq!(e.kind(), "somethingNew");
        assert_eq!(e.body, EventBody::Unknown { malformed: None });
        assert_eq!(e.raw["somethingNew"]["detail"]["level"], 3);
        assert_eq!(e.friend_id(), Some(FRIEND));
    }

    #[test]
    fn a_future_message_type_is_other_with_its_type() -> Result<(), serde_json::Error> {
        let m: MessageContent = serde_json::from_str(r#"{"type":"hologram","id":"1","depth":3}"#)?;
        assert_eq!(
            m,
            MessageContent::Other {
                kind: "hologram".into()
            }
        );
        assert_eq!(m.kind(), "hologram");
        assert_eq!(m.id(), None);
        Ok(())
    }

    #[test]
    fn unknown_mode_and_source_do_not_lose_the_event() {
        let json = r#"{"type":"follow","mode":"observer","timestamp":1764126001739,
            "source":{"type":"space","spaceId":"S1"},"webhookEventId":"01KAZ1N2JB3C9B2JN8J99MR9PT",
            "deliveryContext":{"isRedelivery":true},"follow":{"isUnblocked":false}}"#;
        let e = event(json);
        assert_eq!(e.common.mode, Mode::Other("observer".into()));
        assert_eq!(e.common.mode.as_str(), "observer");
        assert_eq!(e.common.source, Some(Source::Other));
        assert!(e.common.is_redelivery);
        assert_eq!(e.friend_id(), None);
    }

    #[test]
    fn debug_output_hides_text_and_ids() {
        let e = ok(fixture!("message-text"));
        let printed = format!("{e:?} {:?}", e.body);
        assert!(!printed.contains("予約"), "{printed}");
        assert!(!printed.contains(FRIEND), "{printed}");
        assert!(printed.contains("01KAZ1N7NCVKHQ88DA8DCME2D9"));
    }

    fn batch(events: &[&str]) -> String {
        format!(
            r#"{{"destination":"U0123456789abcdef0123456789abcdef","events":[{}]}}"#,
            events.join(",")
        )
    }

    #[test]
    fn one_bad_event_does_not_spoil_the_batch() -> Result<(), PayloadError> {
        // A known type with its own part malformed: `beacon` without `hwid`.
        let malformed_beacon = r#"{"type":"beacon","mode":"active","timestamp":1764126040000,
            "source":{"type":"user","userId":"Ud5f4b2dadbef4a6832c6dd0450ab6211"},
            "webhookEventId":"01KAZ1PD0Y3BDPCP6VXC5EN999","deliveryContext":{"isRedelivery":false},
            "replyToken":"abc","beacon":{"type":"enter"}}"#;
        // A message whose text is not a string.
        let malformed_text = r#"{"type":"message","mode":"active","timestamp":1764126040001,
            "source":{"type":"user","userId":"Ud5f4b2dadbef4a6832c6dd0450ab6211"},
            "webhookEventId":"01KAZ1PD0Y3BDPCP6VXC5EN998","deliveryContext":{"isRedelivery":false},
            "message":{"type":"text","id":"1","text":42}}"#;
        // Not an event at all: no webhookEventId, so it can be neither ordered nor deduplicated.
        let no_id = r#"{"type":"follow","mode":"active","timestamp":1764126040002}"#;
        let body = batch(&[
            fixture!("follow"),
            malformed_beacon,
            fixture!("something-new"),
            malformed_text,
            no_id,
            "42",
            fixture!("message-text"),
        ]);
        let p = parse_payload(body.as_bytes())?;
        assert_eq!(
            p.destination.as_deref(),
            Some("U0123456789abcdef0123456789abcdef")
        );
        let kinds: Vec<&str> = p.events.iter().map(WebhookEvent::kind).collect();
        assert_eq!(
            kinds,
            ["follow", "beacon", "somethingNew", "message", "message"]
        );
        assert_eq!(
            p.events[0].body,
            EventBody::Follow {
                is_unblocked: false
            }
        );
        assert!(
            matches!(&p.events[1].body, EventBody::Unknown { malformed: Some(r) } if r.contains("hwid")),
            "{:?}",
            p.events[1].body
        );
        assert_eq!(
            p.events[1].common.webhook_event_id,
            "01KAZ1PD0Y3BDPCP6VXC5EN999"
        );
        assert_eq!(p.events[1].common.reply_token.as_deref(), Some("abc"));
        assert_eq!(p.events[2].body, EventBody::Unknown { malformed: None });
        assert!(matches!(
            &p.events[3].body,
            EventBody::Unknown { malformed: Some(_) }
        ));
        assert!(matches!(
            &p.events[4].body,
            EventBody::Message(MessageContent::Text { .. })
        ));
        assert_eq!(p.rejected.len(), 2);
        assert!(
            p.rejected[0].reason.contains("webhookEventId"),
            "{:?}",
            p.rejected[0]
        );
        assert_eq!(p.rejected[1].raw, Value::from(42));
        Ok(())
    }

    #[test]
    fn the_sam_webhook_fixture_is_a_follow_signed_with_the_demo_secret() {
        let event: Value =
            serde_json::from_str(include_str!("../../../../infra/events/webhook-follow.json"))
                .unwrap();
        let body = event["body"].as_str().unwrap();
        let header = event["headers"]["x-line-signature"].as_str();
        let demo = crate::secret::Secret::new("demo-channel-secret-change-me");
        assert_eq!(
            crate::line::signature::verify(&demo, body.as_bytes(), header),
            Ok(())
        );
        let p = parse_payload(body.as_bytes()).unwrap();
        assert_eq!(p.events.len(), 1);
        assert_eq!(
            p.events[0].body,
            EventBody::Follow {
                is_unblocked: false
            }
        );
        assert_eq!(p.events[0].friend_id(), Some(FRIEND));
    }

    #[test]
    fn verify_request_has_no_events() -> Result<(), PayloadError> {
        let p =
            parse_payload(br#"{"destination":"U0123456789abcdef0123456789abcdef","events":[]}"#)?;
        assert!(p.events.is_empty() && p.rejected.is_empty());
        Ok(())
    }

    #[test]
    fn a_body_that_is_not_json_is_refused_with_line_and_column() {
        let err = parse_payload(b"{\n  \"events\": [ oops ]\n}").err();
        let Some(err) = err else {
            panic!("non-JSON accepted")
        };
        assert_eq!((err.line(), err.column()), (2, 15));
        let text = err.to_string();
        assert!(text.contains("line 2 column 15"), "{text}");
    }

    #[test]
    fn a_body_without_an_events_array_is_refused() {
        for body in [
            &br#"{"destination":"U0123456789abcdef0123456789abcdef"}"#[..],
            br#"{"events":{}}"#,
            br#"[]"#,
            b"",
        ] {
            let err = parse_payload(body).err();
            assert!(
                err.is_some(),
                "{:?} accepted",
                String::from_utf8_lossy(body)
            );
            assert!(err.is_some_and(|e| e.to_string().contains("line ")));
        }
    }
}
