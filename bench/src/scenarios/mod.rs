//! The scenarios, one module each; every one returns its results as one JSON value.
//!
//! `idle`: many idle sockets, server memory per socket. `driven`: `fanout`, `teams` and
//! `cluster`, actions at a rate and their delivery to every socket. `api`: HTTP throughput.
//! `export`: server memory while a big workspace's export streams. `search`: full-text search
//! latency over a bulk-seeded history.

mod api;
mod driven;
mod export;
mod idle;
mod search;

pub use api::api;
pub use driven::driven;
pub use export::export;
pub use idle::idle;
pub use search::search;
