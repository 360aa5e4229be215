//! The store against real databases: every test runs on SQLite (a temp file) and on
//! PostgreSQL (`$LOAM_TEST_POSTGRES`, a schema per test; required where fixtures are).

mod common;
mod store_support;

use loam_apps::provider::Role;
use loam_apps::store::{
    ConversationStatus, Counts, NewTurn, Rating, SCHEMA_VERSION, Store, StoreError, TicketStatus,
    TicketUpdate,
};
use serde_json::json;
use store_support::TestDb;

on_both_backends!(
    conversations_keep_their_turns_in_order,
    concurrent_appends_from_two_connections_lose_nothing,
    handoff_opens_a_ticket_with_the_transcript,
    feedback_is_tied_to_existing_turns,
    counts_follow_the_writes,
    migrations_run_from_empty_and_from_version_1,
    bad_input_is_refused_and_stores_nothing,
);

async fn conversations_keep_their_turns_in_order(db: &TestDb) {
    let store = db.open().await;
    store.ping().await.unwrap();
    let meta = json!({"locale": "en", "client": "web 1.2"});
    let conversation = store.create_conversation("web", &meta).await.unwrap();
    assert_eq!(conversation.status, ConversationStatus::Open);
    let other = store
        .create_conversation("api", &serde_json::Value::Null)
        .await
        .unwrap();
    assert_ne!(conversation.id, other.id);

    let outcome = json!({"answered": {"entry_id": "shipping-canada", "confidence": 0.82}});
    let turns = [
        NewTurn::new(Role::User, "How long does shipping to Canada take?"),
        NewTurn::new(Role::Assistant, "5 to 8 business days.").with_outcome(outcome.clone()),
        NewTurn::new(Role::User, "和退货呢？"),
    ];
    for (i, turn) in turns.iter().enumerate() {
        assert_eq!(
            store.append_turn(&conversation.id, turn).await.unwrap(),
            i as i64 + 1
        );
    }
    assert_eq!(store.append_turn(&other.id, &turns[0]).await.unwrap(), 1);

    // a second handle on the same database sees what the first committed
    let reopened = db.open().await;
    let loaded = reopened.turns(&conversation.id).await.unwrap();
    assert_eq!(loaded.len(), 3);
    for (i, (got, want)) in loaded.iter().zip(&turns).enumerate() {
        assert_eq!(got.seq, i as i64 + 1);
        assert_eq!(
            (got.role, got.text.as_str(), &got.outcome),
            (want.role, want.text.as_str(), &want.outcome)
        );
        assert_eq!(got.conversation_id, conversation.id);
    }
    let header = reopened
        .conversation(&conversation.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((header.channel.as_str(), &header.metadata), ("web", &meta));
    assert!(header.updated_at >= header.created_at);
    assert!(reopened.turns(&other.id).await.unwrap().len() == 1);

    reopened
        .set_conversation_status(&conversation.id, ConversationStatus::Closed)
        .await
        .unwrap();
    assert_eq!(
        store
            .conversation(&conversation.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ConversationStatus::Closed
    );
    assert!(store.conversation("no-such-id").await.unwrap().is_none());
    store.close().await;
    reopened.close().await;
}

async fn concurrent_appends_from_two_connections_lose_nothing(db: &TestDb) {
    // two stores, each with its own connection pool, as two server processes would have
    let (a, b) = (db.open().await, db.open().await);
    let conversation = a.create_conversation("web", &json!({})).await.unwrap();
    let writer = |store: Store, who: &'static str| {
        let id = conversation.id.clone();
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..25 {
                let turn = NewTurn::new(Role::User, format!("{who} {i}"));
                seqs.push(store.append_turn(&id, &turn).await.unwrap());
            }
            seqs
        })
    };
    let (ta, tb) = (writer(a.clone(), "a"), writer(b.clone(), "b"));
    let (mut seqs, sb) = (ta.await.unwrap(), tb.await.unwrap());
    seqs.extend(sb);
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=50).collect::<Vec<i64>>(),
        "every append got its own seq, without gaps"
    );
    let turns = a.turns(&conversation.id).await.unwrap();
    assert_eq!(
        turns.iter().map(|t| t.seq).collect::<Vec<_>>(),
        (1..=50).collect::<Vec<i64>>()
    );
    for who in ["a", "b"] {
        // each writer's turns are all there, in the order it wrote them
        let mine: Vec<&str> = turns
            .iter()
            .map(|t| t.text.as_str())
            .filter(|t| t.starts_with(who))
            .collect();
        assert_eq!(
            mine,
            (0..25).map(|i| format!("{who} {i}")).collect::<Vec<_>>()
        );
    }
    a.close().await;
    b.close().await;
}

async fn handoff_opens_a_ticket_with_the_transcript(db: &TestDb) {
    let store = db.open().await;
    let first = store.create_conversation("web", &json!({})).await.unwrap();
    store
        .append_turn(
            &first.id,
            &NewTurn::new(Role::User, "I want to talk to a person"),
        )
        .await
        .unwrap();
    let ticket = store
        .create_ticket(&first.id, "asked for a person")
        .await
        .unwrap();
    assert_eq!(ticket.number, 1001, "ticket numbers start at 1001");
    assert_eq!(
        (ticket.status, ticket.assignee.as_deref()),
        (TicketStatus::Open, None)
    );
    assert_eq!(ticket.transcript.len(), 1);
    assert_eq!(ticket.transcript[0].text, "I want to talk to a person");
    assert_eq!(
        store.conversation(&first.id).await.unwrap().unwrap().status,
        ConversationStatus::HandedOff
    );

    // turns appended later do not change the snapshot
    store
        .append_turn(&first.id, &NewTurn::new(Role::User, "hello?"))
        .await
        .unwrap();
    let second = store.create_conversation("api", &json!({})).await.unwrap();
    let later = store.create_ticket(&second.id, "3 misses").await.unwrap();
    assert_eq!(later.number, 1002);
    assert!(later.transcript.is_empty());

    let got = store.ticket(&ticket.id).await.unwrap().unwrap();
    assert_eq!(got, ticket, "a ticket reads back as it was created");
    assert_eq!(
        store.ticket_by_number(1002).await.unwrap().unwrap().id,
        later.id
    );
    assert!(store.ticket_by_number(999).await.unwrap().is_none());

    let update = TicketUpdate {
        status: Some(TicketStatus::InProgress),
        assignee: Some("mei".into()),
    };
    let updated = store.update_ticket(&ticket.id, &update).await.unwrap();
    assert_eq!(
        (updated.status, updated.assignee.as_deref()),
        (TicketStatus::InProgress, Some("mei"))
    );
    assert_eq!(updated.transcript, ticket.transcript);
    // an update that sets only the status keeps the assignee
    let resolved = TicketUpdate {
        status: Some(TicketStatus::Resolved),
        assignee: None,
    };
    assert_eq!(
        store
            .update_ticket(&ticket.id, &resolved)
            .await
            .unwrap()
            .assignee
            .as_deref(),
        Some("mei")
    );

    let all: Vec<i64> = store
        .tickets(None, 10)
        .await
        .unwrap()
        .iter()
        .map(|t| t.number)
        .collect();
    assert_eq!(all, [1002, 1001], "newest first");
    let open: Vec<i64> = store
        .tickets(Some(TicketStatus::Open), 10)
        .await
        .unwrap()
        .iter()
        .map(|t| t.number)
        .collect();
    assert_eq!(open, [1002]);
    assert_eq!(store.tickets(None, 1).await.unwrap().len(), 1);

    assert!(
        store
            .update_ticket("no-such-ticket", &update)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        store
            .create_ticket("no-such-conversation", "x")
            .await
            .unwrap_err()
            .is_not_found()
    );
    store.close().await;
}

async fn feedback_is_tied_to_existing_turns(db: &TestDb) {
    let store = db.open().await;
    let conversation = store.create_conversation("web", &json!({})).await.unwrap();
    store
        .append_turn(
            &conversation.id,
            &NewTurn::new(Role::User, "Do you ship to Canada?"),
        )
        .await
        .unwrap();
    store
        .append_turn(
            &conversation.id,
            &NewTurn::new(Role::Assistant, "Yes, in 5 to 8 days."),
        )
        .await
        .unwrap();
    store
        .add_feedback(&conversation.id, Some(2), Rating::Up, None)
        .await
        .unwrap();
    store
        .add_feedback(&conversation.id, None, Rating::Stars(4), Some("quick"))
        .await
        .unwrap();
    store
        .add_feedback(&conversation.id, Some(2), Rating::Down, Some("too vague"))
        .await
        .unwrap();
    let all = store.feedback(&conversation.id).await.unwrap();
    let got: Vec<_> = all
        .iter()
        .map(|f| (f.turn_seq, f.rating, f.comment.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(2), Rating::Up, None),
            (None, Rating::Stars(4), Some("quick")),
            (Some(2), Rating::Down, Some("too vague"))
        ]
    );

    let missing_turn = store
        .add_feedback(&conversation.id, Some(9), Rating::Up, None)
        .await
        .unwrap_err();
    assert!(missing_turn.is_not_found(), "{missing_turn}");
    assert!(
        missing_turn.to_string().contains("turn 9"),
        "{missing_turn}"
    );
    let missing = store
        .add_feedback("no-such-conversation", None, Rating::Up, None)
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    let stars = store
        .add_feedback(&conversation.id, None, Rating::Stars(7), None)
        .await
        .unwrap_err();
    assert!(matches!(stars, StoreError::Invalid { .. }), "{stars}");
    assert_eq!(
        store.feedback(&conversation.id).await.unwrap().len(),
        3,
        "refused feedback is not stored"
    );
    store.close().await;
}

async fn counts_follow_the_writes(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.counts().await.unwrap(), Counts::default());
    let a = store.create_conversation("web", &json!({})).await.unwrap();
    let b = store.create_conversation("web", &json!({})).await.unwrap();
    for text in ["one", "two", "three"] {
        store
            .append_turn(&a.id, &NewTurn::new(Role::User, text))
            .await
            .unwrap();
    }
    store
        .append_turn(&b.id, &NewTurn::new(Role::User, "four"))
        .await
        .unwrap();
    let t1 = store
        .create_ticket(&a.id, "asked for a person")
        .await
        .unwrap();
    store.create_ticket(&b.id, "3 misses").await.unwrap();
    let progress = TicketUpdate {
        status: Some(TicketStatus::InProgress),
        assignee: None,
    };
    store.update_ticket(&t1.id, &progress).await.unwrap();
    store
        .add_feedback(&a.id, Some(1), Rating::Up, None)
        .await
        .unwrap();
    let want = Counts {
        conversations: 2,
        turns: 4,
        tickets: 2,
        open_tickets: 1,
        feedback: 1,
    };
    assert_eq!(store.counts().await.unwrap(), want);
    store.close().await;
}

async fn migrations_run_from_empty_and_from_version_1(db: &TestDb) {
    // a database at the previous version, with data in it
    let old = db.open_at(1).await;
    assert_eq!(old.schema_version().await.unwrap(), 1);
    let conversation = old
        .create_conversation("web", &json!({"v": 1}))
        .await
        .unwrap();
    old.append_turn(
        &conversation.id,
        &NewTurn::new(Role::User, "written by version 1"),
    )
    .await
    .unwrap();
    assert!(
        old.counts().await.is_err(),
        "version 1 has no tickets table"
    );
    old.close().await;

    // opening it migrates to the current version and keeps the data
    let store = db.open().await;
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.turns(&conversation.id).await.unwrap()[0].text,
        "written by version 1"
    );
    assert_eq!(
        store
            .create_ticket(&conversation.id, "after the upgrade")
            .await
            .unwrap()
            .number,
        1001
    );
    store.close().await;

    // opening again is a no-op, and so is opening two at once
    let (again, twice) = tokio::join!(db.open(), db.open());
    assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(twice.counts().await.unwrap().tickets, 1);
    again.close().await;
    twice.close().await;
}

async fn bad_input_is_refused_and_stores_nothing(db: &TestDb) {
    let store = db.open().await;
    let conversation = store.create_conversation("web", &json!({})).await.unwrap();
    let nul = store
        .append_turn(&conversation.id, &NewTurn::new(Role::User, "a\0b"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            nul,
            StoreError::Invalid {
                op: "append_turn",
                ..
            }
        ),
        "{nul}"
    );
    let unknown = store
        .append_turn("no-such-conversation", &NewTurn::new(Role::User, "hi"))
        .await
        .unwrap_err();
    assert!(unknown.is_not_found(), "{unknown}");
    assert!(
        unknown.to_string().contains("append_turn")
            && unknown.to_string().contains("no-such-conversation")
    );
    assert!(
        store
            .turns("no-such-conversation")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        store
            .set_conversation_status("nope", ConversationStatus::Closed)
            .await
            .unwrap_err()
            .is_not_found()
    );
    // the refused append did not take a seq
    assert_eq!(
        store
            .append_turn(&conversation.id, &NewTurn::new(Role::User, "ok"))
            .await
            .unwrap(),
        1
    );
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.conversations, counts.turns), (1, 1));
    store.close().await;
}

#[tokio::test]
async fn connect_errors_are_one_clear_line() {
    let scheme = Store::connect("mysql://db/loam")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        scheme.contains("unknown database scheme mysql://"),
        "{scheme}"
    );

    // nothing listens on port 1: the error names the backend and the URL, not the password
    let down = Store::connect("postgres://loam:s3cret@127.0.0.1:1/loam")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        down.starts_with("postgres store: cannot open postgres://loam:***@127.0.0.1:1/loam"),
        "{down}"
    );
    assert!(!down.contains("s3cret") && !down.contains('\n'), "{down}");

    let memory = Store::connect("sqlite::memory:")
        .await
        .unwrap_err()
        .to_string();
    assert!(memory.contains("not a file"), "{memory}");

    // a folder cannot be created under a regular file
    let file = std::env::temp_dir().join(format!("loam-store-not-a-dir-{}", std::process::id()));
    std::fs::write(&file, "x").unwrap();
    let under = Store::connect(file.join("loam.db").to_str().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(under.starts_with("sqlite store: cannot open"), "{under}");
    std::fs::remove_file(&file).ok();
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode_with_foreign_keys() {
    use sqlx::Connection;
    let db = TestDb::sqlite("wal");
    let path = std::path::PathBuf::from(&db.target);
    assert!(!path.exists());
    let store = Store::connect(&format!("sqlite://{}", db.target))
        .await
        .unwrap();
    assert_eq!(store.backend().to_string(), "sqlite");
    store.close().await;
    assert!(
        path.is_file(),
        "the file and its folder are created on first start"
    );
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.target))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // foreign keys are declared: a turn of an unknown conversation is refused by the schema
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut conn)
        .await
        .unwrap();
    let orphan = sqlx::query(
        "INSERT INTO turns (conversation_id, seq, role, text, created_at) VALUES ('x', 1, 'user', 'hi', 0)",
    )
    .execute(&mut conn)
    .await;
    assert!(orphan.is_err());
    conn.close().await.unwrap();
    db.finish().await;
}
