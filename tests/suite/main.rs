//! Baton's integration suite: real servers on port 0, real databases, real sockets.

mod common;

mod accounts;
mod api_fuzz;
mod assignment;
mod badges;
mod bench;
mod cases;
mod cluster;
mod conformance;
mod crash;
mod email;
mod faults;
mod fuzz;
mod isolation;
mod nginx;
mod notifications;
mod operations;
mod power_cut;
mod realtime;
mod routing;
mod sms;
mod two_processes;
mod web_content;
mod webhooks;
mod ws_abuse;
