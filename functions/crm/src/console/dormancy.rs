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
};
use crate::{
    deps::Deps,
    domain::{
        dormancy::{DormancyClock, DormancySettings},
        field_error::FieldError,
    },
    dormancy_settings::{save_settings, settings},
    http::CrmError,
    reactivation::{Counts, report as reactivation_report},
};

const PATH: &str = "/console/dormancy";

/// One line of the report: a tier, or one inflow route under it.
struct ReportRow {
    tier: String,
    tag: String,
    scenario: String,
    route: String,
    entered: u64,
    messaged: u64,
    returned: u64,
    rate: String,
}

impl ReportRow {
    fn counts(mut self, c: &Counts) -> Self {
        self.entered = c.entered;
        self.messaged = c.messaged;
        self.returned = c.returned;
        self.rate = c
            .rate
            .map(|r| format!("{:.1}%", r * 100.0))
            .unwrap_or_else(|| "–".to_owned());
        self
    }
}

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
    rows: Vec<ReportRow>,
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
    let mut rows = Vec::new();
    for t in &report.tiers {
        let clock = match t.clock {
            DormancyClock::Activity => l.clock_activity,
            DormancyClock::Purchase => l.clock_purchase,
        };
        let tier = ReportRow {
            tier: format!("{clock} {}{}", t.days, l.days_unit),
            tag: t.tag.clone(),
            scenario: t.scenario.clone().unwrap_or_default(),
            route: String::new(),
            entered: 0,
            messaged: 0,
            returned: 0,
            rate: String::new(),
        };
        rows.push(tier.counts(&t.counts));
        for r in &t.by_route {
            let route = ReportRow {
                tier: String::new(),
                tag: String::new(),
                scenario: String::new(),
                route: r.route.clone(),
                entered: 0,
                messaged: 0,
                returned: 0,
                rate: String::new(),
            };
            rows.push(route.counts(&r.counts));
        }
    }
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
