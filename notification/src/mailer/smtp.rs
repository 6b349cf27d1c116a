//! [`SmtpMailer`]: mail through an SMTP relay, one connection per send.
//!
//! No connection pool: the notifier sends a handful of mails a second at
//! most, and a fresh connection per send means a relay that restarted is
//! simply reconnected to, with no stale pooled connection to fail on first.
//!
//! The relay URL may carry a password, so the URL is only ever shown with
//! the password replaced by `***` (Debug, Display and every error).

use std::fmt;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::Error as SmtpError;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{message, parse_from, MailError, Mailer, OutgoingMail};

/// How long one send may take, connection and TLS handshake included,
/// unless [`SmtpMailer::from_url_with_timeout`] says otherwise.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends through an SMTP relay.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    redacted_url: String,
    timeout: Duration,
}

impl SmtpMailer {
    /// A mailer for the relay at `url`, sending as `from` (e.g.
    /// `Tickets <tickets@example.com>`). The URL takes every form lettre's
    /// `from_url` does:
    ///
    /// | URL | connection |
    /// |---|---|
    /// | `smtp://host:2525` | plaintext, for a local relay or sink (default port 25) |
    /// | `smtp://user:pass@host:587?tls=required` | STARTTLS required, then AUTH (default port 587) |
    /// | `smtp://…?tls=opportunistic` | STARTTLS when offered (not safe against a man in the middle) |
    /// | `smtps://user:pass@host` | TLS from the first byte (default port 465) |
    ///
    /// User and password are percent-decoded; a path (`smtp://host/name`)
    /// sets the EHLO name, which otherwise is `[127.0.0.1]`. Certificates
    /// are checked against the Mozilla roots.
    pub fn from_url(url: &str, from: &str) -> Result<Self, MailError> {
        Self::from_url_with_timeout(url, from, DEFAULT_SEND_TIMEOUT)
    }

    /// [`SmtpMailer::from_url`] with `timeout` as the bound on one send.
    pub fn from_url_with_timeout(
        url: &str,
        from: &str,
        timeout: Duration,
    ) -> Result<Self, MailError> {
        let redacted_url = redact(url);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Config(format!("SMTP URL {redacted_url}: {e}")))?
            .timeout(Some(timeout))
            .build();
        Ok(SmtpMailer {
            transport,
            from: parse_from(from)?,
            redacted_url,
            timeout,
        })
    }
}

impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = message(&self.from, mail)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(classify(&error)),
            Err(_) => Err(MailError::Transient(format!(
                "{} did not finish the send within {:?}",
                self.redacted_url, self.timeout
            ))),
        }
    }
}

/// 5xx is permanent (RFC 5321 §4.2.1) except for authentication: a 530,
/// 534, 535 or 538 (RFC 4954) means the relay's credentials or policy are
/// wrong, which fails every mail alike until someone fixes the
/// configuration, after which the waiting mails should go out.
/// Everything that is not a reply (refused connection, TLS, I/O, a relay
/// without STARTTLS when it is required) is transient for the same reason.
fn classify(error: &SmtpError) -> MailError {
    let text = error.to_string();
    let auth = matches!(error.status().map(u16::from), Some(530 | 534 | 535 | 538));
    if error.is_permanent() && !auth {
        MailError::Permanent(text)
    } else {
        MailError::Transient(text)
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("url", &self.redacted_url)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl fmt::Display for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_url)
    }
}

/// `url` with the password of its user info replaced by `***`. Looks for
/// the last `@` after the scheme, as URL parsers do, so a password with
/// an unescaped `/` or `?` is hidden too.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(SMTP URL without //)".to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        for (url, shown) in [
            ("smtp://127.0.0.1:2525", "smtp://127.0.0.1:2525"),
            (
                "smtp://me:s3cret@mail.example.com:587?tls=required",
                "smtp://me:***@mail.example.com:587?tls=required",
            ),
            (
                "smtps://me:p%40ss@mail.example.com",
                "smtps://me:***@mail.example.com",
            ),
            (
                "smtps://me:pa/ss@mail.example.com",
                "smtps://me:***@mail.example.com",
            ),
            ("smtp://apikey@relay", "smtp://apikey@relay"),
            ("me:s3cret@host", "(SMTP URL without //)"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
        let mailer = SmtpMailer::from_url(
            "smtp://me:s3cret@mail.example.com:587?tls=required",
            "tickets@example.com",
        )
        .expect("mailer");
        assert!(!format!("{mailer:?} {mailer}").contains("s3cret"));
        let err = SmtpMailer::from_url("smtp://me:s3cret@host?tls=bogus", "t@example.com")
            .expect_err("bad tls mode");
        assert!(matches!(err, MailError::Config(_)), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}
