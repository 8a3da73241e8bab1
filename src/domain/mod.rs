//! Pure rules, no I/O: roles, statuses, case numbers, auto-assign routing, who gets pinged,
//! mentions and input parsing. Everything here is unit-tested without a database or a socket.

pub mod hours;
pub mod ids;
pub mod input;
pub mod mentions;
pub mod numbers;
pub mod pings;
pub mod reports;
pub mod roles;
pub mod routing;
pub mod search;
pub mod status;
pub mod tags;
pub mod templates;

pub use roles::Role;
pub use status::Status;
