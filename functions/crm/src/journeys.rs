//! Journey previews (`domain::journey`) for the admin API and the console: who travels (a real
//! friend as stored, or a made-up one with the tags and fields to try), through the scenario's
//! current version, from when. Reads only; nothing is sent or written.
use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::{
    deps::Deps,
    domain::{
        Friend, LineUserId, TagName, Tenant,
        journey::{Journey, preview},
        scenario::ScenarioId,
    },
    http::CrmError,
};

/// Who the preview follows.
#[derive(Debug, Clone)]
pub enum Traveller {
    /// A friend of the shop, with their tags and fields as stored now.
    Friend(LineUserId),
    /// A friend who does not exist, following at the preview's start.
    Hypothetical {
        tags: Vec<TagName>,
        fields: BTreeMap<String, String>,
    },
}

/// The preview and the scenario version it ran.
#[derive(Debug, Clone)]
pub struct Preview {
    pub version: u32,
    pub journey: Journey,
}

/// A made-up friend's id: well-formed, and no LINE account's (LINE ids are random hex).
const NOBODY: &str = "U00000000000000000000000000000000";

/// `traveller` entering `scenario` (its current version) at `start`. None when the scenario
/// does not exist; a real friend who does not exist is `NotFound("friend")`.
pub async fn preview_journey(
    deps: &Deps,
    tenant: &Tenant,
    scenario: &ScenarioId,
    traveller: &Traveller,
    start: Timestamp,
) -> Result<Option<Preview>, CrmError> {
    let Some(stored) = deps.store.scenario(&tenant.id, scenario).await? else {
        return Ok(None);
    };
    let def = stored.definition()?;
    let friend = match traveller {
        Traveller::Friend(u) => deps
            .store
            .get_friend(&tenant.id, u)
            .await?
            .ok_or(CrmError::NotFound("friend"))?,
        Traveller::Hypothetical { tags, fields } => {
            let nobody = LineUserId::parse(NOBODY)
                .map_err(|e| CrmError::Internal(format!("placeholder friend id: {e}")))?;
            let mut f = Friend::new(tenant.id.clone(), nobody, start);
            for tag in tags {
                f.add_tag(tag.clone(), start);
            }
            f.fields = fields.clone();
            f
        }
    };
    Ok(Some(Preview {
        version: stored.version,
        journey: preview(&def, tenant, &friend, start),
    }))
}
