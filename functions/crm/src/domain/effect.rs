//! What an answer or a tag rule does to the friend: tags added and removed, custom fields set,
//! points to the score. Declared once, so a survey choice and a rule take the same keys, and
//! applied by one function.
use std::collections::BTreeMap;

use jiff::Timestamp;

use super::friend::check_field_name;
use super::message::FieldError;
use super::{Friend, TagName};

/// What to do to the friend, as one value: built from a definition's effect keys.
/// `T` is what `addTags` holds: tag names, or (in rules) templates that become tag names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect<T = TagName> {
    pub add_tags: Vec<T>,
    pub remove_tags: Vec<TagName>,
    pub set_fields: BTreeMap<String, String>,
    pub score: i64,
}

// Not derived: a derive would ask `T: Default`, which an empty list does not need.
impl<T> Default for Effect<T> {
    fn default() -> Self {
        Self {
            add_tags: Vec::new(),
            remove_tags: Vec::new(),
            set_fields: BTreeMap::new(),
            score: 0,
        }
    }
}

pub(crate) fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Declares a definition struct with the effect keys `addTags`, `removeTags`, `setFields` and
/// `score` after its own fields, and `effect()` to read them as one [`Effect`]. A macro rather
/// than `#[serde(flatten)]`: flattening loses the field path in parse errors (`score` becomes
/// ``) and does not combine with `deny_unknown_fields`.
macro_rules! with_effect {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($fields:tt)* }
        add_tags: $tag:ty
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($fields)*
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub add_tags: Vec<$tag>,
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub remove_tags: Vec<$crate::domain::TagName>,
            #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
            pub set_fields: std::collections::BTreeMap<String, String>,
            #[serde(default, skip_serializing_if = "crate::domain::effect::is_zero")]
            pub score: i64,
        }

        impl $name {
            /// The effect keys as one value.
            pub fn effect(&self) -> $crate::domain::effect::Effect<$tag> {
                $crate::domain::effect::Effect {
                    add_tags: self.add_tags.clone(),
                    remove_tags: self.remove_tags.clone(),
                    set_fields: self.set_fields.clone(),
                    score: self.score,
                }
            }
        }
    };
}
pub(crate) use with_effect;

/// The tags an effect really changed on the friend (one she already had is not "added").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    pub added: Vec<TagName>,
    pub removed: Vec<TagName>,
}

impl<T> Effect<T> {
    pub fn is_empty(&self) -> bool {
        self.add_tags.is_empty()
            && self.remove_tags.is_empty()
            && self.set_fields.is_empty()
            && self.score == 0
    }

    /// Field names must be ones the admin API would accept (`{path}.setFields.{name}`).
    pub fn check_fields(&self, path: &str) -> Result<(), FieldError> {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}.")
        };
        for name in self.set_fields.keys() {
            check_field_name(name, &format!("{prefix}setFields.{name}"))?;
        }
        Ok(())
    }
}

impl Effect {
    /// Adds another effect's changes after this one's (its fields win, its points add up).
    pub fn extend(&mut self, other: &Effect) {
        self.add_tags.extend(other.add_tags.iter().cloned());
        self.remove_tags.extend(other.remove_tags.iter().cloned());
        self.set_fields.extend(other.set_fields.clone());
        self.score = self.score.saturating_add(other.score);
    }
}

impl Friend {
    /// Removes, then adds tags, sets fields and adds points (decayed as the tenant says).
    pub fn apply_effect(
        &mut self,
        fx: &Effect,
        now: Timestamp,
        half_life_days: Option<u32>,
    ) -> Changed {
        let mut changed = Changed::default();
        for t in &fx.remove_tags {
            if self.remove_tag(t) {
                changed.removed.push(t.clone());
            }
        }
        for t in &fx.add_tags {
            if self.add_tag(t.clone(), now) {
                changed.added.push(t.clone());
            }
        }
        self.set_fields(
            fx.set_fields
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone()))),
        );
        if fx.score != 0 {
            self.add_score(fx.score, now, half_life_days);
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::friend::{friend_followed, ts};

    fn tag(s: &str) -> TagName {
        TagName::parse(s).unwrap()
    }

    #[test]
    fn applying_reports_only_the_tags_that_changed() {
        let now = ts("2026-04-02T00:00:00Z");
        let mut f = friend_followed("2026-04-01T00:00:00Z");
        f.add_tag(tag("VIP"), now);
        let fx = Effect {
            add_tags: vec![tag("VIP"), tag("美容")],
            remove_tags: vec![tag("未回答"), tag("VIP")],
            set_fields: BTreeMap::from([("genre".to_owned(), "美容".to_owned())]),
            score: 5,
        };
        let changed = f.apply_effect(&fx, now, None);
        // VIP was removed, then added again: both are real changes, in that order.
        assert_eq!(changed.removed, vec![tag("VIP")]);
        assert_eq!(changed.added, vec![tag("VIP"), tag("美容")]);
        assert_eq!(f.fields.get("genre").map(String::as_str), Some("美容"));
        assert_eq!(f.score, 5);
    }

    #[test]
    fn a_field_name_the_api_would_refuse_is_named_with_its_path() {
        let fx: Effect = Effect {
            set_fields: BTreeMap::from([("bad name".to_owned(), "x".to_owned())]),
            ..Effect::default()
        };
        let err = fx.check_fields("choices[0]").unwrap_err();
        assert_eq!(err.field, "choices[0].setFields.bad name");
        assert_eq!(fx.check_fields("").unwrap_err().field, "setFields.bad name");
    }
}
