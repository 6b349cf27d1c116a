//! One exported event and the writers that encode it: JSON Lines (one object
//! per line, payload and metadata as nested JSON) or CSV (RFC 4180 quoting,
//! payload and metadata as JSON text). docs/analysts.md documents both.

use std::io::{self, Write};

use chrono::SecondsFormat;
use serde::Serialize;
use serde_json::Value;
use ticketing_event_store::FeedEvent;

use super::upcast;

/// The exported columns, in order: the JSON keys and the CSV header.
pub const COLUMNS: [&str; 9] = [
    "global_position",
    "recorded_at",
    "aggregate_type",
    "aggregate_id",
    "sequence",
    "event_type",
    "event_version",
    "payload",
    "metadata",
];

/// An event as exported, upcast to the current version.
#[derive(Debug, Serialize)]
pub struct Record {
    pub global_position: i64,
    /// UTC, microseconds, e.g. `2026-11-26T12:00:00.123456Z`.
    pub recorded_at: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: usize,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
}

impl Record {
    pub fn of(event: FeedEvent) -> Result<Record, upcast::UpcastError> {
        let stored = std::sync::Arc::unwrap_or_clone(event.event);
        let (event_version, payload) =
            upcast::upcast(&stored.event_type, &stored.event_version, stored.payload)?;
        Ok(Record {
            global_position: event.global_seq,
            recorded_at: event
                .recorded_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            aggregate_type: stored.aggregate_type,
            aggregate_id: stored.aggregate_id,
            sequence: stored.sequence,
            event_type: stored.event_type,
            event_version,
            payload,
            metadata: stored.metadata,
        })
    }
}

/// Encodes records onto a byte stream.
pub enum Encoder<W: Write> {
    Jsonl(io::BufWriter<W>),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> Encoder<W> {
    pub fn jsonl(out: W) -> Self {
        Encoder::Jsonl(io::BufWriter::new(out))
    }

    /// A CSV encoder; writes the header at once, so an export with no
    /// events is still a valid, self-describing file.
    pub fn csv(out: W) -> io::Result<Self> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(COLUMNS)?;
        Ok(Encoder::Csv(Box::new(writer)))
    }

    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        match self {
            Encoder::Jsonl(out) => {
                serde_json::to_writer(&mut *out, record)?;
                out.write_all(b"\n")
            }
            Encoder::Csv(out) => {
                let position = record.global_position.to_string();
                let sequence = record.sequence.to_string();
                let payload = record.payload.to_string();
                let metadata = record.metadata.to_string();
                out.write_record([
                    position.as_str(),
                    &record.recorded_at,
                    &record.aggregate_type,
                    &record.aggregate_id,
                    &sequence,
                    &record.event_type,
                    &record.event_version,
                    &payload,
                    &metadata,
                ])?;
                Ok(())
            }
        }
    }

    /// Flushes everything written and hands back the stream.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Jsonl(out) => out.into_inner().map_err(io::IntoInnerError::into_error),
            Encoder::Csv(out) => out.into_inner().map_err(csv::IntoInnerError::into_error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Record {
        Record {
            global_position: 7,
            recorded_at: "2026-11-26T12:00:00.000000Z".into(),
            aggregate_type: "Order".into(),
            aggregate_id: "o_1".into(),
            sequence: 2,
            event_type: "OrderPaymentFailed".into(),
            event_version: "1".into(),
            payload: json!({ "OrderPaymentFailed": { "payment_id": "p_1", "reason": "card \"declined\", sorry\n" } }),
            metadata: json!({ "command": "Checkout" }),
        }
    }

    #[test]
    fn jsonl_writes_one_object_per_line_with_the_documented_keys() {
        let mut encoder = Encoder::jsonl(Vec::new());
        encoder.write(&record()).unwrap();
        encoder.write(&record()).unwrap();
        let text = String::from_utf8(encoder.finish().unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let object: serde_json::Map<String, Value> = serde_json::from_str(lines[0]).unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = COLUMNS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        let mut encoder = Encoder::csv(Vec::new()).unwrap();
        encoder.write(&record()).unwrap();
        let bytes = encoder.finish().unwrap();
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(reader.headers().unwrap(), COLUMNS.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        let payload: Value = serde_json::from_str(&rows[0][7]).unwrap();
        assert_eq!(payload, record().payload);
    }
}
