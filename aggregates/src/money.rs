//! Money: integer minor units beside an ISO 4217 currency code.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::ValidationError;

/// Active ISO 4217 alphabetic codes; a three-letter string not listed here is
/// refused, so a typo never becomes a currency.
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB \
BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD \
FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR \
KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR \
MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK \
SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES \
VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

/// An ISO 4217 currency code such as `EUR`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let known = raw.len() == 3 && ISO_4217.split_whitespace().any(|code| code == raw);
        if known {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                field,
                format!(
                    "must be an ISO 4217 code in upper case such as EUR, got {:?}",
                    raw.chars().take(8).collect::<String>()
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse("currency", &raw)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A price in minor units (cents); never negative, zero for a free seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct PriceMinor(i64);

impl PriceMinor {
    /// Upper bound of one seat's price: catches unit mistakes (a price in
    /// micros) before they reach an order total.
    pub const MAX: i64 = 10_000_000_000;

    pub fn parse(field: &str, raw: i64) -> Result<Self, ValidationError> {
        if (0..=Self::MAX).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(ValidationError::new(
                field,
                format!("must be between 0 and {} minor units, got {raw}", Self::MAX),
            ))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for PriceMinor {
    type Error = ValidationError;
    fn try_from(raw: i64) -> Result<Self, Self::Error> {
        Self::parse("price_minor", raw)
    }
}

impl From<PriceMinor> for i64 {
    fn from(p: PriceMinor) -> i64 {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_must_be_a_real_code() {
        assert!(Currency::parse("currency", "EUR").is_ok());
        for bad in ["eur", "EU", "EURO", "ABC", ""] {
            assert!(Currency::parse("currency", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prices_are_never_negative() {
        assert!(PriceMinor::parse("p", 0).is_ok());
        assert!(PriceMinor::parse("p", -1).is_err());
        assert!(PriceMinor::parse("p", PriceMinor::MAX + 1).is_err());
    }
}
