//! The error type of the store: what failed, in which operation, on which backend.

use super::Backend;

/// What went wrong in a store operation; every variant names the operation (`append_turn`, …)
/// and, where a database was reached, the backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached (`target` has its password removed).
    #[error("{backend} store: cannot open {target}: {source}")]
    Connect {
        /// The backend that was being opened.
        backend: Backend,
        /// The path or URL, without its password.
        target: String,
        /// What the driver said.
        source: sqlx::Error,
    },
    /// Bringing the schema up to date failed.
    #[error("{backend} store: migrating the schema: {source}")]
    Migrate {
        /// The backend being migrated.
        backend: Backend,
        /// What the migrator said.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("{backend} store: {op}: {source}")]
    Database {
        /// The backend that failed.
        backend: Backend,
        /// The store operation, as its method is named.
        op: &'static str,
        /// What the driver said.
        source: sqlx::Error,
    },
    /// The conversation, turn or ticket the operation refers to does not exist.
    #[error("{backend} store: {op}: no {what}")]
    NotFound {
        /// The backend that was asked.
        backend: Backend,
        /// The store operation.
        op: &'static str,
        /// What is missing, with its id (`conversation 4f…`).
        what: String,
    },
    /// The caller's input cannot be stored (a 7-star rating, an unknown URL scheme, …).
    #[error("store: {op}: {message}")]
    Invalid {
        /// The store operation.
        op: &'static str,
        /// What is wrong with the input.
        message: String,
    },
    /// A stored row does not decode (an unknown status, malformed JSON): the database was
    /// changed by something other than this store.
    #[error("{backend} store: {op}: a stored row does not decode: {message}")]
    Corrupt {
        /// The backend that returned the row.
        backend: Backend,
        /// The store operation.
        op: &'static str,
        /// What does not decode.
        message: String,
    },
}

impl StoreError {
    /// Whether the error says that the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// The result type of the store.
pub type Result<T> = std::result::Result<T, StoreError>;
