//! Projector shards (`ticketing serve --role projector --shard K/N`): which
//! shows a projector keeps, and which read models are split at all.
//!
//! **Who owns a show.** Shard `fnv1a64(show_id) mod N` ([`owner`]): FNV-1a
//! (64 bits) of the id's UTF-8 bytes, a fixed function, so every process,
//! machine and Rust version agrees (std's hasher is seeded per process).
//!
//! **Which models are split** ([`ReadModel::sharded`]):
//!
//! * `seat_map` — by show. Its rows are keyed by show, and every event it
//!   folds names its show in its stream id (a Show's id, a Seat's
//!   `{show}/{label}`), so shard K folds its shows' events and passes over
//!   the rest. Its checkpoint is `(seat_map, K)`.
//! * `shows`, `reservations`, `orders` — whole, kept by shard 0 under
//!   `(name, 0)` whatever N. The catalog is small, rarely written and listed
//!   across shows; a reservation's later events (extended, expired,
//!   converted) do not name its show, so no shard could tell its own; an
//!   order is a customer's and may span shows.
//!
//! There is one feed (design.md §12), so every shard reads all of it; a
//! shard's checkpoint moves past the other shards' events too.

use std::fmt;
use std::str::FromStr;

use ticketing_aggregates::{Seat, Show};
use ticketing_event_store::FeedEvent;

use crate::ReadModel;

/// The most shards a model may be split into: more would only add
/// processes that each read the whole feed.
pub const MAX_SHARDS: u32 = 256;

/// Shard `index` of `count` (`K/N`); [`Shard::WHOLE`] (`0/1`) keeps
/// everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// Why a `--shard` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadShard {
    #[error("{0:?} is not a shard: write K/N, e.g. 1/4 for the second of four shards")]
    Malformed(String),
    #[error("a shard count must be 1 to {MAX_SHARDS}, not {0}")]
    Count(u32),
    #[error("shard {index}/{count} does not exist: K counts from 0 to N-1")]
    Index { index: u32, count: u32 },
}

impl Shard {
    /// One projector for everything: today's default.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u32, count: u32) -> Result<Self, BadShard> {
        if count == 0 || count > MAX_SHARDS {
            return Err(BadShard::Count(count));
        }
        if index >= count {
            return Err(BadShard::Index { index, count });
        }
        Ok(Self { index, count })
    }

    pub fn index(self) -> u32 {
        self.index
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// The checkpoint's `shard` column.
    pub(crate) fn id(self) -> i32 {
        self.index as i32
    }

    /// Whether this shard keeps `show_id`'s rows.
    pub fn owns(self, show_id: &str) -> bool {
        self.count == 1 || owner(show_id, self.count) == self.index
    }

    /// Whether this shard applies `event`: one of its shows' (an event
    /// that names no show only when it keeps everything).
    pub fn owns_event(self, event: &FeedEvent) -> bool {
        self.count == 1 || show_of(event).is_some_and(|show| self.owns(show))
    }

    /// The read models this shard's projector keeps, each with the shard
    /// its checkpoint is kept under: the split ones as this shard, the
    /// whole ones as [`Shard::WHOLE`], by shard 0 only.
    pub fn keeps(self) -> Vec<(ReadModel, Shard)> {
        ReadModel::ALL
            .into_iter()
            .filter_map(|model| match model.sharded() {
                true => Some((model, self)),
                false => (self.index == 0).then_some((model, Shard::WHOLE)),
            })
            .collect()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = BadShard;

    fn from_str(raw: &str) -> Result<Self, BadShard> {
        let malformed = || BadShard::Malformed(raw.to_owned());
        let (index, count) = raw.trim().split_once('/').ok_or_else(malformed)?;
        let number = |part: &str| part.parse::<u32>().map_err(|_| malformed());
        Shard::new(number(index)?, number(count)?)
    }
}

/// The shard of `count` that owns `show_id`.
pub fn owner(show_id: &str, count: u32) -> u32 {
    (fnv1a64(show_id.as_bytes()) % u64::from(count.max(1))) as u32
}

/// FNV-1a, 64 bits (offset basis and prime of the published definition).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The show an event's stream belongs to: a Show's id, or the show part
/// of a Seat's `{show}/{label}`; `None` for other aggregates.
pub(crate) fn show_of(event: &FeedEvent) -> Option<&str> {
    let stored = &event.event;
    if stored.aggregate_type == <Show as cqrs_es::Aggregate>::TYPE {
        Some(&stored.aggregate_id)
    } else if stored.aggregate_type == <Seat as cqrs_es::Aggregate>::TYPE {
        stored.aggregate_id.split_once('/').map(|(show, _)| show)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a_and_owners_never_change() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        // Owners are part of the stored layout: a change here would move
        // shows between shards under running projectors.
        let owners = |show: &str| [2, 3, 7].map(|n| owner(show, n));
        assert_eq!(owners("s_01J0000000000000000000000"), [0, 2, 0]);
        assert_eq!(owners("s_01JZZZZZZZZZZZZZZZZZZZZZZ"), [0, 2, 3]);
        assert_eq!(owners("s_01HV6X8Q2W3E4R5T6Y7U8I9O0P"), [1, 2, 2]);
        assert_eq!(owner("anything", 1), 0);
    }

    #[test]
    fn shards_parse_as_k_of_n_and_bad_ones_are_refused() {
        assert_eq!("0/1".parse(), Ok(Shard::WHOLE));
        assert_eq!(
            "1/2".parse::<Shard>().map(|s| (s.index(), s.count())),
            Ok((1, 2))
        );
        assert_eq!(Shard::new(3, 4).unwrap().to_string(), "3/4");
        assert_eq!(
            "2/2".parse::<Shard>(),
            Err(BadShard::Index { index: 2, count: 2 })
        );
        assert_eq!("0/0".parse::<Shard>(), Err(BadShard::Count(0)));
        assert_eq!("0/257".parse::<Shard>(), Err(BadShard::Count(257)));
        for malformed in ["", "1", "1/", "/2", "a/b", "-1/2", "1/2/3", "1.0/2"] {
            assert_eq!(
                malformed.parse::<Shard>(),
                Err(BadShard::Malformed(malformed.into())),
                "{malformed:?}"
            );
        }
    }

    #[test]
    fn every_show_has_one_owner_and_only_the_seat_map_is_split() {
        let shards: Vec<Shard> = (0..3).map(|k| Shard::new(k, 3).unwrap()).collect();
        for show in ["s_a", "s_b", "s_c", "s_d", "s_e"] {
            assert_eq!(shards.iter().filter(|s| s.owns(show)).count(), 1, "{show}");
        }
        let kept = |shard: Shard| -> Vec<(&str, String)> {
            shard
                .keeps()
                .into_iter()
                .map(|(model, under)| (model.name(), under.to_string()))
                .collect()
        };
        assert_eq!(
            kept(shards[0]),
            [
                ("seat_map", "0/3".to_owned()),
                ("shows", "0/1".into()),
                ("reservations", "0/1".into()),
                ("orders", "0/1".into())
            ]
        );
        assert_eq!(kept(shards[2]), [("seat_map", "2/3".to_owned())]);
        assert_eq!(kept(Shard::WHOLE).len(), 4);
    }
}
