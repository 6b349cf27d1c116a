//! Test support (feature `testing`): [`SmtpSink`], a small SMTP server on
//! loopback that records every message it accepts.
//!
//! It speaks just enough SMTP for a client like lettre: a 220 greeting,
//! EHLO/HELO, MAIL, RCPT, DATA (with dot-unstuffing), RSET, NOOP and QUIT.
//! It offers neither STARTTLS nor AUTH. It can be stopped and started again
//! on the same port, keeping what it recorded, to stand in for a mail server
//! that goes down and comes back, and it can be told to refuse recipients,
//! temporarily or for good ([`SinkMode`]).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// One message as the sink received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed, lines ending in CRLF.
    pub data: Vec<u8>,
}

/// How the sink answers `RCPT TO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SinkMode {
    #[default]
    Accept,
    /// `451 4.3.0`: try again later.
    TemporaryFailure,
    /// `550 5.1.1`: no such mailbox.
    RejectRecipients,
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    mode: Mutex<SinkMode>,
}

/// A recording SMTP server. Dropping it stops it too, but only
/// [`SmtpSink::stop`] waits until the port is free to listen on again.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<JoinHandle<()>>>,
    /// While stopped: a socket bound to the port but not listening, so
    /// connections are refused and no other listener (another test's
    /// server on an ephemeral port) can take the port in the meantime. A
    /// client that reached such a listener would wait for a greeting that
    /// never comes, instead of failing at once.
    placeholder: Mutex<Option<TcpSocket>>,
}

impl SmtpSink {
    /// Listens on a free loopback port.
    pub async fn start() -> io::Result<SmtpSink> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Listens on `addr`.
    pub async fn start_on(addr: SocketAddr) -> io::Result<SmtpSink> {
        let shared = Arc::new(Shared::default());
        let (addr, server) = listen(addr, shared.clone())?;
        Ok(SmtpSink {
            addr,
            shared,
            server: Mutex::new(Some(server)),
            placeholder: Mutex::new(None),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL an [`crate::SmtpMailer`] reaches the sink at.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Everything accepted so far, across stops and restarts.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.shared.messages).clone()
    }

    pub fn set_mode(&self, mode: SinkMode) {
        *lock(&self.shared.mode) = mode;
    }

    /// Stops listening and drops every open connection; clients then get
    /// "connection refused" until [`SmtpSink::restart`].
    pub async fn stop(&self) {
        let server = lock(&self.server).take();
        if let Some(server) = server {
            server.abort();
            // Wait until the listener is closed, so a restart can bind.
            let _ = server.await;
            // Without SO_REUSEADDR, so that no listener can share the port.
            // Binding fails while connections of this run linger in
            // TIME_WAIT on the port; the port is then left unguarded.
            let placeholder = match self.addr {
                SocketAddr::V4(_) => TcpSocket::new_v4(),
                SocketAddr::V6(_) => TcpSocket::new_v6(),
            }
            .and_then(|socket| socket.bind(self.addr).map(|()| socket));
            *lock(&self.placeholder) = placeholder.ok();
        }
    }

    /// Listens again on the same address (after [`SmtpSink::stop`]).
    pub async fn restart(&self) -> io::Result<()> {
        self.stop().await;
        drop(lock(&self.placeholder).take());
        let (_, server) = listen(self.addr, self.shared.clone())?;
        *lock(&self.server) = Some(server);
        Ok(())
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(server) = lock(&self.server).take() {
            server.abort();
        }
    }
}

/// A poisoned lock only means another test thread panicked; the data is
/// still what it recorded.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn listen(addr: SocketAddr, shared: Arc<Shared>) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // Connections of the previous run may linger in TIME_WAIT on the port.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(64)?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        // Owned by the accept loop, so aborting it drops every connection.
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve(stream, shared.clone()));
                    }
                    // Concerns one client (e.g. it reset before accept).
                    Err(_) => continue,
                },
                Some(_) = connections.join_next() => {}
            }
        }
    });
    Ok((addr, server))
}

/// One SMTP session. I/O errors end it: the client went away.
async fn serve(stream: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => "250-sink.test\r\n250 8BITMIME\r\n",
            "HELO" => "250 sink.test\r\n",
            "MAIL" => {
                from = Some(path_of(&command));
                to.clear();
                "250 2.1.0 OK\r\n"
            }
            "RCPT" if from.is_none() => "503 5.5.1 MAIL first\r\n",
            "RCPT" => match *lock(&shared.mode) {
                SinkMode::Accept => {
                    to.push(path_of(&command));
                    "250 2.1.5 OK\r\n"
                }
                SinkMode::TemporaryFailure => "451 4.3.0 Try again later\r\n",
                SinkMode::RejectRecipients => "550 5.1.1 No such mailbox\r\n",
            },
            "DATA" if to.is_empty() => "503 5.5.1 RCPT first\r\n",
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let Some(data) = read_data(&mut reader).await? else {
                    return Ok(());
                };
                lock(&shared.messages).push(ReceivedMail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data,
                });
                "250 2.0.0 Queued\r\n"
            }
            "RSET" => {
                from = None;
                to.clear();
                "250 2.0.0 OK\r\n"
            }
            "NOOP" => "250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not implemented\r\n",
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// The message after DATA up to the lone `.`, with the extra dot of each
/// line that starts with one removed (RFC 5321 §4.5.2); `None` if the
/// client hung up first.
async fn read_data(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(data));
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(unstuffed);
    }
}

/// The address between `<` and `>` of a MAIL or RCPT command.
fn path_of(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(path, _)| path.to_owned())
        .unwrap_or_default()
}
