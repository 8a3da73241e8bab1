//! Signatures on webhooks, both ways, and the policy for URLs Baton calls.
//!
//! - Twilio signs each request to us with `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with
//!   the account's auth token, over the full public URL followed by every form parameter,
//!   sorted by name, as `name` + `value`.
//! - Baton signs what it sends (API-channel replies, outgoing webhooks) per the Standard
//!   Webhooks specification: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
//!   keyed with the bytes behind a `whsec_<base64>` secret.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;

/// Twilio's signature of a form-encoded request to `url` carrying `params`.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    B64.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is Twilio's for this request (compared in constant time).
pub fn twilio_verify(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let expected = twilio_signature(auth_token, url, params);
    constant_eq(expected.as_bytes(), signature.trim().as_bytes())
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new Standard Webhooks secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    format!("whsec_{}", B64.encode(key))
}

/// The headers that sign `body` as message `id` sent at `timestamp` (Unix seconds).
pub fn standard_headers(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 3], String> {
    let key = B64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "the webhook secret is not base64".to_string())?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let signature = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    Ok([
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ])
}

/// Why Baton never connects to `ip`, whatever the URL said: link-local (which holds the cloud
/// metadata services), unspecified and broadcast addresses.
fn refused_address(ip: std::net::IpAddr) -> Option<&'static str> {
    use std::net::IpAddr;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    let refused = match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast(),
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.is_unspecified()
                // AWS's metadata service over IPv6.
                || v6 == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
    };
    refused.then_some("must not be a link-local or metadata address")
}

/// The DNS resolver of every client that calls a URL a workspace gave us. `check_url` judges
/// the name when the URL is saved, but a name can later resolve elsewhere (DNS rebinding): this
/// resolver applies the same rule to the addresses at connection time, so a hostile name cannot
/// point a delivery at the metadata service, or at loopback when the server is not itself on
/// loopback.
pub struct GuardedResolver {
    pub server_on_loopback: bool,
}

impl GuardedResolver {
    /// The addresses Baton may connect to, or why there are none.
    pub fn allowed(
        &self,
        addrs: impl Iterator<Item = std::net::SocketAddr>,
    ) -> Result<Vec<std::net::SocketAddr>, String> {
        let mut allowed = Vec::new();
        let mut refused = None;
        for addr in addrs {
            let why = refused_address(addr.ip()).or_else(|| {
                (addr.ip().is_loopback() && !self.server_on_loopback)
                    .then_some("must not be a loopback address")
            });
            match why {
                Some(why) => refused = Some(format!("{} {why}", addr.ip())),
                None => allowed.push(addr),
            }
        }
        match (allowed.is_empty(), refused) {
            (true, Some(why)) => Err(format!("refused to connect: {why}")),
            _ => Ok(allowed),
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let guard = GuardedResolver {
            server_on_loopback: self.server_on_loopback,
        };
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let addrs = guard.allowed(found)?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Checks a URL Baton is asked to call (a channel's `api_base_url` or `webhook_url`, an
/// outgoing webhook): `https` only, or `http`/`https` to a loopback host when the server
/// itself listens on loopback (development, tests); never link-local or cloud metadata
/// addresses, whatever the scheme, so that a URL cannot reach into the server's own network by
/// accident. Answers the URL normalised, or why it is refused.
pub fn check_url(raw: &str, server_on_loopback: bool) -> Result<url::Url, &'static str> {
    use std::net::IpAddr;
    let url = url::Url::parse(raw.trim()).map_err(|_| "must be an absolute URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials");
    }
    let host = url.host().ok_or("must name a host")?;
    let ip: Option<IpAddr> = match &host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(*v4)),
        url::Host::Ipv6(v6) => Some(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(*v6),
        }),
        url::Host::Domain(_) => None,
    };
    let name = match &host {
        url::Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
        _ => String::new(),
    };
    const METADATA_NAMES: &[&str] = &["metadata", "metadata.google.internal", "instance-data"];
    if METADATA_NAMES.contains(&name.as_str()) {
        return Err("must not be a cloud metadata address");
    }
    if let Some(ip) = ip {
        if let Some(why) = refused_address(ip) {
            return Err(why);
        }
    }
    let loopback = ip.is_some_and(|ip| ip.is_loopback()) || name == "localhost";
    if loopback && !server_on_loopback {
        return Err("must not be a loopback address");
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err("must be https"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn twilio_signature_matches_twilios_validator() {
        // The request of Twilio's security guide; the value is what the `twilio` package's
        // RequestValidator computes for it.
        let params = vec![
            p("CallSid", "CA1234567890ABCDE"),
            p("Caller", "+12349013030"),
            p("Digits", "1234"),
            p("From", "+12349013030"),
            p("To", "+18005551212"),
        ];
        let url = "https://example.com/myapp.php?foo=1&bar=2";
        let sig = twilio_signature("12345", url, &params);
        assert_eq!(sig, "vNe7KK2kJwCsxc9K3OLkkKB3qqI=");
        assert!(twilio_verify("12345", url, &params, &sig));
        assert!(!twilio_verify("12345", url, &params[1..], &sig));
        assert!(!twilio_verify("wrong", url, &params, &sig));
    }

    #[test]
    fn standard_webhooks_signature_matches_the_specification_example() {
        // The example of the Standard Webhooks reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let [id, ts, sig] =
            standard_headers(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(id.1, "msg_p5jXN8AQM9LWM0D4loKWxJek");
        assert_eq!(ts.1, "1614265330");
        assert_eq!(sig.1, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(new_secret().starts_with("whsec_"));
    }

    #[test]
    fn url_policy() {
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
        assert!(check_url("http://hooks.example.com/x", false).is_err());
        assert!(check_url("http://127.0.0.1:9000/x", true).is_ok());
        assert!(check_url("http://localhost:9000/x", true).is_ok());
        assert!(check_url("http://127.0.0.1:9000/x", false).is_err());
        assert!(check_url("https://127.0.0.1/x", false).is_err());
        assert!(check_url("https://[::1]/x", false).is_err());
        assert!(check_url("https://169.254.169.254/latest", true).is_err());
        assert!(check_url("http://169.254.169.254/latest", true).is_err());
        assert!(check_url("https://[fe80::1]/", true).is_err());
        assert!(check_url("https://[::ffff:169.254.169.254]/", true).is_err());
        assert!(check_url("https://[fd00:ec2::254]/", true).is_err());
        assert!(check_url("https://metadata.google.internal/", true).is_err());
        assert!(check_url("https://0.0.0.0/", true).is_err());
        assert!(check_url("https://user:pw@example.com/", true).is_err());
        assert!(check_url("ftp://example.com/", true).is_err());
        assert!(check_url("not a url", true).is_err());
    }

    #[test]
    fn a_name_that_resolves_to_a_refused_address_is_not_connected_to() {
        let addr = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        let public = GuardedResolver {
            server_on_loopback: false,
        };
        // A name that rebinds to the metadata service, or to loopback, finds nothing to call.
        assert!(public
            .allowed([addr("169.254.169.254:0")].into_iter())
            .is_err());
        assert!(public
            .allowed([addr("[::ffff:169.254.169.254]:0")].into_iter())
            .is_err());
        assert!(public.allowed([addr("[fe80::1]:0")].into_iter()).is_err());
        assert!(public.allowed([addr("127.0.0.1:0")].into_iter()).is_err());
        // Refused addresses are dropped beside good ones; good ones are kept in order.
        let mixed = [
            addr("169.254.169.254:0"),
            addr("93.184.215.14:0"),
            addr("[2606:2800::1]:0"),
        ];
        assert_eq!(
            public.allowed(mixed.into_iter()).unwrap(),
            vec![addr("93.184.215.14:0"), addr("[2606:2800::1]:0")]
        );
        // A server on loopback (development, tests) may call loopback, never metadata.
        let local = GuardedResolver {
            server_on_loopback: true,
        };
        assert!(local.allowed([addr("127.0.0.1:0")].into_iter()).is_ok());
        assert!(local
            .allowed([addr("169.254.169.254:0")].into_iter())
            .is_err());
    }

    #[tokio::test]
    async fn deliveries_resolve_names_under_the_url_policy() {
        use reqwest::dns::Resolve;
        let public = GuardedResolver {
            server_on_loopback: false,
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let err = public
            .resolve(name)
            .await
            .err()
            .expect("localhost is refused");
        assert!(err.to_string().contains("loopback"), "{err}");
        let local = GuardedResolver {
            server_on_loopback: true,
        };
        let found: Vec<_> = local
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!found.is_empty() && found.iter().all(|a| a.ip().is_loopback()));
    }
}
