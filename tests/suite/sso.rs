//! Single sign-on against a real OpenID provider: panva's `oidc-provider` (a certified
//! implementation) run by `tests/peers/oidc/provider.mjs`, driven over HTTP as a browser would
//! (cookies kept, every redirect followed by hand).

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::common::{error_of, Db, TestApp, User};
use crate::oidc_provider::provider;

const PASSWORD: &str = "correct horse battery";
const DOMAIN: &str = "acme.test";

/// A browser: keeps cookies (Baton's and the provider's), follows no redirect on its own.
fn browser(app: &TestApp) -> User {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", app.url.parse().unwrap());
    let mut user = User::new(app);
    user.client = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    user
}

/// Starts a sign-in for `email` and goes through the provider, which signs in `account` (the
/// email itself when `None`); answers the callback URL the provider sends the browser to.
async fn through_provider(
    app: &TestApp,
    browser: &User,
    email: &str,
    account: Option<&str>,
) -> String {
    let r = browser
        .post("/api/sso/start", json!({ "email": email }))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "start");
    let mut url = r.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..10 {
        let mut target = reqwest::Url::parse(&url).unwrap();
        if let Some(account) = account.filter(|_| target.path().starts_with("/interaction/")) {
            target.query_pairs_mut().append_pair("as", account);
        }
        let r = browser.client.get(target.clone()).send().await.unwrap();
        assert!(
            r.status().is_redirection(),
            "{target}: {}",
            r.text().await.unwrap_or_default()
        );
        let location = r.headers()["location"].to_str().unwrap();
        url = target.join(location).unwrap().to_string();
        if url.starts_with(&format!("{}/sso/callback", app.url)) {
            return url;
        }
    }
    panic!("the provider never sent the browser back");
}

/// Opens the callback URL; answers where Baton sends the browser next.
async fn callback(browser: &User, url: &str) -> String {
    let r = browser.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{url}");
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn configure(owner: &User, issuer: &str, client_id: &str, join: Option<&str>) -> Value {
    let r = owner
        .put(
            "/api/workspace/sso",
            json!({ "issuer": issuer, "client_id": client_id, "client_secret": "secret",
                    "domains": [DOMAIN], "join_role": join }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "configure");
    r.json().await.unwrap()
}

async fn teammate_emails(owner: &User) -> Vec<String> {
    let teammates = owner.json("/api/teammates").await;
    let list = teammates
        .as_array()
        .or(teammates["teammates"].as_array())
        .cloned()
        .unwrap_or_default();
    list.iter()
        .filter_map(|t| t["email"].as_str().map(String::from))
        .collect()
}

async fn audit_actions(owner: &User) -> Vec<Value> {
    owner.json("/api/audit?limit=200").await["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

on_both!(
    sign_in_through_the_provider,
    sign_in_through_the_provider_on
);
async fn sign_in_through_the_provider_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let Some(idp) = provider(&app).await else {
        return;
    };
    let owner = app.signup("Acme", "Olivia Owner").await;

    // No workspace signs in with this domain yet.
    let r = browser(&app)
        .post("/api/sso/start", json!({ "email": "ann@acme.test" }))
        .await;
    let (status, code, _) = error_of(r).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "sso_not_configured")
    );

    // The settings: the secret is write-only.
    let shown = configure(&owner, &idp.issuer, "baton", Some("agent")).await;
    assert!(shown.get("client_secret").is_none(), "{shown}");
    assert_eq!(shown["client_secret_set"], json!(true));
    assert_eq!(
        shown["redirect_uri"],
        json!(format!("{}/sso/callback", app.url))
    );
    let read = owner.json("/api/workspace/sso").await;
    assert!(read.get("client_secret").is_none(), "{read}");
    assert_eq!(read["domains"], json!([DOMAIN]));
    assert!(!audit_actions(&owner)
        .await
        .iter()
        .any(|e| e.to_string().contains("\"secret\"")));

    // Someone of the domain without an account joins as an agent.
    let ann = browser(&app);
    let back = through_provider(&app, &ann, "Ann@Acme.test", None).await;
    assert_eq!(callback(&ann, &back).await, "/");
    let me = ann.json("/api/me").await;
    assert_eq!(me["teammate"]["email"], json!("ann@acme.test"));
    assert_eq!(me["teammate"]["role"], json!("agent"));
    assert_eq!(me["workspace"]["id"].as_str().unwrap(), owner.workspace_id);
    let ann_id = me["teammate"]["id"].clone();

    // The same code and state again: refused, whatever the provider would say.
    assert_eq!(
        callback(&browser(&app), &back).await,
        "/login?sso_error=invalid_state"
    );

    // A second sign-in finds the same teammate.
    let again = browser(&app);
    let back = through_provider(&app, &again, "ann@acme.test", None).await;
    // A forged state is refused and spends nothing: the real one still works after it.
    let mut forged = reqwest::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    assert_eq!(
        callback(&again, forged.as_str()).await,
        "/login?sso_error=invalid_state"
    );
    assert_eq!(callback(&again, &back).await, "/");
    assert_eq!(again.json("/api/me").await["teammate"]["id"], ann_id);

    // Both outcomes are in the audit log.
    let entries = audit_actions(&owner).await;
    let of = |action: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == json!(action) && e["email"] == json!("ann@acme.test"))
            .count()
    };
    assert_eq!(of("sign_in.succeeded"), 2, "{entries:?}");
    assert!(entries.iter().any(|e| e["action"] == json!("sso.updated")));

    // Removed from the workspace, Ann cannot come back through the provider: she would join
    // anew as an agent otherwise. Only an invitation brings her back.
    let ann_id = ann_id.as_str().unwrap();
    let r = owner
        .delete(
            &format!("/api/teammates/{ann_id}"),
            Some(json!({ "reassign_to": null })),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let gone = browser(&app);
    let back = through_provider(&app, &gone, "ann@acme.test", None).await;
    assert_eq!(callback(&gone, &back).await, "/login?sso_error=removed");
    assert_eq!(gone.get("/api/me").await.status(), StatusCode::UNAUTHORIZED);
    let team = owner.json("/api/teammates").await;
    let team = team.as_array().or(team["teammates"].as_array()).unwrap();
    assert!(
        !team
            .iter()
            .any(|t| t["email"] == json!("ann@acme.test") && t["active"] != json!(false)),
        "{team:?}"
    );
    let entries = audit_actions(&owner).await;
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == json!("sign_in.failed")
                && e["email"] == json!("ann@acme.test")
                && e["changes"]["reason"]
                    .as_str()
                    .unwrap_or("")
                    .contains("removed")),
        "{entries:?}"
    );
}

on_both!(who_may_not_sign_in, who_may_not_sign_in_on);
async fn who_may_not_sign_in_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let Some(idp) = provider(&app).await else {
        return;
    };
    let owner = app.signup("Acme", "Olivia Owner").await;
    configure(&owner, &idp.issuer, "baton", Some("agent")).await;

    // The provider vouches for an address of another domain: not this workspace's to admit.
    let b = browser(&app);
    let back = through_provider(&app, &b, "bob@acme.test", Some("bob@elsewhere.test")).await;
    assert_eq!(callback(&b, &back).await, "/login?sso_error=not_allowed");

    // New teammates do not join: nobody is created.
    configure(&owner, &idp.issuer, "baton", None).await;
    let c = browser(&app);
    let back = through_provider(&app, &c, "cleo@acme.test", None).await;
    assert_eq!(callback(&c, &back).await, "/login?sso_error=not_allowed");
    assert_eq!(c.get("/api/me").await.status(), StatusCode::UNAUTHORIZED);
    let emails = teammate_emails(&owner).await;
    assert!(
        !emails
            .iter()
            .any(|e| e.ends_with("acme.test") || e.ends_with("elsewhere.test")),
        "{emails:?}"
    );
    // Both refusals are in the workspace's audit log, with the reason.
    let refusals: Vec<Value> = audit_actions(&owner)
        .await
        .into_iter()
        .filter(|e| e["action"] == json!("sign_in.failed"))
        .collect();
    assert!(
        refusals
            .iter()
            .any(|e| e["email"] == json!("bob@elsewhere.test")),
        "{refusals:?}"
    );
    assert!(
        refusals
            .iter()
            .any(|e| e["email"] == json!("cleo@acme.test")),
        "{refusals:?}"
    );

    // An ID token for another audience is refused.
    configure(&owner, &idp.issuer, "baton-wrong-aud", Some("agent")).await;
    let d = browser(&app);
    let back = through_provider(&app, &d, "dan@acme.test", None).await;
    assert_eq!(callback(&d, &back).await, "/login?sso_error=invalid_token");

    // So is an expired one.
    configure(&owner, &idp.issuer, "baton-expired", Some("agent")).await;
    let e = browser(&app);
    let back = through_provider(&app, &e, "eve@acme.test", None).await;
    assert_eq!(callback(&e, &back).await, "/login?sso_error=invalid_token");
    assert_eq!(e.get("/api/me").await.status(), StatusCode::UNAUTHORIZED);
    // Refused for the claim each one got wrong, and nothing else.
    let reasons: Vec<String> = audit_actions(&owner)
        .await
        .iter()
        .filter(|e| e["action"] == json!("sign_in.failed"))
        .map(|e| e["changes"]["reason"].as_str().unwrap_or("").to_lowercase())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("audience")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("expired")), "{reasons:?}");
    let emails = teammate_emails(&owner).await;
    assert!(
        !emails.iter().any(|e| e.ends_with("acme.test")),
        "{emails:?}"
    );

    // A code issued to another client is refused by the provider at the exchange.
    configure(&owner, &idp.issuer, "baton", Some("agent")).await;
    let f = browser(&app);
    let back = through_provider(&app, &f, "fay@acme.test", None).await;
    configure(&owner, &idp.issuer, "baton-other", Some("agent")).await;
    assert_eq!(callback(&f, &back).await, "/login?sso_error=code_rejected");
}

on_both!(sso_only_turns_passwords_off_for_members, sso_only_on);
async fn sso_only_on(db: Db) {
    let app = TestApp::spawn(db).await;
    let Some(idp) = provider(&app).await else {
        return;
    };
    let owner = app.signup("Acme", "Olivia Owner").await;
    let agent = app.invite(&owner, "Andy Agent", "agent").await;
    let r = owner
        .put(
            "/api/workspace/sso",
            json!({ "issuer": idp.issuer, "client_id": "baton", "domains": [DOMAIN] }),
        )
        .await;
    let (status, _, field) = error_of(r).await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("client_secret"))
    );
    let r = owner
        .put(
            "/api/workspace/sso",
            json!({ "issuer": idp.issuer, "client_id": "baton", "client_secret": "secret",
                    "domains": [DOMAIN], "sso_only": true }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // A domain signs in to one workspace only.
    let rival = app.signup("Rival", "Rita Rival").await;
    let r = rival
        .put(
            "/api/workspace/sso",
            json!({ "issuer": idp.issuer, "client_id": "baton", "client_secret": "secret",
                    "domains": ["rival.test", DOMAIN] }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(rival.json("/api/workspace/sso").await, Value::Null);
    // Left out, the secret stays.
    let r = owner
        .put(
            "/api/workspace/sso",
            json!({ "issuer": idp.issuer, "client_id": "baton", "domains": [DOMAIN], "sso_only": true }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        owner.json("/api/workspace/sso").await["client_secret_set"],
        json!(true)
    );

    let sign_in = |email: String| {
        let user = User::new(&app);
        async move {
            user.post(
                "/api/session",
                json!({ "email": email, "password": PASSWORD }),
            )
            .await
        }
    };
    let (status, code, _) = error_of(sign_in(agent.email.clone()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "sso_required")
    );
    // A wrong password is still just a wrong password.
    let r = User::new(&app)
        .post(
            "/api/session",
            json!({ "email": agent.email, "password": "not it at all" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The owner keeps their password: a provider that is down locks nobody out of settings.
    assert_eq!(sign_in(owner.email.clone()).await.status(), StatusCode::OK);
    // The agent's sessions from before keep working; an agent may not read the settings.
    assert_eq!(
        agent.get("/api/workspace/sso").await.status(),
        StatusCode::FORBIDDEN
    );

    // Someone invited now joins without a password: one would never be usable. The invite's
    // page learns that before asking for anything.
    let r = owner
        .post(
            "/api/invites",
            json!({ "email": "nina@acme.test", "name": "Nina New", "role": "agent" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = browser(&app).json(&format!("/api/invites/{token}")).await;
    assert_eq!(shown["workspace_name"], json!("Acme"), "{shown}");
    assert_eq!(shown["email"], json!("nina@acme.test"));
    assert_eq!(shown["role"], json!("agent"));
    assert_eq!(shown["sso_only"], json!(true));
    let nina = browser(&app);
    let accept = format!("/api/invites/{token}/accept");
    let r = nina
        .post(&accept, json!({ "password": "correct horse battery" }))
        .await;
    let (status, _, field) = error_of(r).await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password"))
    );
    assert_eq!(nina.post(&accept, json!({})).await.status(), StatusCode::OK);
    assert_eq!(
        nina.json("/api/me").await["teammate"]["email"],
        json!("nina@acme.test")
    );
    // Used, the link shows nothing more.
    let r = browser(&app).get(&format!("/api/invites/{token}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Her later sign-ins go through the provider.
    let again = browser(&app);
    let back = through_provider(&app, &again, "nina@acme.test", None).await;
    assert_eq!(callback(&again, &back).await, "/");
    assert_eq!(
        again.json("/api/me").await["teammate"]["email"],
        json!("nina@acme.test")
    );

    // Without a provider, passwords work again, and an invitation asks for one.
    let r = owner
        .post(
            "/api/invites",
            json!({ "email": "otto@acme.test", "name": "Otto Other", "role": "agent" }),
        )
        .await;
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        owner.delete("/api/workspace/sso", None).await.status(),
        StatusCode::NO_CONTENT
    );
    let shown = browser(&app).json(&format!("/api/invites/{token}")).await;
    assert_eq!(shown["sso_only"], json!(false), "{shown}");
    let r = browser(&app)
        .post(&format!("/api/invites/{token}/accept"), json!({}))
        .await;
    let (status, _, field) = error_of(r).await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password"))
    );
    assert_eq!(owner.json("/api/workspace/sso").await, Value::Null);
    assert_eq!(sign_in(agent.email.clone()).await.status(), StatusCode::OK);
    assert!(audit_actions(&owner)
        .await
        .iter()
        .any(|e| e["action"] == json!("sso.deleted")));
}

/// Every start stores a pending sign-in and may call the provider, so starts are limited per
/// client address: the 61st in a minute is refused with a time to wait. The budget is their own:
/// a password sign-in from the same address still goes through.
#[tokio::test]
async fn starting_sign_ins_is_rate_limited_per_address() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.signup("Acme", "Olivia Owner").await;
    let visitor = browser(&app);
    for i in 0..60 {
        let r = visitor
            .post(
                "/api/sso/start",
                json!({ "email": format!("n{i}@nowhere.test") }),
            )
            .await;
        let (status, code, _) = error_of(r).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "sso_not_configured"),
            "start {i}"
        );
    }
    let r = visitor
        .post("/api/sso/start", json!({ "email": "late@nowhere.test" }))
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    let r = User::new(&app)
        .post(
            "/api/session",
            json!({ "email": owner.email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}
