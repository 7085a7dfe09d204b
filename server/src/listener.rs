//! The HTTP listener's own guards, below HTTP: connections per client address and the time a
//! new connection has to send its request header. `axum::serve` installs no timer and no cap,
//! so these wrap the TCP listener it is given.
//!
//! * **Connections per client address**: at most [`MAX_CONNECTIONS_PER_IP`] open at once
//!   (WebSockets included) from one public address; past it the connection is answered
//!   `429 Too Many Requests` and closed before HTTP is read. Loopback and private-range peers
//!   (a reverse proxy or load balancer in front of the server, which carries many clients) are
//!   not counted: cap those at the proxy.
//! * **Request header deadline**: a new connection must send its first request header (up to
//!   its blank line) within [`HEADER_READ_TIMEOUT`], or it is closed: a client that connects and
//!   sends nothing, or one byte at a time, holds no slot for long.
//! * **Keep-alive idle timeout**: [`serve`] runs each connection as hyper's HTTP/1.1 connection
//!   with a timer and `header_read_timeout` of [`KEEP_ALIVE_TIMEOUT`], which hyper applies to
//!   every request: a kept-alive connection that does not complete its next request header
//!   within it after the previous answer is closed. A connection upgraded to a WebSocket leaves
//!   hyper at the upgrade: the ingest path's own `Hello` and idle deadlines govern it.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Connections open at once from one public client address.
pub const MAX_CONNECTIONS_PER_IP: usize = 1_024;
/// Time a new connection has to send its first request header.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a kept-alive HTTP/1.1 connection has, after an answer, to send its next request header
/// whole (`SIQ_KEEP_ALIVE_TIMEOUT_MS`); past it the connection is closed. Browsers keep idle
/// connections for about as long, and reconnect when they need one again.
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the answer to a connection past its address's cap says, written before it is closed.
const TOO_MANY: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\nretry-after: 1\r\nconnection: close\r\n\r\n";

/// The guards' settings.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once from one counted address.
    pub per_ip: usize,
    /// Time a new connection has to send its first request header.
    pub header_read: Duration,
    /// Whether loopback and private-range peers are left uncounted (a proxy in front).
    pub exempt_private: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { per_ip: MAX_CONNECTIONS_PER_IP, header_read: HEADER_READ_TIMEOUT, exempt_private: true }
    }
}

/// A TCP listener with the guards; give it to `axum::serve`.
pub struct Guarded {
    inner: TcpListener,
    limits: Limits,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Guarded {
    /// `listener` with the default [`Limits`].
    pub fn new(listener: TcpListener) -> Guarded {
        Guarded::with_limits(listener, Limits::default())
    }

    /// `listener` with `limits`.
    pub fn with_limits(listener: TcpListener, limits: Limits) -> Guarded {
        Guarded { inner: listener, limits, open: Arc::default() }
    }

    /// Connections open now from `ip` (as counted).
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.open.lock().expect("connection counts").get(&ip).copied().unwrap_or(0)
    }

    fn counted(&self, ip: IpAddr) -> bool {
        counted(&self.limits, ip)
    }
}

/// Whether connections from `ip` count toward its cap under `limits`.
fn counted(limits: &Limits, ip: IpAddr) -> bool {
    if !limits.exempt_private {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_private() || v4.is_link_local()),
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local()),
    }
}

impl axum::serve::Listener for Guarded {
    type Io = GuardedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (GuardedStream, SocketAddr) {
        loop {
            let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            let ip = addr.ip().to_canonical();
            let slot = if self.counted(ip) {
                let mut open = self.open.lock().expect("connection counts");
                let n = open.entry(ip).or_insert(0);
                if *n >= self.limits.per_ip {
                    drop(open);
                    // Best effort, without waiting: the answer fits any socket buffer.
                    let _ = io.try_write(TOO_MANY);
                    tracing::debug!(%ip, limit = self.limits.per_ip, "connection refused: too many from this address");
                    continue;
                }
                *n += 1;
                Some(Slot { ip, open: self.open.clone() })
            } else {
                None
            };
            let deadline = Some(Box::pin(tokio::time::sleep(self.limits.header_read)));
            return (GuardedStream { io, _slot: slot, deadline, window: 0 }, addr);
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A counted connection's place in its address's count, given back when the connection closes.
struct Slot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("connection counts");
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// An accepted connection: reading fails with `TimedOut` once the header deadline passes
/// before the first request header ended.
pub struct GuardedStream {
    io: TcpStream,
    _slot: Option<Slot>,
    /// Until the first request header ended.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The last four bytes read, to see the header's blank line across reads.
    window: u32,
}

impl GuardedStream {
    /// Sets `TCP_NODELAY` on the connection.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.set_nodelay(nodelay)
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(deadline) = &mut this.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no request header in time")));
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let (Some(_), Poll::Ready(Ok(()))) = (&this.deadline, &polled) {
            for &b in &buf.filled()[before..] {
                this.window = (this.window << 8) | u32::from(b);
                if this.window == 0x0d0a_0d0a || this.window & 0xffff == 0x0a0a {
                    this.deadline = None;
                    break;
                }
            }
        }
        polled
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the open connections
/// finish their requests. Each connection is HTTP/1.1 with upgrades (the SDK's WebSocket),
/// carries its peer's address (`ConnectInfo<SocketAddr>`: the sign-in throttle counts per
/// client) and is closed when a kept-alive connection stays `keep_alive` without completing its
/// next request header. `axum::serve` runs the same loop without a timer.
pub async fn serve<L>(mut listener: L, router: axum::Router, keep_alive: Duration, shutdown: impl Future<Output = ()>)
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    // Dropped at shutdown: every connection is told to finish its request and close.
    let (stop, stopped) = tokio::sync::watch::channel(());
    // Held by every connection: closed once the last one ends.
    let (done, open) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            c = listener.accept() => c,
            _ = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(axum::extract::ConnectInfo(addr));
            tower::Service::call(&mut router.clone(), req)
        });
        let (mut stopped, open) = (stopped.clone(), open.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(keep_alive);
            let mut conn = std::pin::pin!(http.serve_connection(TokioIo::new(io), service).with_upgrades());
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                _ = stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::trace!(%addr, error = %e, "connection ended with an error");
            }
            drop(open);
        });
    }
    drop((stop, stopped, open));
    done.closed().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_are_counted_and_a_proxys_are_not() {
        let d = Limits::default();
        for ip in ["203.0.113.9", "2001:db8::1", "8.8.8.8"] {
            assert!(counted(&d, ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.0.9", "172.16.5.5", "::1", "fd00::7", "fe80::1"] {
            assert!(!counted(&d, ip.parse().unwrap()), "{ip}");
        }
        // An IPv4 peer seen through an IPv6 socket is counted as the IPv4 address.
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(mapped.to_canonical(), "203.0.113.9".parse::<IpAddr>().unwrap());
        assert!(counted(&Limits { exempt_private: false, ..d }, "127.0.0.1".parse().unwrap()));
    }
}
