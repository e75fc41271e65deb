//! Saving what marketers write — scenarios, surveys, tag rules, auto-replies — whether it comes
//! as a `PUT` to the admin API or from the console's editor: one way to read the text and one
//! way to keep, list and delete each kind, so neither door has a rule the other lacks.
use std::future::Future;

use jiff::Timestamp;

use crate::{
    deps::Deps,
    domain::{
        TenantId,
        auto_reply::AutoReply,
        definition::{CurrentOnly, Definition},
        field_error::FieldError,
        scenario::ScenarioDefinition,
        survey::SurveyDefinition,
        tag_rule::TagRule,
    },
    http::CrmError,
};

/// The largest definition stored, as JSON: kept in one item beside its keys and metadata, under
/// DynamoDB's 400 KB.
pub const MAX_DEFINITION_BYTES: usize = 350 * 1024;

/// How the text is written: the same shape either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

/// Parses and validates a definition. `expected_id`: the id the caller's address names (a
/// body naming another is refused rather than guessed at). Every refusal names its field.
pub fn read<D: Definition>(
    format: Format,
    text: &[u8],
    expected_id: Option<&str>,
) -> Result<D, FieldError> {
    let def = match format {
        Format::Yaml => {
            let text =
                std::str::from_utf8(text).map_err(|_| FieldError::new("", "YAML must be UTF-8"))?;
            D::parse_yaml(text)?
        }
        Format::Json => D::parse_json(text)?,
    };
    if let Some(expected) = expected_id
        && def.id() != expected
    {
        return Err(FieldError::new(
            "id",
            format!(
                "the body's id {:?} differs from the path's {expected:?}",
                def.id()
            ),
        ));
    }
    let stored = serde_json::to_vec(&def).map_or(usize::MAX, |v| v.len());
    if stored > MAX_DEFINITION_BYTES {
        return Err(FieldError::new(
            "",
            format!(
                "the definition is {} KB as stored; at most {} KB (split it, or move long texts out)",
                stored / 1024,
                MAX_DEFINITION_BYTES / 1024
            ),
        ));
    }
    Ok(def)
}

/// A definition as stored: its current content and version (`saved_at` unknown for tag rules
/// and auto-replies, whose list does not carry it).
#[derive(Debug, Clone)]
pub struct Saved<D> {
    pub definition: D,
    pub version: Option<u32>,
    pub saved_at: Option<Timestamp>,
}

/// How each kind is kept: save (the one versioning rule, see `domain::definition`), list, find
/// and delete. Scenarios are retired rather than deleted: enrolled friends finish their version.
pub trait Kept: Definition + Send + Sync + 'static {
    /// Saves `def`; the version now current.
    fn save(
        deps: &Deps,
        t: &TenantId,
        def: &Self,
    ) -> impl Future<Output = Result<u32, CrmError>> + Send;

    fn all(
        deps: &Deps,
        t: &TenantId,
    ) -> impl Future<Output = Result<Vec<Saved<Self>>, CrmError>> + Send;

    /// The current one with id `id` (a slug, checked by the caller).
    fn one(
        deps: &Deps,
        t: &TenantId,
        id: &str,
    ) -> impl Future<Output = Result<Option<Saved<Self>>, CrmError>> + Send;

    /// False when there was none.
    fn delete(
        deps: &Deps,
        t: &TenantId,
        id: &str,
    ) -> impl Future<Output = Result<bool, CrmError>> + Send;
}

fn slug<T: std::str::FromStr>(id: &str) -> Result<T, CrmError> {
    id.parse()
        .map_err(|_| CrmError::invalid("id", "not a valid id"))
}

impl Kept for ScenarioDefinition {
    async fn save(deps: &Deps, t: &TenantId, def: &Self) -> Result<u32, CrmError> {
        let stored = deps.store.save_scenario(t, def, deps.clock.now()).await?;
        Ok(stored.version)
    }

    async fn all(deps: &Deps, t: &TenantId) -> Result<Vec<Saved<Self>>, CrmError> {
        let mut out = Vec::new();
        for s in deps.store.scenarios(t).await? {
            out.push(Saved {
                definition: s.definition()?,
                version: Some(s.version),
                saved_at: Some(s.created_at),
            });
        }
        Ok(out)
    }

    async fn one(deps: &Deps, t: &TenantId, id: &str) -> Result<Option<Saved<Self>>, CrmError> {
        match deps.store.scenario(t, &slug(id)?).await? {
            Some(s) => Ok(Some(Saved {
                definition: s.definition()?,
                version: Some(s.version),
                saved_at: Some(s.created_at),
            })),
            None => Ok(None),
        }
    }

    async fn delete(deps: &Deps, t: &TenantId, id: &str) -> Result<bool, CrmError> {
        Ok(deps.store.retire_scenario(t, &slug(id)?).await?)
    }
}

/// Only the current version is kept: an answer applies at once, nothing runs on an old one.
impl Kept for SurveyDefinition {
    async fn save(deps: &Deps, t: &TenantId, def: &Self) -> Result<u32, CrmError> {
        let stored = deps.store.save_survey(t, def, deps.clock.now()).await?;
        Ok(stored.version)
    }

    async fn all(deps: &Deps, t: &TenantId) -> Result<Vec<Saved<Self>>, CrmError> {
        let mut out = Vec::new();
        for s in deps.store.surveys(t).await? {
            out.push(Saved {
                definition: s.definition()?,
                version: Some(s.version),
                saved_at: Some(s.saved_at),
            });
        }
        Ok(out)
    }

    async fn one(deps: &Deps, t: &TenantId, id: &str) -> Result<Option<Saved<Self>>, CrmError> {
        match deps.store.survey(t, &slug(id)?).await? {
            Some(s) => Ok(Some(Saved {
                definition: s.definition()?,
                version: Some(s.version),
                saved_at: Some(s.saved_at),
            })),
            None => Ok(None),
        }
    }

    async fn delete(deps: &Deps, t: &TenantId, id: &str) -> Result<bool, CrmError> {
        Ok(deps.store.delete_survey(t, &slug(id)?).await?)
    }
}

/// Tag rules and auto-replies: one item each, current version only.
macro_rules! kept_current {
    ($($t:ty),*) => {$(
        impl Kept for $t {
            async fn save(deps: &Deps, t: &TenantId, def: &Self) -> Result<u32, CrmError> {
                Ok(deps.store.save_current(t, def, deps.clock.now()).await?)
            }

            async fn all(deps: &Deps, t: &TenantId) -> Result<Vec<Saved<Self>>, CrmError> {
                let all: Vec<Self> = deps.store.all_current(t).await?;
                Ok(all.into_iter().map(current).collect())
            }

            async fn one(
                deps: &Deps,
                t: &TenantId,
                id: &str,
            ) -> Result<Option<Saved<Self>>, CrmError> {
                // Tens per tenant, read whole: no lookup of its own is worth a second path.
                let all: Vec<Self> = deps.store.all_current(t).await?;
                Ok(all.into_iter().find(|d| d.id() == id).map(current))
            }

            async fn delete(deps: &Deps, t: &TenantId, id: &str) -> Result<bool, CrmError> {
                Ok(deps.store.delete_current::<Self>(t, id).await?)
            }
        }
    )*};
}

kept_current!(TagRule, AutoReply);

fn current<D: CurrentOnly>(definition: D) -> Saved<D> {
    Saved {
        definition,
        version: None,
        saved_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "id: vip\nwhen: { type: purchase }\naddTags: [VIP]\n";

    #[test]
    fn a_body_naming_another_id_than_the_address_is_refused_at_id() {
        let e = read::<TagRule>(Format::Yaml, RULE.as_bytes(), Some("other")).unwrap_err();
        assert_eq!(e.field, "id");
        assert!(read::<TagRule>(Format::Yaml, RULE.as_bytes(), Some("vip")).is_ok());
        assert!(read::<TagRule>(Format::Yaml, RULE.as_bytes(), None).is_ok());
    }

    #[test]
    fn yaml_that_is_not_utf8_is_refused() {
        let e = read::<TagRule>(Format::Yaml, b"id: \xff", None).unwrap_err();
        assert!(e.message.contains("UTF-8"), "{e}");
    }
}
