//! Signing in and out, accepting an invitation, and the dashboard.
use askama::Template;
use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::{
    Chrome, ConsoleError, Labels, Lang,
    auth::{
        FORM_COOKIE, Posted, PostedAnonymously, SESSION_COOKIE, Staff, clear_cookie, form_token,
        signed_in, start_session,
    },
    error_page, html,
};
use crate::{
    dashboard::Dashboard,
    deps::Deps,
    domain::staff::{Email, PasswordDigest, StaffError, StaffMember, StaffStatus},
    secret::sha256_hex,
    store::Invitation,
};

/// Failed sign-ins allowed per email in one [`LOGIN_WINDOW`]; the next attempt, even with the
/// right password, is refused until the window ends.
pub const LOGIN_ATTEMPTS: u32 = 5;
/// The fixed window sign-in attempts are counted in.
pub const LOGIN_WINDOW: SignedDuration = SignedDuration::from_mins(15);

/// Hashes a new password off the async executor (argon2id takes tens of milliseconds of CPU).
pub async fn password_digest(password: String) -> Result<PasswordDigest, StaffError> {
    tokio::task::spawn_blocking(move || PasswordDigest::new(&password))
        .await
        .map_err(|e| StaffError::Hashing(e.to_string()))?
}

async fn password_matches(digest: Option<PasswordDigest>, password: String) -> bool {
    tokio::task::spawn_blocking(move || PasswordDigest::verify(digest.as_ref(), &password))
        .await
        .unwrap_or(false)
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    l: &'static Labels,
    me: Option<Chrome>,
    d: Dashboard,
    /// When LINE's figures were read, in the shop's zone.
    quota_as_of: String,
    /// The start of each of today's broadcasts (HH:MM, shop's zone).
    starts: Vec<String>,
}

/// `GET /console/`: the shop's figures at a glance.
pub(super) async fn dashboard(
    staff: Staff,
    State(deps): State<Deps>,
) -> Result<Response, ConsoleError> {
    let now = deps.clock.now();
    let d = crate::dashboard::load(&deps, &staff.tenant, now).await?;
    let zone = staff.tenant.time_zone();
    let local =
        |at: Timestamp, format: &str| at.to_zoned(zone.clone()).strftime(format).to_string();
    let quota_as_of = d
        .line_quota
        .map(|q| local(q.checked_at, "%Y-%m-%d %H:%M"))
        .unwrap_or_default();
    let starts = d
        .broadcasts_today
        .iter()
        .map(|b| local(b.request.send_at.unwrap_or(b.created_at), "%H:%M"))
        .collect();
    Ok(html(
        StatusCode::OK,
        &DashboardPage {
            l: staff.lang.labels(),
            me: Some(Chrome::of(&staff)),
            d,
            quota_as_of,
            starts,
        },
    ))
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    l: &'static Labels,
    me: Option<Chrome>,
    csrf: String,
    email: String,
    error: Option<&'static str>,
}

/// The sign-in page with a fresh form token (and its cookie).
fn login_page(status: StatusCode, email: String, error: Option<&'static str>) -> Response {
    let (csrf, cookie) = match form_token() {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let page = LoginPage {
        l: Lang::current().labels(),
        me: None,
        csrf,
        email,
        error,
    };
    let mut res = html(status, &page);
    res.headers_mut().append(header::SET_COOKIE, cookie);
    res
}

/// `GET /console/login`; a signed-in member goes straight to the dashboard.
pub(super) async fn login_form(
    State(deps): State<Deps>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    if signed_in(&headers, &deps).await?.is_some() {
        return Ok(Redirect::to("/console/").into_response());
    }
    Ok(login_page(StatusCode::OK, String::new(), None))
}

#[derive(Deserialize)]
pub(super) struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// The fixed window `now` falls in: its start (the counter's key) and end (its expiry).
fn window(now: Timestamp) -> (i64, Timestamp) {
    let span = LOGIN_WINDOW.as_secs();
    let start = now.as_second().div_euclid(span) * span;
    let end = Timestamp::from_second(start + span).unwrap_or(now);
    (start, end)
}

/// `POST /console/login` `email, password, csrf`. A wrong password, an unknown email and an
/// invitation not yet accepted get the same answer after the same hashing time.
pub(super) async fn login(
    State(deps): State<Deps>,
    PostedAnonymously(form): PostedAnonymously<Credentials>,
) -> Result<Response, ConsoleError> {
    let l = Lang::current().labels();
    let typed = form.email.trim().to_lowercase();
    // Counted by the hash of what was typed, valid address or not; the logs see only the hash.
    let who = sha256_hex(&typed);
    let window = window(deps.clock.now());
    if !deps
        .store
        .take_login_attempt(&who, window, LOGIN_ATTEMPTS)
        .await?
    {
        tracing::warn!(email_sha256 = %who, "console sign-in refused: too many attempts");
        return Err(ConsoleError::TooManyAttempts);
    }
    let member = match Email::parse(&typed) {
        Ok(email) => deps.store.staff_by_email(&email).await?,
        Err(_) => None,
    }
    .filter(|m| m.status == StaffStatus::Active);
    let digest = member.as_ref().and_then(|m| m.password.clone());
    let matched = password_matches(digest, form.password).await;
    let Some(member) = member.filter(|_| matched) else {
        tracing::info!(email_sha256 = %who, "console sign-in failed");
        return Ok(login_page(
            StatusCode::UNAUTHORIZED,
            form.email,
            Some(l.wrong_credentials),
        ));
    };
    deps.store.return_login_attempt(&who, window.0).await?;
    signed_in_to_dashboard(&deps, &member).await
}

/// Starts `member`'s session and opens the dashboard; the sign-in form's token has served.
async fn signed_in_to_dashboard(
    deps: &Deps,
    member: &StaffMember,
) -> Result<Response, ConsoleError> {
    let session = start_session(deps, member).await?;
    let mut res = Redirect::to("/console/").into_response();
    res.headers_mut().append(header::SET_COOKIE, session);
    res.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(FORM_COOKIE)?);
    Ok(res)
}

/// The sign-out form carries only its token.
#[derive(Deserialize)]
pub(super) struct NoFields {}

/// `POST /console/logout`: ends the session (any role may).
pub(super) async fn logout(
    State(deps): State<Deps>,
    posted: Posted<NoFields, Staff>,
) -> Result<Response, ConsoleError> {
    deps.store.end_session(&posted.who.session_sha256).await?;
    tracing::info!(tenant = %posted.who.tenant.id, staff = %posted.who.id, "console session ended");
    let mut res = Redirect::to(super::LOGIN_PATH).into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE)?);
    Ok(res)
}

#[derive(Template)]
#[template(path = "console/invite.html")]
struct InvitePage {
    l: &'static Labels,
    me: Option<Chrome>,
    csrf: String,
    email: String,
    error: Option<&'static str>,
}

/// The invitation's page: set a password, with a fresh form token.
async fn invitation_page(
    deps: &Deps,
    token: &str,
    status: StatusCode,
    error: Option<&'static str>,
) -> Result<Response, ConsoleError> {
    let Some((_, member)) = invited(deps, &sha256_hex(token)).await? else {
        return Ok(invalid_invitation());
    };
    let (csrf, cookie) = form_token()?;
    let page = InvitePage {
        l: Lang::current().labels(),
        me: None,
        csrf,
        email: member.email.as_str().to_owned(),
        error,
    };
    let mut res = html(status, &page);
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}

/// The live invitation a token's hash names, with the member it invites.
async fn invited(
    deps: &Deps,
    token_sha256: &str,
) -> Result<Option<(Invitation, StaffMember)>, ConsoleError> {
    let Some(invitation) = deps
        .store
        .invitation(token_sha256, deps.clock.now())
        .await?
    else {
        return Ok(None);
    };
    let member = deps
        .store
        .staff_member(&invitation.tenant, &invitation.staff_id)
        .await?;
    Ok(member.map(|m| (invitation, m)))
}

fn invalid_invitation() -> Response {
    let l = Lang::current().labels();
    error_page(StatusCode::NOT_FOUND, l.invitation_invalid, "")
}

/// `GET /console/invite/{token}`
pub(super) async fn invitation(
    State(deps): State<Deps>,
    Path(token): Path<String>,
) -> Result<Response, ConsoleError> {
    invitation_page(&deps, &token, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub(super) struct NewPassword {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

/// `POST /console/invite/{token}` `password, password_again, csrf`: sets the password, uses
/// the invitation up and signs the new member in.
pub(super) async fn accept_invitation(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    PostedAnonymously(form): PostedAnonymously<NewPassword>,
) -> Result<Response, ConsoleError> {
    let l = Lang::current().labels();
    let refused = |error| invitation_page(&deps, &token, StatusCode::BAD_REQUEST, Some(error));
    if form.password != form.password_again {
        return refused(l.passwords_differ).await;
    }
    let token_sha256 = sha256_hex(&token);
    let Some((invitation, member)) = invited(&deps, &token_sha256).await? else {
        return Ok(invalid_invitation());
    };
    let digest = match password_digest(form.password).await {
        Ok(d) => d,
        Err(StaffError::ShortPassword | StaffError::LongPassword) => {
            return refused(l.password_rule).await;
        }
        Err(e) => return Err(ConsoleError::Internal(e.to_string())),
    };
    if !deps
        .store
        .accept_invitation(&token_sha256, &invitation, &digest)
        .await?
    {
        return Ok(invalid_invitation());
    }
    tracing::info!(tenant = %member.tenant, staff = %member.id, "console invitation accepted");
    signed_in_to_dashboard(&deps, &member).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_aligned() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let (start, end) = window(at("2026-04-01T00:14:59Z"));
        assert_eq!(start, at("2026-04-01T00:00:00Z").as_second());
        assert_eq!(end, at("2026-04-01T00:15:00Z"));
        assert_eq!(
            window(at("2026-04-01T00:15:00Z")).1,
            at("2026-04-01T00:30:00Z")
        );
    }
}
