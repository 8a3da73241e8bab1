//! Two-factor sign-in (RFC 6238), with every code computed by an independent implementation:
//! Python's `pyotp`, as an authenticator app would.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{error_of, require, Db, TestApp, User};

const PASSWORD: &str = "correct horse battery";

/// `pyotp.TOTP(secret).at(now + offset_secs)`, or `None` when python3 with pyotp is missing.
fn pyotp_code(secret: &str, offset_secs: i64) -> Option<String> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import pyotp, sys, time; print(pyotp.TOTP(sys.argv[1]).at(int(time.time()) + int(sys.argv[2])))",
            secret,
            &offset_secs.to_string(),
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

async fn sign_in(app: &TestApp, email: &str, totp: Option<&str>) -> (User, reqwest::Response) {
    let user = User::new(app);
    let mut body = json!({ "email": email, "password": PASSWORD });
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    let r = user.post("/api/session", body).await;
    (user, r)
}

on_both!(
    two_factor_sign_in_with_codes_from_an_authenticator,
    two_factor_sign_in_with_codes_from_an_authenticator_on
);
async fn two_factor_sign_in_with_codes_from_an_authenticator_on(db: Db) {
    if !require(
        "python3 with pyotp",
        pyotp_code("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", 0).is_some(),
    ) {
        return;
    }
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Sunny Side", "Olivia Owner").await;
    let token = owner.api_token().await;

    // Enrol: the secret, the otpauth URL and its QR code.
    let r = owner.post("/api/me/totp", Value::Null).await;
    assert_eq!(r.status(), StatusCode::OK, "{db:?}");
    let enrol: Value = r.json().await.unwrap();
    let secret = enrol["secret"].as_str().unwrap().to_string();
    let url = enrol["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    assert!(url.contains(&format!("secret={secret}")), "{url}");
    assert!(enrol["qr_svg"].as_str().unwrap().contains("<svg"));
    assert_eq!(
        owner.json("/api/me").await["totp"],
        false,
        "not on before a first code"
    );
    let (_, r) = sign_in(&app, &owner.email, None).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "an unconfirmed enrolment asks for nothing"
    );

    // A code from long ago does not confirm; the current one does, once.
    let old = pyotp_code(&secret, -3600).unwrap();
    let r = owner
        .post("/api/me/totp/confirm", json!({ "code": old }))
        .await;
    assert_eq!(
        error_of(r).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid".into(),
            Some("code".into())
        )
    );
    let now = pyotp_code(&secret, 0).unwrap();
    let r = owner
        .post("/api/me/totp/confirm", json!({ "code": now }))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{db:?}");
    let codes: Vec<String> = r.json::<Value>().await.unwrap()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(owner.json("/api/me").await["totp"], true);
    let r = owner.post("/api/me/totp", Value::Null).await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "a second enrolment needs the first off"
    );

    // The password alone is not enough any more, and gives no session.
    let (user, r) = sign_in(&app, &owner.email, None).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "totp_required".into(), None)
    );
    assert_eq!(user.get("/api/me").await.status(), StatusCode::UNAUTHORIZED);
    let wrong = pyotp_code(&secret, -3600).unwrap();
    let (_, r) = sign_in(&app, &owner.email, Some(&wrong)).await;
    assert_eq!(error_of(r).await.1, "unauthorized", "a wrong code");

    // The next step's code signs in; the same code again is refused (seen once is spent).
    let next = pyotp_code(&secret, 30).unwrap();
    let (user, r) = sign_in(&app, &owner.email, Some(&next)).await;
    assert_eq!(r.status(), StatusCode::OK, "{db:?}");
    assert_eq!(
        user.json("/api/me").await["teammate"]["id"],
        owner.id.as_str()
    );
    let (_, r) = sign_in(&app, &owner.email, Some(&next)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a code replayed");

    // A recovery code signs in once.
    let (_, r) = sign_in(&app, &owner.email, Some(&codes[0])).await;
    assert_eq!(r.status(), StatusCode::OK, "a recovery code");
    let (_, r) = sign_in(&app, &owner.email, Some(&codes[0])).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a recovery code used twice"
    );

    // API tokens are the non-interactive path: no code.
    let r = reqwest::Client::new()
        .get(format!("{}/api/me", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Turning it off takes a valid code; then the password alone signs in again.
    let r = owner
        .delete("/api/me/totp", Some(json!({ "code": wrong })))
        .await;
    assert_eq!(error_of(r).await.2.as_deref(), Some("code"));
    assert_eq!(owner.json("/api/me").await["totp"], true, "still on");
    let r = owner
        .delete("/api/me/totp", Some(json!({ "code": codes[1] })))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, r) = sign_in(&app, &owner.email, None).await;
    assert_eq!(r.status(), StatusCode::OK, "{db:?}");
    assert_eq!(owner.json("/api/me").await["totp"], false);
}

on_both!(
    an_owner_requires_two_factor_and_members_enrol_before_anything_else,
    an_owner_requires_two_factor_and_members_enrol_before_anything_else_on
);
async fn an_owner_requires_two_factor_and_members_enrol_before_anything_else_on(db: Db) {
    if !require(
        "python3 with pyotp",
        pyotp_code("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", 0).is_some(),
    ) {
        return;
    }
    let app = TestApp::spawn(db).await;
    let owner = app.signup("Sunny Side", "Olivia Owner").await;
    let admin = app.invite(&owner, "Adam Admin", "admin").await;
    let agent = app.invite(&owner, "Ana Agent", "agent").await;
    let agent_token = agent.api_token().await;
    let require = |on: bool| json!({ "require_totp": on });

    // Only the owner decides, and only with two-factor on for themselves.
    let r = admin.patch("/api/workspace", require(true)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{db:?}");
    let r = owner.patch("/api/workspace", require(true)).await;
    assert_eq!(
        error_of(r).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid".into(),
            Some("require_totp".into())
        )
    );
    let enrol: Value = owner
        .post("/api/me/totp", Value::Null)
        .await
        .json()
        .await
        .unwrap();
    let secret = enrol["secret"].as_str().unwrap().to_string();
    let code = pyotp_code(&secret, 0).unwrap();
    let r = owner
        .post("/api/me/totp/confirm", json!({ "code": code }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = owner.patch("/api/workspace", require(true)).await;
    assert_eq!(r.status(), StatusCode::OK, "{db:?}");
    assert_eq!(r.json::<Value>().await.unwrap()["require_totp"], true);
    let audit = owner.json("/api/audit?action=workspace.updated").await;
    assert_eq!(
        audit["entries"][0]["changes"]["require_totp"],
        json!({ "before": false, "after": true }),
        "{audit}"
    );

    // The agent's password still signs in, but the session can only enrol.
    let (ana, r) = sign_in(&app, &agent.email, None).await;
    assert_eq!(r.status(), StatusCode::OK, "{db:?}");
    let me = ana.json("/api/me").await;
    assert_eq!(
        (
            me["totp"].as_bool(),
            me["totp_enrolment_required"].as_bool()
        ),
        (Some(false), Some(true))
    );
    for path in ["/api/cases", "/api/teammates", "/api/me/sessions"] {
        let (status, code, _) = error_of(ana.get(path).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "totp_enrolment_required"),
            "{path}"
        );
    }
    let r = ana
        .post(
            "/api/cases/00000000-0000-0000-0000-000000000000/messages",
            json!({ "kind": "note", "body": "hi" }),
        )
        .await;
    assert_eq!(error_of(r).await.1, "totp_enrolment_required");
    // Her API token is the non-interactive path and keeps working.
    let r = reqwest::Client::new()
        .get(format!("{}/api/cases", app.url))
        .bearer_auth(&agent_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // She enrols; the same session then works, and the next sign-in asks for a code.
    let enrol: Value = ana
        .post("/api/me/totp", Value::Null)
        .await
        .json()
        .await
        .unwrap();
    let her_secret = enrol["secret"].as_str().unwrap().to_string();
    let r = ana
        .post(
            "/api/me/totp/confirm",
            json!({ "code": pyotp_code(&her_secret, 0).unwrap() }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{db:?}");
    assert_eq!(ana.get("/api/cases").await.status(), StatusCode::OK);
    assert_eq!(ana.json("/api/me").await["totp_enrolment_required"], false);
    let (_, r) = sign_in(&app, &agent.email, None).await;
    assert_eq!(error_of(r).await.1, "totp_required");
    // While the workspace requires it, nobody turns their own off.
    let r = ana
        .delete(
            "/api/me/totp",
            Some(json!({ "code": pyotp_code(&her_secret, 30).unwrap() })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Someone invited now joins held back too, until they enrol.
    let newcomer = app.invite(&owner, "Nico New", "agent").await;
    assert_eq!(
        error_of(newcomer.get("/api/cases").await).await.1,
        "totp_enrolment_required"
    );

    // Lifted: the newcomer's session works again without a second factor.
    let r = owner.patch("/api/workspace", require(false)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        newcomer.get("/api/cases").await.status(),
        StatusCode::OK,
        "{db:?}"
    );
}
