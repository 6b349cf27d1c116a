//! `ticketing probe URL`: the containers' healthcheck, so the runtime
//! image needs no curl. One HTTP/1.1 GET to a plain `http://host:port/path`
//! (the admin port's `/readyz`); a 2xx answer prints its body and exits 0,
//! anything else (another status, no answer within the timeout, a refused
//! connection) exits 1 with the reason. No TLS and no redirects: it only
//! ever asks the process beside it.

use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::parse_duration;

/// The most of an answer that is read: `/readyz` says a line or two.
const MAX_ANSWER: u64 = 64 * 1024;

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The URL to GET, `http://host:port/path`.
    pub url: String,
    /// How long the whole exchange may take.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Probes `args.url`: Ok on a 2xx answer, with its body printed.
pub async fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.url)?;
    let (status, body) = tokio::time::timeout(args.timeout, get(&target))
        .await
        .map_err(|_| anyhow::anyhow!("{} did not answer within {:?}", args.url, args.timeout))?
        .with_context(|| args.url.clone())?;
    let body = body.trim();
    anyhow::ensure!(
        (200..300).contains(&status),
        "{} answered {status}: {body}",
        args.url
    );
    println!("{body}");
    Ok(())
}

/// Where to connect and what to ask for.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    /// `host:port`, also sent as the Host header.
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("{url:?}: only http:// URLs can be probed"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        anyhow::ensure!(
            authority.contains(':') && !authority.ends_with(':'),
            "{url:?}: give the port, e.g. http://127.0.0.1:9090/readyz"
        );
        Ok(Target {
            authority: authority.to_owned(),
            path: if path.is_empty() { "/" } else { path }.to_owned(),
        })
    }
}

/// The answer's status code and body.
async fn get(target: &Target) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(&target.authority).await?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: ticketing-probe\r\nConnection: close\r\n\r\n",
        target.path, target.authority
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP answer: {:?}", head.lines().next()))?;
    Ok((status, body.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_with_a_port_is_probed() {
        assert_eq!(
            Target::parse("http://127.0.0.1:9090/readyz").unwrap(),
            Target {
                authority: "127.0.0.1:9090".into(),
                path: "/readyz".into()
            }
        );
        assert_eq!(Target::parse("http://[::1]:9090").unwrap().path, "/");
        for refused in [
            "https://x:1/",
            "http://localhost/readyz",
            "127.0.0.1:9090",
            "http://x:/",
        ] {
            assert!(Target::parse(refused).is_err(), "{refused}");
        }
    }
}
