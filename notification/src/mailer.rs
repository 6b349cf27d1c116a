//! The mail port: [`OutgoingMail`] is what the engine wants sent, [`Mailer`]
//! is anything that can send it, and [`MailError`] says whether trying again
//! later can help.
//!
//! Both adapters turn an [`OutgoingMail`] into the same RFC 5322 message
//! (`message`): a `multipart/mixed` body with the text first and the
//! attachments after it, and the caller's Message-ID, so a receiving system
//! sees one id per order however often the mail is sent.
//!
//! * `smtp.rs` — [`SmtpMailer`], a relay reached through lettre (production).
//! * `outbox.rs` — [`OutboxMailer`], one `.eml` file per message in a
//!   directory (the embedded default, design.md §3).

use std::future::Future;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::Message;

mod outbox;
mod smtp;

pub use outbox::OutboxMailer;
pub use smtp::{SmtpMailer, DEFAULT_SEND_TIMEOUT};

/// One email, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The Message-ID header, angle brackets included, stable per order
    /// (e.g. `<order-o_01J…@ticketing>`), so a resent mail is recognisably
    /// the same one and the outbox keeps one file for it.
    pub message_id: String,
    pub to_address: String,
    pub to_name: String,
    pub subject: String,
    pub text_body: String,
    pub attachments: Vec<Attachment>,
}

/// A file attached to an [`OutgoingMail`].
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// A MIME type such as `application/pdf`.
    pub content_type: String,
    pub content: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    // A ticket PDF is tens of kilobytes: print its size, not its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("bytes", &self.content.len())
            .finish()
    }
}

/// Why a mail was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Sending again later may succeed: the server could not be reached or
    /// timed out, answered 4xx, or the outbox could not be written.
    #[error("transient mail failure: {0}")]
    Transient(String),
    /// Sending this mail again will fail the same way: the server rejected
    /// it with 5xx, or an address or header is malformed.
    #[error("permanent mail failure: {0}")]
    Permanent(String),
    /// A mailer could not be built from its configuration (bad URL or
    /// sender address). Returned by constructors, never by [`Mailer::send`].
    #[error("invalid mailer configuration: {0}")]
    Config(String),
}

impl MailError {
    /// Whether retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, MailError::Transient(_))
    }
}

/// Sends mail. Implementations must be safe to call again with the same
/// [`OutgoingMail`] after any error: the sender retries transient failures,
/// and a mail whose success was not recorded is sent again.
pub trait Mailer: Send + Sync + 'static {
    fn send(&self, mail: &OutgoingMail) -> impl Future<Output = Result<(), MailError>> + Send;
}

/// Parses the configured sender, e.g. `Tickets <tickets@example.com>`.
fn parse_from(from: &str) -> Result<Mailbox, MailError> {
    from.parse()
        .map_err(|e| MailError::Config(format!("sender address {from:?}: {e}")))
}

/// The one message both adapters send.
fn message(from: &Mailbox, mail: &OutgoingMail) -> Result<Message, MailError> {
    check_message_id(&mail.message_id)?;
    let to_address = mail
        .to_address
        .parse()
        .map_err(|e| MailError::Permanent(format!("recipient address: {e}")))?;
    let to_name = Some(mail.to_name.trim())
        .filter(|name| !name.is_empty())
        .map(str::to_owned);
    let mut body = MultiPart::mixed().singlepart(SinglePart::plain(mail.text_body.clone()));
    for attachment in &mail.attachments {
        let content_type = ContentType::parse(&attachment.content_type).map_err(|e| {
            MailError::Permanent(format!(
                "content type {:?} of {:?}: {e}",
                attachment.content_type, attachment.filename
            ))
        })?;
        body = body.singlepart(
            lettre::message::Attachment::new(attachment.filename.clone())
                .body(attachment.content.clone(), content_type),
        );
    }
    Message::builder()
        .message_id(Some(mail.message_id.clone()))
        .from(from.clone())
        .to(Mailbox::new(to_name, to_address))
        .subject(mail.subject.clone())
        .multipart(body)
        .map_err(|e| MailError::Permanent(format!("message: {e}")))
}

/// A Message-ID goes into the header verbatim (and names the outbox
/// file), so only the `<local@domain>` shape of RFC 5322 is let through:
/// anything else could break the header or the file name.
fn check_message_id(id: &str) -> Result<(), MailError> {
    let inner = id
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .filter(|inner| {
            inner.len() <= 250
                && inner.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && !domain.is_empty() && !domain.contains('@')
                })
                && inner
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\'))
        });
    match inner {
        Some(_) => Ok(()),
        None => Err(MailError::Permanent(format!(
            "message id {id:?} is not of the form <local@domain>"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> OutgoingMail {
        OutgoingMail {
            message_id: "<order-o_01@ticketing>".into(),
            to_address: "ada@example.com".into(),
            to_name: "Ada Lovelace".into(),
            subject: "Your tickets".into(),
            text_body: "Enjoy the show.\n".into(),
            attachments: vec![Attachment {
                filename: "tickets.pdf".into(),
                content_type: "application/pdf".into(),
                content: b"%PDF-1.7\x00\xff".to_vec(),
            }],
        }
    }

    fn from() -> Mailbox {
        parse_from("Tickets <tickets@example.com>").expect("from")
    }

    #[test]
    fn the_message_carries_the_id_and_the_recipient() {
        let formatted =
            String::from_utf8(message(&from(), &mail()).expect("message").formatted()).unwrap();
        assert!(formatted.contains("Message-ID: <order-o_01@ticketing>\r\n"));
        assert!(formatted.contains("To: \"Ada Lovelace\" <ada@example.com>\r\n"));
        assert!(formatted.contains("multipart/mixed"));
    }

    #[test]
    fn malformed_recipients_and_ids_are_permanent() {
        let bad_address = OutgoingMail {
            to_address: "not an address".into(),
            ..mail()
        };
        let err = message(&from(), &bad_address).expect_err("address");
        assert!(err.is_permanent(), "{err}");

        for id in [
            "order-1@ticketing",
            "<order-1>",
            "<order 1@ticketing>",
            "<a@b>\r\nBcc: x@y",
            "<@ticketing>",
        ] {
            let bad_id = OutgoingMail {
                message_id: id.into(),
                ..mail()
            };
            assert!(
                matches!(message(&from(), &bad_id), Err(MailError::Permanent(_))),
                "{id:?}"
            );
        }
    }

    #[test]
    fn a_bad_sender_is_a_configuration_error() {
        assert!(matches!(parse_from("nobody"), Err(MailError::Config(_))));
    }
}
