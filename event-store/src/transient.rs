//! The one classifier of database failures that say nothing about the
//! request: the server is gone, restarting or failing over, out of
//! connections, or rolled a transaction back to settle a race between
//! transactions. A caller answers such a failure with UNAVAILABLE (retry
//! later, a command with the same idempotency key) instead of INTERNAL.
//!
//! Every crate that reaches a database through sqlx classifies with
//! [`is_transient`], so a SQLSTATE is read here and nowhere else
//! (style.md rule 4).

use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;

/// SQLSTATE classes whose errors are transient: `08` connection exception
/// (08003, 08006, …), `40` transaction rollback (40001 serialization
/// failure, 40P01 deadlock), `53` insufficient resources (53300 too many
/// connections) and `57` operator intervention (57P01 admin shutdown,
/// 57P02 crash shutdown, 57P03 cannot connect now, a failover).
const TRANSIENT_CLASSES: [&str; 4] = ["08", "40", "53", "57"];

/// SQLITE_BUSY and its extended codes (`_RECOVERY`, `_SNAPSHOT`,
/// `_TIMEOUT`): another connection held the lock past the busy timeout.
const SQLITE_BUSY: [&str; 4] = ["5", "261", "517", "773"];

/// Whether `err` is transient: retrying the same call later may succeed.
///
/// Lost or refused connections (I/O, TLS), a pool that timed out or was
/// closed, a Postgres error of SQLSTATE class 08, 40, 53 or 57
/// ([`is_transient_sqlstate`]) and a busy SQLite database are; anything
/// else (a constraint, a syntax error, a row that does not decode) is not.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
                is_transient_sqlstate(pg.code())
            } else {
                db.try_downcast_ref::<SqliteError>()
                    .is_some_and(|_| is_busy_code(db.code().as_deref()))
            }
        }
        _ => false,
    }
}

/// Whether a Postgres SQLSTATE (five characters, e.g. `57P01`) is of a
/// transient class.
pub fn is_transient_sqlstate(code: &str) -> bool {
    code.len() == 5
        && TRANSIENT_CLASSES
            .iter()
            .any(|class| code.starts_with(class))
}

/// Whether `err` is SQLITE_BUSY: the one transient error a SQLite store
/// retries by itself while it opens a database file.
pub(crate) fn is_sqlite_busy(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .filter(|db| db.try_downcast_ref::<SqliteError>().is_some())
        .is_some_and(|db| is_busy_code(db.code().as_deref()))
}

fn is_busy_code(code: Option<&str>) -> bool {
    code.is_some_and(|code| SQLITE_BUSY.contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_transient_class_is_transient() {
        for code in [
            "08000", "08003", "08006", "08001", "08P01", // connection exception
            "40000", "40001", "40P01", "40003", // transaction rollback
            "53000", "53100", "53200", "53300", "53400", // insufficient resources
            "57000", "57014", "57P01", "57P02", "57P03", "57P05", // operator intervention
        ] {
            assert!(is_transient_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn bugs_and_refusals_are_not_transient() {
        for code in [
            "23505", "23503", "42P01", "42601", "22P02", "P0001", "XX000", "25P02", "", "5", "57",
            "5386", // a SQLite extended code that starts like class 53
        ] {
            assert!(!is_transient_sqlstate(code), "{code:?}");
        }
    }

    #[test]
    fn lost_connections_and_exhausted_pools_are_transient() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(is_transient(&sqlx::Error::Io(reset)));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_transient(&sqlx::Error::PoolClosed));
        assert!(is_transient(&sqlx::Error::WorkerCrashed));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_transient(&sqlx::Error::Protocol("garbled".into())));
        assert!(!is_transient(&sqlx::Error::ColumnNotFound("x".into())));
    }

    #[test]
    fn only_sqlite_busy_codes_are_busy() {
        for code in SQLITE_BUSY {
            assert!(is_busy_code(Some(code)), "{code}");
        }
        for code in [None, Some("6"), Some("2067"), Some("1555"), Some("57P01")] {
            assert!(!is_busy_code(code), "{code:?}");
        }
    }
}
