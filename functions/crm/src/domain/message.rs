//! LINE message objects as the marketer wrote them, checked against what LINE would refuse,
//! and personalised per friend just before sending.
//!
//! Messages stay `serde_json::Value`: LINE adds message types and fields faster than we could
//! model them, and a step must pass through whatever the marketer pasted from LINE's own tools.
//! We check only what would make LINE answer 400 (and so lose the whole push of up to 5 messages).
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Friend, purchase::Purchase};

/// A push carries at most 5 message objects.
pub const MAX_MESSAGES: usize = 5;
/// LINE's limit for a text message, counted in characters.
pub const MAX_TEXT_CHARS: usize = 5_000;
/// LINE's limit for the notification / chat-list text of template, flex and imagemap messages.
pub const MAX_ALT_TEXT_CHARS: usize = 400;
pub const MAX_QUICK_REPLY_ITEMS: usize = 13;
/// LINE's limit for postback data; longer data is refused, not truncated.
pub const MAX_POSTBACK_DATA_CHARS: usize = 300;
/// LINE refuses longer URLs in message objects.
const MAX_URL_CHARS: usize = 2_000;

const MESSAGE_TYPES: [&str; 9] = [
    "text", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex",
];

pub use super::field_error::FieldError;

type Check = Result<(), FieldError>;

/// Checks the messages of one send; `field` is the caller's path to the list (`steps[0].messages`).
pub fn validate_messages(messages: &[Value], field: &str) -> Check {
    if messages.is_empty() {
        return Err(FieldError::new(field, "at least one message is needed"));
    }
    if messages.len() > MAX_MESSAGES {
        return Err(FieldError::new(
            field,
            format!(
                "at most {MAX_MESSAGES} messages can go in one send (LINE refuses more), got {}",
                messages.len()
            ),
        ));
    }
    for (i, m) in messages.iter().enumerate() {
        validate_message(m, &format!("{field}[{i}]"))?;
    }
    Ok(())
}

fn validate_message(m: &Value, path: &str) -> Check {
    let Some(obj) = m.as_object() else {
        return Err(FieldError::new(path, "a message must be an object"));
    };
    let kind = required_str(obj, path, "type")?;
    known_keys(obj, kind, path)?;
    match kind {
        "text" => {
            let text = required_str(obj, path, "text")?;
            max_chars(text, MAX_TEXT_CHARS, &format!("{path}.text"))?;
        }
        "sticker" => {
            required_str(obj, path, "packageId")?;
            required_str(obj, path, "stickerId")?;
        }
        "image" | "video" => {
            https_url(obj, path, "originalContentUrl")?;
            https_url(obj, path, "previewImageUrl")?;
        }
        "audio" => {
            https_url(obj, path, "originalContentUrl")?;
            // LINE needs the length (ms) to draw the player before downloading the file.
            if !obj.get("duration").is_some_and(Value::is_u64) {
                return Err(FieldError::new(
                    format!("{path}.duration"),
                    "duration in milliseconds is required",
                ));
            }
        }
        "location" => {
            required_str(obj, path, "title")?;
            required_str(obj, path, "address")?;
            for key in ["latitude", "longitude"] {
                if !obj.get(key).is_some_and(Value::is_number) {
                    return Err(FieldError::new(
                        format!("{path}.{key}"),
                        "a number is required",
                    ));
                }
            }
        }
        "imagemap" => {
            https_url(obj, path, "baseUrl")?;
            alt_text(obj, path)?;
        }
        "template" => {
            alt_text(obj, path)?;
            let template = obj
                .get("template")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    FieldError::new(format!("{path}.template"), "a template object is required")
                })?;
            validate_template(template, &format!("{path}.template"))?;
        }
        "flex" => {
            alt_text(obj, path)?;
            let contents = obj
                .get("contents")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    FieldError::new(
                        format!("{path}.contents"),
                        "a flex container object (bubble or carousel) is required",
                    )
                })?;
            required_str(contents, &format!("{path}.contents"), "type")?;
        }
        other => {
            return Err(FieldError::new(
                format!("{path}.type"),
                format!(
                    "unknown message type `{other}`; LINE accepts {}",
                    MESSAGE_TYPES.join(", ")
                ),
            ));
        }
    }
    if let Some(qr) = obj.get("quickReply") {
        validate_quick_reply(qr, &format!("{path}.quickReply"))?;
    }
    // Actions sit in template buttons, carousel columns, quick replies and anywhere in a flex
    // tree; one walk finds them all.
    validate_actions(m, path, kind == "imagemap")
}

/// The keys LINE's Messaging API defines for each message type, besides `type`, `quickReply`
/// and `sender`. Any other key is a typo LINE would answer with a 400 at send time, when the
/// marketer is no longer looking: refused at save instead, naming the key.
fn keys_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "text" => &["text", "emojis", "quoteToken"],
        "sticker" => &["packageId", "stickerId", "quoteToken"],
        "image" => &["originalContentUrl", "previewImageUrl"],
        "video" => &["originalContentUrl", "previewImageUrl", "trackingId"],
        "audio" => &["originalContentUrl", "duration"],
        "location" => &["title", "address", "latitude", "longitude"],
        "imagemap" => &["baseUrl", "altText", "baseSize", "actions", "video"],
        "template" => &["altText", "template"],
        "flex" => &["altText", "contents"],
        _ => &[],
    }
}

fn known_keys(obj: &Map<String, Value>, kind: &str, path: &str) -> Check {
    let own = keys_of(kind);
    if own.is_empty() {
        // An unknown type is refused by its own check, with the list of types.
        return Ok(());
    }
    match obj.keys().find(|k| {
        !["type", "quickReply", "sender"].contains(&k.as_str()) && !own.contains(&k.as_str())
    }) {
        Some(key) => Err(FieldError::new(
            format!("{path}.{key}"),
            format!(
                "a {kind} message has no key `{key}`; LINE takes type, {}, quickReply, sender",
                own.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

fn validate_template(t: &Map<String, Value>, path: &str) -> Check {
    let kind = required_str(t, path, "type")?;
    match kind {
        "buttons" => {
            required_str(t, path, "text")?;
            count(t, path, "actions", 1, 4)?;
        }
        "confirm" => {
            required_str(t, path, "text")?;
            count(t, path, "actions", 2, 2)?;
        }
        "carousel" => {
            let columns = count(t, path, "columns", 1, 10)?;
            let mut per_column = None;
            for (i, c) in columns.iter().enumerate() {
                let cpath = format!("{path}.columns[{i}]");
                let col = c
                    .as_object()
                    .ok_or_else(|| FieldError::new(&cpath, "a column must be an object"))?;
                required_str(col, &cpath, "text")?;
                let n = count(col, &cpath, "actions", 1, 3)?.len();
                // LINE lays the columns out side by side and refuses differing button counts.
                if per_column.is_some_and(|first| first != n) {
                    return Err(FieldError::new(
                        format!("{cpath}.actions"),
                        "every carousel column needs the same number of actions",
                    ));
                }
                per_column = Some(n);
            }
        }
        "image_carousel" => {
            let columns = count(t, path, "columns", 1, 10)?;
            for (i, c) in columns.iter().enumerate() {
                let cpath = format!("{path}.columns[{i}]");
                let col = c
                    .as_object()
                    .ok_or_else(|| FieldError::new(&cpath, "a column must be an object"))?;
                https_url(col, &cpath, "imageUrl")?;
                if !col.get("action").is_some_and(Value::is_object) {
                    return Err(FieldError::new(
                        format!("{cpath}.action"),
                        "an action is required",
                    ));
                }
            }
        }
        other => {
            return Err(FieldError::new(
                format!("{path}.type"),
                format!(
                    "unknown template type `{other}`; LINE accepts buttons, confirm, carousel, image_carousel"
                ),
            ));
        }
    }
    Ok(())
}

fn validate_quick_reply(qr: &Value, path: &str) -> Check {
    let obj = qr
        .as_object()
        .ok_or_else(|| FieldError::new(path, "quickReply must be an object"))?;
    let items = count(obj, path, "items", 1, MAX_QUICK_REPLY_ITEMS)?;
    for (i, item) in items.iter().enumerate() {
        if !item.get("action").is_some_and(Value::is_object) {
            return Err(FieldError::new(
                format!("{path}.items[{i}].action"),
                "each quick reply button needs an action",
            ));
        }
    }
    Ok(())
}

/// Walks the whole message: only actions carry `"type": "postback"` or `"type": "uri"`.
fn validate_actions(v: &Value, path: &str, in_imagemap: bool) -> Check {
    match v {
        Value::Object(obj) => {
            match obj.get("type").and_then(Value::as_str) {
                Some("postback") => {
                    let data = obj.get("data").and_then(Value::as_str).ok_or_else(|| {
                        FieldError::new(format!("{path}.data"), "a postback action needs data")
                    })?;
                    max_chars(data, MAX_POSTBACK_DATA_CHARS, &format!("{path}.data"))?;
                }
                // Imagemap areas name their link `linkUri`; every other uri action names it `uri`.
                Some("uri") => {
                    let key = if in_imagemap { "linkUri" } else { "uri" };
                    let present = obj
                        .get(key)
                        .and_then(Value::as_str)
                        .is_some_and(|u| !u.trim().is_empty());
                    if !present {
                        return Err(FieldError::new(
                            format!("{path}.{key}"),
                            "a uri action needs a uri",
                        ));
                    }
                }
                _ => {}
            }
            for (k, child) in obj {
                validate_actions(child, &format!("{path}.{k}"), in_imagemap)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                validate_actions(child, &format!("{path}[{i}]"), in_imagemap)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'a str, FieldError> {
    match obj.get(key).and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(FieldError::new(
            format!("{path}.{key}"),
            "a non-empty string is required",
        )),
    }
}

fn alt_text(obj: &Map<String, Value>, path: &str) -> Check {
    // altText is what the chat list and push notification show instead of the rich message.
    let alt = required_str(obj, path, "altText")?;
    max_chars(alt, MAX_ALT_TEXT_CHARS, &format!("{path}.altText"))
}

fn https_url(obj: &Map<String, Value>, path: &str, key: &str) -> Check {
    let url = required_str(obj, path, key)?;
    let field = format!("{path}.{key}");
    // LINE fetches media itself and only over HTTPS.
    if !url.starts_with("https://") {
        return Err(FieldError::new(field, "must be an https:// URL"));
    }
    max_chars(url, MAX_URL_CHARS, &field)
}

fn max_chars(s: &str, max: usize, field: &str) -> Check {
    let n = s.chars().count();
    if n > max {
        return Err(FieldError::new(
            field,
            format!("at most {max} characters (LINE refuses longer), got {n}"),
        ));
    }
    Ok(())
}

/// The array at `key`, with `min..=max` elements.
fn count<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    key: &str,
    min: usize,
    max: usize,
) -> Result<&'a Vec<Value>, FieldError> {
    let field = format!("{path}.{key}");
    let items = obj
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| FieldError::new(&field, "a list is required"))?;
    if items.len() < min || items.len() > max {
        let expected = if min == max {
            format!("exactly {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(FieldError::new(
            field,
            format!("LINE allows {expected} here, got {}", items.len()),
        ));
    }
    Ok(items)
}

/// Values a message may mention: `{{name}}`, `{{field.<name>}}` and any extra variable
/// (a coupon code, a reservation date) the sender adds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderContext {
    vars: BTreeMap<String, String>,
}

impl RenderContext {
    /// `name` is the LINE display name; every custom field is `field.<name>`.
    pub fn for_friend(friend: &Friend) -> Self {
        let mut vars = BTreeMap::new();
        if let Some(name) = &friend.profile.display_name {
            vars.insert("name".to_owned(), name.clone());
        }
        for (k, v) in &friend.fields {
            vars.insert(format!("field.{k}"), v.clone());
        }
        Self { vars }
    }

    /// Adds (or overrides) one variable, e.g. `with_var("coupon", "WELCOME10")` for `{{coupon}}`.
    pub fn with_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// `{{lastPurchase.product}}` (the products of the newest order, joined with 「、」) and
    /// `{{lastPurchase.date}}` (its day in the shop's zone, `YYYY-MM-DD`). The newest by purchase
    /// time, not by arrival: an imported CSV of old orders does not displace a recent one.
    /// No purchase leaves both missing, so `{{lastPurchase.product|商品}}` falls back.
    pub fn with_last_purchase<'a>(
        self,
        purchases: impl IntoIterator<Item = &'a Purchase>,
        zone: &jiff::tz::TimeZone,
    ) -> Self {
        let Some(last) = purchases.into_iter().max_by_key(|p| p.purchased_at) else {
            return self;
        };
        let day = last.purchased_at.to_zoned(zone.clone()).date().to_string();
        self.with_var(LAST_PURCHASE_PRODUCT, last.products().join("、"))
            .with_var(LAST_PURCHASE_DATE, day)
    }

    /// An empty value counts as missing, so `{{name|お客様}}` also covers a blank display name.
    fn lookup(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

pub const LAST_PURCHASE_PRODUCT: &str = "lastPurchase.product";
pub const LAST_PURCHASE_DATE: &str = "lastPurchase.date";

/// Whether any message mentions `{{lastPurchase…}}`: the sender reads the friend's purchase
/// history only then, so the ordinary step costs no extra read.
pub fn mentions_last_purchase(messages: &[Value]) -> bool {
    messages
        .iter()
        .any(|m| m.to_string().contains("lastPurchase."))
}

/// Fills placeholders in every human-readable string of the messages.
///
/// `{{name}}`, `{{field.birthday}}`, `{{coupon}}`; `{{name|お客様}}` falls back when the value is
/// missing or empty; a missing value without fallback becomes "". Keys LINE treats as machine
/// data are left alone: `type`, postback `data`, `uri`/`linkUri` and every `…Url`/`url` (a raw
/// display name in a URL would break it). Substituted values are not scanned again, so a friend
/// whose display name contains `{{…}}` cannot pull in another friend's field.
///
/// A long field can push a text over LINE's limits after validation passed; text is then cut
/// to 5,000 characters and altText to 400 (at a character boundary), because a slightly
/// shortened message beats a push LINE refuses outright.
pub fn render(messages: &[Value], ctx: &RenderContext) -> Vec<Value> {
    messages
        .iter()
        .map(|m| {
            let mut m = render_value(m, ctx);
            if let Some(obj) = m.as_object_mut() {
                let is_text = obj.get("type").and_then(Value::as_str) == Some("text");
                if is_text {
                    truncate_in(obj, "text", MAX_TEXT_CHARS);
                }
                truncate_in(obj, "altText", MAX_ALT_TEXT_CHARS);
            }
            m
        })
        .collect()
}

fn render_value(v: &Value, ctx: &RenderContext) -> Value {
    match v {
        Value::String(s) => Value::String(fill(s, ctx)),
        Value::Array(items) => Value::Array(items.iter().map(|i| render_value(i, ctx)).collect()),
        Value::Object(obj) => Value::Object(
            obj.iter()
                .map(|(k, child)| {
                    let child = if is_machine_key(k) {
                        child.clone()
                    } else {
                        render_value(child, ctx)
                    };
                    (k.clone(), child)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_machine_key(key: &str) -> bool {
    matches!(key, "type" | "data" | "uri" | "linkUri" | "altUri" | "url") || key.ends_with("Url")
}

fn truncate_in(obj: &mut Map<String, Value>, key: &str, max: usize) {
    if let Some(Value::String(s)) = obj.get_mut(key) {
        truncate_chars(s, max);
    }
}

/// Cuts `s` to at most `max` characters without splitting a multi-byte character.
fn truncate_chars(s: &mut String, max: usize) {
    if let Some((byte, _)) = s.char_indices().nth(max) {
        s.truncate(byte);
    }
}

/// Replaces every `{{key}}` / `{{key|fallback}}` in `s`; an unclosed `{{` is kept literally.
fn fill(s: &str, ctx: &RenderContext) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            break;
        };
        out.push_str(&rest[..open]);
        let inner = &after[..close];
        let (key, fallback) = match inner.split_once('|') {
            Some((k, f)) => (k.trim(), Some(f)),
            None => (inner.trim(), None),
        };
        let value = ctx.lookup(key).or(fallback).unwrap_or("");
        out.push_str(value);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LineUserId, TenantId};
    use serde_json::json;

    fn err(messages: Value) -> FieldError {
        let list = messages.as_array().unwrap().clone();
        validate_messages(&list, "steps[0].messages").unwrap_err()
    }

    fn ok(messages: Value) {
        let list = messages.as_array().unwrap().clone();
        validate_messages(&list, "steps[0].messages").unwrap();
    }

    fn text(s: &str) -> Value {
        json!({"type": "text", "text": s})
    }

    fn friend(name: Option<&str>) -> Friend {
        let mut f = Friend::new(
            TenantId::parse("demo").unwrap(),
            LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            "2026-04-01T00:00:00Z".parse().unwrap(),
        );
        f.profile.display_name = name.map(str::to_owned);
        f
    }

    #[test]
    fn every_line_message_type_passes_when_well_formed() {
        ok(json!([
            text("こんにちは"),
            {"type": "sticker", "packageId": "446", "stickerId": "1988"},
            {"type": "image", "originalContentUrl": "https://example.com/a.jpg",
             "previewImageUrl": "https://example.com/a_s.jpg"},
            {"type": "audio", "originalContentUrl": "https://example.com/a.m4a", "duration": 60000},
            {"type": "location", "title": "渋谷店", "address": "東京都渋谷区",
             "latitude": 35.65, "longitude": 139.70},
        ]));
        ok(json!([
            {"type": "template", "altText": "ご予約の確認",
             "template": {"type": "confirm", "text": "予約しますか?", "actions": [
                {"type": "postback", "label": "はい", "data": "action=yes"},
                {"type": "message", "label": "いいえ", "text": "いいえ"}]}},
            {"type": "flex", "altText": "クーポン", "contents": {"type": "bubble", "body": {
                "type": "box", "layout": "vertical", "contents": [
                    {"type": "button", "action": {"type": "uri", "label": "開く",
                     "uri": "https://example.com"}}]}}},
            {"type": "imagemap", "baseUrl": "https://example.com/map", "altText": "メニュー",
             "baseSize": {"width": 1040, "height": 1040}, "actions": [
                {"type": "uri", "linkUri": "https://example.com",
                 "area": {"x": 0, "y": 0, "width": 1040, "height": 1040}}]},
        ]));
    }

    #[test]
    fn six_messages_are_refused_at_the_list() {
        let e = err(json!([
            text("1"),
            text("2"),
            text("3"),
            text("4"),
            text("5"),
            text("6")
        ]));
        assert_eq!(e.field, "steps[0].messages");
    }

    #[test]
    fn a_misspelt_key_in_a_message_is_refused_naming_it() {
        let e = err(json!([{"type": "text", "txt": "こんにちは", "text": "x"}]));
        assert_eq!(e.field, "steps[0].messages[0].txt");
        assert!(e.message.contains("text"), "{e}");
        let ok = json!([{"type": "text", "text": "x", "sender": {"name": "店長"}}]);
        assert!(validate_messages(ok.as_array().unwrap(), "m").is_ok());
    }

    #[test]
    fn no_messages_are_refused_at_the_list() {
        assert_eq!(err(json!([])).field, "steps[0].messages");
    }

    #[test]
    fn a_text_of_5001_characters_is_refused_but_5000_japanese_characters_pass() {
        ok(json!([text(&"あ".repeat(5000))]));
        let e = err(json!([text(&"あ".repeat(5001))]));
        assert_eq!(e.field, "steps[0].messages[0].text");
        assert_eq!(
            e.to_string(),
            "steps[0].messages[0].text: at most 5000 characters (LINE refuses longer), got 5001"
        );
    }

    #[test]
    fn an_unknown_message_type_names_the_type_field() {
        assert_eq!(
            err(json!([text("a"), {"type": "txt", "text": "a"}])).field,
            "steps[0].messages[1].type"
        );
    }

    #[test]
    fn a_sticker_needs_both_ids() {
        assert_eq!(
            err(json!([{"type": "sticker", "packageId": "446"}])).field,
            "steps[0].messages[0].stickerId"
        );
    }

    #[test]
    fn images_must_be_served_over_https() {
        let e = err(
            json!([{"type": "image", "originalContentUrl": "http://example.com/a.jpg",
                            "previewImageUrl": "https://example.com/b.jpg"}]),
        );
        assert_eq!(e.field, "steps[0].messages[0].originalContentUrl");
    }

    #[test]
    fn fourteen_quick_replies_are_refused() {
        let item = json!({"type": "action", "action": {"type": "message", "label": "はい", "text": "はい"}});
        let mut m = text("どれにしますか?");
        m["quickReply"] = json!({"items": vec![item; 14]});
        assert_eq!(
            err(json!([m])).field,
            "steps[0].messages[0].quickReply.items"
        );
    }

    #[test]
    fn postback_data_over_300_characters_is_refused_wherever_it_sits() {
        let long = "x".repeat(301);
        let mut m = text("どれにしますか?");
        m["quickReply"] = json!({"items": [
            {"type": "action", "action": {"type": "postback", "label": "A", "data": "ok"}},
            {"type": "action", "action": {"type": "postback", "label": "B", "data": long}}]});
        assert_eq!(
            err(json!([m])).field,
            "steps[0].messages[0].quickReply.items[1].action.data"
        );

        let flex = json!({"type": "flex", "altText": "a", "contents": {"type": "bubble", "footer": {
            "type": "box", "layout": "vertical", "contents": [
                {"type": "button", "action": {"type": "postback", "label": "A", "data": long}}]}}});
        assert_eq!(
            err(json!([flex])).field,
            "steps[0].messages[0].contents.footer.contents[0].action.data"
        );
    }

    #[test]
    fn buttons_allow_four_actions_and_confirm_exactly_two() {
        let action = json!({"type": "message", "label": "a", "text": "a"});
        let buttons = json!({"type": "template", "altText": "a", "template": {
            "type": "buttons", "text": "a", "actions": vec![action.clone(); 5]}});
        assert_eq!(
            err(json!([buttons])).field,
            "steps[0].messages[0].template.actions"
        );
        let confirm = json!({"type": "template", "altText": "a", "template": {
            "type": "confirm", "text": "a", "actions": [action]}});
        assert_eq!(
            err(json!([confirm])).field,
            "steps[0].messages[0].template.actions"
        );
    }

    #[test]
    fn a_carousel_allows_ten_columns() {
        let column =
            json!({"text": "a", "actions": [{"type": "message", "label": "a", "text": "a"}]});
        let carousel = json!({"type": "template", "altText": "a", "template": {
            "type": "carousel", "columns": vec![column; 11]}});
        assert_eq!(
            err(json!([carousel])).field,
            "steps[0].messages[0].template.columns"
        );
    }

    #[test]
    fn a_uri_action_without_uri_is_refused() {
        let buttons = json!({"type": "template", "altText": "a", "template": {
            "type": "buttons", "text": "a", "actions": [{"type": "uri", "label": "開く"}]}});
        assert_eq!(
            err(json!([buttons])).field,
            "steps[0].messages[0].template.actions[0].uri"
        );
    }

    #[test]
    fn alt_text_over_400_characters_is_refused() {
        let flex =
            json!({"type": "flex", "altText": "あ".repeat(401), "contents": {"type": "bubble"}});
        assert_eq!(err(json!([flex])).field, "steps[0].messages[0].altText");
    }

    #[test]
    fn last_purchase_placeholders_name_the_newest_order_in_the_shops_zone() {
        use crate::domain::purchase::{OrderId, PurchaseItem};
        let order = |id: &str, at: &str, products: &[&str]| Purchase {
            order_id: OrderId::parse(id).unwrap(),
            friend: crate::domain::LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            amount: 1000,
            items: products
                .iter()
                .map(|p| PurchaseItem {
                    product: (*p).to_owned(),
                    category: None,
                    quantity: 1,
                })
                .collect(),
            purchased_at: at.parse().unwrap(),
            imported: false,
        };
        // The newer order arrives first (an import of older ones follows it).
        let orders = [
            order("#2", "2026-11-30T15:30:00Z", &["商品B", "商品C"]),
            order("#1", "2026-10-01T01:00:00Z", &["商品A"]),
        ];
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        let msgs = [text(
            "{{lastPurchase.product}}({{lastPurchase.date}}ご購入)はいかがですか",
        )];
        assert!(mentions_last_purchase(&msgs));
        let out = render(
            &msgs,
            &RenderContext::default().with_last_purchase(&orders, &tokyo),
        );
        // 15:30 UTC is 00:30 the next day in Tokyo.
        assert_eq!(
            out[0]["text"],
            "商品B、商品C(2026-12-01ご購入)はいかがですか"
        );
        let none = render(
            &[text("{{lastPurchase.product|お買い物}}はいかが")],
            &RenderContext::default().with_last_purchase(&[], &tokyo),
        );
        assert_eq!(none[0]["text"], "お買い物はいかが");
        assert!(!mentions_last_purchase(&[text("{{name}}さん")]));
    }

    #[test]
    fn name_placeholder_uses_the_display_name() {
        let out = render(
            &[text("{{name}}さん、友だち追加ありがとうございます!")],
            &RenderContext::for_friend(&friend(Some("山田花子"))),
        );
        assert_eq!(
            out[0]["text"],
            "山田花子さん、友だち追加ありがとうございます!"
        );
    }

    #[test]
    fn a_missing_name_uses_the_fallback_or_nothing() {
        let ctx = RenderContext::for_friend(&friend(None));
        let out = render(
            &[
                text("{{name|お客様}}さん、こんにちは"),
                text("{{ name }}さん"),
            ],
            &ctx,
        );
        assert_eq!(out[0]["text"], "お客様さん、こんにちは");
        assert_eq!(out[1]["text"], "さん");
    }

    #[test]
    fn fields_and_extra_vars_fill_in_and_machine_keys_stay() {
        let mut f = friend(Some("佐藤"));
        f.set_fields([("birthday".to_owned(), Some("1990-05-01".to_owned()))]);
        let ctx = RenderContext::for_friend(&f).with_var("coupon", "WELCOME10");
        let m = json!({"type": "template", "altText": "{{name}}様へクーポン", "template": {
            "type": "buttons", "title": "{{name}}様", "text": "誕生日 {{field.birthday}} / {{field.plan|未登録}}",
            "actions": [{"type": "postback", "label": "使う", "data": "c={{coupon}}"},
                        {"type": "uri", "label": "開く", "uri": "https://x.example/?c={{coupon}}"}]}});
        let out = render(&[m, text("コード: {{coupon}}")], &ctx);
        assert_eq!(out[0]["altText"], "佐藤様へクーポン");
        assert_eq!(out[0]["template"]["title"], "佐藤様");
        assert_eq!(out[0]["template"]["text"], "誕生日 1990-05-01 / 未登録");
        assert_eq!(out[0]["template"]["actions"][0]["data"], "c={{coupon}}");
        assert_eq!(
            out[0]["template"]["actions"][1]["uri"],
            "https://x.example/?c={{coupon}}"
        );
        assert_eq!(out[1]["text"], "コード: WELCOME10");
    }

    #[test]
    fn a_display_name_with_braces_is_not_expanded_again() {
        let mut f = friend(Some("{{field.secret}}"));
        f.set_fields([("secret".to_owned(), Some("x".to_owned()))]);
        let out = render(&[text("{{name}}")], &RenderContext::for_friend(&f));
        assert_eq!(out[0]["text"], "{{field.secret}}");
    }

    #[test]
    fn an_unclosed_placeholder_is_left_as_written() {
        let out = render(&[text("{{name さん")], &RenderContext::default());
        assert_eq!(out[0]["text"], "{{name さん");
    }

    #[test]
    fn a_long_field_cannot_push_a_text_over_5000_characters() {
        let ctx = RenderContext::default().with_var("memo", "長".repeat(10));
        let out = render(&[text(&format!("{}{{{{memo}}}}", "あ".repeat(4995)))], &ctx);
        let s = out[0]["text"].as_str().unwrap();
        assert_eq!(s.chars().count(), MAX_TEXT_CHARS);
        assert!(s.ends_with("長長長長長"));
    }
}
