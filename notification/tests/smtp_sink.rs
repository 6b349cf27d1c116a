//! The test SMTP server speaks the protocol a client sees: replies to each
//! command, dot-unstuffing, refusals by mode, and a stop and restart on the
//! same port that keeps what it recorded.

use ticketing_notification::testing::{ReceivedMail, SinkMode, SmtpSink};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A client session: sends a line, returns the reply's code (after any
/// continuation lines).
struct Session {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Session {
    async fn open(sink: &SmtpSink) -> (Session, String) {
        let (read, writer) = TcpStream::connect(sink.addr())
            .await
            .expect("connect")
            .into_split();
        let mut session = Session {
            reader: BufReader::new(read),
            writer,
        };
        let greeting = session.reply().await;
        (session, greeting)
    }

    async fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).await.expect("reply");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line[..3].to_owned();
            }
        }
    }

    async fn send(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("send");
        self.reply().await
    }
}

#[tokio::test]
async fn speaks_smtp_and_records_messages() {
    let sink = SmtpSink::start().await.expect("sink");
    let (mut s, greeting) = Session::open(&sink).await;
    assert_eq!(greeting, "220");
    assert_eq!(s.send("EHLO client.test").await, "250");
    assert_eq!(s.send("RCPT TO:<early@example.com>").await, "503");
    assert_eq!(s.send("MAIL FROM:<dropped@example.com>").await, "250");
    assert_eq!(s.send("RSET").await, "250");
    assert_eq!(s.send("DATA").await, "503", "RSET forgot the sender");
    assert_eq!(s.send("NOOP").await, "250");
    assert_eq!(s.send("HELO client.test").await, "250");
    assert_eq!(
        s.send("MAIL FROM:<a@example.com> BODY=8BITMIME").await,
        "250"
    );
    assert_eq!(s.send("RCPT TO:<b@example.com>").await, "250");
    assert_eq!(s.send("RCPT TO:<c@example.com>").await, "250");
    assert_eq!(s.send("DATA").await, "354");
    assert_eq!(s.send("Subject: hi\r\n\r\n..leading dot\r\n.").await, "250");
    assert_eq!(s.send("VRFY b").await, "502");
    assert_eq!(s.send("QUIT").await, "221");

    assert_eq!(
        sink.messages(),
        [ReceivedMail {
            from: "a@example.com".into(),
            to: vec!["b@example.com".into(), "c@example.com".into()],
            data: b"Subject: hi\r\n\r\n.leading dot\r\n".to_vec(),
        }]
    );
}

#[tokio::test]
async fn refuses_recipients_by_mode() {
    let sink = SmtpSink::start().await.expect("sink");
    let (mut s, _) = Session::open(&sink).await;
    assert_eq!(s.send("MAIL FROM:<a@example.com>").await, "250");
    sink.set_mode(SinkMode::TemporaryFailure);
    assert_eq!(s.send("RCPT TO:<b@example.com>").await, "451");
    sink.set_mode(SinkMode::RejectRecipients);
    assert_eq!(s.send("RCPT TO:<b@example.com>").await, "550");
    assert_eq!(s.send("DATA").await, "503", "no recipient was accepted");
}

#[tokio::test]
async fn stops_and_restarts_on_the_same_port() {
    let sink = SmtpSink::start().await.expect("sink");
    let addr = sink.addr();
    let (mut open_session, _) = Session::open(&sink).await;
    assert_eq!(open_session.send("MAIL FROM:<a@example.com>").await, "250");
    assert_eq!(open_session.send("RCPT TO:<b@example.com>").await, "250");
    assert_eq!(open_session.send("DATA").await, "354");
    assert_eq!(open_session.send("kept\r\n.").await, "250");

    sink.stop().await;
    let mut rest = String::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        open_session.reader.read_line(&mut rest),
    )
    .await
    .expect("the open connection is closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?} {rest:?}");
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "nothing listens while stopped");

    sink.restart().await.expect("restart");
    assert_eq!(sink.addr(), addr);
    let (_, greeting) = Session::open(&sink).await;
    assert_eq!(greeting, "220");
    assert_eq!(sink.messages().len(), 1, "what it recorded survives");

    sink.stop().await;
    let again = SmtpSink::start_on(addr)
        .await
        .expect("a new sink on the port");
    assert!(again.messages().is_empty());
}
