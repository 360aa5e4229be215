//! What both backends share: the queries (written once, in the SQL that SQLite and
//! PostgreSQL both accept, with `$n` placeholders) and their row decoding, expanded for each
//! backend's pool by [`sql_storage!`].

use super::{Backend, StoreError};

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A new random id (a version-4 UUID in text form).
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Maps a driver error of operation `op` on `backend`.
pub(crate) fn db(backend: Backend, op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database {
        backend,
        op,
        source,
    }
}

/// Refuses text that PostgreSQL cannot store (a NUL character), on both backends alike.
pub(crate) fn check_text(op: &'static str, field: &str, text: &str) -> Result<(), StoreError> {
    match text.contains('\0') {
        true => Err(StoreError::Invalid {
            op,
            message: format!("the {field} holds a NUL character"),
        }),
        false => Ok(()),
    }
}

/// A JSON column's value, or a [`StoreError::Corrupt`] naming the column.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    backend: Backend,
    op: &'static str,
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        backend,
        op,
        message: format!("{column}: {e}"),
    })
}

/// A status-like column's value parsed by `parse`, or a [`StoreError::Corrupt`].
pub(crate) fn parse_name<T>(
    backend: Backend,
    op: &'static str,
    column: &str,
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Corrupt {
        backend,
        op,
        message: format!("{column} {text:?} is not known"),
    })
}

/// Implements [`super::Storage`] for a struct with a `pool: sqlx::Pool<$db>` field; `$row` is
/// the backend's row type and `$backend` its [`Backend`].
macro_rules! sql_storage {
    ($store:ty, $row:ty, $backend:expr) => {
        use $crate::store::conversation::parse_role;
        use $crate::store::sql::{check_text, db, new_id, now_ms, parse_json, parse_name};
        use $crate::store::{
            Conversation, ConversationStatus, Counts, Feedback, NewTurn, Rating, Ticket, TicketStatus,
            TicketUpdate, TurnRecord,
        };
        use sqlx::Row;

        const BACKEND: Backend = $backend;
        const CONVERSATION: &str = "id, created_at, updated_at, channel, metadata, status";
        const TURN: &str = "conversation_id, seq, role, text, outcome, created_at";
        const TICKET: &str = "id, number, conversation_id, reason, transcript, status, assignee, created_at, updated_at";

        fn conversation_row(op: &'static str, row: &$row) -> Result<Conversation> {
            let get = |e| db(BACKEND, op)(e);
            Ok(Conversation {
                id: row.try_get("id").map_err(get)?,
                created_at: row.try_get("created_at").map_err(get)?,
                updated_at: row.try_get("updated_at").map_err(get)?,
                channel: row.try_get("channel").map_err(get)?,
                metadata: parse_json(BACKEND, op, "metadata", row.try_get("metadata").map_err(get)?)?,
                status: parse_name(BACKEND, op, "status", row.try_get("status").map_err(get)?, ConversationStatus::parse)?,
            })
        }

        fn turn_row(op: &'static str, row: &$row) -> Result<TurnRecord> {
            let get = |e| db(BACKEND, op)(e);
            let outcome: Option<&str> = row.try_get("outcome").map_err(get)?;
            Ok(TurnRecord {
                conversation_id: row.try_get("conversation_id").map_err(get)?,
                seq: row.try_get("seq").map_err(get)?,
                role: parse_name(BACKEND, op, "role", row.try_get("role").map_err(get)?, parse_role)?,
                text: row.try_get("text").map_err(get)?,
                outcome: outcome.map(|text| parse_json(BACKEND, op, "outcome", text)).transpose()?,
                created_at: row.try_get("created_at").map_err(get)?,
            })
        }

        fn ticket_row(op: &'static str, row: &$row) -> Result<Ticket> {
            let get = |e| db(BACKEND, op)(e);
            Ok(Ticket {
                id: row.try_get("id").map_err(get)?,
                number: row.try_get("number").map_err(get)?,
                conversation_id: row.try_get("conversation_id").map_err(get)?,
                reason: row.try_get("reason").map_err(get)?,
                transcript: parse_json(BACKEND, op, "transcript", row.try_get("transcript").map_err(get)?)?,
                status: parse_name(BACKEND, op, "status", row.try_get("status").map_err(get)?, TicketStatus::parse)?,
                assignee: row.try_get("assignee").map_err(get)?,
                created_at: row.try_get("created_at").map_err(get)?,
                updated_at: row.try_get("updated_at").map_err(get)?,
            })
        }

        fn feedback_row(op: &'static str, row: &$row) -> Result<Feedback> {
            let get = |e| db(BACKEND, op)(e);
            Ok(Feedback {
                conversation_id: row.try_get("conversation_id").map_err(get)?,
                turn_seq: row.try_get("turn_seq").map_err(get)?,
                rating: parse_name(BACKEND, op, "rating", row.try_get("rating").map_err(get)?, Rating::parse)?,
                comment: row.try_get("comment").map_err(get)?,
                created_at: row.try_get("created_at").map_err(get)?,
            })
        }

        fn not_found(op: &'static str, what: String) -> StoreError {
            StoreError::NotFound { backend: BACKEND, op, what }
        }

        impl $crate::store::Storage for $store {
            fn backend(&self) -> Backend {
                BACKEND
            }

            fn ping(&self) -> StoreFuture<'_, ()> {
                Box::pin(async move {
                    sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db(BACKEND, "ping"))?;
                    Ok(())
                })
            }

            fn create_conversation<'a>(
                &'a self,
                channel: &'a str,
                metadata: &'a serde_json::Value,
            ) -> StoreFuture<'a, Conversation> {
                Box::pin(async move {
                    const OP: &str = "create_conversation";
                    check_text(OP, "channel", channel)?;
                    let now = now_ms();
                    let conversation = Conversation {
                        id: new_id(),
                        created_at: now,
                        updated_at: now,
                        channel: channel.to_string(),
                        metadata: metadata.clone(),
                        status: ConversationStatus::Open,
                    };
                    sqlx::query(
                        "INSERT INTO conversations (id, created_at, updated_at, channel, metadata, status) \
                         VALUES ($1, $2, $2, $3, $4, $5)",
                    )
                    .bind(&conversation.id)
                    .bind(now)
                    .bind(channel)
                    .bind(metadata.to_string())
                    .bind(conversation.status.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(db(BACKEND, OP))?;
                    Ok(conversation)
                })
            }

            fn conversation<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Conversation>> {
                Box::pin(async move {
                    const OP: &str = "conversation";
                    let sql = format!("SELECT {CONVERSATION} FROM conversations WHERE id = $1");
                    let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await.map_err(db(BACKEND, OP))?;
                    row.map(|row| conversation_row(OP, &row)).transpose()
                })
            }

            fn set_conversation_status<'a>(&'a self, id: &'a str, status: ConversationStatus) -> StoreFuture<'a, ()> {
                Box::pin(async move {
                    const OP: &str = "set_conversation_status";
                    let done = sqlx::query("UPDATE conversations SET status = $2, updated_at = $3 WHERE id = $1")
                        .bind(id)
                        .bind(status.as_str())
                        .bind(now_ms())
                        .execute(&self.pool)
                        .await
                        .map_err(db(BACKEND, OP))?;
                    match done.rows_affected() {
                        0 => Err(not_found(OP, format!("conversation {id}"))),
                        _ => Ok(()),
                    }
                })
            }

            fn append_turn<'a>(&'a self, conversation_id: &'a str, turn: &'a NewTurn) -> StoreFuture<'a, i64> {
                Box::pin(async move {
                    const OP: &str = "append_turn";
                    check_text(OP, "turn text", &turn.text)?;
                    let now = now_ms();
                    // The update takes the conversation's row lock (PostgreSQL) or the write
                    // lock (SQLite) first, so concurrent appends queue here and each gets the
                    // next seq.
                    let mut tx = self.pool.begin().await.map_err(db(BACKEND, OP))?;
                    let seq: Option<i64> = sqlx::query_scalar(
                        "UPDATE conversations SET last_seq = last_seq + 1, updated_at = $2 WHERE id = $1 \
                         RETURNING last_seq",
                    )
                    .bind(conversation_id)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db(BACKEND, OP))?;
                    let Some(seq) = seq else {
                        return Err(not_found(OP, format!("conversation {conversation_id}")));
                    };
                    sqlx::query(
                        "INSERT INTO turns (conversation_id, seq, role, text, outcome, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(conversation_id)
                    .bind(seq)
                    .bind(turn.role.name())
                    .bind(&turn.text)
                    .bind(turn.outcome.as_ref().map(|o| o.to_string()))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db(BACKEND, OP))?;
                    tx.commit().await.map_err(db(BACKEND, OP))?;
                    Ok(seq)
                })
            }

            fn turns<'a>(&'a self, conversation_id: &'a str) -> StoreFuture<'a, Vec<TurnRecord>> {
                Box::pin(async move {
                    const OP: &str = "turns";
                    let sql = format!("SELECT {TURN} FROM turns WHERE conversation_id = $1 ORDER BY seq");
                    let rows = sqlx::query(&sql).bind(conversation_id).fetch_all(&self.pool).await.map_err(db(BACKEND, OP))?;
                    if rows.is_empty() && self.conversation(conversation_id).await?.is_none() {
                        return Err(not_found(OP, format!("conversation {conversation_id}")));
                    }
                    rows.iter().map(|row| turn_row(OP, row)).collect()
                })
            }

            fn create_ticket<'a>(&'a self, conversation_id: &'a str, reason: &'a str) -> StoreFuture<'a, Ticket> {
                Box::pin(async move {
                    const OP: &str = "create_ticket";
                    check_text(OP, "reason", reason)?;
                    let now = now_ms();
                    let mut tx = self.pool.begin().await.map_err(db(BACKEND, OP))?;
                    // The write comes first: it takes the lock before the snapshot is read.
                    let done = sqlx::query("UPDATE conversations SET status = $2, updated_at = $3 WHERE id = $1")
                        .bind(conversation_id)
                        .bind(ConversationStatus::HandedOff.as_str())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db(BACKEND, OP))?;
                    if done.rows_affected() == 0 {
                        return Err(not_found(OP, format!("conversation {conversation_id}")));
                    }
                    let sql = format!("SELECT {TURN} FROM turns WHERE conversation_id = $1 ORDER BY seq");
                    let rows = sqlx::query(&sql).bind(conversation_id).fetch_all(&mut *tx).await.map_err(db(BACKEND, OP))?;
                    let transcript = rows.iter().map(|row| turn_row(OP, row)).collect::<Result<Vec<_>>>()?;
                    let snapshot = serde_json::to_string(&transcript)
                        .map_err(|e| StoreError::Invalid { op: OP, message: format!("transcript: {e}") })?;
                    let id = new_id();
                    let number: i64 = sqlx::query_scalar(
                        "INSERT INTO tickets (id, conversation_id, reason, transcript, status, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING number",
                    )
                    .bind(&id)
                    .bind(conversation_id)
                    .bind(reason)
                    .bind(snapshot)
                    .bind(TicketStatus::Open.as_str())
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db(BACKEND, OP))?;
                    tx.commit().await.map_err(db(BACKEND, OP))?;
                    Ok(Ticket {
                        id,
                        number,
                        conversation_id: conversation_id.to_string(),
                        reason: reason.to_string(),
                        transcript,
                        status: TicketStatus::Open,
                        assignee: None,
                        created_at: now,
                        updated_at: now,
                    })
                })
            }

            fn ticket<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Ticket>> {
                Box::pin(async move {
                    const OP: &str = "ticket";
                    let sql = format!("SELECT {TICKET} FROM tickets WHERE id = $1");
                    let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await.map_err(db(BACKEND, OP))?;
                    row.map(|row| ticket_row(OP, &row)).transpose()
                })
            }

            fn ticket_by_number(&self, number: i64) -> StoreFuture<'_, Option<Ticket>> {
                Box::pin(async move {
                    const OP: &str = "ticket_by_number";
                    let sql = format!("SELECT {TICKET} FROM tickets WHERE number = $1");
                    let row = sqlx::query(&sql).bind(number).fetch_optional(&self.pool).await.map_err(db(BACKEND, OP))?;
                    row.map(|row| ticket_row(OP, &row)).transpose()
                })
            }

            fn tickets(&self, status: Option<TicketStatus>, limit: u32) -> StoreFuture<'_, Vec<Ticket>> {
                Box::pin(async move {
                    const OP: &str = "tickets";
                    let rows = match status {
                        Some(status) => {
                            let sql = format!(
                                "SELECT {TICKET} FROM tickets WHERE status = $1 ORDER BY number DESC LIMIT $2"
                            );
                            sqlx::query(&sql).bind(status.as_str()).bind(i64::from(limit)).fetch_all(&self.pool).await
                        }
                        None => {
                            let sql = format!("SELECT {TICKET} FROM tickets ORDER BY number DESC LIMIT $1");
                            sqlx::query(&sql).bind(i64::from(limit)).fetch_all(&self.pool).await
                        }
                    }
                    .map_err(db(BACKEND, OP))?;
                    rows.iter().map(|row| ticket_row(OP, row)).collect()
                })
            }

            fn update_ticket<'a>(&'a self, id: &'a str, update: &'a TicketUpdate) -> StoreFuture<'a, Ticket> {
                Box::pin(async move {
                    const OP: &str = "update_ticket";
                    if let Some(assignee) = &update.assignee {
                        check_text(OP, "assignee", assignee)?;
                    }
                    let sql = format!(
                        "UPDATE tickets SET status = COALESCE($2, status), assignee = COALESCE($3, assignee), \
                         updated_at = $4 WHERE id = $1 RETURNING {TICKET}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(id)
                        .bind(update.status.map(TicketStatus::as_str))
                        .bind(update.assignee.as_deref())
                        .bind(now_ms())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db(BACKEND, OP))?;
                    match row {
                        Some(row) => ticket_row(OP, &row),
                        None => Err(not_found(OP, format!("ticket {id}"))),
                    }
                })
            }

            fn add_feedback<'a>(
                &'a self,
                conversation_id: &'a str,
                turn_seq: Option<i64>,
                rating: Rating,
                comment: Option<&'a str>,
            ) -> StoreFuture<'a, Feedback> {
                Box::pin(async move {
                    const OP: &str = "add_feedback";
                    let stored = rating.to_stored()?;
                    if let Some(comment) = comment {
                        check_text(OP, "comment", comment)?;
                    }
                    let now = now_ms();
                    let done = sqlx::query(
                        "INSERT INTO feedback (conversation_id, turn_seq, rating, comment, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(conversation_id)
                    .bind(turn_seq)
                    .bind(stored)
                    .bind(comment)
                    .bind(now)
                    .execute(&self.pool)
                    .await;
                    match done {
                        Ok(_) => Ok(Feedback {
                            conversation_id: conversation_id.to_string(),
                            turn_seq,
                            rating,
                            comment: comment.map(str::to_string),
                            created_at: now,
                        }),
                        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => Err(not_found(
                            OP,
                            match turn_seq {
                                Some(seq) => format!("turn {seq} in conversation {conversation_id}"),
                                None => format!("conversation {conversation_id}"),
                            },
                        )),
                        Err(e) => Err(db(BACKEND, OP)(e)),
                    }
                })
            }

            fn feedback<'a>(&'a self, conversation_id: &'a str) -> StoreFuture<'a, Vec<Feedback>> {
                Box::pin(async move {
                    const OP: &str = "feedback";
                    let rows = sqlx::query(
                        "SELECT conversation_id, turn_seq, rating, comment, created_at FROM feedback \
                         WHERE conversation_id = $1 ORDER BY id",
                    )
                    .bind(conversation_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db(BACKEND, OP))?;
                    rows.iter().map(|row| feedback_row(OP, row)).collect()
                })
            }

            fn counts(&self) -> StoreFuture<'_, Counts> {
                Box::pin(async move {
                    let (conversations, turns, tickets, open_tickets, feedback) =
                        sqlx::query_as::<_, (i64, i64, i64, i64, i64)>(
                            "SELECT (SELECT COUNT(*) FROM conversations), (SELECT COUNT(*) FROM turns), \
                             (SELECT COUNT(*) FROM tickets), (SELECT COUNT(*) FROM tickets WHERE status = 'open'), \
                             (SELECT COUNT(*) FROM feedback)",
                        )
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db(BACKEND, "counts"))?;
                    Ok(Counts { conversations, turns, tickets, open_tickets, feedback })
                })
            }

            fn schema_version(&self) -> StoreFuture<'_, i64> {
                Box::pin(async move {
                    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db(BACKEND, "schema_version"))
                })
            }

            fn close(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
                Box::pin(self.pool.close())
            }
        }
    };
}

pub(crate) use sql_storage;
