//! The schema, as ordered migrations embedded in the binary (one list per backend, from
//! `crates/apps/migrations/`), applied at start by sqlx's migrator: each in a transaction,
//! recorded with its checksum in `_sqlx_migrations`, under PostgreSQL's advisory lock so that
//! replicas starting together apply each once.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use super::{Backend, Result, StoreError};

/// The schema version this build writes and reads: 1 conversations and turns, 2 handoff
/// tickets and feedback.
pub const SCHEMA_VERSION: i64 = 2;

/// One migration: version, description, SQL.
type Step = (i64, &'static str, &'static str);

const SQLITE: &[Step] = &[
    (
        1,
        "conversations",
        include_str!("../../migrations/sqlite/0001_conversations.sql"),
    ),
    (
        2,
        "tickets feedback",
        include_str!("../../migrations/sqlite/0002_tickets_feedback.sql"),
    ),
];

const POSTGRES: &[Step] = &[
    (
        1,
        "conversations",
        include_str!("../../migrations/postgres/0001_conversations.sql"),
    ),
    (
        2,
        "tickets feedback",
        include_str!("../../migrations/postgres/0002_tickets_feedback.sql"),
    ),
];

/// The embedded migrations of one backend up to a version, as a source for sqlx's migrator.
#[derive(Debug)]
struct Embedded {
    steps: &'static [Step],
    up_to: i64,
}

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = std::result::Result<Vec<Migration>, BoxDynError>> + Send + 's>>
    {
        let migrations = self
            .steps
            .iter()
            .filter(|(version, _, _)| *version <= self.up_to)
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

/// The migrator that brings a `backend` database to version `up_to` (1 ..= [`SCHEMA_VERSION`]).
pub(crate) async fn migrator(backend: Backend, up_to: i64) -> Result<Migrator> {
    if !(1..=SCHEMA_VERSION).contains(&up_to) {
        return Err(StoreError::Invalid {
            op: "migrate",
            message: format!("schema version {up_to} does not exist (1 to {SCHEMA_VERSION})"),
        });
    }
    let steps = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    Migrator::new(Embedded { steps, up_to })
        .await
        .map_err(|source| StoreError::Migrate { backend, source })
}
