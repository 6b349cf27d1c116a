//! How a ticket writes a price and a show's start: the price in its
//! currency's minor-unit digits, the time in the show's own time zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Digits after the decimal point for currencies that do not use two
/// (ISO 4217); every other code uses two.
fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `EUR 50.00`, `JPY 5000`, `KWD 12.500`: the code, then the amount with
/// the currency's minor-unit digits. `minor` is never negative.
pub(super) fn price(minor: i64, currency: &str) -> String {
    let digits = minor_digits(currency);
    if digits == 0 {
        return format!("{currency} {minor}");
    }
    let unit = 10_i64.pow(digits);
    let width = digits as usize;
    format!("{currency} {}.{:0width$}", minor / unit, minor % unit)
}

/// `Tue 1 Jan 2030, 19:30 CET (Europe/Vienna)`: the show's local time, its
/// abbreviation and the zone's name, so a holder abroad is not misled.
pub(super) fn local_time(starts_at: DateTime<Utc>, zone: Tz) -> String {
    let local = starts_at.with_timezone(&zone);
    format!(
        "{} ({})",
        local.format("%a %-d %b %Y, %H:%M %Z"),
        zone.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn prices_use_the_currency_minor_digits() {
        assert_eq!(price(5000, "EUR"), "EUR 50.00");
        assert_eq!(price(5, "USD"), "USD 0.05");
        assert_eq!(price(0, "GBP"), "GBP 0.00");
        assert_eq!(price(5000, "JPY"), "JPY 5000");
        assert_eq!(price(12_500, "KWD"), "KWD 12.500");
        assert_eq!(price(7, "BHD"), "BHD 0.007");
    }

    #[test]
    fn show_time_is_local_to_the_show() {
        let winter = Utc.with_ymd_and_hms(2030, 1, 1, 18, 30, 0).unwrap();
        assert_eq!(
            local_time(winter, chrono_tz::Europe::Vienna),
            "Tue 1 Jan 2030, 19:30 CET (Europe/Vienna)"
        );
        let summer = Utc.with_ymd_and_hms(2030, 7, 14, 23, 5, 0).unwrap();
        assert_eq!(
            local_time(summer, chrono_tz::America::New_York),
            "Sun 14 Jul 2030, 19:05 EDT (America/New_York)"
        );
    }
}
