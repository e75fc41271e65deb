//! Tag rules (自動タグ付け / スコアリング): "when X happens and the friend matches → add or remove
//! tags, set fields, add score". X is a postback (rich-menu taps are postbacks), a keyword, a
//! tracked link click, a purchase or a survey answer.
//!
//! ```yaml
//! id: vip-by-amount
//! when: { type: purchase }
//! conditions:
//!   - { type: purchaseTotal, op: gte, value: 50000 }
//! addTags: [VIP]
//! ---
//! id: combo
//! when: { type: purchase }
//! addTags: ["{field.age_band}{field.gender}・{product}購入・{firstOrRepeat}"]
//! ```
//! Tag templates take `{product}` and `{category}` (one tag per item of the order), `{field.X}`
//! and `{firstOrRepeat}` (初回 / リピート); a template whose value is missing adds nothing.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::condition::{Condition, Scope, conditions_hold, validate_conditions};
use super::definition;
use super::effect::{self, Effect};
use super::field_error::check_name;
use super::message::FieldError;
use super::purchase::Purchase;
use super::scenario::slug_newtype;
use super::{Friend, TagName};

slug_newtype!(
    /// A tag rule's id.
    RuleId
);

effect::with_effect! {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct TagRule {
        pub id: RuleId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        pub when: When,
        /// All must hold, checked on the friend after the event's own changes (counters included).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub conditions: Vec<Condition>,
    }
    // Tag names or templates (see the module documentation).
    add_tags: String
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TextMatch {
    #[default]
    Exact,
    Contains,
    Prefix,
}

impl TextMatch {
    fn matches(self, pattern: &str, text: &str) -> bool {
        let text = text.trim();
        match self {
            TextMatch::Exact => text == pattern,
            TextMatch::Contains => text.contains(pattern),
            TextMatch::Prefix => text.starts_with(pattern),
        }
    }
}

/// The event a rule listens to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum When {
    /// A postback (a rich-menu area, a button); `data` compared as `match` says (default exact).
    Postback {
        data: String,
        #[serde(default, rename = "match")]
        matching: TextMatch,
    },
    /// A text message the friend sent.
    Keyword {
        text: String,
        #[serde(default, rename = "match")]
        matching: TextMatch,
    },
    /// A tracked link was opened (`link` = the link's id).
    LinkClick { link: String },
    /// An order, optionally only of a product or category.
    Purchase {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
    },
    /// A survey answer, optionally to one question or with one choice.
    Answer {
        survey: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        question: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
    },
}

/// What happened, for matching rules.
#[derive(Debug, Clone, Copy)]
pub enum Occurrence<'a> {
    Postback(&'a str),
    Text(&'a str),
    LinkClick(&'a str),
    Purchase(&'a Purchase),
    Answer {
        survey: &'a str,
        question: &'a str,
        /// Chosen choice ids (empty for free text and dates).
        choices: &'a [String],
    },
}

/// What applying rules changed, for domain events and tag-triggered scenarios.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleOutcome {
    pub fired: Vec<RuleId>,
    pub added: Vec<TagName>,
    pub removed: Vec<TagName>,
}

impl TagRule {
    pub fn listens_to(&self, occ: &Occurrence<'_>) -> bool {
        match (&self.when, occ) {
            (When::Postback { data, matching }, Occurrence::Postback(d)) => {
                matching.matches(data, d)
            }
            (When::Keyword { text, matching }, Occurrence::Text(t)) => matching.matches(text, t),
            (When::LinkClick { link }, Occurrence::LinkClick(l)) => link == l,
            (When::Purchase { product, category }, Occurrence::Purchase(p)) => {
                product
                    .as_ref()
                    .is_none_or(|want| p.items.iter().any(|i| &i.product == want))
                    && category.as_ref().is_none_or(|want| {
                        p.items.iter().any(|i| i.category.as_ref() == Some(want))
                    })
            }
            (
                When::Answer {
                    survey,
                    question,
                    answer,
                },
                Occurrence::Answer {
                    survey: s,
                    question: q,
                    choices,
                },
            ) => {
                survey == s
                    && question.as_ref().is_none_or(|want| want == q)
                    && answer
                        .as_ref()
                        .is_none_or(|want| choices.iter().any(|c| c == want))
            }
            _ => false,
        }
    }

    /// The tags this rule adds for this occurrence, templates filled.
    fn tags_for(&self, occ: &Occurrence<'_>, friend: &Friend) -> Vec<TagName> {
        let (products, categories) = match occ {
            Occurrence::Purchase(p) => (p.products(), p.categories()),
            _ => (Vec::new(), Vec::new()),
        };
        let mut out = Vec::new();
        for template in &self.add_tags {
            // One tag per product (or category) the template mentions.
            let per: Vec<(Option<&str>, Option<&str>)> = if template.contains("{product}") {
                products.iter().map(|p| (Some(*p), None)).collect()
            } else if template.contains("{category}") {
                categories.iter().map(|c| (None, Some(*c))).collect()
            } else {
                vec![(None, None)]
            };
            for (product, category) in per {
                let value = |name: &str| -> Option<String> {
                    match name {
                        "product" => product.map(str::to_owned),
                        "category" => category.map(str::to_owned),
                        "firstOrRepeat" => match friend.purchase_count {
                            0 => None,
                            1 => Some("初回".into()),
                            _ => Some("リピート".into()),
                        },
                        _ => name
                            .strip_prefix("field.")
                            .and_then(|f| friend.fields.get(f))
                            .filter(|v| !v.trim().is_empty())
                            .cloned(),
                    }
                };
                if let Some(tag) = fill(template, &value).and_then(|t| TagName::parse(&t).ok())
                    && !out.contains(&tag)
                {
                    out.push(tag);
                }
            }
        }
        out
    }
}

/// Replaces `{name}` placeholders; None when one has no value.
fn fill(template: &str, value: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}')? + start;
        out.push_str(&rest[..start]);
        out.push_str(&value(&rest[start + 1..end])?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Applies every rule listening to `occ` whose conditions hold, in id order, to the friend.
pub fn apply_rules(
    rules: &[TagRule],
    occ: &Occurrence<'_>,
    friend: &mut Friend,
    now: Timestamp,
    half_life_days: Option<u32>,
) -> RuleOutcome {
    let mut outcome = RuleOutcome::default();
    let mut sorted: Vec<&TagRule> = rules.iter().filter(|r| r.listens_to(occ)).collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for rule in sorted {
        let score = friend.score_at(now, half_life_days);
        if !conditions_hold(&rule.conditions, friend, Some(score)) {
            continue;
        }
        outcome.fired.push(rule.id.clone());
        // The templates filled for this occurrence: from here on, an effect like any other.
        let fx = Effect {
            add_tags: rule.tags_for(occ, friend),
            remove_tags: rule.remove_tags.clone(),
            set_fields: rule.set_fields.clone(),
            score: rule.score,
        };
        let changed = friend.apply_effect(&fx, now, half_life_days);
        outcome.added.extend(changed.added);
        outcome.removed.extend(changed.removed);
    }
    outcome
}

definition::definition!(TagRule, noun: "rule", plural: "rules");

impl definition::CurrentOnly for TagRule {
    const KIND: definition::CurrentKind = definition::CurrentKind::TagRule;
}

impl TagRule {
    /// The first rule broken, with its path.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(name) = &self.name {
            check_name("name", name)?;
        }
        if self.effect().is_empty() {
            return Err(FieldError::new(
                "",
                "a rule needs addTags, removeTags, setFields or score",
            ));
        }
        for (i, t) in self.add_tags.iter().enumerate() {
            // A template must still be a valid tag once its placeholders are filled.
            let sample = fill(t, &|_| Some("x".into()));
            if sample
                .as_deref()
                .map(TagName::parse)
                .is_none_or(|r| r.is_err())
            {
                return Err(FieldError::new(
                    format!("addTags[{i}]"),
                    "not a valid tag name or template",
                ));
            }
        }
        self.effect().check_fields("")?;
        validate_conditions(&self.conditions, "conditions", Scope::Rule)?;
        let blank = match &self.when {
            When::Postback { data: s, .. }
            | When::Keyword { text: s, .. }
            | When::LinkClick { link: s } => s.trim().is_empty(),
            When::Answer { survey, .. } => survey.trim().is_empty(),
            When::Purchase { .. } => false,
        };
        if blank {
            return Err(FieldError::new("when", "must name what to match"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        LineUserId, TenantId,
        purchase::{OrderId, PurchaseItem},
    };

    const RULES: &str = include_str!("../../../../docs/examples/purchase-rules.yaml");

    fn friend() -> Friend {
        Friend::new(
            TenantId::parse("demo").unwrap(),
            LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            "2026-04-01T00:00:00Z".parse().unwrap(),
        )
    }

    fn rules() -> Vec<TagRule> {
        RULES
            .split("\n---\n")
            .map(|doc| TagRule::parse_yaml(doc).unwrap())
            .collect()
    }

    fn purchase(amount: i64, product: &str) -> Purchase {
        Purchase {
            order_id: OrderId::parse("A-1").unwrap(),
            friend: friend().user_id,
            amount,
            items: vec![PurchaseItem {
                product: product.into(),
                category: Some("美容".into()),
                quantity: 1,
            }],
            purchased_at: "2026-04-01T00:00:00Z".parse().unwrap(),
            imported: false,
        }
    }

    fn tags(f: &Friend) -> Vec<&str> {
        f.tags.keys().map(TagName::as_str).collect()
    }

    #[test]
    fn first_purchase_repeat_vip_product_category_and_combination_tags() {
        let now = "2026-04-01T00:00:00Z".parse().unwrap();
        let rules = rules();
        let mut f = friend();
        f.set_fields([
            ("age_band".to_owned(), Some("20代".to_owned())),
            ("gender".to_owned(), Some("女性".to_owned())),
        ]);
        let p = purchase(8000, "商品B");
        f.record_purchase(p.amount, p.purchased_at);
        apply_rules(&rules, &Occurrence::Purchase(&p), &mut f, now, None);
        assert_eq!(
            tags(&f),
            [
                "20代女性・商品B購入・初回",
                "カテゴリ:美容",
                "初回購入",
                "商品:商品B"
            ]
        );

        let p = purchase(50000, "商品B");
        f.record_purchase(p.amount, p.purchased_at);
        let out = apply_rules(&rules, &Occurrence::Purchase(&p), &mut f, now, None);
        assert!(f.has_tag(&TagName::parse("リピート").unwrap()));
        assert!(f.has_tag(&TagName::parse("VIP").unwrap()));
        assert!(
            out.added
                .contains(&TagName::parse("20代女性・商品B購入・リピート").unwrap())
        );
    }

    #[test]
    fn a_template_with_a_missing_field_adds_nothing() {
        let rules = rules();
        let mut f = friend();
        let p = purchase(1000, "商品A");
        f.record_purchase(p.amount, p.purchased_at);
        apply_rules(
            &rules,
            &Occurrence::Purchase(&p),
            &mut f,
            "2026-04-01T00:00:00Z".parse().unwrap(),
            None,
        );
        assert!(!tags(&f).iter().any(|t| t.contains('・')));
    }

    #[test]
    fn postback_and_keyword_rules_tag_and_score() {
        let rule: TagRule = TagRule::parse_yaml(
            "id: coupon-tap\nwhen: { type: postback, data: menu=coupon }\naddTags: [クーポン興味]\nscore: 5",
        )
        .unwrap();
        let kw: TagRule = TagRule::parse_yaml(
            "id: kw\nwhen: { type: keyword, text: 予約, match: contains }\naddTags: [予約希望]",
        )
        .unwrap();
        let mut f = friend();
        let now = "2026-04-01T00:00:00Z".parse().unwrap();
        let rules = [rule, kw];
        apply_rules(
            &rules,
            &Occurrence::Postback("menu=coupon"),
            &mut f,
            now,
            None,
        );
        apply_rules(
            &rules,
            &Occurrence::Text("明日予約できますか"),
            &mut f,
            now,
            None,
        );
        apply_rules(
            &rules,
            &Occurrence::Postback("menu=other"),
            &mut f,
            now,
            None,
        );
        assert_eq!(tags(&f), ["クーポン興味", "予約希望"]);
        assert_eq!(f.score, 5);
    }

    #[test]
    fn a_rule_that_does_nothing_or_has_a_bad_template_is_refused() {
        assert!(TagRule::parse_yaml("id: x\nwhen: { type: purchase }").is_err());
        let e = TagRule::parse_yaml("id: x\nwhen: { type: purchase }\naddTags: [\"{product\"]")
            .unwrap_err();
        assert_eq!(e.field, "addTags[0]");
    }

    #[test]
    fn a_misspelt_or_mistyped_effect_key_is_refused_with_its_name() {
        let e = TagRule::parse_yaml("id: x\nwhen: { type: purchase }\naddTag: [VIP]").unwrap_err();
        assert!(e.message.contains("addTag"), "{e:?}");
        let e = TagRule::parse_yaml("id: x\nwhen: { type: purchase }\nscore: lots").unwrap_err();
        assert!(
            e.message.contains("score") || e.field.contains("score"),
            "{e:?}"
        );
        let rule = TagRule::parse_yaml(
            "id: x\nwhen: { type: purchase }\nremoveTags: [見込み]\nsetFields: { rank: gold }\nscore: 3",
        )
        .unwrap();
        assert_eq!(rule.score, 3);
        assert_eq!(rule.remove_tags, [TagName::parse("見込み").unwrap()]);
    }
}
