//! The time zone a show is played in, as an IANA name (`Europe/Vienna`):
//! tickets and pages show the show's local time, not UTC.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::ValidationError;

/// A validated IANA time-zone name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        match raw.parse::<chrono_tz::Tz>() {
            Ok(zone) => Ok(Self(zone.name().to_owned())),
            Err(_) => Err(ValidationError::new(
                field,
                format!(
                    "must be an IANA time zone such as Europe/Vienna, got {:?}",
                    raw.chars().take(40).collect::<String>()
                ),
            )),
        }
    }

    /// Shows scheduled before time zones were recorded play in UTC.
    pub fn utc() -> Self {
        Self("UTC".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The zone, for converting instants to the show's local time.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.0.parse().unwrap_or(chrono_tz::UTC)
    }
}

impl Default for TimeZoneName {
    fn default() -> Self {
        Self::utc()
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse("time_zone", &raw)
    }
}

impl From<TimeZoneName> for String {
    fn from(zone: TimeZoneName) -> String {
        zone.0
    }
}

impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_iana_names() {
        assert_eq!(
            TimeZoneName::parse("z", "Europe/Vienna").unwrap().as_str(),
            "Europe/Vienna"
        );
        assert!(TimeZoneName::parse("z", "Mars/Olympus").is_err());
        assert!(TimeZoneName::parse("z", "").is_err());
    }
}
