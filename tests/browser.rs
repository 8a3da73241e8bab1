//! The browser tests, in a test binary of their own: cargo runs test binaries one after another,
//! so Chromium does not share the machine with the integration suite's parallel tests (the live
//! checks have the product's one-second deadlines).

#[path = "suite/common/mod.rs"]
#[allow(unused_imports)]
mod common;

#[path = "suite/oidc_provider.rs"]
mod oidc_provider;

#[path = "suite/e2e.rs"]
mod e2e;
