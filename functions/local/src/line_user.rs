//! Acting as a LINE user: webhook events shaped as LINE sends them, signed with the channel
//! secret. Used by `tsunagu-local send …` and by the end-to-end tests.
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// A fresh `webhookEventId` (LINE uses 26-character ULIDs; uniqueness is all that matters here).
pub fn new_event_id() -> String {
    let id = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .to_ascii_uppercase();
    format!("01{}", &id[..24])
}

fn event(kind: &str, user_id: &str, at_ms: i64, extra: Value) -> Value {
    let mut e = json!({
        "type": kind,
        "mode": "active",
        "timestamp": at_ms,
        "source": { "type": "user", "userId": user_id },
        "webhookEventId": new_event_id(),
        "deliveryContext": { "isRedelivery": false },
    });
    if let (Some(obj), Value::Object(extra)) = (e.as_object_mut(), extra) {
        obj.extend(extra);
    }
    e
}

fn reply_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub fn follow(user_id: &str, at_ms: i64, is_unblocked: bool) -> Value {
    event(
        "follow",
        user_id,
        at_ms,
        json!({
            "replyToken": reply_token(),
            "follow": { "isUnblocked": is_unblocked },
        }),
    )
}

pub fn unfollow(user_id: &str, at_ms: i64) -> Value {
    event("unfollow", user_id, at_ms, json!({}))
}

pub fn text_message(user_id: &str, at_ms: i64, text: &str) -> Value {
    event(
        "message",
        user_id,
        at_ms,
        json!({
            "replyToken": reply_token(),
            "message": {
                "type": "text",
                "id": format!("{}", at_ms),
                "quoteToken": reply_token(),
                "text": text,
            },
        }),
    )
}

pub fn postback(user_id: &str, at_ms: i64, data: &str) -> Value {
    event(
        "postback",
        user_id,
        at_ms,
        json!({
            "replyToken": reply_token(),
            "postback": { "data": data },
        }),
    )
}

/// The body LINE posts: the bot's user id and the events.
pub fn batch(events: Vec<Value>) -> Vec<u8> {
    json!({ "destination": "Uf0000000000000000000000000000000", "events": events })
        .to_string()
        .into_bytes()
}

/// `X-Line-Signature`: base64(HMAC-SHA256(channel secret, raw body)).
pub fn signature(channel_secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(channel_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}
