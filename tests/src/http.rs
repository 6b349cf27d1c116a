//! Speaking the HTTP/JSON API like a browser or script would: [`Http`], a
//! JSON client for `/api/v1`, and [`EventStream`], a Server-Sent Events
//! reader for the seat-map stream.

use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::TestApp;

/// An answer: status, headers, and the body as JSON (`Null` when empty or
/// not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Asserts the answer is an RFC 9457 problem with `status` and
    /// `reason`, and returns its body.
    pub fn problem(&self, status: u16, reason: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "answer: {:?}", self.body);
        assert_eq!(
            self.headers[CONTENT_TYPE], "application/problem+json",
            "problems are problem+json"
        );
        let body = &self.body;
        assert_eq!(body["status"], status, "status member: {body}");
        assert_eq!(body["reason"], reason, "reason: {body}");
        assert!(
            body["title"].is_string() && body["type"].is_string(),
            "{body}"
        );
        assert!(body["detail"].is_string(), "{body}");
        body
    }
}

/// A JSON client of one engine's `/api/v1`.
#[derive(Clone)]
pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

impl TestApp {
    /// A client of the engine's HTTP API.
    pub fn http(&self) -> Http {
        Http {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
            base: format!("http://{}", self.http_addr),
        }
    }
}

impl Http {
    /// `path` under `/api/v1`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// A request to `path` with the token, if any.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn send(request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("HTTP request");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("HTTP body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        Self::send(self.request(Method::GET, path, token)).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        Self::send(self.request(Method::POST, path, token).json(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Answer {
        Self::send(self.request(Method::DELETE, path, token)).await
    }

    /// Registers a customer and logs in; returns the access token.
    pub async fn customer(&self) -> String {
        let email = format!(
            "{}@example.com",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let registered = self
            .post(
                "/auth/register",
                None,
                &serde_json::json!({"email": email, "password": "correct horse", "display_name": "Buyer"}),
            )
            .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{:?}",
            registered.body
        );
        let login = self
            .post(
                "/auth/login",
                None,
                &serde_json::json!({"email": email, "password": "correct horse"}),
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
        login.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Opens the show's seat-map stream, resuming after `last_event_id`.
    pub async fn seat_map_events(&self, show_id: &str, last_event_id: Option<&str>) -> EventStream {
        let mut request = self.request(
            Method::GET,
            &format!("/shows/{show_id}/seatmap/events"),
            None,
        );
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        // The stream is long-lived: no whole-request timeout.
        let response = request
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .expect("open event stream");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
        EventStream {
            body: Box::pin(
                response
                    .bytes_stream()
                    .map(|chunk| chunk.map(|b| b.to_vec())),
            ),
            buffer: String::new(),
        }
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

type Chunks = futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>;

/// Reads events from a `text/event-stream` body.
pub struct EventStream {
    body: Chunks,
    buffer: String,
}

impl EventStream {
    /// The next event (comments and keep-alives skipped); panics after
    /// `within` or when the stream ends.
    pub async fn next_within(&mut self, within: Duration) -> Event {
        tokio::time::timeout(within, self.next())
            .await
            .unwrap_or_else(|_| panic!("no event within {within:?}"))
            .expect("the stream ended")
    }

    /// The next event, or `None` when the stream ends.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
                continue;
            }
            let chunk = self.body.next().await?.ok()?;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }
}

fn parse(block: &str) -> Option<Event> {
    let mut event = Event {
        event: "message".to_owned(),
        ..Event::default()
    };
    let mut data = String::new();
    let mut any = false;
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => (event.event, any) = (value.to_owned(), true),
            "id" => (event.id, any) = (Some(value.to_owned()), true),
            "data" => {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
                any = true;
            }
            _ => {}
        }
    }
    event.data = serde_json::from_str(&data).unwrap_or(Value::Null);
    any.then_some(event)
}
