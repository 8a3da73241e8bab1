//! A teammate's HTTP client, and the shape of an error answer.

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

use super::TestApp;

/// A signed-in teammate: a cookie-keeping client that sends the server's own Origin, as a
/// browser would.
#[derive(Clone)]
pub struct User {
    pub client: Client,
    /// The session cookie and any other the server set.
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
    pub base: String,
    pub id: String,
    pub workspace_id: String,
    pub email: String,
    pub ingest_token: String,
}

impl User {
    pub fn new(app: &TestApp) -> User {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        User {
            client: Self::client_for(app, &jar),
            jar,
            base: app.url.clone(),
            id: String::new(),
            workspace_id: String::new(),
            email: String::new(),
            ingest_token: String::new(),
        }
    }

    /// A browser-like client of `app`: its cookies in `jar`, the server's own `Origin`.
    fn client_for(app: &TestApp, jar: &std::sync::Arc<reqwest::cookie::Jar>) -> Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("origin", app.url.parse().unwrap());
        Client::builder()
            .cookie_provider(jar.clone())
            .default_headers(headers)
            .build()
            .unwrap()
    }

    /// The same signed-in teammate (same session cookie), talking to `app`: another instance,
    /// or a restarted one.
    pub fn on(&self, app: &TestApp) -> User {
        User {
            client: Self::client_for(app, &self.jar),
            base: app.url.clone(),
            ..self.clone()
        }
    }

    pub(super) fn with_identity(mut self, body: Value, email: String) -> User {
        self.id = body["teammate"]["id"].as_str().unwrap().to_string();
        self.workspace_id = body["workspace"]["id"].as_str().unwrap().to_string();
        self.ingest_token = body["workspace"]["ingest_token"]
            .as_str()
            .unwrap_or("")
            .to_string();
        self.email = email;
        self
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.client
            .put(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.client
            .patch(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, body: Option<Value>) -> Response {
        let req = self.client.delete(format!("{}{path}", self.base));
        match body {
            Some(b) => req.json(&b),
            None => req,
        }
        .send()
        .await
        .unwrap()
    }

    /// `POST /api/attachments`: a file for this teammate's next reply or note.
    pub async fn upload(&self, filename: &str, content_type: &str, bytes: &[u8]) -> Response {
        self.client
            .post(format!("{}/api/attachments?filename={filename}", self.base))
            .header("content-type", content_type)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap()
    }

    pub async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.unwrap()
    }

    pub async fn assign(&self, case_id: &str, assignee: Option<&str>) -> Response {
        self.put(
            &format!("/api/cases/{case_id}/assignee"),
            json!({ "assignee_id": assignee }),
        )
        .await
    }

    /// Case ids in a view × filter.
    pub async fn list(&self, view: &str, filter: &str) -> Vec<String> {
        let v = self
            .json(&format!("/api/cases?view={view}&filter={filter}"))
            .await;
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }

    pub async fn api_token(&self) -> String {
        let r = self.post("/api/tokens", json!({})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// A reply on a case, which the server must accept; its message.
pub async fn reply(user: &User, case_id: &str, body: &str) -> Value {
    let r = user
        .post(
            &format!("/api/cases/{case_id}/messages"),
            json!({ "kind": "reply", "body": body }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

/// `{"error": {"code", "field"?}}` of an error response, with its status.
pub async fn error_of(r: Response) -> (StatusCode, String, Option<String>) {
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        v["error"]["code"].as_str().unwrap_or("").to_string(),
        v["error"]["field"].as_str().map(str::to_string),
    )
}
