//! The web console under `/console/`: server-rendered pages (askama templates in
//! `templates/console/`, checked at compile time) for a shop's staff, signed in with email and
//! password. Served by the admin-api function beside the JSON API, which keeps its bearer keys.
//!
//! Page authors: take [`Staff`] (any member), [`Editor`] or [`Owner`] in a GET handler, and
//! every form through [`Posted`] (CSRF and role checked before the handler runs). Render with
//! [`html`]; each page struct holds `l: &'static Labels` and `me: Option<Chrome>` for
//! `base.html`.
mod auth;
mod broadcasts;
mod definitions;
mod dormancy;
mod download;
mod fields;
mod filtered;
mod friends;
mod labels;
mod pages;
mod reports;
mod scenarios;
mod staff;
mod tags;
mod words;

use std::sync::LazyLock;

use askama::Template;
use axum::{
    Router,
    http::{HeaderValue, StatusCode, header},
    middleware,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};

pub use auth::{
    Editor, FORM_COOKIE, Guard, LOGIN_PATH, Owner, Posted, PostedAnonymously, SESSION_COOKIE,
    SESSION_LIFETIME, Staff,
};
pub use broadcasts::BROADCAST_JS_URL;
pub use labels::{LANG_COOKIE, Labels, Lang};
pub use pages::{LOGIN_ATTEMPTS, LOGIN_WINDOW, password_digest};
pub use staff::INVITATION_LIFETIME;

use crate::{
    deps::Deps,
    domain::{
        auto_reply::AutoReply, scenario::ScenarioDefinition, survey::SurveyDefinition,
        tag_rule::TagRule,
    },
    http::CrmError,
    store::StoreError,
};

/// The one stylesheet, embedded in the binary.
const APP_CSS: &str = include_str!("../../templates/console/app.css");

/// The stylesheet's URL, versioned by its content so it can be cached for a year.
pub static APP_CSS_URL: LazyLock<String> = LazyLock::new(|| {
    let hash = crate::secret::sha256_hex(APP_CSS);
    format!("/console/assets/app.css?v={}", &hash[..12])
});

pub fn router(deps: Deps) -> Router {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(pages::dashboard))
        .route("/console/assets/app.css", get(stylesheet))
        .route("/console/login", get(pages::login_form).post(pages::login))
        .route("/console/logout", post(pages::logout))
        .route(
            "/console/invite/{token}",
            get(pages::invitation).post(pages::accept_invitation),
        )
        .route("/console/lang/{code}", get(choose_language))
        .route("/console/friends", get(friends::list))
        .route("/console/friends.csv", get(filtered::csv))
        .route("/console/friends/bulk-tags", post(filtered::bulk_tags))
        .route("/console/friends/{user_id}", get(friends::one))
        .route("/console/friends/{user_id}/tags", post(friends::add_tag))
        .route(
            "/console/friends/{user_id}/tags/remove",
            post(friends::remove_tag),
        )
        .route(
            "/console/friends/{user_id}/fields",
            post(friends::set_field),
        )
        .route("/console/tags", get(tags::list).post(tags::define))
        .route("/console/tags/remove", post(tags::remove))
        .route("/console/fields", get(fields::list).post(fields::define))
        .route("/console/fields/remove", post(fields::remove))
        // Broadcasts and reports
        .route(
            "/console/broadcasts",
            get(broadcasts::list).post(broadcasts::create),
        )
        .route("/console/broadcasts/new", get(broadcasts::new))
        .route("/console/broadcasts/audience", post(broadcasts::audience))
        .route("/console/assets/broadcast.js", get(broadcasts::script))
        .route("/console/broadcasts/{id}", get(broadcasts::one))
        .route("/console/broadcasts/{id}/cancel", post(broadcasts::cancel))
        .route("/console/reports", get(reports::page))
        .route(
            "/console/reports/broadcasts.csv",
            get(reports::broadcasts_csv),
        )
        .route(
            "/console/reports/reactivation.csv",
            get(reports::reactivation_csv),
        )
        // Definition pages
        .route(
            "/console/scenarios",
            get(definitions::list::<ScenarioDefinition>)
                .post(definitions::create::<ScenarioDefinition>),
        )
        .route(
            "/console/scenarios/new",
            get(definitions::new::<ScenarioDefinition>),
        )
        .route(
            "/console/scenarios/{id}",
            get(scenarios::one).post(definitions::update::<ScenarioDefinition>),
        )
        .route(
            "/console/scenarios/{id}/delete",
            post(definitions::delete::<ScenarioDefinition>),
        )
        .route(
            "/console/scenarios/{id}/test-send",
            post(scenarios::test_send),
        )
        .route("/console/scenarios/{id}/migrate", post(scenarios::migrate))
        .route(
            "/console/surveys",
            get(definitions::list::<SurveyDefinition>)
                .post(definitions::create::<SurveyDefinition>),
        )
        .route(
            "/console/surveys/new",
            get(definitions::new::<SurveyDefinition>),
        )
        .route(
            "/console/surveys/{id}",
            get(definitions::one::<SurveyDefinition>).post(definitions::update::<SurveyDefinition>),
        )
        .route(
            "/console/surveys/{id}/delete",
            post(definitions::delete::<SurveyDefinition>),
        )
        .route(
            "/console/auto-replies",
            get(definitions::list::<AutoReply>).post(definitions::create::<AutoReply>),
        )
        .route(
            "/console/auto-replies/new",
            get(definitions::new::<AutoReply>),
        )
        .route(
            "/console/auto-replies/{id}",
            get(definitions::one::<AutoReply>).post(definitions::update::<AutoReply>),
        )
        .route(
            "/console/auto-replies/{id}/delete",
            post(definitions::delete::<AutoReply>),
        )
        .route(
            "/console/rules",
            get(definitions::list::<TagRule>).post(definitions::create::<TagRule>),
        )
        .route("/console/rules/new", get(definitions::new::<TagRule>))
        .route(
            "/console/rules/{id}",
            get(definitions::one::<TagRule>).post(definitions::update::<TagRule>),
        )
        .route(
            "/console/rules/{id}/delete",
            post(definitions::delete::<TagRule>),
        )
        .route(
            "/console/dormancy",
            get(dormancy::page).post(dormancy::save),
        )
        .route("/console/staff", get(staff::list).post(staff::invite))
        .route("/console/staff/{id}/remove", post(staff::remove))
        // An HTML 404 for any other console path (the merged JSON API owns the fallback).
        .route("/console/{*rest}", get(|| async { ConsoleError::NotFound }))
        .layer(middleware::map_response(page_headers))
        .layer(middleware::from_fn(labels::with_request_language))
        .with_state(deps)
}

/// `GET /console/lang/{ja|en}`: keeps the choice in a cookie for a year and goes back to the
/// dashboard. A preference, not a change to the shop's data: no form, no CSRF token needed.
async fn choose_language(
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Result<Response, ConsoleError> {
    let lang = Lang::parse(&code).ok_or(ConsoleError::NotFound)?;
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/console; Max-Age=31536000; Secure; SameSite=Strict",
        lang.code()
    );
    let cookie =
        HeaderValue::from_str(&cookie).map_err(|e| ConsoleError::Internal(e.to_string()))?;
    let mut res = Redirect::to("/console/").into_response();
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}

/// What every signed-in page's layout shows: the shop, the member, the sign-out form's token.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub shop: String,
    pub email: String,
    pub csrf: String,
    pub can_manage_staff: bool,
}

impl Chrome {
    pub fn of(staff: &Staff) -> Self {
        Self {
            shop: staff.tenant.name.clone(),
            email: staff.email.as_str().to_owned(),
            csrf: staff.csrf.clone(),
            can_manage_staff: staff.role.can_manage_staff(),
        }
    }
}

/// A rendered page as a response; a template that fails to render is a 500 page.
pub fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => html_body(status, body),
        Err(e) => ConsoleError::Internal(format!("template: {e}")).into_response(),
    }
}

fn html_body(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        APP_CSS,
    )
        .into_response()
}

/// Pages are private and never framed: not cached, not embeddable, no referrer leaving the site
/// (an invitation URL carries its token).
async fn page_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    ] {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    res
}

/// A console request that cannot be served: answered with an error page.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Not allowed for this role, or a form without its CSRF token.
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("unreadable form")]
    BadForm,
    #[error("too many sign-in attempts")]
    TooManyAttempts,
    /// A download larger than one response may carry.
    #[error("too many rows")]
    TooManyRows,
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the shared library functions refuse becomes the console's error page.
impl From<CrmError> for ConsoleError {
    fn from(e: CrmError) -> Self {
        match e {
            CrmError::NotFound(_) => ConsoleError::NotFound,
            CrmError::Invalid { .. } | CrmError::BadRequest(_) => ConsoleError::BadForm,
            CrmError::Forbidden | CrmError::Unauthorized => ConsoleError::Forbidden,
            // A tampered or foreign cursor in a form or link.
            CrmError::Store(StoreError::BadCursor) => ConsoleError::BadForm,
            CrmError::Store(s) => ConsoleError::Store(s),
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    l: &'static Labels,
    me: Option<Chrome>,
    title: &'static str,
    detail: &'static str,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let l = Lang::current().labels();
        let (status, title, detail) = match &self {
            Self::Forbidden => (StatusCode::FORBIDDEN, l.forbidden, l.forbidden_detail),
            Self::NotFound => (StatusCode::NOT_FOUND, l.not_found, ""),
            Self::BadForm => (StatusCode::BAD_REQUEST, l.bad_form, ""),
            Self::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, l.too_many_attempts, ""),
            Self::TooManyRows => (StatusCode::PAYLOAD_TOO_LARGE, l.too_many_rows, ""),
            Self::Internal(_) | Self::Store(_) => {
                let error_id = uuid::Uuid::new_v4();
                tracing::error!(%error_id, error = %self, "console request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, l.internal, "")
            }
        };
        error_page(status, title, detail)
    }
}

/// A page that only says what went wrong.
pub(crate) fn error_page(
    status: StatusCode,
    title: &'static str,
    detail: &'static str,
) -> Response {
    let page = ErrorPage {
        l: Lang::current().labels(),
        me: None,
        title,
        detail,
    };
    match page.render() {
        Ok(body) => html_body(status, body),
        // The error page is static text; failing to render it leaves the status to speak.
        Err(_) => status.into_response(),
    }
}
