//! WebSocket client frames (`ClientFrame::parse`), which any signed-in browser can send.
//!
//! Text frames reach the parser as valid UTF-8 (the WebSocket layer refuses anything else), so
//! other inputs are dropped from the corpus rather than spent on. Checks: the parser never
//! panics, and a frame it accepts, written back out as JSON, reads back as the same frame, so
//! what the server understood is exactly what the client meant.

#![no_main]

use baton::realtime::protocol::ClientFrame;
use libfuzzer_sys::{fuzz_target, Corpus};

fuzz_target!(|data: &[u8]| -> Corpus {
    let Ok(text) = std::str::from_utf8(data) else {
        return Corpus::Reject;
    };
    if let Ok(frame) = ClientFrame::parse(text) {
        let json = serde_json::to_string(&frame).expect("a client frame serializes");
        assert_eq!(
            ClientFrame::parse(&json).as_ref(),
            Ok(&frame),
            "{text:?} parsed, was written as {json:?}, and did not read back the same"
        );
    }
    Corpus::Keep
});
