//! Purchases reported by the shop's system (or imported from a CSV of past orders): they count
//! on the friend (count, total, first/last) and drive purchase tags and post-purchase scenarios.
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::LineUserId;
use super::field_error::FieldError;

/// An order id as the shop's system spells it (`#1001`, `EC-2026-0001`); unique per tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order id must be 1–128 printable characters")]
pub struct BadOrderId;

impl OrderId {
    pub fn parse(s: &str) -> Result<Self, BadOrderId> {
        let s = s.trim();
        let ok = (1..=128).contains(&s.chars().count()) && !s.chars().any(char::is_control);
        ok.then(|| Self(s.to_owned())).ok_or(BadOrderId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrderId {
    type Error = BadOrderId;
    fn try_from(s: String) -> Result<Self, BadOrderId> {
        Self::parse(&s)
    }
}

impl From<OrderId> for String {
    fn from(o: OrderId) -> String {
        o.0
    }
}

impl std::fmt::Display for OrderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PurchaseItem {
    /// The product's name or code as tags should show it (`商品B`, `sku-123`).
    pub product: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default = "one")]
    pub quantity: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Purchase {
    pub order_id: OrderId,
    pub friend: LineUserId,
    /// Yen, tax included, as the shop reports it.
    pub amount: i64,
    pub items: Vec<PurchaseItem>,
    pub purchased_at: Timestamp,
    /// Imported history (CSV): counted and tagged, but it starts no post-purchase scenario.
    #[serde(default)]
    pub imported: bool,
}

impl Purchase {
    pub fn products(&self) -> Vec<&str> {
        dedup(self.items.iter().map(|i| i.product.as_str()))
    }

    pub fn categories(&self) -> Vec<&str> {
        dedup(self.items.iter().filter_map(|i| i.category.as_deref()))
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        if self.amount < 0 {
            return Err(FieldError::new("amount", "must be 0 or more (yen)"));
        }
        if self.items.is_empty() || self.items.len() > MAX_ITEMS {
            return Err(FieldError::new(
                "items",
                format!("1 to {MAX_ITEMS} items per order"),
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            let name_ok = |s: &str| {
                !s.trim().is_empty() && s.chars().count() <= 60 && !s.chars().any(char::is_control)
            };
            if !name_ok(&item.product) {
                return Err(FieldError::new(
                    format!("items[{i}].product"),
                    "1–60 characters without control characters",
                ));
            }
            if item.category.as_deref().is_some_and(|c| !name_ok(c)) {
                return Err(FieldError::new(
                    format!("items[{i}].category"),
                    "1–60 characters without control characters",
                ));
            }
        }
        Ok(())
    }
}

fn dedup<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for s in it {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// A CSV line that could not become (part of) an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowError {
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub reason: String,
}

/// The CSV of past orders: header `orderId,userId,amount,purchasedAt,product,category`, one
/// line per item; lines sharing an order id are one order whose amount is their sum.
/// `purchasedAt` is RFC 3339 or `YYYY-MM-DD HH:MM` / `YYYY-MM-DD` in the tenant's zone.
pub const CSV_COLUMNS: [&str; 6] = [
    "orderId",
    "userId",
    "amount",
    "purchasedAt",
    "product",
    "category",
];

/// Lines one import may have; parsing stops past it, so a huge file costs no more than this.
pub const MAX_CSV_LINES: usize = 20_000;

/// An order is stored as one item with its lines: a basket larger than any shop's keeps the
/// item far below DynamoDB's 400 KB.
pub const MAX_ITEMS: usize = 200;

/// Orders that parsed (each with the line of its first row) and the lines that did not.
pub type Import = (Vec<(u64, Purchase)>, Vec<RowError>);

/// Parses the import. Good orders come back with the line of their first row; every bad line is
/// reported, and an order with any bad line is left out whole (half an order would count wrong).
pub fn parse_csv(bytes: &[u8], zone: &jiff::tz::TimeZone) -> Result<Import, FieldError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| FieldError::new("header", e.to_string()))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let mut idx = [0usize; 6];
    for (i, name) in CSV_COLUMNS.iter().enumerate() {
        match col(name) {
            Some(p) => idx[i] = p,
            None if *name == "category" => idx[i] = usize::MAX,
            None => {
                return Err(FieldError::new(
                    "header",
                    format!(
                        "missing column `{name}`; expected {}",
                        CSV_COLUMNS.join(",")
                    ),
                ));
            }
        }
    }
    let mut orders: BTreeMap<OrderId, (u64, Purchase)> = BTreeMap::new();
    let mut bad_orders: BTreeSet<String> = BTreeSet::new();
    let mut errors = Vec::new();
    // Every step below is a map lookup: the import is linear in its lines.
    for (n, record) in reader.records().enumerate() {
        if n >= MAX_CSV_LINES {
            return Err(FieldError::new(
                "rows",
                format!("at most {MAX_CSV_LINES} lines per import; split the file"),
            ));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError {
                    line,
                    order_id: None,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let get = |i: usize| record.get(idx[i]).unwrap_or("").trim();
        let raw_order = get(0).to_owned();
        let row = parse_row(&get, zone);
        match row {
            Ok((order_id, friend, amount, at, item)) => {
                if bad_orders.contains(order_id.as_str()) {
                    continue;
                }
                let key = order_id.clone();
                let entry = orders.entry(key.clone()).or_insert_with(|| {
                    (
                        line,
                        Purchase {
                            order_id,
                            friend: friend.clone(),
                            amount: 0,
                            items: Vec::new(),
                            purchased_at: at,
                            imported: true,
                        },
                    )
                });
                if entry.1.friend != friend {
                    errors.push(RowError {
                        line,
                        order_id: Some(raw_order.clone()),
                        reason: "this order id was used for another userId above".into(),
                    });
                    orders.remove(&key);
                    bad_orders.insert(raw_order);
                    continue;
                }
                entry.1.amount = entry.1.amount.saturating_add(amount);
                entry.1.items.push(item);
            }
            Err(reason) => {
                errors.push(RowError {
                    line,
                    order_id: (!raw_order.is_empty()).then(|| raw_order.clone()),
                    reason,
                });
                if !raw_order.is_empty() {
                    if let Ok(id) = OrderId::parse(&raw_order) {
                        orders.remove(&id);
                    }
                    bad_orders.insert(raw_order);
                }
            }
        }
    }
    let mut good: Vec<(u64, Purchase)> = orders.into_values().collect();
    good.sort_by_key(|(line, _)| *line);
    Ok((good, errors))
}

type Row = (OrderId, LineUserId, i64, Timestamp, PurchaseItem);

fn parse_row<'a>(get: &dyn Fn(usize) -> &'a str, zone: &jiff::tz::TimeZone) -> Result<Row, String> {
    let order_id = OrderId::parse(get(0)).map_err(|e| format!("orderId: {e}"))?;
    let friend = LineUserId::parse(get(1)).map_err(|e| format!("userId: {e}"))?;
    let amount: i64 = get(2)
        .replace(',', "")
        .parse()
        .ok()
        .filter(|a: &i64| *a >= 0)
        .ok_or_else(|| format!("amount: `{}` is not a whole number of yen", get(2)))?;
    let at = parse_time(get(3), zone)
        .ok_or_else(|| format!("purchasedAt: `{}` is not a date and time", get(3)))?;
    let product = get(4);
    if product.is_empty() {
        return Err("product: required".into());
    }
    let category = get(5);
    let item = PurchaseItem {
        product: product.to_owned(),
        category: (!category.is_empty()).then(|| category.to_owned()),
        quantity: 1,
    };
    let check = Purchase {
        order_id: order_id.clone(),
        friend: friend.clone(),
        amount,
        items: vec![item.clone()],
        purchased_at: at,
        imported: true,
    };
    check
        .validate()
        .map_err(|e| e.to_string().replace("items[0].", ""))?;
    Ok((order_id, friend, amount, at, item))
}

/// RFC 3339, or a civil date/time in the tenant's zone (what shop exports usually contain).
pub fn parse_time(s: &str, zone: &jiff::tz::TimeZone) -> Option<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let s = s.replace('/', "-");
    let civil = s.parse::<jiff::civil::DateTime>().ok().or_else(|| {
        s.parse::<jiff::civil::Date>()
            .ok()
            .map(|d| d.at(0, 0, 0, 0))
    })?;
    civil.to_zoned(zone.clone()).ok().map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokyo() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get("Asia/Tokyo").unwrap()
    }

    const U1: &str = "U4af4980629c1e2c3f2a41b8e4d0a3b0c";
    const U2: &str = "U00000000000000000000000000000002";

    #[test]
    fn a_file_past_the_line_limit_is_refused_while_parsing() {
        let mut csv = String::from("orderId,userId,amount,purchasedAt,product\n");
        for i in 0..=MAX_CSV_LINES {
            // Every line bad and of its own order: the shape that once made imports quadratic.
            csv.push_str(&format!("A-{i},{U1},not-yen,2026-04-01,mug\n"));
        }
        let err = parse_csv(csv.as_bytes(), &tokyo()).unwrap_err();
        assert_eq!(err.field, "rows");
        csv.truncate(csv.len() / 2);
        let (good, bad) = parse_csv(csv.as_bytes(), &tokyo()).unwrap();
        assert!(good.is_empty() && !bad.is_empty());
    }

    #[test]
    fn rows_of_one_order_are_one_purchase_and_bad_lines_are_reported_by_line() {
        let csv = format!(
            "orderId,userId,amount,purchasedAt,product,category\n\
             A-1,{U1},3000,2026-03-01 10:00,商品A,美容\n\
             A-1,{U1},2000,2026-03-01 10:00,商品B,健康\n\
             A-2,{U2},abc,2026-03-02,商品A,美容\n\
             A-3,{U2},1500,2026/03/03,商品C,\n"
        );
        let (good, errors) = parse_csv(csv.as_bytes(), &tokyo()).unwrap();
        assert_eq!(good.len(), 2);
        assert_eq!(good[0].1.amount, 5000);
        assert_eq!(good[0].1.products(), ["商品A", "商品B"]);
        assert_eq!(good[0].1.purchased_at.to_string(), "2026-03-01T01:00:00Z");
        assert_eq!(good[1].1.categories(), Vec::<&str>::new());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 4);
        assert!(errors[0].reason.starts_with("amount"), "{:?}", errors[0]);
    }

    #[test]
    fn a_missing_column_names_it() {
        let e = parse_csv(b"orderId,userId,amount\n", &tokyo()).unwrap_err();
        assert!(e.message.contains("purchasedAt"), "{e}");
    }
}
