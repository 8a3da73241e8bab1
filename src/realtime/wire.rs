//! Server frames as they go on the wire. A server does not mask its frames (RFC 6455 §5.1), so a
//! frame's bytes are the same for every socket: each frame is encoded once, header and all, and
//! every connection hands the same shared bytes to the kernel, with no framing or copy of its own.

use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};
use serde::Serialize;

/// The longest header of an unmasked frame: two bytes and a 64-bit length.
const MAX_HEADER: usize = 10;
/// FIN set, opcode 1: a whole text frame.
const FIN_TEXT: u8 = 0x81;

/// One or more complete WebSocket text frames, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire(Bytes);

impl Wire {
    /// `value`'s JSON as one text frame. The JSON is written after room for the longest header,
    /// and the header goes right before it: one allocation, no copy.
    pub fn json(value: &impl Serialize) -> Wire {
        let mut buf = vec![0u8; MAX_HEADER];
        serde_json::to_writer(&mut buf, value).expect("server frames always serialize");
        let (header, len) = header(buf.len() - MAX_HEADER);
        let start = MAX_HEADER - len;
        buf[start..MAX_HEADER].copy_from_slice(&header[..len]);
        Wire(Bytes::from(buf).slice(start..))
    }

    /// Frames that go out together, as one write.
    pub fn concat(frames: impl IntoIterator<Item = Wire>) -> Wire {
        let mut all = BytesMut::new();
        for frame in frames {
            all.extend_from_slice(&frame.0);
        }
        Wire(all.freeze())
    }

    /// The bytes, for tests that read them back; the connection writes them through `Gathered`.
    #[cfg(test)]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// An unmasked text frame's header for a payload of `len` bytes, and how many bytes of it count.
fn header(len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut h = [0u8; MAX_HEADER];
    h[0] = FIN_TEXT;
    match len {
        0..=125 => {
            h[1] = len as u8;
            (h, 2)
        }
        126..=0xFFFF => {
            h[1] = 126;
            h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            (h, 4)
        }
        _ => {
            h[1] = 127;
            h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            (h, 10)
        }
    }
}

/// What a connection writes in one go: the frames it found queued, handed to the kernel with
/// one vectored write (more than one only if the kernel takes part of them).
#[derive(Debug, Default)]
pub struct Gathered {
    frames: Vec<Bytes>,
    /// Frames before this one are written.
    next: usize,
    remaining: usize,
}

impl Gathered {
    pub fn push(&mut self, frame: Wire) {
        self.remaining += frame.0.len();
        self.frames.push(frame.0);
    }

    /// Frames gathered, written or not.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

impl Buf for Gathered {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.frames.get(self.next).map_or(&[], |f| f)
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advanced past the gathered frames");
        self.remaining -= cnt;
        while cnt > 0 {
            let frame = &mut self.frames[self.next];
            if cnt < frame.len() {
                frame.advance(cnt);
                return;
            }
            cnt -= frame.len();
            self.next += 1;
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let frames = self.frames[self.next..].iter().filter(|f| !f.is_empty());
        let mut n = 0;
        for (slot, frame) in dst.iter_mut().zip(frames) {
            *slot = IoSlice::new(frame);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
    use tokio_tungstenite::tungstenite::Message;

    use super::*;

    /// Reads `bytes` as a client would, with tungstenite's own frame parser.
    fn read_as_client(bytes: Vec<u8>) -> Vec<String> {
        let mut ws = WebSocket::from_raw_socket(Cursor::new(bytes), Role::Client, None);
        let mut texts = Vec::new();
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => texts.push(t.as_str().to_owned()),
                Ok(other) => panic!("not a text frame: {other:?}"),
                Err(_) => return texts,
            }
        }
    }

    fn payload(len: usize) -> String {
        "x".repeat(len)
    }

    #[test]
    fn a_client_reads_each_length_class_back() {
        // JSON strings: two quotes around the x's, so these cross each header boundary.
        for len in [0, 123, 124, 125, 65_533, 65_534, 70_000] {
            let text = payload(len);
            let wire = Wire::json(&text);
            let json = serde_json::to_string(&text).unwrap();
            assert_eq!(read_as_client(wire.as_bytes().to_vec()), vec![json]);
        }
    }

    #[test]
    fn concatenated_frames_are_read_as_separate_messages() {
        let wire = Wire::concat([Wire::json(&"a"), Wire::json(&payload(300))]);
        let json = serde_json::to_string(&payload(300)).unwrap();
        assert_eq!(
            read_as_client(wire.as_bytes().to_vec()),
            vec!["\"a\"".to_owned(), json]
        );
    }

    #[test]
    fn a_gathered_write_taken_in_pieces_keeps_every_byte_in_order() {
        let frames = [
            Wire::json(&"one"),
            Wire::json(&payload(200)),
            Wire::json(&"three"),
        ];
        let expected: Vec<u8> = frames.iter().flat_map(|f| f.as_bytes().to_vec()).collect();
        let mut gathered = Gathered::default();
        for frame in frames {
            gathered.push(frame);
        }
        assert_eq!(gathered.remaining(), expected.len());
        // A kernel that takes 7 bytes at a time, through the vectored path.
        let mut written = Vec::new();
        while gathered.has_remaining() {
            let mut slices = [IoSlice::new(&[]); 4];
            let n = gathered.chunks_vectored(&mut slices);
            let mut take = 7;
            for slice in &slices[..n] {
                let part = &slice[..take.min(slice.len())];
                written.extend_from_slice(part);
                take -= part.len();
                if take == 0 {
                    break;
                }
            }
            let done = 7 - take;
            gathered.advance(done);
        }
        assert_eq!(written, expected);
        assert_eq!(gathered.chunk(), &[] as &[u8]);
    }
}
