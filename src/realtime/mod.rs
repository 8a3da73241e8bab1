//! Live delivery: one WebSocket per signed-in tab, fed by the hub (DESIGN.md §1, §4).

pub mod connection;
pub mod hub;
pub mod link;
pub mod presence;
pub mod protocol;
pub mod sequence;
pub mod wire;

pub use hub::Hub;
