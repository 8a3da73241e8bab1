//! A WebSocket spoken frame by frame, for what a well-behaved client never sends.

use std::net::SocketAddr;
use std::time::Duration;

/// A WebSocket spoken byte by byte over TCP, for what no well-behaved client library sends:
/// absurd frame headers, storms of fragments, or a handshake and then never reading again.
pub struct RawWs {
    pub tcp: tokio::net::TcpStream,
    /// Bytes read after the handshake that no frame has consumed yet.
    buffered: Vec<u8>,
}

impl RawWs {
    /// Connects and sends the upgrade request. With `recv_buffer`, the kernel's receive buffer
    /// is that small, so a client that never reads stops the server's writes early.
    pub async fn open(addr: SocketAddr, token: &str, recv_buffer: Option<u32>) -> RawWs {
        use tokio::io::AsyncWriteExt;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let mut tcp = socket.connect(addr).await.unwrap();
        let handshake = format!(
            "GET /ws?token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(handshake.as_bytes()).await.unwrap();
        RawWs {
            tcp,
            buffered: Vec::new(),
        }
    }

    /// Reads the handshake's answer; panics unless it is `101 Switching Protocols`.
    pub async fn upgraded(&mut self) {
        while !self.buffered.windows(4).any(|w| w == b"\r\n\r\n") {
            self.fill(Duration::from_secs(5))
                .await
                .expect("handshake answer");
        }
        let end = self
            .buffered
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap()
            + 4;
        let head = String::from_utf8_lossy(&self.buffered[..end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "not upgraded: {head}");
        self.buffered.drain(..end);
    }

    /// One text message as one-byte fragments (a text frame, then continuation frames).
    pub fn fragmented(text: &[u8]) -> Vec<u8> {
        let last = text.len() - 1;
        text.iter()
            .enumerate()
            .flat_map(|(i, b)| Self::frame(i == last, if i == 0 { 0x1 } else { 0x0 }, &[*b]))
            .collect()
    }

    /// The code a close frame's payload carries.
    pub fn close_code_of(payload: &[u8]) -> Option<u16> {
        payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]))
    }

    /// One client frame's bytes: masked, as RFC 6455 §5.3 requires of clients.
    pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Self::header(fin, opcode, payload.len() as u64);
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// A frame header (with its masking key) announcing `len` payload bytes, without them.
    pub fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match len {
            0..=125 => out.push(0x80 | len as u8),
            126..=65535 => {
                out.push(0x80 | 126);
                out.extend((len as u16).to_be_bytes());
            }
            _ => {
                out.push(0x80 | 127);
                out.extend(len.to_be_bytes());
            }
        }
        out.extend([0x37, 0xfa, 0x21, 0x3d]);
        out
    }

    /// Writes bytes; false once the server has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        use tokio::io::AsyncWriteExt;
        self.tcp.write_all(bytes).await.is_ok()
    }

    async fn fill(&mut self, wait: Duration) -> Option<()> {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(wait, self.tcp.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buffered.extend_from_slice(&chunk[..n]);
                Some(())
            }
            _ => None,
        }
    }

    /// The next server frame (unmasked, unfragmented): its opcode and payload. None when the
    /// connection ends or nothing arrives within `wait`.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<(u8, Vec<u8>)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some((header, len)) = Self::parse_header(&self.buffered) {
                if self.buffered.len() >= header + len {
                    let payload = self.buffered[header..header + len].to_vec();
                    let opcode = self.buffered[0] & 0x0f;
                    self.buffered.drain(..header + len);
                    return Some((opcode, payload));
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.fill(left).await?;
        }
    }

    fn parse_header(b: &[u8]) -> Option<(usize, usize)> {
        let short = (*b.get(1)? & 0x7f) as usize;
        match short {
            126 => Some((4, u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize)),
            127 => Some((
                10,
                u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize,
            )),
            n => Some((2, n)),
        }
    }

    /// Reads until the server's close frame and returns its code (None if the connection ended
    /// without one, or nothing came within `wait`).
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (opcode, payload) = self.next_frame(left).await?;
            if opcode == 0x8 {
                return Self::close_code_of(&payload);
            }
        }
    }
}
