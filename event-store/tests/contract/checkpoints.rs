//! Checkpoints commit, or roll back, with the read-model transaction they
//! are saved in.

use ticketing_event_store::{delete_checkpoint, load_checkpoint, save_checkpoint, FeedPosition};

use crate::support::open;

pub async fn checkpoint_commits_with_its_transaction(url: String) {
    let store = open(&url).await;
    let backend = store.backend();
    let p1 = FeedPosition { tx: 1, seq: 5 };
    let p2 = FeedPosition { tx: 2, seq: 7 };

    let mut tx = store.begin_read_model().await.expect("begin");
    assert_eq!(
        load_checkpoint(&mut tx, backend, "seats", 0)
            .await
            .expect("load"),
        FeedPosition::START
    );
    save_checkpoint(&mut tx, backend, "seats", 0, p1)
        .await
        .expect("save");
    assert_eq!(
        load_checkpoint(&mut tx, backend, "seats", 0)
            .await
            .expect("load"),
        p1
    );
    save_checkpoint(&mut tx, backend, "seats", 0, p2)
        .await
        .expect("overwrite");
    assert_eq!(
        load_checkpoint(&mut tx, backend, "seats", 0)
            .await
            .expect("load"),
        p2
    );
    tx.rollback().await.expect("rollback");

    let mut conn = store.read_pool().acquire().await.expect("acquire");
    assert_eq!(
        load_checkpoint(&mut conn, backend, "seats", 0)
            .await
            .expect("load"),
        FeedPosition::START
    );
    drop(conn);

    let mut tx = store.begin_read_model().await.expect("begin");
    save_checkpoint(&mut tx, backend, "seats", 0, p2)
        .await
        .expect("save");
    save_checkpoint(&mut tx, backend, "seats", 1, p1)
        .await
        .expect("save other shard");
    tx.commit().await.expect("commit");

    let mut conn = store.read_pool().acquire().await.expect("acquire");
    assert_eq!(
        load_checkpoint(&mut conn, backend, "seats", 0)
            .await
            .expect("load"),
        p2
    );
    assert_eq!(
        load_checkpoint(&mut conn, backend, "seats", 1)
            .await
            .expect("load"),
        p1
    );
    assert_eq!(
        load_checkpoint(&mut conn, backend, "orders", 0)
            .await
            .expect("load"),
        FeedPosition::START
    );
    delete_checkpoint(&mut conn, backend, "seats", 0)
        .await
        .expect("delete");
    assert_eq!(
        load_checkpoint(&mut conn, backend, "seats", 0)
            .await
            .expect("load"),
        FeedPosition::START
    );
    assert_eq!(
        load_checkpoint(&mut conn, backend, "seats", 1)
            .await
            .expect("load"),
        p1
    );
}
