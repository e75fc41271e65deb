//! タグ管理: the shop's tags by folder, with their descriptions and how many friends carry
//! them. Editors define a tag (or move it to another folder) and remove a definition; the tag
//! stays on the friends who have it, as through the admin API.
use std::collections::BTreeMap;

use askama::Template;
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{Chrome, ConsoleError, Editor, Labels, Posted, Staff, html};
use crate::{
    deps::Deps,
    domain::{TagDefinition, TagName},
};

#[derive(Template)]
#[template(path = "console/tags.html")]
struct TagsPage {
    l: &'static Labels,
    me: Option<Chrome>,
    csrf: String,
    can_edit: bool,
    /// Folder ("" for none) → its tags, by name.
    folders: BTreeMap<String, Vec<TagRow>>,
}

/// One tag as listed: defined, or only carried by friends (then in no folder).
struct TagRow {
    name: TagName,
    description: Option<String>,
    members: i64,
    defined: bool,
}

/// `GET /console/tags`: the definitions with their member counts (kept counts, no scan), and
/// the tags friends carry that nobody defined.
pub(super) async fn list(staff: Staff, State(deps): State<Deps>) -> Result<Response, ConsoleError> {
    let t = &staff.tenant.id;
    let (defs, mut counts) =
        tokio::try_join!(deps.store.tag_definitions(t), deps.store.tag_counts(t))?;
    let mut folders: BTreeMap<String, Vec<TagRow>> = BTreeMap::new();
    for def in defs {
        let members = counts.remove(&def.name).unwrap_or(0);
        folders
            .entry(def.folder.clone().unwrap_or_default())
            .or_default()
            .push(TagRow {
                name: def.name,
                description: def.description,
                members,
                defined: true,
            });
    }
    let undefined = counts.into_iter().filter(|(_, members)| *members > 0);
    let no_folder = folders.entry(String::new()).or_default();
    no_folder.extend(undefined.map(|(name, members)| TagRow {
        name,
        description: None,
        members,
        defined: false,
    }));
    no_folder.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    folders.retain(|_, rows| !rows.is_empty());
    let page = TagsPage {
        l: staff.lang.labels(),
        me: Some(Chrome::of(&staff)),
        csrf: staff.csrf.clone(),
        can_edit: staff.role.can_edit(),
        folders,
    };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub(super) struct DefineForm {
    tag: String,
    #[serde(default)]
    folder: String,
    #[serde(default)]
    description: String,
}

/// `POST /console/tags`: defines a tag, or changes its folder and description.
pub(super) async fn define(
    State(deps): State<Deps>,
    Posted { who, form }: Posted<DefineForm, Editor>,
) -> Result<Response, ConsoleError> {
    let name = TagName::parse(form.tag.trim()).map_err(|_| ConsoleError::BadForm)?;
    let def = TagDefinition::checked(
        name,
        Some(form.folder),
        Some(form.description),
        deps.clock.now(),
    )
    .map_err(|_| ConsoleError::BadForm)?;
    deps.store.put_tag_definition(&who.tenant.id, &def).await?;
    Ok(Redirect::to("/console/tags").into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct TagForm {
    tag: String,
}

/// `POST /console/tags/remove`: removes the definition, not the tag from friends.
pub(super) async fn remove(
    State(deps): State<Deps>,
    Posted { who, form }: Posted<TagForm, Editor>,
) -> Result<Response, ConsoleError> {
    let name = TagName::parse(form.tag.trim()).map_err(|_| ConsoleError::BadForm)?;
    deps.store
        .delete_tag_definition(&who.tenant.id, &name)
        .await?;
    Ok(Redirect::to("/console/tags").into_response())
}
