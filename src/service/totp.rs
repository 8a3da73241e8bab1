//! Two-factor sign-in with time-based one-time codes (RFC 6238: HMAC-SHA1, 6 digits, 30 s), the
//! kind every authenticator app reads from a QR code. Enrolment takes a first code to confirm and
//! answers ten one-time recovery codes; each code's time step is accepted once; turning it off
//! takes a fresh code. API tokens are the non-interactive path and never ask for one.

use chrono::Utc;
use qrcode::render::svg;
use qrcode::QrCode;
use serde::Serialize;
use totp_rs::{Algorithm, Secret, TOTP};
use utoipa::ToSchema;

use super::audit::{self, Action};
use crate::credentials::hash_token;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::Teammate;

const STEP_SECS: u64 = 30;
const RECOVERY_CODES: usize = 10;

/// What an authenticator app needs to start producing codes.
#[derive(Debug, Serialize, ToSchema)]
pub struct Enrolment {
    /// Base32, for typing in by hand.
    pub secret: String,
    pub otpauth_url: String,
    /// The `otpauth_url` as a QR code, an SVG document.
    pub qr_svg: String,
}

/// 160 random bits (RFC 4226 §4 recommends that length), base32.
fn new_secret() -> String {
    let bytes: [u8; 20] = rand::random();
    Secret::Raw(bytes.to_vec()).to_encoded().to_string()
}

fn generator(secret_b32: &str, account: &str) -> Result<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored TOTP secret: {e:?}")))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECS,
        bytes,
        Some("Baton".into()),
        account.replace(':', " "),
    )
    .map_err(|e| Error::Internal(anyhow::anyhow!("TOTP: {e:?}")))
}

/// The time step a code belongs to, allowing one step of clock drift either way.
fn matching_step(totp: &TOTP, code: &str) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = Utc::now().timestamp().max(0) as u64 / STEP_SECS;
    (now.saturating_sub(1)..=now + 1)
        .find(|step| {
            let expected = totp.generate(step * STEP_SECS);
            constant_time_eq(expected.as_bytes(), code.as_bytes())
        })
        .map(|step| step as i64)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Starts an enrolment (or restarts one not yet confirmed) with a new secret.
pub async fn begin(state: &AppState, actor: &Teammate) -> Result<Enrolment> {
    let secret = new_secret();
    let totp = generator(&secret, &actor.email)?;
    state.store.begin_totp(actor.id, &secret).await?;
    let otpauth_url = totp.get_url();
    let qr = QrCode::new(otpauth_url.as_bytes())
        .map_err(|e| Error::Internal(anyhow::anyhow!("QR code: {e}")))?;
    let qr_svg = qr
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(Enrolment {
        secret,
        otpauth_url,
        qr_svg,
    })
}

/// Confirms an enrolment with a first code; answers the recovery codes, shown this once.
pub async fn confirm(state: &AppState, actor: &Teammate, code: &str) -> Result<Vec<String>> {
    let Some(enrolment) = state.store.totp(actor.id).await? else {
        return Err(Error::invalid("code", "start enrolment first"));
    };
    if enrolment.confirmed {
        return Err(Error::Duplicate("two-factor sign-in is already on"));
    }
    let totp = generator(&enrolment.secret, &actor.email)?;
    let step = matching_step(&totp, code).ok_or_else(|| Error::invalid("code", "wrong code"))?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let hashes: Vec<String> = codes.iter().map(|c| hash_token(c)).collect();
    state.store.confirm_totp(actor.id, step, &hashes).await?;
    tracing::info!(teammate = %actor.id, "two-factor sign-in turned on");
    let changes = serde_json::json!({});
    audit::record(
        state,
        actor,
        Action::TotpEnabled,
        Some(actor.id.into()),
        changes,
    )
    .await;
    Ok(codes)
}

/// Turns two-factor off; takes a current code (or a recovery code).
pub async fn disable(state: &AppState, actor: &Teammate, code: &str) -> Result<()> {
    match state.store.totp(actor.id).await? {
        Some(t) if t.confirmed => {}
        _ => return Err(Error::invalid("code", "two-factor sign-in is not on")),
    }
    if state
        .store
        .workspace(actor.workspace_id)
        .await?
        .require_totp
    {
        return Err(Error::Forbidden(
            "this workspace requires two-factor sign-in: the owner can lift that in Settings",
        ));
    }
    if !accepts(state, actor, code).await? {
        return Err(Error::invalid("code", "wrong code"));
    }
    state.store.delete_totp(actor.id).await?;
    tracing::info!(teammate = %actor.id, "two-factor sign-in turned off");
    let changes = serde_json::json!({});
    audit::record(
        state,
        actor,
        Action::TotpDisabled,
        Some(actor.id.into()),
        changes,
    )
    .await;
    Ok(())
}

/// Whether the teammate must give a code to sign in.
pub async fn required(state: &AppState, teammate: &Teammate) -> Result<bool> {
    Ok(state
        .store
        .totp(teammate.id)
        .await?
        .is_some_and(|t| t.confirmed))
}

/// Checks a sign-in's second factor: a code whose step was not used yet, or an unused
/// recovery code (spent by this call).
pub async fn accepts(state: &AppState, teammate: &Teammate, code: &str) -> Result<bool> {
    let Some(enrolment) = state.store.totp(teammate.id).await? else {
        return Ok(false);
    };
    let totp = generator(&enrolment.secret, &teammate.email)?;
    if let Some(step) = matching_step(&totp, code) {
        return Ok(state.store.use_totp_step(teammate.id, step).await?);
    }
    let normalized = code.trim().to_ascii_lowercase();
    if normalized.len() == 11 {
        return Ok(state
            .store
            .use_recovery_code(teammate.id, &hash_token(&normalized))
            .await?);
    }
    Ok(false)
}

/// `xxxxx-xxxxx` from an alphabet without look-alikes: 50 bits, hashed like tokens.
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut pick = || ALPHABET[rng.gen_range(0..ALPHABET.len())] as char;
    let a: String = (0..5).map(|_| pick()).collect();
    let b: String = (0..5).map(|_| pick()).collect();
    format!("{a}-{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_own_step_and_its_neighbours_only() {
        let secret = new_secret();
        let totp = generator(&secret, "ana@example.com").unwrap();
        let now = Utc::now().timestamp() as u64 / STEP_SECS;
        let current = totp.generate(now * STEP_SECS);
        assert_eq!(matching_step(&totp, &current), Some(now as i64));
        let stale = totp.generate((now - 5) * STEP_SECS);
        if stale != current {
            assert_eq!(matching_step(&totp, &stale), None);
        }
        assert_eq!(matching_step(&totp, "12345"), None);
        assert_eq!(matching_step(&totp, "abcdef"), None);
    }

    #[test]
    fn recovery_codes_are_eleven_characters_and_differ() {
        let a = recovery_code();
        assert_eq!(a.len(), 11);
        assert_eq!(&a[5..6], "-");
        assert_ne!(a, recovery_code());
    }
}
