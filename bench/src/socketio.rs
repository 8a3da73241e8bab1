//! Just enough of Socket.IO for the peer in `bench/socketio/`, spoken over the same WebSocket
//! client as Baton's sockets instead of through a Socket.IO client crate.
//!
//! Engine.IO v4 over the `websocket` transport only (`/socket.io/?EIO=4&transport=websocket`):
//! each WebSocket text frame is one packet whose first character is its type: `0` open (the
//! server's handshake, JSON), `2` ping (the server's; answer `3` pong within its timeout), `4`
//! message. A Socket.IO v5 packet is an Engine.IO message, so on the wire a second digit
//! follows: `40` CONNECT (the client's carries its `auth` object, the server's answer the socket
//! id), `41` DISCONNECT, `42` EVENT (a JSON array, `["name", data…]`), `44` CONNECT_ERROR. Only
//! the main namespace `/` and events without acknowledgements are used, so no namespace or ack
//! id precedes the JSON, and binary attachments never occur.

/// One packet as the load generator needs to tell them apart; an event's data is borrowed
/// JSON text.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    Open,
    Ping,
    Pong,
    Connect,
    ConnectError(&'a str),
    Disconnect,
    Event { name: &'a str, data: &'a str },
    Other,
}

/// The URL path and query of the WebSocket transport.
pub const PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// The pong that answers a ping.
pub const PONG: &str = "3";

/// CONNECT to the main namespace, with `auth` (a JSON object) as the handshake's auth.
pub fn connect(auth: &str) -> String {
    format!("40{auth}")
}

/// EVENT `name` with one argument, `data` (JSON text), as the server writes it. The load
/// generator never emits events; this is what its decoder is checked against.
#[cfg(test)]
pub fn event(name: &str, data: &str) -> String {
    let name = serde_json::to_string(name).expect("a string always serializes");
    format!("42[{name},{data}]")
}

/// Reads one text frame. An event with several arguments gives them all as `data`, separated by
/// commas; the load generator only receives one-argument events.
pub fn decode(text: &str) -> Packet<'_> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some('0'), _) => Packet::Open,
        (Some('2'), _) => Packet::Ping,
        (Some('3'), _) => Packet::Pong,
        (Some('4'), Some('0')) => Packet::Connect,
        (Some('4'), Some('1')) => Packet::Disconnect,
        (Some('4'), Some('4')) => Packet::ConnectError(&text[2..]),
        (Some('4'), Some('2')) => decode_event(&text[2..]).unwrap_or(Packet::Other),
        _ => Packet::Other,
    }
}

/// `["name",data]`: the name is a JSON string; event names here never hold escapes.
fn decode_event(array: &str) -> Option<Packet<'_>> {
    let inner = array.strip_prefix("[\"")?.strip_suffix(']')?;
    let end = inner.find('"')?;
    let name = &inner[..end];
    let data = inner[end + 1..].strip_prefix(',').unwrap_or("");
    Some(Packet::Event { name, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_round_trips() {
        let data =
            r#"{"type":"event","seq":7,"event":{"kind":"case.assigned","tags":["a,b","]"]}}"#;
        let text = event("frame", data);
        assert_eq!(text, format!("42[\"frame\",{data}]"));
        assert_eq!(
            decode(&text),
            Packet::Event {
                name: "frame",
                data
            }
        );
    }

    #[test]
    fn an_event_as_socket_io_writes_it_decodes() {
        let text = r#"42["frame",{"type":"hello","seq":0}]"#;
        assert_eq!(
            decode(text),
            Packet::Event {
                name: "frame",
                data: r#"{"type":"hello","seq":0}"#
            }
        );
        assert_eq!(
            decode(r#"42["tick"]"#),
            Packet::Event {
                name: "tick",
                data: ""
            }
        );
    }

    #[test]
    fn control_packets_decode() {
        let open = r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#;
        assert_eq!(decode(open), Packet::Open);
        assert_eq!(decode("2"), Packet::Ping);
        assert_eq!(decode(PONG), Packet::Pong);
        assert_eq!(decode(&connect(r#"{"token":"t"}"#)), Packet::Connect);
        assert_eq!(decode(r#"40{"sid":"abc"}"#), Packet::Connect);
        assert_eq!(decode("41"), Packet::Disconnect);
        assert_eq!(
            decode(r#"44{"message":"unauthorized"}"#),
            Packet::ConnectError(r#"{"message":"unauthorized"}"#)
        );
        assert_eq!(decode("42not an array"), Packet::Other);
        assert_eq!(decode(""), Packet::Other);
    }

    #[test]
    fn connect_carries_the_auth_object() {
        assert_eq!(connect(r#"{"token":"abc"}"#), r#"40{"token":"abc"}"#);
    }
}
