//! The simulated provider keeps the PaymentProvider contract: one charge
//! per key however often it is asked, a lost answer (timeout) that a retry
//! with the same key resolves, declines with a reason, idempotent refunds.

use ticketing_aggregates::*;
use ticketing_event_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ticketing_event_store::Store;
use ticketing_payment::{migrate, SimulatedProvider};

async fn provider(url: String) -> SimulatedProvider {
    let store = Store::connect(&url).await.expect("connect");
    migrate(store.read_pool(), store.backend())
        .await
        .expect("migrate");
    migrate(store.read_pool(), store.backend())
        .await
        .expect("migrate twice");
    SimulatedProvider::new(store.read_pool().clone(), store.backend())
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

#[tokio::test]
async fn sqlite_simulated_provider_keeps_the_contract() {
    keeps_the_contract(fresh_sqlite_url()).await;
}

#[tokio::test]
async fn postgres_simulated_provider_keeps_the_contract() {
    keeps_the_contract(fresh_postgres_url().await).await;
}
