//! Baton's integration suite: real servers on port 0, real databases, real sockets.

mod common;

mod accounts;
mod cases;
mod conformance;
