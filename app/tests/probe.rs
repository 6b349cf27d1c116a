//! `ticketing probe URL`, the containers' healthcheck: exit 0 and the body
//! on a 2xx answer; exit 1 with the status and body on any other, and with
//! the reason when nothing listens or nothing answers in time.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::thread::JoinHandle;

/// A one-request HTTP server answering `answer` (raw), in a thread; returns
/// its URL and the thread, which yields the request it got.
fn serve_once(answer: &'static str) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/readyz", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut buf).expect("read");
            assert!(n > 0, "the request ended early");
            request.extend_from_slice(&buf[..n]);
        }
        stream.write_all(answer.as_bytes()).expect("answer");
        String::from_utf8(request).expect("utf8 request")
    });
    (url, server)
}

fn probe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .arg("probe")
        .args(args)
        .output()
        .expect("run ticketing probe")
}

#[test]
fn a_ready_answer_exits_zero_with_its_body() {
    let (url, server) =
        serve_once("HTTP/1.1 200 OK\r\ncontent-length: 28\r\n\r\nready; relay is 0.0 s behind");
    let output = probe(&[&url]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "ready; relay is 0.0 s behind"
    );
    let request = server.join().unwrap();
    assert!(request.starts_with("GET /readyz HTTP/1.1\r\n"), "{request}");
    assert!(request.contains("\r\nHost: 127.0.0.1:"), "{request}");
}

#[test]
fn an_unready_answer_exits_non_zero_with_the_reason() {
    let (url, server) = serve_once(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 17\r\n\r\nstore unreachable",
    );
    let output = probe(&[&url]);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("answered 503: store unreachable"),
        "{stderr}"
    );
}

#[test]
fn no_listener_or_no_answer_exits_non_zero() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/readyz", closed.local_addr().unwrap());
    drop(closed);
    let output = probe(&[&url]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");

    // Accepts (the backlog does) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/readyz", silent.local_addr().unwrap());
    let output = probe(&[&url, "--timeout", "200ms"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("did not answer within 200ms"), "{stderr}");
    drop(silent);

    let output = probe(&["https://127.0.0.1:9090/readyz"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("only http://"));
}
