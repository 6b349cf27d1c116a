//! The arguments of an append's fence (see `sql.rs`): which streams it
//! locks and which it checks, in one order for every append.

use crate::{StoreError, StreamAppend, StreamCondition};

/// The arguments of `event_store.fence`: every written stream (expected
/// `-1`: lock it) and every condition (its sequence: check it), sorted by
/// stream so that concurrent appends take their locks in one order.
pub(super) struct Fence {
    pub(super) types: Vec<String>,
    pub(super) ids: Vec<String>,
    pub(super) expected: Vec<i64>,
}

impl Fence {
    pub(super) fn new(
        appends: &[StreamAppend],
        conditions: &[StreamCondition],
    ) -> Result<Self, StoreError> {
        let mut streams = std::collections::BTreeMap::new();
        for condition in conditions {
            let sequence = i64::try_from(condition.sequence).map_err(StoreError::other)?;
            streams.insert(
                (
                    condition.aggregate_type.as_str(),
                    condition.aggregate_id.as_str(),
                ),
                sequence,
            );
        }
        // A written stream is checked by its expected sequence already.
        for append in appends.iter().filter(|a| !a.events.is_empty()) {
            streams.insert(
                (append.aggregate_type.as_str(), append.aggregate_id.as_str()),
                -1,
            );
        }
        let mut fence = Fence {
            types: Vec::with_capacity(streams.len()),
            ids: Vec::with_capacity(streams.len()),
            expected: Vec::with_capacity(streams.len()),
        };
        for ((aggregate_type, aggregate_id), expected) in streams {
            fence.types.push(aggregate_type.to_owned());
            fence.ids.push(aggregate_id.to_owned());
            fence.expected.push(expected);
        }
        Ok(fence)
    }
}
