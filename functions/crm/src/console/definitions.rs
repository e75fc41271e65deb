//! The definition editor, one for every kind (シナリオ, 回答フォーム, 自動応答, タグルール): a list,
//! and a YAML (or JSON) text area holding the definition exactly as the admin API's `PUT` takes
//! it, read and saved through `crate::definitions` — the functions the API calls. A refused
//! text comes back in the editor with the field's path beside it. Each kind says only its
//! address, its title and how a row reads ([`Editable`]).
use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use jiff::{Timestamp, tz::TimeZone};
use serde::Deserialize;

use super::{Chrome, ConsoleError, Editor, Labels, Posted, Staff, html};
use crate::{
    definitions::{Format, Kept, Saved, read},
    deps::Deps,
    domain::{
        LineUserId,
        auto_reply::{AutoReply, Match},
        field_error::FieldError,
        scenario::ScenarioDefinition,
        survey::{Delivery, SurveyDefinition, SurveyId},
        tag_rule::TagRule,
    },
    http::CrmError,
    store::StoreError,
};

/// The largest editor form read: a definition of up to 350 KB, percent-encoded.
pub(super) const MAX_EDITOR_BYTES: usize = 1024 * 1024;

/// A kind of definition the console edits.
pub(super) trait Editable: Kept {
    /// The pages' address: `/console/{PATH}`.
    const PATH: &'static str;
    /// A small valid example, the text of the "new" editor.
    const EXAMPLE: &'static str;
    fn title(l: &Labels) -> &'static str;
    /// The list row's name and summary.
    fn describe(&self, l: &Labels) -> (String, String);
    /// Whether its page offers a friend's signed web-form link (surveys).
    const HAS_FORM: bool = false;
}

impl Editable for ScenarioDefinition {
    const PATH: &'static str = "scenarios";
    const EXAMPLE: &'static str = include_str!("../../../../docs/examples/welcome.yaml");
    fn title(l: &Labels) -> &'static str {
        l.scenario_list
    }
    fn describe(&self, l: &Labels) -> (String, String) {
        let summary = format!(
            "{} · {} {}",
            super::words::trigger_words(&self.trigger, l),
            self.steps.len(),
            l.steps_unit
        );
        (self.name.clone(), summary)
    }
}

impl Editable for SurveyDefinition {
    const PATH: &'static str = "surveys";
    const HAS_FORM: bool = true;
    const EXAMPLE: &'static str = "id: hearing\nname: 登録アンケート\nquestions:\n  - id: age\n    type: singleChoice\n    text: 年代を教えてください\n    choices:\n      - { id: 20s, label: 20代, addTags: [20代] }\n      - { id: 30s, label: 30代, addTags: [30代] }\n";
    fn title(l: &Labels) -> &'static str {
        l.survey_list
    }
    fn describe(&self, l: &Labels) -> (String, String) {
        let delivery = match self.delivery {
            Delivery::QuickReply => l.delivery_quick_reply,
            Delivery::Buttons => l.delivery_buttons,
            Delivery::Form => l.delivery_form,
        };
        let summary = format!("{} {} · {delivery}", self.questions.len(), l.questions_unit);
        (self.name.clone(), summary)
    }
}

impl Editable for AutoReply {
    const PATH: &'static str = "auto-replies";
    const EXAMPLE: &'static str = "id: hours\npriority: 10\nmatch: { type: contains, text: 営業時間 }\nmessages:\n  - { type: text, text: \"営業時間は10:00〜19:00です\" }\n";
    fn title(l: &Labels) -> &'static str {
        l.auto_reply_list
    }
    fn describe(&self, l: &Labels) -> (String, String) {
        let summary = match &self.matching {
            Match::Exact { text } => format!("{}「{text}」", l.match_exact),
            Match::Contains { text } => format!("{}「{text}」", l.match_contains),
            Match::Regex { pattern } => format!("{} /{pattern}/", l.match_regex),
            Match::Fallback => l.match_fallback.to_owned(),
        };
        let state = if self.enabled { "" } else { l.disabled };
        (format!("{} {state}", self.id), summary)
    }
}

impl Editable for TagRule {
    const PATH: &'static str = "rules";
    const EXAMPLE: &'static str = "id: repeat-buyer\nname: リピーター\nwhen: { type: purchase }\nconditions:\n  - { type: purchaseCount, op: gte, value: 2 }\naddTags: [リピーター]\n";
    fn title(l: &Labels) -> &'static str {
        l.tag_rule_list
    }
    fn describe(&self, _: &Labels) -> (String, String) {
        let when = serde_json::to_string(&self.when).unwrap_or_default();
        (self.name.clone().unwrap_or_default(), when)
    }
}

/// One definition in a list.
pub(super) struct Row {
    pub id: String,
    pub name: String,
    pub summary: String,
    pub version: String,
    pub saved_at: String,
}

#[derive(Template)]
#[template(path = "console/definitions.html")]
struct ListPage {
    l: &'static Labels,
    me: Option<Chrome>,
    can_edit: bool,
    title: &'static str,
    path: &'static str,
    rows: Vec<Row>,
}

/// `GET /console/{kind}`
pub(super) async fn list<D: Editable>(
    staff: Staff,
    State(deps): State<Deps>,
) -> Result<Response, ConsoleError> {
    let l = staff.lang.labels();
    let zone = staff.tenant.time_zone();
    let mut all = D::all(&deps, &staff.tenant.id).await?;
    all.sort_by(|a, b| a.definition.id().cmp(b.definition.id()));
    let rows = all
        .iter()
        .map(|s| {
            let (name, summary) = s.definition.describe(l);
            Row {
                id: s.definition.id().to_owned(),
                name,
                summary,
                version: s.version.map(|v| v.to_string()).unwrap_or_default(),
                saved_at: s.saved_at.map(|t| local(t, &zone)).unwrap_or_default(),
            }
        })
        .collect();
    let page = ListPage {
        l,
        me: Some(Chrome::of(&staff)),
        can_edit: staff.role.can_edit(),
        title: D::title(l),
        path: D::PATH,
        rows,
    };
    Ok(html(StatusCode::OK, &page))
}

/// The editor as every definition page shows it: the text, where it saves, and why it was
/// refused (the field's path and the parser's words).
pub(super) struct TextEditor {
    pub action: String,
    pub text: String,
    pub error: Option<FieldError>,
    /// Where the delete button posts (an existing definition only).
    pub delete: Option<String>,
}

impl TextEditor {
    /// The editor of a saved definition, as YAML.
    pub fn of<D: Editable>(saved: &Saved<D>) -> Self {
        let id = saved.definition.id();
        Self {
            action: format!("/console/{}/{id}", D::PATH),
            text: serde_yaml_ng::to_string(&saved.definition).unwrap_or_default(),
            error: None,
            delete: Some(format!("/console/{}/{id}/delete", D::PATH)),
        }
    }
}

#[derive(Template)]
#[template(path = "console/definition.html")]
struct EditorPage {
    l: &'static Labels,
    me: Option<Chrome>,
    csrf: String,
    can_edit: bool,
    title: &'static str,
    path: &'static str,
    heading: String,
    version: String,
    editor: TextEditor,
    form_link: Option<FormLink>,
}

/// A friend's signed link to a survey's web form, to paste into a message by hand.
struct FormLink {
    user_id: String,
    url: String,
    error: &'static str,
}

fn editor_page<D: Editable>(
    staff: &Staff,
    heading: String,
    version: Option<u32>,
    editor: TextEditor,
) -> EditorPage {
    let l = staff.lang.labels();
    EditorPage {
        l,
        me: Some(Chrome::of(staff)),
        csrf: staff.csrf.clone(),
        can_edit: staff.role.can_edit(),
        title: D::title(l),
        path: D::PATH,
        heading,
        version: version.map(|v| v.to_string()).unwrap_or_default(),
        editor,
        form_link: None,
    }
}

/// `GET /console/{kind}/new`: the editor with an example to change.
pub(super) async fn new<D: Editable>(staff: Editor) -> Result<Response, ConsoleError> {
    let editor = TextEditor {
        action: format!("/console/{}", D::PATH),
        text: D::EXAMPLE.to_owned(),
        error: None,
        delete: None,
    };
    let page = editor_page::<D>(
        &staff,
        staff.lang.labels().new_definition.into(),
        None,
        editor,
    );
    Ok(html(StatusCode::OK, &page))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct OneQuery {
    /// The friend whose form link is asked for (surveys).
    #[serde(default)]
    user_id: String,
}

/// `GET /console/{kind}/{id}`: the saved definition in the editor.
pub(super) async fn one<D: Editable>(
    staff: Staff,
    State(deps): State<Deps>,
    Path(id): Path<String>,
    Query(q): Query<OneQuery>,
) -> Result<Response, ConsoleError> {
    let saved = find::<D>(&deps, &staff, &id).await?;
    let (name, _) = saved.definition.describe(staff.lang.labels());
    let mut page = editor_page::<D>(&staff, name, saved.version, TextEditor::of(&saved));
    if D::HAS_FORM {
        page.form_link = Some(form_link(&deps, &staff, &id, q.user_id.trim()).await?);
    }
    Ok(html(StatusCode::OK, &page))
}

/// The friend's signed link to survey `id`'s form, as `GET /admin/surveys/{id}/link` makes it.
async fn form_link(
    deps: &Deps,
    staff: &Staff,
    id: &str,
    user_id: &str,
) -> Result<FormLink, ConsoleError> {
    let l = staff.lang.labels();
    let mut link = FormLink {
        user_id: user_id.to_owned(),
        url: String::new(),
        error: "",
    };
    if user_id.is_empty() {
        return Ok(link);
    }
    let (Ok(user), Ok(survey)) = (LineUserId::parse(user_id), SurveyId::parse(id)) else {
        link.error = l.bad_user_id;
        return Ok(link);
    };
    if deps
        .store
        .get_friend(&staff.tenant.id, &user)
        .await?
        .is_none()
    {
        link.error = l.friend_not_found;
        return Ok(link);
    }
    match crate::forms::link(deps, &staff.tenant, &survey, &user) {
        Some(url) => link.url = url,
        None => link.error = l.form_link_unavailable,
    }
    Ok(link)
}

/// The saved definition `id`, or the not-found page.
pub(super) async fn find<D: Editable>(
    deps: &Deps,
    staff: &Staff,
    id: &str,
) -> Result<Saved<D>, ConsoleError> {
    if !crate::domain::ids::is_slug(id) {
        return Err(ConsoleError::NotFound);
    }
    D::one(deps, &staff.tenant.id, id)
        .await?
        .ok_or(ConsoleError::NotFound)
}

#[derive(Debug, Deserialize)]
pub(super) struct DefinitionForm {
    #[serde(default)]
    pub definition: String,
}

/// `POST /console/{kind}`: a new definition (its id must not be taken).
pub(super) async fn create<D: Editable>(
    State(deps): State<Deps>,
    Posted { who, form }: Posted<DefinitionForm, Editor, MAX_EDITOR_BYTES>,
) -> Result<Response, ConsoleError> {
    save::<D>(&deps, &who, None, form.definition).await
}

/// `POST /console/{kind}/{id}`: a new version of definition `id`.
pub(super) async fn update<D: Editable>(
    State(deps): State<Deps>,
    Path(id): Path<String>,
    Posted { who, form }: Posted<DefinitionForm, Editor, MAX_EDITOR_BYTES>,
) -> Result<Response, ConsoleError> {
    save::<D>(&deps, &who, Some(&id), form.definition).await
}

/// Reads and saves the text; a refusal re-renders the editor with the text as typed.
async fn save<D: Editable>(
    deps: &Deps,
    who: &Editor,
    id: Option<&str>,
    text: String,
) -> Result<Response, ConsoleError> {
    let refused = |error: FieldError, text: String| {
        let editor = TextEditor {
            action: match id {
                Some(id) => format!("/console/{}/{id}", D::PATH),
                None => format!("/console/{}", D::PATH),
            },
            text,
            error: Some(error),
            delete: None,
        };
        let heading = id.map_or_else(
            || who.lang.labels().new_definition.to_owned(),
            str::to_owned,
        );
        let page = editor_page::<D>(who, heading, None, editor);
        Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
    };
    // JSON is YAML too, but its own parser names lines and columns as the API's does.
    let format = if text.trim_start().starts_with('{') {
        Format::Json
    } else {
        Format::Yaml
    };
    let def: D = match read(format, text.as_bytes(), id) {
        Ok(def) => def,
        Err(e) => return refused(e, text),
    };
    if id.is_none() && D::one(deps, &who.tenant.id, def.id()).await?.is_some() {
        let taken = FieldError::new("id", who.lang.labels().id_taken);
        return refused(taken, text);
    }
    match D::save(deps, &who.tenant.id, &def).await {
        Ok(version) => {
            tracing::info!(tenant = %who.tenant.id, kind = D::NOUN, id = def.id(), version, "definition saved in the console");
            Ok(Redirect::to(&format!("/console/{}/{}", D::PATH, def.id())).into_response())
        }
        Err(CrmError::Invalid { field, message }) => refused(FieldError::new(field, message), text),
        Err(CrmError::Store(StoreError::Conflict)) => {
            refused(FieldError::new("", who.lang.labels().saved_meanwhile), text)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Empty {}

/// `POST /console/{kind}/{id}/delete` (a scenario is retired: enrolled friends finish it).
pub(super) async fn delete<D: Editable>(
    State(deps): State<Deps>,
    Path(id): Path<String>,
    Posted { who, .. }: Posted<Empty, Editor>,
) -> Result<Response, ConsoleError> {
    if !crate::domain::ids::is_slug(&id) {
        return Err(ConsoleError::NotFound);
    }
    D::delete(&deps, &who.tenant.id, &id).await?;
    Ok(Redirect::to(&format!("/console/{}", D::PATH)).into_response())
}

/// A time as the shop reads it: `2026-04-03 10:00` in its zone.
pub(super) fn local(t: Timestamp, zone: &TimeZone) -> String {
    t.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}
