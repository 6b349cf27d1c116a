//! The simulated provider's test cards: what each token stands for, and how
//! a charge of it ends.

use ticketing_aggregates::CardRef;

/// The provider's name in [`CardRef::provider`].
pub const PROVIDER: &str = "simulated";

/// A test card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestCard {
    pub token: &'static str,
    pub brand: &'static str,
    pub last4: &'static str,
    /// `None`: the charge succeeds; else the reason of the decline.
    pub declined: Option<&'static str>,
    /// The first answer for a key is lost (a timeout), though the charge
    /// happened.
    pub loses_first_answer: bool,
}

pub const CARDS: [TestCard; 3] = [
    TestCard {
        token: "tok_visa",
        brand: "visa",
        last4: "4242",
        declined: None,
        loses_first_answer: false,
    },
    TestCard {
        token: "tok_declined",
        brand: "visa",
        last4: "0002",
        declined: Some("card declined"),
        loses_first_answer: false,
    },
    TestCard {
        token: "tok_timeout",
        brand: "visa",
        last4: "3220",
        declined: None,
        loses_first_answer: true,
    },
];

/// The reason a token that names no test card is declined with.
pub const UNKNOWN_CARD: &str = "unknown test card";

impl TestCard {
    /// The test card a token names, if any.
    pub fn of(token: &str) -> Option<TestCard> {
        CARDS.into_iter().find(|card| card.token == token)
    }

    /// The card's fingerprint: it names the card, not the token.
    pub fn fingerprint(&self) -> String {
        format!("fp_sim_{}_{}", self.brand, self.last4)
    }
}

/// What the log keeps of the card behind `token`. A token that names no
/// test card is described by nothing of it, not even a hash: it may be a
/// real provider's token sent to the wrong deployment.
pub fn card_ref(token: &str) -> CardRef {
    match TestCard::of(token) {
        Some(card) => CardRef {
            provider: PROVIDER.into(),
            fingerprint: card.fingerprint(),
            brand: Some(card.brand.into()),
            last4: Some(card.last4.into()),
        },
        None => CardRef {
            provider: PROVIDER.into(),
            fingerprint: "fp_sim_unknown".into(),
            brand: None,
            last4: None,
        },
    }
}
