//! Tables of the read models. Postgres keeps each bounded context in its own
//! schema; SQLite has one namespace, so the same tables go unqualified.
//!
//! Each table is described once ([`Table`]): its columns and its secondary
//! indexes. The same description creates the live table at migration and the
//! shadow (`<table>__rebuild`, indexes `<index>__rebuild` built once it is
//! full) a rebuild fills, and gives the statements that swap a shadow into
//! place.

use futures::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool};
use ticketing_event_store::migrations::{self, Context, Migration, MigrationError};
use ticketing_event_store::Backend;

use crate::ProjectionError;

/// Suffix of the shadow table (and its indexes) a rebuild fills before it
/// swaps it in.
pub(crate) const SHADOW: &str = "__rebuild";

/// A secondary index: its name (unique per Postgres schema, and across the
/// whole SQLite database) and its column list.
pub(crate) struct Index {
    name: &'static str,
    columns: &'static str,
}

/// One read-model table.
pub(crate) struct Table {
    /// `schema.table`; SQLite uses the part after the dot.
    qualified: &'static str,
    columns: &'static str,
    indexes: &'static [Index],
}

pub(crate) const SEAT_MAP: Table = Table {
    qualified: "bc_inventory.seat_map",
    columns: "show_id TEXT NOT NULL,
        label TEXT NOT NULL,
        section TEXT NOT NULL,
        row_name TEXT NOT NULL,
        position BIGINT NOT NULL,
        price_minor BIGINT NOT NULL,
        status TEXT NOT NULL,
        reservation_id TEXT,
        held_until BIGINT,
        global_seq BIGINT NOT NULL,
        PRIMARY KEY (show_id, label)",
    indexes: &[],
};

pub(crate) const SHOWS: Table = Table {
    qualified: "bc_catalog.shows",
    columns: "show_id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        venue TEXT NOT NULL,
        starts_at BIGINT NOT NULL,
        currency TEXT NOT NULL,
        status TEXT NOT NULL,
        seat_count BIGINT NOT NULL,
        organizer_id TEXT NOT NULL,
        global_seq BIGINT NOT NULL,
        time_zone TEXT NOT NULL DEFAULT 'UTC'",
    // The expirer's sweep starts from the cancelled shows.
    indexes: &[Index {
        name: "shows_status",
        columns: "status",
    }],
};

pub(crate) const RESERVATIONS: Table = Table {
    qualified: "bc_inventory.reservations",
    columns: "reservation_id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        show_id TEXT NOT NULL,
        seat_labels TEXT NOT NULL,
        until BIGINT NOT NULL,
        status TEXT NOT NULL,
        order_id TEXT,
        global_seq BIGINT NOT NULL",
    indexes: &[
        // The expirer's scan: ACTIVE reservations by deadline.
        Index {
            name: "reservations_status_until",
            columns: "status, until",
        },
        // The sweep of a cancelled show's live holds.
        Index {
            name: "reservations_show_status",
            columns: "show_id, status",
        },
    ],
};

pub(crate) const ORDERS: Table = Table {
    qualified: "bc_ordering.orders",
    columns: "order_id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        status TEXT NOT NULL,
        currency TEXT NOT NULL,
        total_minor BIGINT NOT NULL,
        payment_id TEXT,
        failure_reason TEXT,
        opened_at BIGINT NOT NULL,
        global_seq BIGINT NOT NULL,
        checkout_at BIGINT",
    indexes: &[
        // "My orders", newest first, paged by order id.
        Index {
            name: "orders_customer",
            columns: "customer_id, order_id",
        },
        // The payment saga's recovery scan of orders in CHECKOUT.
        Index {
            name: "orders_status",
            columns: "status",
        },
    ],
};

pub(crate) const ORDER_ITEMS: Table = Table {
    qualified: "bc_ordering.order_items",
    columns: "order_id TEXT NOT NULL,
        reservation_id TEXT NOT NULL,
        show_id TEXT NOT NULL,
        seat_labels TEXT NOT NULL,
        price_minor BIGINT NOT NULL,
        PRIMARY KEY (order_id, reservation_id)",
    // The sweep of a cancelled show's paid orders.
    indexes: &[Index {
        name: "order_items_show",
        columns: "show_id, order_id",
    }],
};

/// Every table, in creation order.
const ALL: [&Table; 5] = [&SEAT_MAP, &SHOWS, &RESERVATIONS, &ORDERS, &ORDER_ITEMS];

impl Table {
    /// The live table's name on `backend`.
    pub(crate) fn live(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Postgres => self.qualified,
            Backend::Sqlite => self.bare(),
        }
    }

    /// The live table's name, or its shadow's during a rebuild.
    pub(crate) fn name(&self, backend: Backend, shadow: bool) -> String {
        let live = self.live(backend);
        if shadow {
            format!("{live}{SHADOW}")
        } else {
            live.to_owned()
        }
    }

    /// The table's name without its schema.
    pub(crate) fn bare(&self) -> &'static str {
        self.qualified.rsplit('.').next().unwrap_or(self.qualified)
    }

    /// On Postgres, `schema.` (indexes live in their table's schema).
    fn schema_prefix(&self, backend: Backend) -> &'static str {
        match (backend, self.qualified.split_once('.')) {
            (Backend::Postgres, Some((schema, _))) => &self.qualified[..=schema.len()],
            _ => "",
        }
    }

    /// Creates the live table with its indexes, or the shadow without its
    /// secondary ones, if missing.
    pub(crate) fn create(&self, backend: Backend, shadow: bool) -> Vec<String> {
        let table = self.name(backend, shadow);
        // A Postgres shadow is filled UNLOGGED (no WAL for the many row
        // versions a fold writes) and made LOGGED once full (`logged`).
        let unlogged = if shadow && backend == Backend::Postgres {
            "UNLOGGED "
        } else {
            ""
        };
        let mut statements = vec![format!(
            "CREATE {unlogged}TABLE IF NOT EXISTS {table} ({})",
            self.columns
        )];
        // A shadow gets its secondary indexes once it is full (`index_shadow`):
        // one sorted build each instead of an index insert per row.
        if !shadow {
            statements.extend(self.create_indexes(backend, false));
        }
        statements
    }

    /// Builds a filled shadow's secondary indexes (Postgres). SQLite
    /// cannot rename an index, so its swap builds the live ones instead.
    pub(crate) fn index_shadow(&self, backend: Backend) -> Vec<String> {
        match backend {
            Backend::Postgres => self.create_indexes(backend, true),
            Backend::Sqlite => Vec::new(),
        }
    }

    fn create_indexes(&self, backend: Backend, shadow: bool) -> Vec<String> {
        let table = self.name(backend, shadow);
        let suffix = if shadow { SHADOW } else { "" };
        // Postgres puts an index in its table's schema; its name takes none.
        self.indexes
            .iter()
            .map(|index| {
                format!(
                    "CREATE INDEX IF NOT EXISTS {}{suffix} ON {table} ({})",
                    index.name, index.columns
                )
            })
            .collect()
    }

    /// Makes a filled shadow durable before it is swapped in (Postgres).
    pub(crate) fn logged(&self, backend: Backend) -> Option<String> {
        (backend == Backend::Postgres)
            .then(|| format!("ALTER TABLE {} SET LOGGED", self.name(backend, true)))
    }

    /// Replaces the live table by the filled shadow, indexes included: run
    /// inside the transaction that holds the live projector's lock.
    pub(crate) fn swap(&self, backend: Backend) -> Vec<String> {
        let live = self.live(backend);
        let prefix = self.schema_prefix(backend);
        let mut statements = vec![
            format!("DROP TABLE IF EXISTS {live}"),
            format!(
                "ALTER TABLE {} RENAME TO {}",
                self.name(backend, true),
                self.bare()
            ),
        ];
        for index in self.indexes {
            let name = index.name;
            match backend {
                Backend::Postgres => statements.push(format!(
                    "ALTER INDEX {prefix}{name}{SHADOW} RENAME TO {name}"
                )),
                // SQLite cannot rename an index; rebuilding it under the
                // write lock only delays the projectors, readers keep their
                // snapshot (WAL).
                Backend::Sqlite => {
                    statements.push(format!("DROP INDEX IF EXISTS {name}{SHADOW}"));
                    statements.push(format!(
                        "CREATE INDEX IF NOT EXISTS {name} ON {live} ({})",
                        index.columns
                    ));
                }
            }
        }
        statements
    }
}

/// The read models' schema (`bc_inventory`, `bc_catalog`, `bc_ordering`).
pub static READ_MODELS: Context = Context {
    name: "read_models",
    migrations: &[
        Migration {
            version: 1,
            description: "baseline: seat map, shows, reservations, orders, order items, errors",
            run: baseline,
        },
        Migration {
            version: 2,
            description: "orders.checkout_at: when the order's payment was requested",
            run: orders_checkout_at,
        },
    ],
};

/// Applies the read models' pending migrations ([`READ_MODELS`]).
pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), ProjectionError> {
    migrations::apply(pool, backend, &[&READ_MODELS])
        .await
        .map_err(MigrationError::into_sqlx)?;
    Ok(())
}

fn baseline(conn: &mut AnyConnection, backend: Backend) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        if backend == Backend::Postgres {
            for schema in ["bc_inventory", "bc_catalog", "bc_ordering"] {
                sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                    .execute(&mut *conn)
                    .await?;
            }
        }
        let mut statements: Vec<String> = ALL
            .iter()
            .flat_map(|table| table.create(backend, false))
            .collect();
        statements.push(crate::status::errors_ddl(backend));
        migrations::run_all(&mut *conn, statements).await?;
        // A column added before versions existed, on tables made earlier.
        add_column(
            conn,
            backend,
            &SHOWS,
            "time_zone",
            "TEXT NOT NULL DEFAULT 'UTC'",
        )
        .await
    })
}

/// Adds `orders.checkout_at` and fills it for the orders of before from
/// the log, as a fold would: the time their last CheckoutStarted was
/// recorded (one primary-key lookup per order that ever had a payment).
fn orders_checkout_at(
    conn: &mut AnyConnection,
    backend: Backend,
) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        add_column(conn, backend, &ORDERS, "checkout_at", "BIGINT").await?;
        let (events, millis) = match backend {
            Backend::Postgres => (
                "event_store.events",
                "floor(extract(epoch FROM max(e.recorded_at)) * 1000)::bigint",
            ),
            // recorded_at is `%Y-%m-%dT%H:%M:%fZ`: seconds, then milliseconds.
            Backend::Sqlite => (
                "events",
                "max(CAST(strftime('%s', e.recorded_at) AS INTEGER) * 1000 \
                 + CAST(substr(e.recorded_at, 21, 3) AS INTEGER))",
            ),
        };
        let orders = ORDERS.live(backend);
        let sql = format!(
            "UPDATE {orders} SET checkout_at = (SELECT {millis} FROM {events} e \
             WHERE e.aggregate_type = 'Order' AND e.aggregate_id = {orders}.order_id \
             AND e.event_type = 'CheckoutStarted') \
             WHERE payment_id IS NOT NULL AND checkout_at IS NULL"
        );
        sqlx::query(&sql).execute(&mut *conn).await?;
        Ok(())
    })
}

/// Adds `column` unless the table has it: the baseline creates tables with
/// today's columns, so a later version's column may already be there.
async fn add_column(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &Table,
    column: &str,
    ddl: &str,
) -> Result<(), sqlx::Error> {
    let live = table.live(backend);
    let sql = match backend {
        Backend::Postgres => format!("ALTER TABLE {live} ADD COLUMN IF NOT EXISTS {column} {ddl}"),
        Backend::Sqlite => {
            let present: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pragma_table_info($1) WHERE name = $2")
                    .bind(live)
                    .bind(column)
                    .fetch_one(&mut *conn)
                    .await?;
            if present > 0 {
                return Ok(());
            }
            format!("ALTER TABLE {live} ADD COLUMN {column} {ddl}")
        }
    };
    sqlx::query(&sql).execute(&mut *conn).await?;
    Ok(())
}

/// `($1, $2), ($3, $4)…` for `rows` rows of `columns`, each placeholder
/// cast to its column's type when `cast` names one (a `VALUES` list has no
/// table to take its types from).
pub(crate) fn placeholders(
    rows: usize,
    columns: usize,
    cast: impl Fn(usize) -> Option<&'static str>,
) -> String {
    (0..rows)
        .map(|row| {
            let values: Vec<String> = (0..columns)
                .map(|column| {
                    let n = row * columns + column + 1;
                    match cast(column) {
                        Some(ty) => format!("CAST(${n} AS {ty})"),
                        None => format!("${n}"),
                    }
                })
                .collect();
            format!("({})", values.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
