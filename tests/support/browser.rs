//! A real browser for the console and the survey form: Debian's headless Chromium, driven over
//! WebDriver (chromedriver) by fantoccini, against the test stack served on a loopback port.
//! `infra/chromium.sh` installs both (`make test` runs it).
use std::{net::TcpListener, process::Stdio, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::TestEnv;

/// A desktop window, and a phone's (the console must work at 375 px).
pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (375, 812);

pub struct Browser {
    pub client: Client,
    /// Where the stack answers, e.g. `http://127.0.0.1:41234`.
    pub base: String,
    // Killed with the browser (kill_on_drop), so a failing test leaves no driver behind.
    _driver: Child,
}

impl Browser {
    /// Serves `env`'s app on a loopback port and opens a fresh browser on it.
    pub async fn open(env: &TestEnv, (width, height): (u32, u32)) -> anyhow::Result<Self> {
        // Both TLS backends are in the build (AWS SDK and reqwest): name one for fantoccini's
        // client. A second call (another test in this process) finds it set and changes nothing.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let base = env.serve().await?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("chromedriver: {e} (run `bash infra/chromium.sh`)"))?;
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--lang=ja",
                    format!("--window-size={width},{height}"),
                ],
            },
        });
        let caps = caps.as_object().cloned().unwrap_or_default();
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen: try for up to 20 s.
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::rustls()?
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Ok(Self {
                        client,
                        base,
                        _driver: driver,
                    });
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(anyhow::anyhow!("chromedriver did not start: {last:?}"))
    }

    /// Opens a path of the stack (`/console/`), or a full URL.
    pub async fn go(&self, path: &str) -> anyhow::Result<()> {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        Ok(self.client.goto(&url).await?)
    }

    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        Ok(self.client.find(Locator::Css(css)).await?)
    }

    /// The visible text of the page.
    pub async fn text(&self) -> anyhow::Result<String> {
        Ok(self.find("body").await?.text().await?)
    }

    /// Waits (up to 15 s) until the page shows `needle`, and returns its text: a click that
    /// submits a form returns before the next page has loaded, and under load it takes a while.
    pub async fn wait_for_text(&self, needle: &str) -> anyhow::Result<String> {
        let mut last = String::new();
        for _ in 0..150 {
            // The old page's body goes stale while the new one loads: try again.
            if let Ok(text) = self.text().await {
                if text.contains(needle) {
                    return Ok(text);
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(anyhow::anyhow!(
            "the page never showed {needle:?}; it shows:\n{last}"
        ))
    }

    /// Waits (up to 15 s) until the browser's path and query contain `fragment`: text already
    /// on the old page cannot tell that a submitted form's page has arrived.
    pub async fn wait_for_path(&self, fragment: &str) -> anyhow::Result<()> {
        let mut last = String::new();
        for _ in 0..150 {
            if let Ok(path) = self.path().await {
                if path.contains(fragment) {
                    return Ok(());
                }
                last = path;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(anyhow::anyhow!(
            "never reached {fragment:?}; still on {last}"
        ))
    }

    /// Signs in on the console's sign-in page and waits for the dashboard.
    pub async fn sign_in(&self, email: &str, password: &str) -> anyhow::Result<()> {
        if self.path().await? != "/console/login" {
            self.go("/console/login").await?;
        }
        self.wait_for_text("ログイン").await?;
        self.find("input[name='email']")
            .await?
            .send_keys(email)
            .await?;
        self.find("input[name='password']")
            .await?
            .send_keys(password)
            .await?;
        self.find("form button[type='submit']")
            .await?
            .click()
            .await?;
        self.wait_for_text("ダッシュボード").await?;
        Ok(())
    }

    /// The path (and query) the browser is on now.
    pub async fn path(&self) -> anyhow::Result<String> {
        let url = self.client.current_url().await?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        })
    }

    /// How many pixels the page is wider than the window (0 when it fits, as on a phone it must).
    pub async fn overflow(&self) -> anyhow::Result<i64> {
        let px = self
            .client
            .execute(
                "const e = document.documentElement; return e.scrollWidth - e.clientWidth",
                vec![],
            )
            .await?;
        px.as_i64()
            .ok_or_else(|| anyhow::anyhow!("not a width: {px}"))
    }

    /// A PNG of the window, e.g. for `make screenshots`.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        Ok(self.client.screenshot().await?)
    }

    pub async fn close(self) -> anyhow::Result<()> {
        Ok(self.client.close().await?)
    }
}
