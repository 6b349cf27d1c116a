//! `ticketing demo`: loads a sample venue so the walkthrough works in one
//! command — a 2,000-seat hall in three price categories, published, an
//! organizer and a customer (credentials printed), and a few orders: one
//! paid, one declined and retried, one hold in a cart. Safe to run twice:
//! the second run finds the demo users and stops.

use ticketing_aggregates::{Actor, RawRow, RawSection, SeatLabel, ShowId, UserRef};
use ticketing_commands::ScheduleShow;
use ticketing_identity::{DisplayName, Email, IdentityError, Password, Role};
use ticketing_projections::{Projector, ReadModel, Target};

use crate::application::{engine, identity, Settings};
use crate::config::DatabaseArgs;

const ORGANIZER: (&str, &str) = ("demo-organizer@example.com", "demo-organizer-pass");
const CUSTOMER: (&str, &str) = ("demo-customer@example.com", "demo-customer-pass");

/// Sections of the hall: name, rows, seats per row, price in cents.
const HALL: [(&str, usize, usize, i64); 3] = [
    ("Stalls", 20, 50, 8000),
    ("Circle", 12, 50, 6000),
    ("Balcony", 8, 50, 4000),
];

pub async fn run(db: DatabaseArgs) -> anyhow::Result<()> {
    let (store, _) = crate::schema::migrate_store(&db.url()?).await?;
    let settings = Settings::new(db.url()?, &db.data_dir, db.jwt_secret()?);
    let identity = identity(&store, settings.jwt_secret.clone(), settings.token_ttl)?;
    let organizer = match add_user(&identity, ORGANIZER, Role::Organizer).await {
        Ok(user) => user,
        Err(error) if matches!(error.downcast_ref(), Some(IdentityError::EmailTaken)) => {
            println!(
                "demo data is already loaded; log in as {} / {}",
                ORGANIZER.0, ORGANIZER.1
            );
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    let customer = add_user(&identity, CUSTOMER, Role::Customer).await?;
    let organizer = UserRef::parse("organizer", organizer.user_id.as_str())?;
    let customer = UserRef::parse("customer", customer.user_id.as_str())?;

    let engine = engine(&store, &settings);
    let sections = HALL
        .iter()
        .map(|(name, rows, seats, price)| RawSection {
            name: (*name).into(),
            rows: (1..=*rows)
                .map(|row| RawRow {
                    name: row.to_string(),
                    seats: (1..=*seats)
                        .map(|seat| {
                            (
                                format!("{}-{row}-{seat}", &name[..3].to_uppercase()),
                                *price,
                            )
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let input = ScheduleShow {
        title: "The Magic Flute".into(),
        venue: "Grand Hall".into(),
        starts_at: Some(chrono::Utc::now() + chrono::Duration::days(30)),
        time_zone: "Europe/Vienna".into(),
        currency: "EUR".into(),
        sections,
        max_held_seats: None,
    };
    let show = engine.schedule_show(&organizer, input, None).await?;
    engine
        .publish_show(
            &Actor {
                user: organizer,
                is_admin: false,
            },
            &show.show_id,
            None,
        )
        .await?;

    let seats = |labels: &[&str]| {
        labels
            .iter()
            .map(|l| SeatLabel::parse("seat", l))
            .collect::<Result<Vec<_>, _>>()
    };
    let buy = |labels: Vec<SeatLabel>, tokens: &'static [&'static str]| {
        let (engine, customer, show_id) = (engine.clone(), customer.clone(), show.show_id.clone());
        async move {
            let reservation = engine
                .reserve_seats(&customer, &show_id, labels, None)
                .await?;
            let cart = engine
                .add_to_cart(&customer, &reservation.reservation_id, None)
                .await?;
            for token in tokens {
                engine
                    .checkout(&customer, &cart.order_id, token, None)
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        }
    };
    buy(seats(&["STA-5-24", "STA-5-25"])?, &["tok_visa"]).await?;
    buy(seats(&["CIR-1-10"])?, &["tok_declined", "tok_visa"]).await?;
    buy(seats(&["BAL-2-1", "BAL-2-2", "BAL-2-3"])?, &[]).await?;
    catch_up(&store).await?;

    print_summary(&show.show_id, show.seat_count);
    Ok(())
}

async fn add_user(
    identity: &ticketing_identity::Identity,
    (email, password): (&str, &str),
    role: Role,
) -> anyhow::Result<ticketing_identity::User> {
    let name = DisplayName::parse(email.split('@').next().unwrap_or("demo"))?;
    let user = identity
        .add_user(Email::parse(email)?, Password::parse(password)?, name, role)
        .await?;
    Ok(user)
}

/// Brings the read models up to date, every projector shard of them, so
/// queries answer at once.
async fn catch_up(store: &ticketing_event_store::Store) -> anyhow::Result<()> {
    for model in ReadModel::ALL {
        for (shard, _) in ticketing_projections::model_shards(store, model).await? {
            let projection = model.projection(Target::live(store.backend()));
            Projector::new(store.clone(), projection)
                .with_shard(shard)
                .catch_up()
                .await?;
        }
    }
    Ok(())
}

fn print_summary(show_id: &ShowId, seat_count: u32) {
    println!("demo loaded: show {show_id} \"The Magic Flute\" at Grand Hall, {seat_count} seats (Stalls, Circle, Balcony)");
    println!("organizer: {} / {}", ORGANIZER.0, ORGANIZER.1);
    println!("customer:  {} / {}", CUSTOMER.0, CUSTOMER.1);
    println!("orders: 2 stalls seats paid; 1 circle seat paid after a declined card; 3 balcony seats held in a cart");
}
