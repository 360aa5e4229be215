//! The embedded store: one SQLite file, created on first start, in WAL mode (readers do not
//! block the writer), with foreign keys on, `synchronous = FULL` (a committed turn survives a
//! power cut, not only a killed process) and a busy timeout under which writers from several
//! processes queue instead of failing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use super::migrations::{self, SCHEMA_VERSION};
use super::sql::sql_storage;
use super::{Backend, Result, StoreError, StoreFuture};

/// How long a writer waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Conversations, tickets and feedback in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating it, and its folder, when missing) the database file at `path` and brings
    /// its schema up to [`SCHEMA_VERSION`].
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let store = SqliteStore::open_unmigrated(path).await?;
        store.migrate(SCHEMA_VERSION).await?;
        Ok(store)
    }

    /// Opens the database file at `path` as [`SqliteStore::open`] does, without touching its
    /// schema (for [`SqliteStore::migrate`] to a chosen version).
    pub async fn open_unmigrated(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref();
        let connect = |source| StoreError::Connect {
            backend: Backend::Sqlite,
            target: path.display().to_string(),
            source,
        };
        let name = path.to_string_lossy();
        if name.is_empty() || name == ":memory:" || name.starts_with("file::memory:") {
            return Err(StoreError::Invalid {
                op: "connect",
                message: format!(
                    "{name:?} is not a file: the store needs a database file that its connections share"
                ),
            });
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| connect(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .map_err(connect)?;
        Ok(SqliteStore {
            pool,
            path: path.to_path_buf(),
        })
    }

    /// Applies the migrations up to `version` (1 ..= [`SCHEMA_VERSION`]) that are not applied
    /// yet; a database at a newer version than `version` is an error.
    pub async fn migrate(&self, version: i64) -> Result<()> {
        let migrator = migrations::migrator(Backend::Sqlite, version).await?;
        migrator
            .run(&self.pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: Backend::Sqlite,
                source,
            })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

sql_storage!(SqliteStore, SqliteRow, Backend::Sqlite);
