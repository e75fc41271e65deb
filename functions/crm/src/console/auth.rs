//! Who is signed in, decided from the session cookie: axum extractors, so a page names the
//! staff member (and the role) it needs in its signature and never sees a request it may not
//! serve. Forms come through [`Posted`], which checks the CSRF token and the role before the
//! handler runs, so no page can forget either.
use std::ops::Deref;

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use jiff::SignedDuration;
use serde::{Deserialize, de::DeserializeOwned};
use subtle::ConstantTimeEq;

use super::{ConsoleError, Lang};
use crate::{
    deps::Deps,
    domain::{
        Tenant,
        staff::{StaffMember, StaffStatus},
    },
    secret::{random_token, sha256_hex},
    store::Session,
};

/// The session cookie: a random token; the store knows only its hash.
pub const SESSION_COOKIE: &str = "tsunagu_session";
/// The CSRF token of forms shown before sign-in (login, invitation): the form's hidden field
/// must equal this cookie, which another site can neither read nor set.
pub const FORM_COOKIE: &str = "tsunagu_form";
/// How long a session lasts from sign-in, whatever its activity.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(12);
/// How long a pre-sign-in form may be submitted.
const FORM_LIFETIME: SignedDuration = SignedDuration::from_hours(1);
/// A console form is a few fields; anything larger is not one of ours.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

pub const LOGIN_PATH: &str = "/console/login";

/// A signed-in staff member, with their tenant and their session's CSRF token. Derefs to the
/// [`StaffMember`] (`staff.role`, `staff.email`).
#[derive(Debug, Clone)]
pub struct Staff {
    pub tenant: Tenant,
    pub member: StaffMember,
    /// Every form of this session carries it in a hidden `csrf` field.
    pub csrf: String,
    /// The session's key, so sign-out can end it.
    pub(super) session_sha256: String,
    /// The language this browser chose (the `tsunagu_lang` cookie).
    pub lang: Lang,
}

impl Deref for Staff {
    type Target = StaffMember;
    fn deref(&self) -> &StaffMember {
        &self.member
    }
}

/// A signed-in member who may change the shop's data (owner or editor); a viewer gets 403.
#[derive(Debug, Clone)]
pub struct Editor(pub Staff);

/// A signed-in owner (staff and credentials); editors and viewers get 403.
#[derive(Debug, Clone)]
pub struct Owner(pub Staff);

/// Who may pass: [`Staff`] (anyone signed in), [`Editor`], [`Owner`].
pub trait Guard: Sized {
    fn admit(staff: Staff) -> Result<Self, ConsoleError>;
}

impl Guard for Staff {
    fn admit(staff: Staff) -> Result<Self, ConsoleError> {
        Ok(staff)
    }
}

impl Guard for Editor {
    fn admit(staff: Staff) -> Result<Self, ConsoleError> {
        if staff.role.can_edit() {
            Ok(Editor(staff))
        } else {
            Err(ConsoleError::Forbidden)
        }
    }
}

impl Guard for Owner {
    fn admit(staff: Staff) -> Result<Self, ConsoleError> {
        if staff.role.can_manage_staff() {
            Ok(Owner(staff))
        } else {
            Err(ConsoleError::Forbidden)
        }
    }
}

macro_rules! derefs_to_staff {
    ($($guard:ty),*) => {$(
        impl Deref for $guard {
            type Target = Staff;
            fn deref(&self) -> &Staff {
                &self.0
            }
        }

        impl FromRequestParts<Deps> for $guard {
            type Rejection = Response;

            async fn from_request_parts(parts: &mut Parts, deps: &Deps) -> Result<Self, Response> {
                let staff = Staff::from_request_parts(parts, deps).await?;
                <$guard>::admit(staff).map_err(IntoResponse::into_response)
            }
        }
    )*};
}

derefs_to_staff!(Editor, Owner);

/// An unauthenticated browser goes to the sign-in page (303); a failed read is an error page.
impl FromRequestParts<Deps> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, deps: &Deps) -> Result<Self, Response> {
        match signed_in(&parts.headers, deps).await {
            Ok(Some(staff)) => Ok(staff),
            Ok(None) => Err(Redirect::to(LOGIN_PATH).into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The member whose live session the request's cookie names, if any. A session outlives neither
/// its end, nor its member (removed staff are signed out), nor an unaccepted invitation.
pub(super) async fn signed_in(
    headers: &HeaderMap,
    deps: &Deps,
) -> Result<Option<Staff>, ConsoleError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let session_sha256 = sha256_hex(token);
    let now = deps.clock.now();
    let Some(session) = deps.store.session(&session_sha256, now).await? else {
        return Ok(None);
    };
    let member = deps
        .store
        .staff_member(&session.tenant, &session.staff_id)
        .await?
        .filter(|m| m.status == StaffStatus::Active);
    let Some(member) = member else {
        return Ok(None);
    };
    let Some(tenant) = deps.store.get_tenant(&member.tenant).await? else {
        return Ok(None);
    };
    let lang = Lang::current();
    Ok(Some(Staff {
        tenant,
        member,
        csrf: session.csrf,
        session_sha256,
        lang,
    }))
}

/// Starts a session for `member`: stores it and answers with its cookie.
pub(super) async fn start_session(
    deps: &Deps,
    member: &StaffMember,
) -> Result<HeaderValue, ConsoleError> {
    let token = random_token();
    let now = deps.clock.now();
    let session = Session {
        tenant: member.tenant.clone(),
        staff_id: member.id.clone(),
        csrf: random_token(),
        created_at: now,
        ends_at: now.saturating_add(SESSION_LIFETIME).unwrap_or(now),
    };
    deps.store
        .put_session(&sha256_hex(&token), &session)
        .await?;
    tracing::info!(tenant = %member.tenant, staff = %member.id, "console session started");
    set_cookie(SESSION_COOKIE, &token, SESSION_LIFETIME)
}

/// A `Set-Cookie` for the console only: HttpOnly (no script reads it), Secure (http://127.0.0.1
/// counts as secure to browsers), SameSite=Strict (no other site's page sends it).
pub(super) fn set_cookie(
    name: &str,
    value: &str,
    lifetime: SignedDuration,
) -> Result<HeaderValue, ConsoleError> {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        lifetime.as_secs().max(0)
    ))
    .map_err(|e| ConsoleError::Internal(format!("cookie header: {e}")))
}

/// A `Set-Cookie` that removes the cookie.
pub(super) fn clear_cookie(name: &str) -> Result<HeaderValue, ConsoleError> {
    set_cookie(name, "", SignedDuration::ZERO)
}

/// The value of cookie `name` in the request, if sent.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// A pre-sign-in form's CSRF token: a fresh one with its cookie, for the page to embed.
pub(super) fn form_token() -> Result<(String, HeaderValue), ConsoleError> {
    let token = random_token();
    let cookie = set_cookie(FORM_COOKIE, &token, FORM_LIFETIME)?;
    Ok((token, cookie))
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Parses a form body into `T` after checking that its `csrf` field equals `expected`
/// (constant-time): a missing or wrong token is 403, an unreadable form 400.
fn checked_form<T: DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, ConsoleError> {
    let field: CsrfField = serde_urlencoded::from_bytes(body).map_err(|_| ConsoleError::BadForm)?;
    let matches =
        !expected.is_empty() && bool::from(field.csrf.as_bytes().ct_eq(expected.as_bytes()));
    if !matches {
        return Err(ConsoleError::Forbidden);
    }
    serde_urlencoded::from_bytes(body).map_err(|_| ConsoleError::BadForm)
}

async fn body_of(body: axum::body::Body, limit: usize) -> Result<axum::body::Bytes, ConsoleError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ConsoleError::BadForm)
}

/// A form posted by a signed-in member whom `G` admits, with its CSRF token checked: the only
/// way a console handler takes a form. `G` is [`Editor`] unless said otherwise, so a viewer's
/// POST is refused (403) unless the page opts in with [`Staff`].
///
/// In order: not signed in → 303 to sign-in; wrong or missing `csrf` → 403; role → 403;
/// unreadable form → 400. `LIMIT`: the largest body read (a definition editor's is larger).
pub struct Posted<T, G = Editor, const LIMIT: usize = MAX_FORM_BYTES> {
    pub who: G,
    pub form: T,
}

impl<T: DeserializeOwned, G: Guard, const LIMIT: usize> FromRequest<Deps> for Posted<T, G, LIMIT> {
    type Rejection = Response;

    async fn from_request(req: Request, deps: &Deps) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let staff = Staff::from_request_parts(&mut parts, deps).await?;
        let bytes = body_of(body, LIMIT)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = checked_form(&bytes, &staff.csrf).map_err(IntoResponse::into_response)?;
        let who = G::admit(staff).map_err(IntoResponse::into_response)?;
        Ok(Self { who, form })
    }
}

/// A form posted before sign-in (login, accepting an invitation), its `csrf` field checked
/// against the [`FORM_COOKIE`] the page set (double submit).
pub struct PostedAnonymously<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Deps> for PostedAnonymously<T> {
    type Rejection = Response;

    async fn from_request(req: Request, _: &Deps) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let expected = cookie(&parts.headers, FORM_COOKIE)
            .unwrap_or_default()
            .to_owned();
        let bytes = body_of(body, MAX_FORM_BYTES)
            .await
            .map_err(IntoResponse::into_response)?;
        checked_form(&bytes, &expected)
            .map(Self)
            .map_err(IntoResponse::into_response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tsunagu_session_x=no; tsunagu_session=tok"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, FORM_COOKIE), None);
    }

    #[test]
    fn a_form_passes_only_with_its_token() {
        #[derive(Deserialize, Debug)]
        struct F {
            email: String,
        }
        let ok: F = checked_form(b"csrf=abc&email=a%40b.jp", "abc").unwrap();
        assert_eq!(ok.email, "a@b.jp");
        for body in [&b"email=x"[..], b"csrf=abd&email=x", b"csrf=&email=x"] {
            assert!(matches!(
                checked_form::<F>(body, "abc"),
                Err(ConsoleError::Forbidden)
            ));
        }
        // No expected token (no cookie) admits nothing, not even an empty field.
        assert!(matches!(
            checked_form::<F>(b"csrf=&email=x", ""),
            Err(ConsoleError::Forbidden)
        ));
    }

    #[test]
    fn cookies_carry_every_attribute() {
        let c = set_cookie(SESSION_COOKIE, "t", SESSION_LIFETIME).unwrap();
        assert_eq!(
            c.to_str().unwrap(),
            "tsunagu_session=t; Path=/console; Max-Age=43200; HttpOnly; Secure; SameSite=Strict"
        );
    }
}
