//! The database a test runs on: SQLite always, PostgreSQL when
//! `KEYWARD_TEST_POSTGRES_URL` is set. Each test gets a database of its own,
//! created for it and dropped after it.

use std::future::Future;

use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

/// Names the PostgreSQL server tests may create databases on, e.g.
/// `postgres://postgres@127.0.0.1:5432/test` (the database in the URL is only
/// used to issue CREATE/DROP DATABASE).
pub const POSTGRES_URL_VAR: &str = "KEYWARD_TEST_POSTGRES_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    static BACKEND: Backend;
}

/// The backend of the test running now (SQLite outside `run_on`).
pub fn current() -> Backend {
    BACKEND
        .try_with(|backend| *backend)
        .unwrap_or(Backend::Sqlite)
}

/// The PostgreSQL server to test against, if one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
}

/// Runs `test` with `backend` as the backend of every `TestApp` it spawns.
/// A PostgreSQL test is built as ignored where no server is configured
/// (`keyward_postgres`, see build.rs); one that runs without a server was
/// required to (CI), and fails.
pub async fn run_on(backend: Backend, test: impl Future<Output = ()>) {
    assert!(
        backend == Backend::Sqlite || postgres_url().is_some(),
        "PostgreSQL is required here: set {POSTGRES_URL_VAR}=postgres://user@host:port/db"
    );
    BACKEND.scope(backend, test).await;
}

/// Declares, for each listed `async fn`, one test per backend:
/// `sqlite::name` and `postgres::name`. Attributes written before a `;`
/// (e.g. an `ignore` for a missing component) go on every one of them.
macro_rules! on_every_backend {
    ($(#[$attr:meta])* ; $($name:ident),+ $(,)?) => {
        // The attributes travel as one token tree: a repetition cannot sit
        // inside another of a different length.
        $crate::backend::on_every_backend!(@each [$(#[$attr])*] $($name),+);
    };
    (@each $attrs:tt $($name:ident),+) => {
        mod sqlite {
            $( $crate::backend::on_every_backend!(@test $attrs Sqlite $name); )+
        }
        mod postgres {
            $( $crate::backend::on_every_backend!(@test $attrs Postgres $name); )+
        }
    };
    (@test [$($attr:tt)*] Postgres $name:ident) => {
        #[tokio::test]
        #[cfg_attr(
            not(keyward_postgres),
            ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
        )]
        $($attr)*
        async fn $name() {
            $crate::backend::run_on($crate::backend::Backend::Postgres, super::$name()).await
        }
    };
    (@test [$($attr:tt)*] Sqlite $name:ident) => {
        #[tokio::test]
        $($attr)*
        async fn $name() {
            $crate::backend::run_on($crate::backend::Backend::Sqlite, super::$name()).await
        }
    };
    ($($name:ident),+ $(,)?) => {
        $crate::backend::on_every_backend!(; $($name),+);
    };
}
pub(crate) use on_every_backend;

/// A fresh, empty database, removed when dropped.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code, reason = "held for its Drop, which deletes the folder")] TempDir),
    Postgres { server_url: String, name: String },
}

impl TestDatabase {
    pub async fn fresh(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("keyward.db").display()
                );
                Self {
                    url,
                    cleanup: Cleanup::Sqlite(dir),
                }
            }
            Backend::Postgres => {
                let server_url = postgres_url().expect("KEYWARD_TEST_POSTGRES_URL is set");
                let name = format!("keyward_test_{}", random_suffix());
                let admin = Database::connect(&server_url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {server_url}: {e}"));
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("CREATE DATABASE");
                let _ = admin.close().await;
                Self {
                    url: database_url(&server_url, &name),
                    cleanup: Cleanup::Postgres { server_url, name },
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Postgres { server_url, name } = &self.cleanup else {
            return;
        };
        let (server_url, database) = (server_url.clone(), name.clone());
        // Drop runs inside the test's runtime, which cannot block on async
        // work; a thread with a runtime of its own can.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = Database::connect(&server_url).await?;
                // FORCE ends the connections a server under test still holds.
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {name}: {dropped:?}");
        }
    }
}

/// `server_url` with its database replaced by `name`.
pub fn database_url(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let authority_end = base
        .find("://")
        .map(|scheme| scheme + 3)
        .and_then(|start| base[start..].find('/').map(|slash| start + slash))
        .unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..authority_end])
}

fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..12)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect()
}

/// The `host:port` of a `postgres://…` URL as written, and its address.
/// `url` (a PostgreSQL URL) reaching its server through `proxy` instead:
/// its host and port replaced by the proxy's.
pub fn through_proxy(url: &str, proxy: std::net::SocketAddr) -> String {
    let (authority, _) = postgres_host(url);
    url.replacen(&authority, &proxy.to_string(), 1)
}

pub fn postgres_host(url: &str) -> (String, std::net::SocketAddr) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority).to_owned();
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&host_port)
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| panic!("KEYWARD_TEST_POSTGRES_URL needs host:port, got {host_port}"));
    (host_port, addr)
}
