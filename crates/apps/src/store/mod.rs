//! Conversations, turns, handoff tickets and feedback in a real database: one asynchronous,
//! object-safe interface ([`Storage`]) with two implementations on sqlx, [`SqliteStore`] (the
//! embedded default: one file, created on first start, in WAL mode) and [`PgStore`]
//! (PostgreSQL, which several server replicas can share). [`Store::connect`] picks one by the
//! URL's scheme and brings the schema up to date. A write is acknowledged (its future
//! resolves) only after its transaction has committed.
//!
//! ```
//! use loam_apps::provider::Role;
//! use loam_apps::store::{NewTurn, Store};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("loam-store-doc-{}", std::process::id()));
//! let store = Store::connect(dir.join("loam.db").to_str().unwrap()).await?;
//! let conversation = store.create_conversation("web", &serde_json::Value::Null).await?;
//! let seq = store.append_turn(&conversation.id, &NewTurn::new(Role::User, "Where is my order?")).await?;
//! assert_eq!(seq, 1);
//! assert_eq!(store.turns(&conversation.id).await?[0].text, "Where is my order?");
//! store.close().await;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), loam_apps::store::StoreError>(())
//! # }).unwrap();
//! ```

mod conversation;
mod error;
mod feedback;
mod migrations;
mod postgres;
mod sql;
mod sqlite;
mod ticket;

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

pub use conversation::{Conversation, ConversationStatus, NewTurn, TurnRecord};
pub use error::{Result, StoreError};
pub use feedback::{Feedback, Rating};
pub use migrations::SCHEMA_VERSION;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use ticket::{Ticket, TicketStatus, TicketUpdate};

/// The future a [`Storage`] method returns: boxed, so that the trait is object-safe.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, one file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// How many rows the store holds, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Conversations, all statuses.
    pub conversations: i64,
    /// Turns, all conversations.
    pub turns: i64,
    /// Handoff tickets, all statuses.
    pub tickets: i64,
    /// Tickets still open (not in progress, not resolved).
    pub open_tickets: i64,
    /// Feedback entries.
    pub feedback: i64,
}

/// The storage interface the server uses: every method is one transaction, and a write's
/// future resolves only after it has committed.
pub trait Storage: Send + Sync {
    /// The database this store runs on.
    fn backend(&self) -> Backend;

    /// Checks that the database answers (for `/ready`).
    fn ping(&self) -> StoreFuture<'_, ()>;

    /// Starts a conversation from `channel` (`web`, `api`, …) with `metadata` attached.
    fn create_conversation<'a>(
        &'a self,
        channel: &'a str,
        metadata: &'a serde_json::Value,
    ) -> StoreFuture<'a, Conversation>;

    /// The conversation `id`, or `None` when there is none.
    fn conversation<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Conversation>>;

    /// Sets the status of conversation `id`.
    fn set_conversation_status<'a>(
        &'a self,
        id: &'a str,
        status: ConversationStatus,
    ) -> StoreFuture<'a, ()>;

    /// Appends `turn` to conversation `conversation_id` and returns its seq (1, 2, …): appends
    /// from several processes to one conversation are serialized, none is lost or reordered.
    fn append_turn<'a>(
        &'a self,
        conversation_id: &'a str,
        turn: &'a NewTurn,
    ) -> StoreFuture<'a, i64>;

    /// The turns of conversation `conversation_id`, in order.
    fn turns<'a>(&'a self, conversation_id: &'a str) -> StoreFuture<'a, Vec<TurnRecord>>;

    /// Hands conversation `conversation_id` off: opens a ticket holding a snapshot of its
    /// turns and marks the conversation handed off, in one transaction.
    fn create_ticket<'a>(
        &'a self,
        conversation_id: &'a str,
        reason: &'a str,
    ) -> StoreFuture<'a, Ticket>;

    /// The ticket with id `id`, or `None`.
    fn ticket<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Ticket>>;

    /// The ticket numbered `number`, or `None`.
    fn ticket_by_number(&self, number: i64) -> StoreFuture<'_, Option<Ticket>>;

    /// Up to `limit` tickets, newest first, with status `status` when given.
    fn tickets(&self, status: Option<TicketStatus>, limit: u32) -> StoreFuture<'_, Vec<Ticket>>;

    /// Applies `update` to ticket `id` and returns the ticket as it now is.
    fn update_ticket<'a>(
        &'a self,
        id: &'a str,
        update: &'a TicketUpdate,
    ) -> StoreFuture<'a, Ticket>;

    /// Records feedback on conversation `conversation_id` (on its turn `turn_seq` when given).
    fn add_feedback<'a>(
        &'a self,
        conversation_id: &'a str,
        turn_seq: Option<i64>,
        rating: Rating,
        comment: Option<&'a str>,
    ) -> StoreFuture<'a, Feedback>;

    /// The feedback given on conversation `conversation_id`, oldest first.
    fn feedback<'a>(&'a self, conversation_id: &'a str) -> StoreFuture<'a, Vec<Feedback>>;

    /// How many rows of each kind the store holds.
    fn counts(&self) -> StoreFuture<'_, Counts>;

    /// The schema version the database is at ([`SCHEMA_VERSION`] after a normal open).
    fn schema_version(&self) -> StoreFuture<'_, i64>;

    /// Closes the connections, waiting for those in use to be returned.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// A shared handle on a store (one `Arc<dyn Storage>`), cheap to clone; its methods are those
/// of [`Storage`].
#[derive(Clone)]
pub struct Store(Arc<dyn Storage>);

impl Store {
    /// Opens the store at `target` and brings its schema up to date: `postgres://…` or
    /// `postgresql://…` opens PostgreSQL; `sqlite://FILE`, `sqlite:FILE` or a plain path opens
    /// (and creates) an SQLite file.
    pub async fn connect(target: &str) -> Result<Store> {
        if target.starts_with("postgres://") || target.starts_with("postgresql://") {
            return Ok(Store::new(PgStore::connect(target).await?));
        }
        if let Some(path) = target
            .strip_prefix("sqlite://")
            .or_else(|| target.strip_prefix("sqlite:"))
        {
            return Ok(Store::new(SqliteStore::open(path).await?));
        }
        if let Some((scheme, _)) = target.split_once("://") {
            return Err(StoreError::Invalid {
                op: "connect",
                message: format!(
                    "unknown database scheme {scheme}:// (use sqlite://FILE, a file path or postgres://…)"
                ),
            });
        }
        Ok(Store::new(SqliteStore::open(target).await?))
    }

    /// A handle on `storage`.
    pub fn new(storage: impl Storage + 'static) -> Store {
        Store(Arc::new(storage))
    }

    /// The shared storage behind this handle.
    pub fn storage(&self) -> Arc<dyn Storage> {
        Arc::clone(&self.0)
    }
}

impl Deref for Store {
    type Target = dyn Storage;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Store({})", self.0.backend())
    }
}
