//! A minimal local ESMTP server (RFC 5321) that records what it is sent.
//!
//! Conversation: `220` greeting; `EHLO` (multi-line `250` with `SIZE`) or `HELO`; `MAIL
//! FROM:<…>`; `RCPT TO:<…>` (one or more); `DATA` → `354`, the message up to a line holding
//! only `.` (dot-unstuffed) → `250 2.0.0 Ok: queued as N`; `RSET`, `NOOP`, `QUIT` → `221`.
//! Commands out of order get `503`, unknown ones `502`, a message over [`MAX_MESSAGE_BYTES`]
//! `552`. No TLS and no AUTH (a local relay).
//!
//! Failures on demand are taken per connection and strike at `RCPT TO`, where real servers
//! refuse: [`Failure::Status`] answers that reply code (e.g. `451 4.3.0` temporary, `550 5.1.1`
//! permanent), [`Failure::Timeout`] stops answering, [`Failure::Slow`] delays the final `250`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::faults::{Failure, Faults, HANG};

/// Largest message accepted, in bytes (advertised as `SIZE`).
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// Longest command line (RFC 5321 §4.5.3.1.4: 512 octets with CRLF).
pub const MAX_LINE_BYTES: usize = 512;

/// A message the fake accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The `MAIL FROM` address.
    pub from: String,
    /// The `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message (headers and body), dot-unstuffed, CRLF line ends.
    pub data: String,
}

impl ReceivedMail {
    /// The value of the first header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(value) = found.as_mut() {
                if line.starts_with([' ', '\t']) {
                    value.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((key, value)) = line.split_once(':') {
                if key.eq_ignore_ascii_case(name) {
                    found = Some(value.trim().to_string());
                }
            }
        }
        found
    }

    /// The body after the headers, as sent.
    pub fn body(&self) -> &str {
        self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    /// The body as a reader sees it: decoded when its `Content-Transfer-Encoding` is
    /// `quoted-printable` (RFC 2045 §6.7: `=` + CRLF is a soft line break, `=XX` a byte).
    pub fn text(&self) -> String {
        let qp = self.header("Content-Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("quoted-printable"));
        if !qp {
            return self.body().to_string();
        }
        let joined = self.body().replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'=', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A running fake SMTP server. Dropping it stops it.
pub struct FakeSmtp {
    addr: SocketAddr,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    faults: Faults,
    task: JoinHandle<()>,
}

impl FakeSmtp {
    /// Starts the fake on a free local port.
    pub async fn start() -> std::io::Result<FakeSmtp> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let mails = Arc::new(Mutex::new(Vec::new()));
        // SMTP failures are reply codes, not HTTP answers: the renderer is never used.
        let faults = Faults::new(axum::response::IntoResponse::into_response);
        let (m, f) = (mails.clone(), faults.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let failure = f.take();
                tokio::spawn(conversation(stream, m.clone(), failure));
            }
        });
        Ok(FakeSmtp { addr, mails, faults, task })
    }

    /// The lettre connection URL of the fake (`smtp://127.0.0.1:PORT`, no TLS).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.mails.lock().expect("smtp lock").clone()
    }

    /// The next `n` connections fail with `failure` (e.g. `Failure::Status(451)`).
    pub fn fail_next(&self, n: usize, failure: Failure) {
        self.faults.fail_next(n, failure);
    }

    /// The failure queue (connections seen).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The text of an injected reply code.
fn reply_text(code: u16) -> String {
    match code {
        421 => "421 4.3.2 Service not available, closing transmission channel".into(),
        450 => "450 4.2.1 Mailbox temporarily unavailable".into(),
        451 => "451 4.3.0 Requested action aborted: local error in processing".into(),
        452 => "452 4.3.1 Insufficient system storage".into(),
        550 => "550 5.1.1 Requested action not taken: mailbox unavailable".into(),
        553 => "553 5.1.3 Requested action not taken: mailbox name not allowed".into(),
        554 => "554 5.7.1 Transaction failed".into(),
        c => format!("{c} Injected failure"),
    }
}

fn angle_address(arg: &str) -> Option<String> {
    let start = arg.find('<')?;
    let end = arg[start..].find('>')? + start;
    Some(arg[start + 1..end].to_string())
}

async fn conversation(stream: TcpStream, mails: Arc<Mutex<Vec<ReceivedMail>>>, failure: Option<Failure>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    macro_rules! reply {
        ($($t:tt)*) => {
            if write.write_all(format!("{}\r\n", format!($($t)*)).as_bytes()).await.is_err() {
                return;
            }
        };
    }
    reply!("220 fake-smtp.local ESMTP ready");
    let (mut greeted, mut from, mut to) = (false, None::<String>, Vec::<String>::new());
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.len() > MAX_LINE_BYTES {
            reply!("500 5.5.2 Line too long");
            continue;
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let verb = command.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
        let arg = command.get(verb.len()..).unwrap_or_default().trim();
        match verb.as_str() {
            "EHLO" => {
                greeted = true;
                reply!("250-fake-smtp.local greets {arg}\r\n250-8BITMIME\r\n250 SIZE {MAX_MESSAGE_BYTES}");
            }
            "HELO" => {
                greeted = true;
                reply!("250 fake-smtp.local");
            }
            "MAIL" if !greeted => reply!("503 5.5.1 Send EHLO first"),
            "MAIL" => match arg.to_ascii_uppercase().starts_with("FROM:").then(|| angle_address(arg)).flatten() {
                Some(a) => {
                    from = Some(a);
                    to.clear();
                    reply!("250 2.1.0 Ok");
                }
                None => reply!("501 5.5.4 Syntax: MAIL FROM:<address>"),
            },
            "RCPT" if from.is_none() => reply!("503 5.5.1 Need MAIL first"),
            "RCPT" => match failure {
                Some(Failure::Status(code)) => reply!("{}", reply_text(code)),
                Some(Failure::Timeout) => {
                    tokio::time::sleep(HANG).await;
                    return;
                }
                _ => match arg.to_ascii_uppercase().starts_with("TO:").then(|| angle_address(arg)).flatten() {
                    Some(a) if a.contains('@') => {
                        to.push(a);
                        reply!("250 2.1.5 Ok");
                    }
                    _ => reply!("501 5.1.3 Bad recipient address syntax"),
                },
            },
            "DATA" if to.is_empty() => reply!("503 5.5.1 Need RCPT first"),
            "DATA" => {
                reply!("354 End data with <CR><LF>.<CR><LF>");
                let mut data = String::new();
                let mut too_big = false;
                loop {
                    line.clear();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text == "." {
                        break;
                    }
                    if data.len() + text.len() > MAX_MESSAGE_BYTES {
                        too_big = true;
                        continue;
                    }
                    data.push_str(text.strip_prefix('.').unwrap_or(text));
                    data.push_str("\r\n");
                }
                if too_big {
                    reply!("552 5.3.4 Message size exceeds fixed limit");
                } else {
                    if let Some(Failure::Slow(delay)) = failure {
                        tokio::time::sleep(delay).await;
                    }
                    let n = {
                        let mut mails = mails.lock().expect("smtp lock");
                        mails.push(ReceivedMail { from: from.take().unwrap_or_default(), to: std::mem::take(&mut to), data });
                        mails.len()
                    };
                    reply!("250 2.0.0 Ok: queued as FAKE{n:05}");
                }
            }
            "RSET" => {
                from = None;
                to.clear();
                reply!("250 2.0.0 Ok");
            }
            "NOOP" => reply!("250 2.0.0 Ok"),
            "QUIT" => {
                reply!("221 2.0.0 Bye");
                return;
            }
            _ => reply!("502 5.5.2 Command not recognized"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_unfolded() {
        let m = ReceivedMail {
            from: "a@b".into(),
            to: vec!["c@d".into()],
            data: "Subject: one\r\n two\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n".into(),
        };
        assert_eq!(m.header("subject").as_deref(), Some("one two"));
        assert_eq!(m.header("Message-Id").as_deref(), Some("<x@y>"));
        assert_eq!(m.header("To"), None);
        assert_eq!(m.body(), "body\r\n");
        let qp = ReceivedMail {
            data: "Content-Transfer-Encoding: quoted-printable\r\n\r\nhttps://x/?t=3Dacme&s=\r\nig=3D1 caf=C3=A9\r\n".into(),
            ..m
        };
        assert_eq!(qp.text(), "https://x/?t=acme&sig=1 café\r\n");
        assert_eq!(angle_address("FROM:<a@b.c> SIZE=10"), Some("a@b.c".into()));
    }
}
