//! The OpenID provider the single sign-on tests and the browser test sign in against: panva's
//! `oidc-provider` (a certified implementation) run by `tests/peers/oidc/provider.mjs`, with
//! the app's `/sso/callback` as every client's redirect URI.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use crate::common::{require, TestApp};

/// The provider, stopped when dropped.
pub struct Provider {
    _child: tokio::process::Child,
    pub issuer: String,
}

fn peer_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc")
}

/// Whether the provider's npm packages are there, installed with `npm ci` (once per run) when
/// they are not, as the browser test does for its own.
async fn installed() -> bool {
    static INSTALLED: tokio::sync::OnceCell<bool> = tokio::sync::OnceCell::const_new();
    *INSTALLED
        .get_or_init(|| async {
            let present = || peer_dir().join("node_modules/oidc-provider").is_dir();
            if !present() {
                let _ = tokio::process::Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--silent"])
                    .current_dir(peer_dir())
                    .status()
                    .await;
            }
            present()
        })
        .await
}

/// Starts the provider with the app's callback as every client's redirect URI; `None` (the
/// test skips, or fails under CI) without node or the npm packages.
pub async fn provider(app: &TestApp) -> Option<Provider> {
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !require("node", node) {
        return None;
    }
    if !require("oidc-provider (tests/peers/oidc)", installed().await) {
        return None;
    }
    let mut child = tokio::process::Command::new("node")
        .arg("provider.mjs")
        .arg(format!("{}/sso/callback", app.url))
        .current_dir(peer_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the OpenID provider");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let issuer = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(issuer) = v["issuer"].as_str() {
                    return issuer.to_string();
                }
            }
        }
        panic!("the OpenID provider stopped before it listened");
    })
    .await
    .expect("the OpenID provider listens");
    // Its later notices are not read; keep the pipe drained.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(Provider {
        _child: child,
        issuer,
    })
}
