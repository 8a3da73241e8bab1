//! The inbound webhook's body (`parse_payload`): the same bytes-to-message path that
//! `POST /api/inbound` takes, where email, SMS and form gateways relay customer text.
//!
//! Checks: the parser never panics; whatever it accepts keeps the promises the rest of the
//! server relies on (a channel that is a safe label, a way to reach the customer, no control
//! characters in anything that ends up in an email header or a log line, bounded sizes); and
//! whatever it refuses is the client's fault, a 400 or 422, never a 5xx.

#![no_main]

use baton::service::messages::MAX_BODY;
use baton::http::inbound::parse_payload;
use baton::store::Inbound;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_payload(data) {
        Ok(message) => check(&message),
        Err(e) => {
            let status = e.status().as_u16();
            assert!(
                status == 400 || status == 422,
                "refused with {status} ({e}); only 400 or 422 are the client's fault"
            );
        }
    }
});

fn check(m: &Inbound) {
    let channel_ok = (1..=32).contains(&m.channel.len())
        && m.channel
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    assert!(channel_ok, "channel {:?}", m.channel);
    assert!(
        m.email.is_some() || m.phone.is_some(),
        "no way to reach the customer: {m:?}"
    );

    let name_chars = m.from_name.chars().count();
    assert!((1..=100).contains(&name_chars), "name {:?}", m.from_name);
    assert_eq!(m.from_name.trim(), m.from_name, "name is trimmed");
    for (field, value) in [
        ("from.name", Some(&m.from_name)),
        ("subject", m.subject.as_ref()),
        ("from.email", m.email.as_ref()),
        ("from.phone", m.phone.as_ref()),
    ] {
        if let Some(value) = value {
            assert!(
                !value.chars().any(char::is_control),
                "{field} has a control character: {value:?}"
            );
        }
    }
    if let Some(email) = &m.email {
        assert!(
            email.len() <= 254 && email.contains('@') && !email.chars().any(char::is_whitespace),
            "email {email:?}"
        );
    }
    if let Some(phone) = &m.phone {
        let digits = phone.strip_prefix('+').unwrap_or(phone);
        assert!(
            (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
            "phone {phone:?}"
        );
    }
    if let Some(subject) = &m.subject {
        let chars = subject.chars().count();
        assert!((1..=200).contains(&chars), "subject {subject:?}");
    }
    assert!(
        m.body.len() <= MAX_BODY && !m.body.trim().is_empty(),
        "body of {} bytes",
        m.body.len()
    );
    if let Some(id) = &m.external_id {
        assert!((1..=200).contains(&id.len()), "external_id {id:?}");
    }
}
