//! The simulated provider keeps the PaymentProvider contract: one charge
//! per key however often it is asked, a lost answer (timeout) that a retry
//! with the same key resolves, declines with a reason, idempotent refunds.

use ticketing_aggregates::*;
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::Store;
use ticketing_payment::{migrate, SimulatedProvider, VOIDED};

async fn provider(url: String) -> SimulatedProvider {
    let store = Store::connect(&url).await.expect("connect");
    migrate(store.read_pool()).await.expect("migrate");
    migrate(store.read_pool()).await.expect("migrate twice");
    SimulatedProvider::new(store.read_pool().clone())
}

fn request(token: &str) -> ChargeRequest {
    ChargeRequest {
        key: PaymentId::generate(),
        amount_minor: 12_000,
        currency: Currency::parse("c", "EUR").expect("eur"),
        token: token.into(),
    }
}

async fn keeps_the_contract(url: String) {
    let provider = provider(url).await;
    let visa = request("tok_visa");
    let first = provider.charge(&visa).await.expect("charge");
    assert!(matches!(first, ChargeOutcome::Succeeded { .. }));
    assert_eq!(
        provider.charge(&visa).await.expect("again"),
        first,
        "same key, same answer"
    );

    let slow = request("tok_timeout");
    assert_eq!(
        provider.charge(&slow).await,
        Err(ProviderError::Timeout),
        "the first answer is lost"
    );
    assert!(matches!(
        provider.charge(&slow).await,
        Ok(ChargeOutcome::Succeeded { .. })
    ));

    let declined = request("tok_declined");
    assert_eq!(
        provider.charge(&declined).await.expect("declined"),
        ChargeOutcome::Declined {
            reason: "card declined".into()
        }
    );
    let changed = ChargeRequest {
        amount_minor: 1,
        ..visa.clone()
    };
    assert!(matches!(
        provider.charge(&changed).await,
        Ok(ChargeOutcome::Declined { .. })
    ));

    let refund = |charge: &ChargeRequest| {
        RefundRequest::full(
            charge.key.clone(),
            charge.amount_minor,
            charge.currency.clone(),
        )
    };
    provider.refund(&refund(&visa)).await.expect("refund");
    provider.refund(&refund(&visa)).await.expect("refund twice");
    provider
        .refund(&refund(&declined))
        .await
        .expect("refund of a decline changes nothing");

    let charges = provider.charges().await.expect("charges");
    assert_eq!(charges.len(), 3, "one charge per key");
    let by_key = |key: &PaymentId| {
        charges
            .iter()
            .find(|c| c.key == key.as_str())
            .expect("charge")
    };
    assert!(by_key(&visa.key).succeeded && by_key(&visa.key).refunded);
    assert_eq!(by_key(&visa.key).attempts, 3);
    assert_eq!(
        by_key(&visa.key).refund_requests,
        2,
        "both asks are counted, one refund is made"
    );
    assert_eq!(by_key(&declined.key).refund_requests, 0);
    assert!(by_key(&slow.key).succeeded && !by_key(&slow.key).refunded);
    assert!(!by_key(&declined.key).succeeded && !by_key(&declined.key).refunded);
}

/// A key can be looked up without charging, and voided: a void before any
/// charge decides the key as declined, a void after one leaves it as it is.
/// What the provider keeps names the card, never the token.
async fn looks_up_and_voids(url: String) {
    let provider = provider(url).await;
    let unused = request("tok_visa");
    assert_eq!(provider.lookup(&unused.key).await.expect("lookup"), None);
    let voided = provider.void(&unused.key).await.expect("void");
    let decline = ChargeOutcome::Declined {
        reason: VOIDED.into(),
    };
    assert_eq!(voided, decline);
    assert_eq!(
        provider.void(&unused.key).await.expect("void twice"),
        decline
    );
    assert_eq!(
        provider.charge(&unused).await.expect("a late charge"),
        decline,
        "nothing is charged under a voided key"
    );

    let charged = request("tok_visa");
    let outcome = provider.charge(&charged).await.expect("charge");
    assert!(matches!(outcome, ChargeOutcome::Succeeded { .. }));
    assert_eq!(
        provider.lookup(&charged.key).await.expect("lookup"),
        Some(outcome.clone())
    );
    assert_eq!(
        provider.void(&charged.key).await.expect("void"),
        outcome,
        "the charge stands"
    );
    let charges = provider.charges().await.expect("charges");
    assert!(
        charges.iter().all(|c| !c.card.contains("tok_")),
        "{charges:?}"
    );
    assert!(charges.iter().any(|c| c.card == "fp_sim_visa_4242"));
    assert_eq!(
        charges.iter().filter(|c| c.succeeded).count(),
        1,
        "{charges:?}"
    );

    let card = provider.card("tok_visa");
    assert_eq!(
        (card.brand.as_deref(), card.last4.as_deref()),
        (Some("visa"), Some("4242"))
    );
    let unknown = provider.card("tok_live_4f9a0c2e77b1");
    assert!(unknown.brand.is_none() && !unknown.fingerprint.contains("4f9a0c2e77b1"));
}

#[tokio::test]
async fn sqlite_simulated_provider_looks_up_and_voids() {
    looks_up_and_voids(fresh_sqlite_url()).await;
}

#[tokio::test]
async fn postgres_simulated_provider_looks_up_and_voids() {
    looks_up_and_voids(fresh_postgres_url().await).await;
}

#[tokio::test]
async fn sqlite_simulated_provider_keeps_the_contract() {
    keeps_the_contract(fresh_sqlite_url()).await;
}

#[tokio::test]
async fn postgres_simulated_provider_keeps_the_contract() {
    keeps_the_contract(fresh_postgres_url().await).await;
}
