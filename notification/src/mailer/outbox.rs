//! [`OutboxMailer`]: "sends" a mail by writing the complete RFC 5322 message
//! to `<dir>/<message id>.eml`, the embedded engine's stand-in for SMTP
//! (design.md §3). Any mail client opens the files.
//!
//! The file is written under a hidden temporary name, flushed to disk and
//! renamed into place, so a reader never sees half a message and a mail
//! sent twice (same Message-ID) leaves one file. Readers should ignore
//! names starting with `.`: a crash can leave a temporary file behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox;

use super::{message, parse_from, MailError, Mailer, OutgoingMail};

/// Writes mail into a directory.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl OutboxMailer {
    /// Mail from `from` goes into `dir`, which is created on first send if
    /// missing.
    pub fn new(dir: impl Into<PathBuf>, from: &str) -> Result<Self, MailError> {
        Ok(OutboxMailer {
            dir: dir.into(),
            from: parse_from(from)?,
        })
    }

    /// Where the mail with `message_id` is (or would be) written.
    pub fn path_of(&self, message_id: &str) -> PathBuf {
        self.dir.join(format!("{}.eml", file_stem(message_id)))
    }
}

impl Mailer for OutboxMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let bytes = message(&self.from, mail)?.formatted();
        let dir = self.dir.clone();
        let path = self.path_of(&mail.message_id);
        tokio::task::spawn_blocking(move || write_atomically(&dir, &path, &bytes))
            .await
            .map_err(|e| MailError::Transient(format!("outbox writer stopped: {e}")))?
            .map_err(|e| MailError::Transient(format!("outbox {}: {e}", self.dir.display())))
    }
}

/// The Message-ID without its angle brackets, every character outside
/// `[A-Za-z0-9@._-]` replaced by `_`, and a leading `.` too, which would
/// hide the file (ids were checked to be printable ASCII of bounded
/// length when the message was built).
fn file_stem(message_id: &str) -> String {
    message_id
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .enumerate()
        .map(|(i, c)| match c {
            '.' if i == 0 => '_',
            'A'..='Z' | 'a'..='z' | '0'..='9' | '@' | '.' | '-' | '_' => c,
            _ => '_',
        })
        .collect()
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // Unique per write: two senders writing the same mail at once each
    // rename a complete file of their own.
    let temp = dir.join(format!(".{name}.{}.tmp", ulid::Ulid::new()));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        // Durable before it is visible: a crash must not leave an empty
        // .eml behind a delivery already marked sent.
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        // Best effort: a leftover hidden file is harmless.
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    sync_dir(dir)
}

/// Makes the rename itself durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(
            file_stem("<order-o_01J9@ticketing>"),
            "order-o_01J9@ticketing"
        );
        assert_eq!(file_stem("<a/../b+c@x>"), "a_.._b_c@x");
        assert_eq!(file_stem("<.hidden@x>"), "_hidden@x");
    }
}
