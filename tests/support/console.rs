//! A browser for the web console in tests: keeps its cookies, follows nothing by itself, reads
//! the CSRF token off the page it was shown, so a test speaks in page visits and form posts.
use std::{collections::BTreeMap, sync::Mutex};

use axum::body::Body;
use http::{Request, StatusCode, header};
use serde_json::json;

use crate::{OPERATOR_KEY, TestEnv};

/// One answer of the console, as a browser sees it.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    /// Where a redirect points.
    pub location: Option<String>,
    /// Every `Set-Cookie` header, whole (attributes included).
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Page {
    /// The value of the first hidden `csrf` field on the page.
    pub fn csrf(&self) -> Option<String> {
        let at = self.body.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
        let rest = &self.body[at..];
        Some(rest[..rest.find('"')?].to_owned())
    }

    /// The `Set-Cookie` header that sets `name`.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }

    pub fn redirects_to(&self, path: &str) -> bool {
        self.status == StatusCode::SEE_OTHER && self.location.as_deref() == Some(path)
    }
}

/// A browser on the console of a [`TestEnv`].
pub struct Browser<'a> {
    env: &'a TestEnv,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl TestEnv {
    pub fn browser(&self) -> Browser<'_> {
        Browser {
            env: self,
            cookies: Mutex::default(),
        }
    }

    /// A console owner of `tenant` created by the operator: (email, password).
    pub async fn console_owner(&self, tenant: &str) -> anyhow::Result<(String, String)> {
        let email = format!("owner-{}@shop.example", uuid::Uuid::new_v4().simple());
        let password = "correct horse battery".to_owned();
        let (status, body) = self
            .admin(
                "POST",
                &format!("/admin/tenants/{tenant}/owner"),
                OPERATOR_KEY,
                Some(json!({"email": email, "password": password})),
            )
            .await?;
        anyhow::ensure!(status == StatusCode::CREATED, "{status} {body}");
        Ok((email, password))
    }

    /// A viewer invited by `owner` on the staff page, signed in by accepting the invitation.
    pub async fn console_viewer<'a>(&'a self, owner: &Browser<'_>) -> anyhow::Result<Browser<'a>> {
        let invited = owner
            .submit(
                "/console/staff",
                "/console/staff",
                &[("email", "viewer@shop.example"), ("role", "viewer")],
            )
            .await?;
        let link = invited
            .body
            .split("id=\"invite-link\"")
            .next()
            .and_then(|before| before.rsplit("value=\"").next())
            .and_then(|v| v.split('"').next())
            .unwrap_or_default()
            .to_owned();
        let path = format!(
            "/console/{}",
            link.split("/console/").nth(1).unwrap_or_default()
        );
        let viewer = self.browser();
        let accepted = viewer
            .submit(
                &path,
                &path,
                &[
                    ("password", "viewer password 1"),
                    ("password_again", "viewer password 1"),
                ],
            )
            .await?;
        anyhow::ensure!(accepted.status == StatusCode::SEE_OTHER, "{accepted:?}");
        Ok(viewer)
    }
}

impl Browser<'_> {
    pub async fn get(&self, path: &str) -> anyhow::Result<Page> {
        self.send(Request::get(path), Body::empty()).await
    }

    /// Posts a form of `fields` as the page would (add `("csrf", …)` yourself).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<Page> {
        let body = serde_urlencoded::to_string(fields)?;
        let req =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(req, Body::from(body)).await
    }

    /// Opens `page_path`, then posts its form to `action` with the page's CSRF token.
    pub async fn submit(
        &self,
        page_path: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> anyhow::Result<Page> {
        let page = self.get(page_path).await?;
        let csrf = page
            .csrf()
            .ok_or_else(|| anyhow::anyhow!("{page_path} has no form: {page:?}"))?;
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    /// Signs in through the login page.
    pub async fn sign_in(&self, email: &str, password: &str) -> anyhow::Result<Page> {
        self.submit(
            "/console/login",
            "/console/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar().insert(name.to_owned(), value.to_owned());
    }

    fn jar(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.cookies.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn send(&self, req: http::request::Builder, body: Body) -> anyhow::Result<Page> {
        let cookies = self
            .jar()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if cookies.is_empty() {
            req
        } else {
            req.header(header::COOKIE, cookies)
        };
        let res = tower::ServiceExt::oneshot(self.env.app.clone(), req.body(body)?).await?;
        let status = res.status();
        let location = res
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let set_cookies: Vec<String> = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || c.contains("Max-Age=0") {
                    self.jar().remove(name);
                } else {
                    self.set_cookie(name, value);
                }
            }
        }
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
        Ok(Page {
            status,
            location,
            set_cookies,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}
