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

/// The user takes back message `message_id` (LINE allows it for 24 hours).
pub fn unsend(user_id: &str, at_ms: i64, message_id: &str) -> Value {
    event(
        "unsend",
        user_id,
        at_ms,
        json!({ "unsend": { "messageId": message_id } }),
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

/// What a datetime picker action chose, as LINE puts it in `postback.params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Picked {
    /// `mode: date`: `2026-04-10`.
    Date(String),
    /// `mode: time`: `10:00`.
    Time(String),
    /// `mode: datetime`: `2026-04-10T10:00`.
    Datetime(String),
}

/// A postback from a datetime picker: the action's `data` and the chosen value in `params`.
pub fn picked(user_id: &str, at_ms: i64, data: &str, picked: &Picked) -> Value {
    let params = match picked {
        Picked::Date(d) => json!({ "date": d }),
        Picked::Time(t) => json!({ "time": t }),
        Picked::Datetime(dt) => json!({ "datetime": dt }),
    };
    event(
        "postback",
        user_id,
        at_ms,
        json!({
            "replyToken": reply_token(),
            "postback": { "data": data, "params": params },
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

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "U0123456789abcdef0123456789abcdef";

    #[test]
    fn a_refollow_says_it_was_unblocked() {
        let e = follow(U, 1, true);
        assert_eq!(e["follow"], json!({ "isUnblocked": true }));
    }

    #[test]
    fn a_date_picker_postback_carries_the_chosen_value_in_params() {
        let e = picked(U, 1, "q=birthday", &Picked::Date("1990-04-10".into()));
        assert_eq!(
            e["postback"],
            json!({ "data": "q=birthday", "params": { "date": "1990-04-10" } })
        );
        let e = picked(
            U,
            1,
            "a=visit",
            &Picked::Datetime("2026-12-04T10:00".into()),
        );
        assert_eq!(
            e["postback"]["params"],
            json!({ "datetime": "2026-12-04T10:00" })
        );
    }
}
