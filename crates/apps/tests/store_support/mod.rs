//! Shared helpers of the store tests: a fresh database per test on each backend (an SQLite
//! file in its own temp folder; a PostgreSQL schema of its own on `$LOAM_TEST_POSTGRES`, so
//! that tests run in parallel) and the macro that runs one test on both.

#![allow(dead_code)]

use std::path::PathBuf;

use loam_apps::store::{PgStore, SqliteStore, Store};
use sqlx::Connection;

/// A fresh, empty database that a test opens (and reopens) through its `target`.
pub struct TestDb {
    /// What [`Store::connect`] takes: a file path or a `postgres://` URL.
    pub target: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Schema { url: String, schema: String },
}

/// A unique name for a test's database: the test's name, the process id and a counter.
fn unique(test: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name: String = test
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!(
        "loam_{name}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestDb {
    /// An SQLite file (not yet created) in a new temp folder.
    pub fn sqlite(test: &str) -> TestDb {
        let dir = std::env::temp_dir().join(unique(test));
        std::fs::create_dir_all(&dir).expect("temp folder");
        let target = dir
            .join("store")
            .join("loam.db")
            .to_string_lossy()
            .into_owned();
        TestDb {
            target,
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A new schema on `$LOAM_TEST_POSTGRES`, reached through `search_path`; `None` (said on
    /// stderr, or a failure where fixtures are required) when the variable is not set.
    pub async fn postgres(test: &str) -> Option<TestDb> {
        let url = super::common::postgres_url(test)?;
        let schema = unique(test).to_lowercase();
        let mut admin = sqlx::PgConnection::connect(&url)
            .await
            .expect("connect to LOAM_TEST_POSTGRES");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("create schema");
        admin.close().await.ok();
        let sep = if url.contains('?') { '&' } else { '?' };
        let target = format!("{url}{sep}options=-c%20search_path%3D{schema}");
        Some(TestDb {
            target,
            cleanup: Cleanup::Schema { url, schema },
        })
    }

    /// The store on this database, migrated.
    pub async fn open(&self) -> Store {
        Store::connect(&self.target).await.expect("open the store")
    }

    /// The store on this database, migrated to schema `version` only.
    pub async fn open_at(&self, version: i64) -> Store {
        if self.target.starts_with("postgres") {
            let store = PgStore::connect_unmigrated(&self.target)
                .await
                .expect("connect");
            store.migrate(version).await.expect("migrate");
            Store::new(store)
        } else {
            let store = SqliteStore::open_unmigrated(&self.target)
                .await
                .expect("open");
            store.migrate(version).await.expect("migrate");
            Store::new(store)
        }
    }

    /// Removes the database (the temp folder, or the schema).
    pub async fn finish(self) {
        match self.cleanup {
            Cleanup::Dir(dir) => {
                std::fs::remove_dir_all(dir).ok();
            }
            Cleanup::Schema { url, schema } => {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&url).await {
                    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                        .execute(&mut admin)
                        .await
                        .ok();
                    admin.close().await.ok();
                }
            }
        }
    }
}

/// Runs each named `async fn NAME(db: &TestDb)` as two tests, `NAME::sqlite` and
/// `NAME::postgres`, each on a fresh database.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = super::store_support::TestDb::sqlite(concat!(stringify!($name), "_sqlite"));
                super::$name(&db).await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = super::store_support::TestDb::postgres(concat!(stringify!($name), "_pg")).await else {
                    return;
                };
                super::$name(&db).await;
                db.finish().await;
            }
        }
    )*};
}
