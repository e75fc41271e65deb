//! The web answer form for long surveys: `GET /forms/{tenant}/{survey}?f=<friend>&sig=<hmac>`
//! serves every question as a plain HTML page usable on a phone; `POST` records the answers and
//! publishes one `SurveyAnswered` per question, as chat answers do.
//!
//! The link is signed per friend with the tenant's channel secret (HMAC-SHA256) and expires
//! ([`LINK_TTL`]), so a friend can answer only as themselves and a link cannot be forged, moved
//! to another friend or used forever. Each rendered form carries a nonce we sign; answer ids
//! derive from it, so submitting the same page twice (a double tap, a reload) is applied once by
//! survey-tagging, and made-up nonces are refused.
use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::{
    bus::Event,
    deps::Deps,
    domain::{
        LineUserId, Tenant, TenantId,
        survey::{Answer, AnswerRecord, QuestionKind, Received, SurveyDefinition, SurveyId},
    },
    http::CrmError,
    secret::Secret,
};

/// How long a friend's form link opens the form.
pub const LINK_TTL: SignedDuration = SignedDuration::from_hours(30 * 24);
/// How long a rendered form can be submitted.
const NONCE_TTL: SignedDuration = SignedDuration::from_hours(24);

/// What a form link's HMAC signs: tenant, survey, friend and expiry. The domain prefix keeps
/// these tags from ever equalling a webhook signature or another kind of tag.
fn signed(t: &TenantId, s: &SurveyId, u: &LineUserId, expires: i64) -> Vec<u8> {
    format!("tsunagu-form/v2\n{t}\n{s}\n{u}\n{expires}").into_bytes()
}

/// The `sig` of a friend's form link that opens until `expires` (unix seconds).
pub fn signature(
    secret: &Secret,
    t: &TenantId,
    s: &SurveyId,
    u: &LineUserId,
    expires: i64,
) -> String {
    URL_SAFE_NO_PAD.encode(secret.hmac(&signed(t, s, u, expires)))
}

fn verify(secret: &Secret, t: &TenantId, s: &SurveyId, u: &LineUserId, q: &FormQuery) -> bool {
    URL_SAFE_NO_PAD
        .decode(&q.sig)
        .is_ok_and(|tag| secret.verify_hmac(&signed(t, s, u, q.e), &tag))
}

/// The friend's signed link, when the stack knows its public URL.
pub fn link(deps: &Deps, tenant: &Tenant, survey: &SurveyId, u: &LineUserId) -> Option<String> {
    let base = deps.config.public_base_url.as_ref()?;
    let now = deps.clock.now();
    let expires = now.saturating_add(LINK_TTL).unwrap_or(now).as_second();
    let sig = signature(&tenant.channel_secret, &tenant.id, survey, u, expires);
    Some(format!(
        "{}/forms/{}/{survey}?f={u}&e={expires}&sig={sig}",
        base.as_str().trim_end_matches('/'),
        tenant.id
    ))
}

/// A form's submission nonce, issued when the page is rendered: `{random}.{issued}.{tag}`, the
/// tag binding it to this friend's form. Only we can issue one, so answers cannot be multiplied
/// by posting made-up nonces; the answers' ids derive from it, so a page posted twice (a double
/// tap) is applied once.
struct Nonce;

impl Nonce {
    fn signed(t: &TenantId, s: &SurveyId, u: &LineUserId, random: &str, issued: i64) -> Vec<u8> {
        format!("tsunagu-form-nonce/v1\n{t}\n{s}\n{u}\n{random}\n{issued}").into_bytes()
    }

    fn issue(
        secret: &Secret,
        t: &TenantId,
        s: &SurveyId,
        u: &LineUserId,
        now: Timestamp,
    ) -> String {
        let random = uuid::Uuid::new_v4().simple().to_string();
        let issued = now.as_second();
        let tag = URL_SAFE_NO_PAD.encode(secret.hmac(&Self::signed(t, s, u, &random, issued)));
        format!("{random}.{issued}.{tag}")
    }

    /// The nonce's random part (what answer ids derive from), if we issued it for this form and
    /// it has not expired.
    fn check(
        secret: &Secret,
        t: &TenantId,
        s: &SurveyId,
        u: &LineUserId,
        posted: &str,
        now: Timestamp,
    ) -> Option<String> {
        let mut parts = posted.splitn(3, '.');
        let (random, issued, tag) = (parts.next()?, parts.next()?, parts.next()?);
        let issued: i64 = issued.parse().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let fresh = Timestamp::from_second(issued)
            .ok()
            .and_then(|at| at.checked_add(NONCE_TTL).ok())
            .is_some_and(|until| now <= until);
        (fresh && secret.verify_hmac(&Self::signed(t, s, u, random, issued), &tag))
            .then(|| random.to_owned())
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct FormQuery {
    f: String,
    /// When the link stops opening the form (unix seconds), under the signature.
    e: i64,
    sig: String,
}

/// Anything wrong with a link (forged, moved, expired) answers the same 404: the URL space
/// cannot be probed.
async fn open(
    deps: &Deps,
    tenant: &str,
    survey: &str,
    q: &FormQuery,
) -> Result<(Tenant, SurveyDefinition, LineUserId), CrmError> {
    let gone = || CrmError::NotFound("form");
    let t = TenantId::parse(tenant).map_err(|_| gone())?;
    let s = SurveyId::parse(survey).map_err(|_| gone())?;
    let u = LineUserId::parse(&q.f).map_err(|_| gone())?;
    if deps.clock.now().as_second() > q.e {
        return Err(gone());
    }
    let tenant = deps.store.get_tenant(&t).await?.ok_or_else(gone)?;
    if !verify(&tenant.channel_secret, &t, &s, &u, q) {
        return Err(gone());
    }
    let def = deps
        .store
        .survey(&t, &s)
        .await?
        .ok_or_else(gone)?
        .definition()?;
    deps.store.get_friend(&t, &u).await?.ok_or_else(gone)?;
    Ok((tenant, def, u))
}

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '&' => "&amp;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t}</title><style>body{{font-family:sans-serif;max-width:36rem;margin:auto;padding:1rem;line-height:1.6}}\
         fieldset{{border:1px solid #ddd;border-radius:8px;margin:0 0 1rem}}label{{display:block;padding:.4rem 0}}\
         input[type=text],input[type=date],textarea{{width:100%;font-size:1rem;padding:.4rem}}\
         button{{width:100%;font-size:1.1rem;padding:.8rem;background:#06c755;color:#fff;border:0;border-radius:8px}}</style>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // Our own inline style and a post back to us, nothing else: no scripts, no framing
            // (clickjacking), no form posted elsewhere, no referrer leaking the signed link.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}

/// `GET /forms/{tenant}/{survey}`: every question on one page.
pub(crate) async fn show(
    State(deps): State<Deps>,
    Path((tenant, survey)): Path<(String, String)>,
    Query(q): Query<FormQuery>,
) -> Result<Response, CrmError> {
    let (tenant, def, u) = open(&deps, &tenant, &survey, &q).await?;
    let nonce = Nonce::issue(
        &tenant.channel_secret,
        &tenant.id,
        &def.id,
        &u,
        deps.clock.now(),
    );
    let mut body =
        format!("<form method=\"post\"><input type=\"hidden\" name=\"n\" value=\"{nonce}\">");
    for question in &def.questions {
        let name = format!("q.{}", question.id);
        body.push_str(&format!(
            "<fieldset><legend>{}</legend>",
            escape(&question.text)
        ));
        match question.kind {
            QuestionKind::FreeText => {
                body.push_str(&format!("<textarea name=\"{name}\" rows=\"3\"></textarea>"))
            }
            QuestionKind::Date => body.push_str(&format!("<input type=\"date\" name=\"{name}\">")),
            kind => {
                let input = if kind == QuestionKind::MultipleChoice {
                    "checkbox"
                } else {
                    "radio"
                };
                for c in question.all_choices().iter() {
                    body.push_str(&format!(
                        "<label><input type=\"{input}\" name=\"{name}\" value=\"{}\"> {}</label>",
                        escape(c.id.as_str()),
                        escape(c.label())
                    ));
                }
            }
        }
        body.push_str("</fieldset>");
    }
    body.push_str("<button type=\"submit\">送信する</button></form>");
    Ok(page(&def.name, &body))
}

/// `POST /forms/{tenant}/{survey}`: records the answers given and publishes them.
pub(crate) async fn submit(
    State(deps): State<Deps>,
    Path((tenant, survey)): Path<(String, String)>,
    Query(q): Query<FormQuery>,
    body: Bytes,
) -> Result<Response, CrmError> {
    let (tenant, def, u) = open(&deps, &tenant, &survey, &q).await?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let now = deps.clock.now();
    let posted = pairs
        .iter()
        .find(|(k, _)| k == "n")
        .map(|(_, v)| v.as_str());
    let nonce = posted
        .and_then(|n| Nonce::check(&tenant.channel_secret, &tenant.id, &def.id, &u, n, now))
        .ok_or_else(|| {
            CrmError::BadRequest(
                "this form has expired or was not ours; open the link again".into(),
            )
        })?;
    let mut records = Vec::new();
    let mut events = Vec::new();
    for question in &def.questions {
        let key = format!("q.{}", question.id);
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(k, v)| *k == key && !v.trim().is_empty())
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            continue;
        }
        let joined = values.join(",");
        let received = match question.kind {
            QuestionKind::FreeText | QuestionKind::Date => Received::Text(values[0]),
            _ => Received::Postback {
                answer: &joined,
                date: None,
            },
        };
        let answer = question
            .interpret(received)
            .map_err(|e| CrmError::invalid(key, e.to_string()))?;
        let id = format!("form-{nonce}-{}", question.id);
        let (choices, text) = match &answer {
            Answer::Chose(ids) => (ids.clone(), None),
            Answer::Text(t) => (Vec::new(), Some(t.clone())),
            Answer::Date(d) => (Vec::new(), Some(d.to_string())),
            Answer::Done => (Vec::new(), None),
        };
        // The form gives a multiple choice's whole set at once: the choices' effects, then
        // "done" for the question's own effects and its field.
        let mut answered = vec![(answer.bus_value(), id.clone())];
        if question.kind == QuestionKind::MultipleChoice {
            answered.push((Answer::Done.bus_value(), format!("{id}-done")));
        }
        let record_id = answered
            .last()
            .map_or_else(|| id.clone(), |(_, r)| r.clone());
        for (value, answer_id) in &answered {
            events.push(Event::survey_answered(
                &tenant.id,
                &u,
                now,
                def.id.as_str(),
                question.id.as_str(),
                value,
                answer_id,
            ));
        }
        records.push(AnswerRecord {
            survey: def.id.clone(),
            question: question.id.clone(),
            answer_id: record_id,
            choices,
            text,
            answered_at: now,
        });
    }
    // The answers and their events commit together; consumers dedupe on the answer ids.
    deps.store
        .save_answers(&tenant.id, &u, &records, &events, now)
        .await?;
    tracing::info!(tenant = %tenant.id, friend = %u.hashed(), survey = %def.id, answers = records.len(), "form answers recorded");
    let body = if def.thanks.is_empty() {
        "<p>ご回答ありがとうございました。LINEに戻ってください。</p>".to_owned()
    } else {
        let texts: Vec<String> = def
            .thanks
            .iter()
            .filter_map(|m| m["text"].as_str())
            .map(|t| format!("<p>{}</p>", escape(t)))
            .collect();
        texts.join("")
    };
    Ok((StatusCode::OK, page(&def.name, &body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (Secret, TenantId, SurveyId, LineUserId, LineUserId) {
        (
            Secret::new("channel-secret"),
            TenantId::parse("demo").unwrap(),
            SurveyId::parse("hearing").unwrap(),
            LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            LineUserId::parse("U00000000000000000000000000000002").unwrap(),
        )
    }

    #[test]
    fn a_link_signed_for_one_friend_does_not_open_for_another_or_longer() {
        let (secret, t, s, a, b) = ids();
        let e = 1_800_000_000;
        let query = |f: &LineUserId, e: i64, sig: &str| FormQuery {
            f: f.to_string(),
            e,
            sig: sig.to_owned(),
        };
        let sig = signature(&secret, &t, &s, &a, e);
        assert!(verify(&secret, &t, &s, &a, &query(&a, e, &sig)));
        assert!(!verify(&secret, &t, &s, &b, &query(&b, e, &sig)));
        assert!(
            !verify(&secret, &t, &s, &a, &query(&a, e + 86_400, &sig)),
            "expiry is signed"
        );
        assert!(!verify(
            &Secret::new("other"),
            &t,
            &s,
            &a,
            &query(&a, e, &sig)
        ));
        assert!(!verify(&secret, &t, &s, &a, &query(&a, e, "not base64!")));
    }

    #[test]
    fn only_a_nonce_we_issued_for_this_form_and_still_fresh_is_taken() {
        let (secret, t, s, a, b) = ids();
        let now: Timestamp = "2026-04-01T00:00:00Z".parse().unwrap();
        let nonce = Nonce::issue(&secret, &t, &s, &a, now);
        assert!(Nonce::check(&secret, &t, &s, &a, &nonce, now).is_some());
        assert!(
            Nonce::check(&secret, &t, &s, &b, &nonce, now).is_none(),
            "another friend"
        );
        assert!(
            Nonce::check(&secret, &t, &s, &a, "abc123", now).is_none(),
            "made up"
        );
        let tomorrow = now.checked_add(SignedDuration::from_hours(25)).unwrap();
        assert!(
            Nonce::check(&secret, &t, &s, &a, &nonce, tomorrow).is_none(),
            "expired"
        );
        let forged = nonce.replacen('.', "0.", 1);
        assert!(Nonce::check(&secret, &t, &s, &a, &forged, now).is_none());
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape("<b>\"&'"), "&lt;b&gt;&quot;&amp;&#39;");
    }
}
