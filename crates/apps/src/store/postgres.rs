//! The shared store: PostgreSQL, which several server replicas use at once (appends to one
//! conversation serialize on its row lock; migrations run once under an advisory lock).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};

use super::migrations::{self, SCHEMA_VERSION};
use super::sql::sql_storage;
use super::{Backend, Result, StoreError, StoreFuture};

/// How long opening the store, or a request, waits for a connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Conversations, tickets and feedback in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`, with libpq's query
    /// parameters such as `?options=-c search_path=NAME`) and brings the schema up to
    /// [`SCHEMA_VERSION`].
    pub async fn connect(url: &str) -> Result<PgStore> {
        let store = PgStore::connect_unmigrated(url).await?;
        store.migrate(SCHEMA_VERSION).await?;
        Ok(store)
    }

    /// Connects to `url` as [`PgStore::connect`] does, without touching the schema.
    pub async fn connect_unmigrated(url: &str) -> Result<PgStore> {
        let connect = |source| StoreError::Connect {
            backend: Backend::Postgres,
            target: redact(url),
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(connect)?;
        let pool = PgPoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(connect)?;
        Ok(PgStore { pool })
    }

    /// Applies the migrations up to `version` (1 ..= [`SCHEMA_VERSION`]) that are not applied
    /// yet; a database at a newer version than `version` is an error.
    pub async fn migrate(&self, version: i64) -> Result<()> {
        let migrator = migrations::migrator(Backend::Postgres, version).await?;
        migrator
            .run(&self.pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: Backend::Postgres,
                source,
            })
    }
}

/// `url` with the password of its user part replaced by `***`, for error messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

sql_storage!(PgStore, PgRow, Backend::Postgres);

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://loam:s3cret@db:5432/loam"),
            "postgres://loam:***@db:5432/loam"
        );
        assert_eq!(redact("postgres://loam@db/loam"), "postgres://loam@db/loam");
        assert_eq!(
            redact("postgresql://db/loam?user=x"),
            "postgresql://db/loam?user=x"
        );
    }
}
