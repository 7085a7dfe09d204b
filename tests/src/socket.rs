//! A session on the server's WebSocket as the SDK speaks it, for the benches that hold many at
//! once without a browser: connect, say `Hello` (frame 0, a `SecureHello` with the session's
//! resume secret), name the sections (frames 1, 2, …), then numbered frames, each one binary
//! message.

use std::net::{IpAddr, SocketAddr};

use futures::{Sink, SinkExt};
use shared_physics::wire::{self, Frame, Hello, Section, SecureHello, MAX_FRAME_BYTES, SECRET_BYTES};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A session's socket.
pub type Socket = WebSocketStream<TcpStream>;

/// Opens `ws://{addr}/v1/ws` over plain TCP with no delay, from `source` when given (a loopback
/// address of its own, so that many sessions do not run out of one address's ports).
pub async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> Result<Socket, String> {
    let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    if let Some(source) = source {
        socket.bind(SocketAddr::new(source, 0)).map_err(|e| format!("bind {source}: {e}"))?;
    }
    let from = source.map_or_else(String::new, |s| format!(" from {s}"));
    let stream = socket.connect(addr).await.map_err(|e| format!("connect{from}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    // A client needs no more buffer than the server's largest frame.
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(format!("ws://{addr}/v1/ws"), stream, Some(config))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    Ok(ws)
}

/// Frame `seq` as the binary message that carries it. Panics if it does not fit in
/// [`MAX_FRAME_BYTES`] (no frame the SDK makes is larger).
pub fn encode(seq: u32, frame: &Frame<'_>) -> Message {
    let mut buf = [0u8; MAX_FRAME_BYTES];
    let bytes = wire::encode(seq, frame, &mut buf).expect("a frame within the protocol's limits encodes");
    Message::Binary(bytes.to_vec().into())
}

/// A session's resume secret, random as the SDK draws it.
pub fn secret() -> [u8; SECRET_BYTES] {
    rand::random()
}

/// Says `hello` with the session's resume `secret` (frame 0, a `SecureHello`, as the SDK does)
/// and names `sections` (frames 1, 2, …) on `sink` (the socket or its sending half); returns
/// the last sequence number used.
pub async fn hello<'a, S>(
    sink: &mut S,
    hello: Hello<'_>,
    secret: [u8; SECRET_BYTES],
    sections: impl IntoIterator<Item = (u8, &'a str)>,
) -> Result<u32, S::Error>
where
    S: Sink<Message> + Unpin,
{
    sink.send(encode(0, &Frame::SecureHello(SecureHello { hello, secret }))).await?;
    let mut seq = 0;
    for (id, name) in sections {
        seq += 1;
        sink.send(encode(seq, &Frame::Section(Section { id, name }))).await?;
    }
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hello_comes_first_then_the_sections_in_order() {
        let (mut tx, mut rx) = futures::channel::mpsc::unbounded::<Message>();
        let hi = Hello { session: 7, site_key: "pk_test", page: "/store", identity: None };
        let last = hello(&mut tx, hi, [9; SECRET_BYTES], [(1, "checkout"), (2, "pricing")]).await.unwrap();
        assert_eq!(last, 2);
        drop(tx);
        let mut seen = Vec::new();
        while let Some(Message::Binary(b)) = futures::StreamExt::next(&mut rx).await {
            let env = wire::decode(&b).unwrap();
            seen.push(match env.frame {
                Frame::SecureHello(SecureHello { hello: h, secret }) => {
                    format!("{} hello {:x} {} {}", env.seq, h.session, h.page, secret == [9; SECRET_BYTES])
                }
                Frame::Section(s) => format!("{} section {} {}", env.seq, s.id, s.name),
                f => panic!("unexpected {f:?}"),
            });
        }
        assert_eq!(seen, ["0 hello 7 /store true", "1 section 1 checkout", "2 section 2 pricing"]);
    }
}
