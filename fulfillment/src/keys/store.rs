//! The key file: JSON `{"keys":[{"kid","seed","created_at"}]}`, oldest key
//! first and the last one active; `seed` is standard base64 of the 32-byte
//! Ed25519 secret, `created_at` RFC 3339.
//!
//! The file is only ever written whole: into a temporary file in the same
//! directory, created with mode 0600 so it is never readable by others even
//! for a moment, flushed to disk, then moved into place, so a crash leaves
//! the old file or the new one and never half a key.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::{decode_seed, KeyError, KeyRing, RingKey};

#[derive(Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
struct KeyEntry {
    kid: String,
    seed: String,
    /// Absent in a hand-written file made from seeds of unknown age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<DateTime<Utc>>,
}

impl Drop for KeyEntry {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

pub(super) fn load_or_create(path: &Path) -> Result<KeyRing, KeyError> {
    if let Some(keys) = read(path)? {
        return Ok(KeyRing::from_keys(keys));
    }
    let keys = vec![RingKey::generate(Utc::now().trunc_subsecs(0))];
    let temp = write_temp(path, &keys)?;
    // A hard link, unlike a rename, never replaces a file: when two workers
    // start at once the first file wins and the other loads it, so neither
    // signs with a key that the file does not keep.
    let linked = fs::hard_link(&temp, path);
    remove_temp(&temp);
    match linked {
        Ok(()) => {
            sync_parent(path)?;
            Ok(KeyRing::from_keys(keys))
        }
        Err(err) if err.kind() == ErrorKind::AlreadyExists => match read(path)? {
            Some(keys) => Ok(KeyRing::from_keys(keys)),
            None => Err(io_error("read", path, ErrorKind::NotFound.into())),
        },
        Err(err) => Err(io_error("create", path, err)),
    }
}

pub(super) fn rotate(path: &Path) -> Result<KeyRing, KeyError> {
    let mut keys = read(path)?.unwrap_or_default();
    keys.push(RingKey::generate(Utc::now().trunc_subsecs(0)));
    let temp = write_temp(path, &keys)?;
    if let Err(err) = fs::rename(&temp, path) {
        remove_temp(&temp);
        return Err(io_error("replace", path, err));
    }
    sync_parent(path)?;
    Ok(KeyRing::from_keys(keys))
}

/// The keys in the file, or `None` when there is no file.
fn read(path: &Path) -> Result<Option<Vec<RingKey>>, KeyError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_error("open", path, err)),
    };
    // Checked on the open handle, so the file judged is the file read.
    let metadata = file
        .metadata()
        .map_err(|err| io_error("inspect", path, err))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::LoosePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    let mut text = Zeroizing::new(Vec::new());
    file.read_to_end(&mut text)
        .map_err(|err| io_error("read", path, err))?;
    let parsed: KeyFile =
        serde_json::from_slice(&text).map_err(|err| malformed(path, describe(&err)))?;
    if parsed.keys.is_empty() {
        return Err(malformed(path, "it holds no keys".to_owned()));
    }
    let mut keys = Vec::with_capacity(parsed.keys.len());
    for (index, entry) in parsed.keys.iter().enumerate() {
        let number = index + 1;
        let seed = decode_seed(&entry.seed).ok_or_else(|| {
            malformed(
                path,
                format!("key {number}: seed is not standard base64 of 32 bytes"),
            )
        })?;
        let key = RingKey::from_seed(&seed, entry.created_at);
        // The stored kid is not echoed: a file with its fields swapped would
        // put a seed into the log.
        if key.kid != entry.kid {
            return Err(malformed(
                path,
                format!(
                    "key {number}: kid does not match its seed, whose kid is {}",
                    key.kid
                ),
            ));
        }
        keys.push(key);
    }
    Ok(Some(keys))
}

/// Writes `keys` to a new owner-only temporary file beside `path`.
fn write_temp(path: &Path, keys: &[RingKey]) -> Result<PathBuf, KeyError> {
    let dir = parent(path);
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|err| io_error("create directory", &dir, err))?;
    let name = path.file_name().ok_or_else(|| {
        let err = io::Error::new(ErrorKind::InvalidInput, "the path names no file");
        io_error("write", path, err)
    })?;
    let temp = dir.join(format!(
        ".{}.{:016x}.tmp",
        name.to_string_lossy(),
        rand::random::<u64>()
    ));
    let file = KeyFile {
        keys: keys
            .iter()
            .map(|key| KeyEntry {
                kid: key.kid.clone(),
                seed: STANDARD.encode(key.signing.as_bytes()),
                created_at: key.created_at,
            })
            .collect(),
    };
    let mut json = Zeroizing::new(
        serde_json::to_vec_pretty(&file).map_err(|err| io_error("encode", path, err.into()))?,
    );
    json.push(b'\n');
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut out| {
            out.write_all(&json)?;
            out.sync_all()
        });
    match written {
        Ok(()) => Ok(temp),
        Err(err) => {
            remove_temp(&temp);
            Err(io_error("write", &temp, err))
        }
    }
}

/// Best effort: a leftover temporary file holds a key that is either in the
/// key file too or was never used, and is owner-only either way.
fn remove_temp(temp: &Path) {
    let _ = fs::remove_file(temp);
}

/// Makes the new directory entry durable, so the key survives a power cut
/// right after it was first used.
fn sync_parent(path: &Path) -> Result<(), KeyError> {
    let dir = parent(path);
    File::open(&dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|err| io_error("sync directory", &dir, err))
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> KeyError {
    KeyError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn malformed(path: &Path, reason: String) -> KeyError {
    KeyError::Malformed {
        path: path.to_owned(),
        reason,
    }
}

/// Where and how the JSON is wrong, without serde's message: it may quote
/// the offending value, which can be a seed.
fn describe(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Io => "unreadable",
        Category::Syntax => "not valid JSON",
        Category::Data => "not shaped like a key file",
        Category::Eof => "cut short",
    };
    format!("{what} at line {}, column {}", err.line(), err.column())
}
