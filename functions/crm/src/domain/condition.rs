//! Conditions on a friend (条件): tags, custom fields, purchase counters and score. One language
//! for the three places that test a friend: a step at send time, a broadcast choosing its
//! audience, and a tag rule after its event's own changes.
//!
//! ```yaml
//! conditions:
//!   - { type: hasTag, tag: 美容 }
//!   - { type: field, name: age_band, op: eq, value: 30代 }
//!   - { type: purchaseCount, op: gte, value: 2 }
//!   - { type: score, op: gte, value: 50 }      # tag rules only
//! ```
use std::cmp::Ordering;

use serde::{Deserialize, Deserializer, Serialize, de};
use serde_json::Value;

use super::friend::check_field_name;
use super::message::FieldError;
use super::{Friend, TagName};

/// A test on the friend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Condition {
    HasTag {
        tag: TagName,
    },
    LacksTag {
        tag: TagName,
    },
    /// A custom field compared with `value`: numerically when both sides are numbers, else as
    /// text (so `YYYY-MM-DD` dates compare in calendar order).
    Field {
        name: String,
        op: FieldOp,
        #[serde(
            default,
            deserialize_with = "scalar_as_string",
            skip_serializing_if = "Option::is_none"
        )]
        value: Option<String>,
    },
    /// How many orders the friend has placed.
    PurchaseCount {
        op: FieldOp,
        value: i64,
    },
    /// Total spent, in yen.
    PurchaseTotal {
        op: FieldOp,
        value: i64,
    },
    /// The friend's score with its decay applied. Only tag rules know it (they apply scores);
    /// steps and broadcasts refuse it when saved.
    Score {
        op: FieldOp,
        value: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FieldOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    /// The field is set and not blank (a blank answer is no answer).
    Exists,
    Missing,
}

impl FieldOp {
    fn needs_value(self) -> bool {
        !matches!(self, FieldOp::Exists | FieldOp::Missing)
    }

    /// Whether an ordering of actual against expected satisfies this comparison.
    fn accepts(self, ord: Ordering) -> bool {
        match self {
            FieldOp::Eq => ord == Ordering::Equal,
            FieldOp::Ne => ord != Ordering::Equal,
            FieldOp::Gt => ord == Ordering::Greater,
            FieldOp::Gte => ord != Ordering::Less,
            FieldOp::Lt => ord == Ordering::Less,
            FieldOp::Lte => ord != Ordering::Greater,
            FieldOp::Contains | FieldOp::Exists | FieldOp::Missing => false,
        }
    }
}

/// Where a list of conditions is used: a score is only known where scores are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Steps and broadcasts.
    Friend,
    /// Tag rules, which also see the score.
    Rule,
}

/// Whether every condition holds for the friend now (no conditions: always). `score`: the
/// friend's decayed score, where the caller knows it; a score condition without it fails.
pub fn conditions_hold(conds: &[Condition], friend: &Friend, score: Option<i64>) -> bool {
    conds.iter().all(|c| c.holds(friend, score))
}

/// The first condition that cannot be evaluated as written, with its path (`{path}[i].field`).
pub fn validate_conditions(
    conds: &[Condition],
    path: &str,
    scope: Scope,
) -> Result<(), FieldError> {
    for (i, cond) in conds.iter().enumerate() {
        let path = format!("{path}[{i}]");
        match cond {
            Condition::HasTag { .. } | Condition::LacksTag { .. } => {}
            Condition::Field { name, op, value } => {
                check_field_name(name, &format!("{path}.name"))?;
                if op.needs_value() && value.is_none() {
                    return Err(FieldError::new(
                        format!("{path}.value"),
                        "this comparison needs a value",
                    ));
                }
            }
            Condition::Score { .. } if scope == Scope::Friend => {
                return Err(FieldError::new(
                    format!("{path}.type"),
                    "score conditions belong to tag rules; test tags, fields or purchases here",
                ));
            }
            Condition::PurchaseCount { op, .. }
            | Condition::PurchaseTotal { op, .. }
            | Condition::Score { op, .. } => {
                if !op.needs_value() || *op == FieldOp::Contains {
                    return Err(FieldError::new(
                        format!("{path}.op"),
                        "a number compares with eq, ne, gt, gte, lt or lte",
                    ));
                }
            }
        }
    }
    Ok(())
}

impl Condition {
    pub fn holds(&self, friend: &Friend, score: Option<i64>) -> bool {
        match self {
            Condition::HasTag { tag } => friend.has_tag(tag),
            Condition::LacksTag { tag } => !friend.has_tag(tag),
            Condition::Field { name, op, value } => {
                let actual = friend
                    .fields
                    .get(name)
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty());
                let expected = value.as_deref().map(str::trim);
                match (op, actual, expected) {
                    (FieldOp::Exists, a, _) => a.is_some(),
                    (FieldOp::Missing, a, _) => a.is_none(),
                    // "plan is not gold" holds for a friend who has no plan at all.
                    (FieldOp::Ne, None, _) => true,
                    (_, None, _) | (_, _, None) => false,
                    (FieldOp::Contains, Some(a), Some(e)) => a.contains(e),
                    (op, Some(a), Some(e)) => op.accepts(compare_text(a, e)),
                }
            }
            Condition::PurchaseCount { op, value } => {
                op.accepts(i64::from(friend.purchase_count).cmp(value))
            }
            Condition::PurchaseTotal { op, value } => op.accepts(friend.purchase_total.cmp(value)),
            Condition::Score { op, value } => score.is_some_and(|s| op.accepts(s.cmp(value))),
        }
    }
}

/// Numbers compare as numbers ("9" < "10"); anything else as text, which orders zero-padded
/// dates (`2026-04-01`) and times correctly.
fn compare_text(a: &str, b: &str) -> Ordering {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// YAML writers put `value: 20` or `value: true` unquoted; fields are text, so keep the text.
fn scalar_as_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
        Some(_) => Err(de::Error::custom(
            "value must be a string, number or boolean",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::friend::{friend_followed, ts};

    fn friend() -> Friend {
        friend_followed("2026-04-01T00:00:00Z")
    }

    fn tag(s: &str) -> TagName {
        TagName::parse(s).unwrap()
    }

    #[test]
    fn tag_conditions_check_the_friend_at_send_time() {
        let mut f = friend();
        let vip = [Condition::HasTag { tag: tag("VIP") }];
        let not_vip = [Condition::LacksTag { tag: tag("VIP") }];
        assert!(!conditions_hold(&vip, &f, None));
        assert!(conditions_hold(&not_vip, &f, None));
        f.add_tag(tag("VIP"), ts("2026-04-02T00:00:00Z"));
        assert!(conditions_hold(&vip, &f, None));
        assert!(!conditions_hold(&not_vip, &f, None));
        assert!(conditions_hold(&[], &f, None));
    }

    fn field(name: &str, op: FieldOp, value: Option<&str>) -> Condition {
        Condition::Field {
            name: name.to_owned(),
            op,
            value: value.map(str::to_owned),
        }
    }

    #[test]
    fn numeric_fields_compare_as_numbers_and_dates_as_text() {
        let mut f = friend();
        f.set_fields([
            ("age".to_owned(), Some("9".to_owned())),
            ("birthday".to_owned(), Some("2000-04-01".to_owned())),
            ("plan".to_owned(), Some("ゴールド会員".to_owned())),
        ]);
        let holds = |c: Condition| conditions_hold(&[c], &f, None);
        assert!(holds(field("age", FieldOp::Lt, Some("10"))));
        assert!(holds(field("age", FieldOp::Eq, Some("9.0"))));
        assert!(!holds(field("age", FieldOp::Gte, Some("10"))));
        assert!(holds(field("birthday", FieldOp::Lt, Some("2000-12-31"))));
        assert!(holds(field("birthday", FieldOp::Gte, Some("2000-04-01"))));
        assert!(holds(field("plan", FieldOp::Contains, Some("ゴールド"))));
        assert!(holds(field("plan", FieldOp::Ne, Some("一般"))));
        assert!(holds(field("plan", FieldOp::Exists, None)));
        assert!(holds(field("coupon", FieldOp::Missing, None)));
        assert!(!holds(field("coupon", FieldOp::Eq, Some("x"))));
        assert!(holds(field("coupon", FieldOp::Ne, Some("x"))));
    }

    #[test]
    fn an_unquoted_yaml_number_is_a_field_value() {
        let c: Condition =
            serde_yaml_ng::from_str("{ type: field, name: age, op: gte, value: 20 }").unwrap();
        assert_eq!(c, field("age", FieldOp::Gte, Some("20")));
    }

    #[test]
    fn repeat_buyers_and_big_spenders_are_counted_from_the_friend() {
        let mut f = friend();
        f.purchase_count = 2;
        f.purchase_total = 48_000;
        let holds = |c: Condition| c.holds(&f, None);
        assert!(holds(Condition::PurchaseCount {
            op: FieldOp::Gte,
            value: 2
        }));
        assert!(!holds(Condition::PurchaseTotal {
            op: FieldOp::Gte,
            value: 50_000
        }));
        assert!(holds(Condition::PurchaseTotal {
            op: FieldOp::Lt,
            value: 50_000
        }));
    }

    #[test]
    fn a_score_is_tested_only_where_it_is_known() {
        let hot = Condition::Score {
            op: FieldOp::Gte,
            value: 30,
        };
        let f = friend();
        assert!(hot.holds(&f, Some(30)));
        assert!(!hot.holds(&f, Some(29)));
        assert!(!hot.holds(&f, None));
        let conds = [hot];
        assert!(validate_conditions(&conds, "conditions", Scope::Rule).is_ok());
        let err = validate_conditions(&conds, "steps[0].conditions", Scope::Friend).unwrap_err();
        assert_eq!(err.field, "steps[0].conditions[0].type");
    }

    #[test]
    fn each_unusable_condition_names_its_field() {
        let path = |c: Condition| {
            validate_conditions(&[c], "conditions", Scope::Rule)
                .unwrap_err()
                .field
        };
        assert_eq!(
            path(field("age", FieldOp::Gte, None)),
            "conditions[0].value"
        );
        assert_eq!(
            path(field(" ", FieldOp::Exists, None)),
            "conditions[0].name"
        );
        assert_eq!(
            path(Condition::PurchaseCount {
                op: FieldOp::Contains,
                value: 1
            }),
            "conditions[0].op"
        );
    }
}
