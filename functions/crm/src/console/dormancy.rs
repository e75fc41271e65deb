//! 休眠設定: the dormancy settings in the YAML editor (saved through
//! `crate::dormancy_settings::save_settings`, as `PUT /admin/dormancy`), and the reactivation
//! report (再来店率) beneath them.
use askama::Template;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{
    Chrome, ConsoleError, Editor, Labels, Posted, Staff,
    definitions::{DefinitionForm, MAX_EDITOR_BYTES, TextEditor},
    html,
    reports::{TierLine, tier_lines},
};
use crate::{
    deps::Deps,
    domain::{dormancy::DormancySettings, field_error::FieldError},
    dormancy_settings::{save_settings, settings},
    http::CrmError,
    reactivation::report as reactivation_report,
};

const PATH: &str = "/console/dormancy";

#[derive(Template)]
#[template(path = "console/dormancy.html")]
struct DormancyPage {
    l: &'static Labels,
    me: Option<Chrome>,
    csrf: String,
    can_edit: bool,
    saved: bool,
    editor: TextEditor,
    return_window: String,
    /// The reactivation report, line by line as the reports page shows it.
    rows: Vec<TierLine>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /console/dormancy`
pub(super) async fn page(
    staff: Staff,
    State(deps): State<Deps>,
    Query(q): Query<PageQuery>,
) -> Result<Response, ConsoleError> {
    let current = settings(&deps, &staff.tenant.id).await?;
    let editor = TextEditor {
        action: PATH.to_owned(),
        text: serde_yaml_ng::to_string(&current).unwrap_or_default(),
        error: None,
        delete: None,
    };
    render(&deps, &staff, editor, q.saved.is_some(), StatusCode::OK).await
}

async fn render(
    deps: &Deps,
    staff: &Staff,
    editor: TextEditor,
    saved: bool,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let l = staff.lang.labels();
    let report = reactivation_report(deps, &staff.tenant.id).await?;
    let rows = tier_lines(l, &report);
    let page = DormancyPage {
        l,
        me: Some(Chrome::of(staff)),
        csrf: staff.csrf.clone(),
        can_edit: staff.role.can_edit(),
        saved,
        editor,
        return_window: l
            .return_window_days
            .replace("{days}", &report.return_window_days.to_string()),
        rows,
    };
    Ok(html(status, &page))
}

/// `POST /console/dormancy`: replaces the settings (YAML or JSON, the shape of
/// `PUT /admin/dormancy`); a refusal comes back in the editor, naming the field.
pub(super) async fn save(
    State(deps): State<Deps>,
    Posted { who, form }: Posted<DefinitionForm, Editor, MAX_EDITOR_BYTES>,
) -> Result<Response, ConsoleError> {
    let text = form.definition;
    let parsed: Result<DormancySettings, String> = if text.trim_start().starts_with('{') {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| e.to_string())
    };
    let refused = match parsed {
        Err(message) => FieldError::new("", message),
        Ok(settings) => match save_settings(&deps, &who.tenant.id, settings).await {
            Ok(_) => return Ok(Redirect::to(&format!("{PATH}?saved=1")).into_response()),
            Err(CrmError::Invalid { field, message }) => FieldError::new(field, message),
            Err(e) => return Err(e.into()),
        },
    };
    let editor = TextEditor {
        action: PATH.to_owned(),
        text,
        error: Some(refused),
        delete: None,
    };
    render(&deps, &who, editor, false, StatusCode::UNPROCESSABLE_ENTITY).await
}
