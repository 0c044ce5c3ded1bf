//! The auth state (the settings row: access control, the administrator, the
//! auth epoch) held in memory, without giving up exact revocation.
//!
//! Every request needs the auth state, and every revoking change (a key
//! deactivated or deleted, a project deleted, access control turned on or
//! off) bumps the auth epoch in its own transaction. Reading the row per
//! request made revocation exact on every replica, and was nearly the whole
//! cost of a request. Here the row lives in memory, and memory is trusted
//! only where it provably cannot be behind a revoking change that returned:
//!
//! - **SQLite** is one process: the server holds the database file
//!   exclusively (see [`crate::store::DatabaseLock`]), so the only writer of
//!   the row is this process, and every transaction that bumps the epoch
//!   stores the row it left into memory when it commits, before its mutation
//!   returns.
//! - **PostgreSQL**: each replica holds a lease, a row of `replica_lease` it
//!   renews every [`RENEW_EVERY`], lasting [`LEASE`]. A renewal reads the
//!   settings row `FOR SHARE` (so no revoking change commits in between),
//!   brings memory up to it, and records that epoch as acknowledged. A
//!   revoking change commits (which notifies every replica on [`CHANNEL`]),
//!   and returns only once every replica holding a live lease has
//!   acknowledged its epoch, or that lease has run out: at worst one
//!   [`LEASE`] later, when a replica is cut off or paused.
//!
//!   A replica trusts its memory only while its lease is live by its own
//!   clock (`CLOCK_BOOTTIME`, which counts time the host was suspended;
//!   measured from before the renewal was sent, less [`MARGIN`], so it
//!   stops trusting before the database thinks the lease ended) and while
//!   it listens for notifications. A revoking change waits for a lease
//!   until it is one lease length past its end by the database's clock, so
//!   that clock stepping forward cannot cut the wait short; the wait itself
//!   is bounded by the waiting replica's clock. Otherwise, as after a pause or a
//!   partition, it reads the row per request, as every replica did before,
//!   until it has renewed its lease again, which first brings it up to date.
//!
//! So nothing is ever served from a state older than a revoking change that
//! has returned; the bound is on the latency of the revoking mutation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement,
    TransactionTrait,
};
use tokio::time::Instant;

use super::Store;
use super::bounded::{timed_out, within};
use super::entity::settings::{self, Entity as Settings, SETTINGS_ID};
use crate::error::Error;

/// The PostgreSQL channel revoking changes notify, with the new epoch.
pub(crate) const CHANNEL: &str = "keyward_auth";
/// How long a lease lasts from its renewal: the longest a revoking mutation
/// waits for a replica that does not acknowledge it.
pub const LEASE: Duration = Duration::from_secs(3);
/// How often a replica renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(1);
/// A replica stops trusting its memory this long before its lease ends (by
/// its own clock), for clocks that run at slightly different rates.
const MARGIN: Duration = Duration::from_millis(500);
/// How long the listener waits for a notification before it checks that its
/// connection is alive.
const LISTENER_PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// The settings row in memory, and whether it may be trusted.
#[derive(Clone, Debug)]
pub(crate) struct AuthState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// The newest settings row seen; `None` until first loaded.
    current: RwLock<Option<Arc<settings::Model>>>,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// SQLite, held by this process alone.
    Exclusive(Suspicion),
    /// PostgreSQL, shared by replicas.
    Leased(Lease),
}

/// SQLite: whether a revoking commit failed in a way that leaves its outcome
/// unknown. Memory is trusted while `cleared == raised`; a read of the row
/// that began after the last raise clears it.
#[derive(Debug, Default)]
struct Suspicion {
    raised: AtomicU64,
    cleared: AtomicU64,
}

#[derive(Debug)]
struct Lease {
    /// This replica's row in `replica_lease`: random per process.
    replica_id: String,
    /// Until when memory may be trusted, by this host's [`boot_clock`].
    trusted_until: Mutex<Option<Duration>>,
    /// Whether the notification listener is connected and caught up.
    listening: AtomicBool,
}

impl AuthState {
    pub(crate) fn new(backend: DbBackend) -> Self {
        let mode = match backend {
            DbBackend::Postgres => Mode::Leased(Lease {
                replica_id: format!("{:032x}", rand::random::<u128>()),
                trusted_until: Mutex::new(None),
                listening: AtomicBool::new(false),
            }),
            _ => Mode::Exclusive(Suspicion::default()),
        };
        Self(Arc::new(Inner {
            current: RwLock::new(None),
            mode,
        }))
    }

    /// The settings row, if memory may be trusted right now.
    fn trusted(&self) -> Option<Arc<settings::Model>> {
        let trusted = match &self.0.mode {
            Mode::Exclusive(suspicion) => {
                suspicion.cleared.load(Ordering::Acquire)
                    == suspicion.raised.load(Ordering::Acquire)
            }
            Mode::Leased(lease) => {
                lease.listening.load(Ordering::Acquire)
                    && lock(&lease.trusted_until).is_some_and(|until| boot_clock() < until)
            }
        };
        if !trusted {
            return None;
        }
        self.0
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Remembers `row` unless memory already holds a later epoch. Every
    /// change of the row bumps the epoch, so the epoch orders them.
    fn observe(&self, row: settings::Model) -> Arc<settings::Model> {
        let mut current = self.0.current.write().unwrap_or_else(|e| e.into_inner());
        match &*current {
            Some(held) if held.auth_epoch >= row.auth_epoch => Arc::clone(held),
            _ => {
                let row = Arc::new(row);
                *current = Some(Arc::clone(&row));
                row
            }
        }
    }

    fn lease(&self) -> Option<&Lease> {
        match &self.0.mode {
            Mode::Leased(lease) => Some(lease),
            Mode::Exclusive(_) => None,
        }
    }

    /// Whether this replica answers from memory right now (for tests and
    /// the readiness of a replica).
    pub(crate) fn is_trusted(&self) -> bool {
        self.trusted().is_some()
    }
}

/// Time since the host booted, time suspended included (`CLOCK_BOOTTIME`).
/// A lease is timed by it, not by the monotonic clock (tokio's), which
/// stops while the host or VM sleeps: a replica waking after its lease
/// ended must know that it did.
fn boot_clock() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// The settings row, read on `conn`.
async fn settings_row(conn: &impl ConnectionTrait) -> Result<settings::Model, Error> {
    Settings::find_by_id(SETTINGS_ID)
        .one(conn)
        .await?
        .ok_or_else(|| Error::internal("the settings row is missing; was the database migrated?"))
}

fn lease_millis() -> i64 {
    i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX)
}

fn lock<T: Copy>(mutex: &Mutex<T>) -> T {
    *mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    /// The settings row: from memory where it may be trusted (see the
    /// module's documentation), else read, as every request did before.
    pub async fn settings(&self) -> Result<Arc<settings::Model>, Error> {
        if let Some(row) = self.auth.trusted() {
            return Ok(row);
        }
        let raised = match &self.auth.0.mode {
            Mode::Exclusive(suspicion) => Some(suspicion.raised.load(Ordering::Acquire)),
            Mode::Leased(_) => None,
        };
        let read = match raised {
            Some(_) => self.read_settings_after_writers().await?,
            None => self.read_settings().await?,
        };
        let row = self.auth.observe(read);
        if let (Mode::Exclusive(suspicion), Some(raised)) = (&self.auth.0.mode, raised) {
            // Read after the raise: whatever that commit did is in the row.
            suspicion.cleared.fetch_max(raised, Ordering::AcqRel);
        }
        Ok(row)
    }

    /// Reads the settings row from the database.
    pub(crate) async fn read_settings(&self) -> Result<settings::Model, Error> {
        settings_row(self.db()).await
    }

    /// SQLite: reads the settings row under the write lock. A commit given
    /// up on (past its time limit) may still land: SQLite's worker runs it
    /// anyway, and a plain read meanwhile would see the snapshot before it.
    /// Taking the write lock waits for that commit or its rollback, so what
    /// this reads is final.
    async fn read_settings_after_writers(&self) -> Result<settings::Model, Error> {
        let txn = self.begin_write().await?;
        let row = settings_row(&txn).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Loads the auth state into memory at start-up.
    pub(crate) async fn load_auth_state(&self) -> Result<(), Error> {
        self.auth.observe(self.read_settings().await?);
        Ok(())
    }

    /// The auth epoch, if memory may be trusted right now.
    pub(super) fn trusted_auth_epoch(&self) -> Option<i64> {
        self.auth.trusted().map(|row| row.auth_epoch)
    }

    /// Whether replicas share this database under leases (PostgreSQL).
    pub fn is_leased(&self) -> bool {
        self.auth.lease().is_some()
    }

    /// Whether this replica answers authentication from memory right now.
    pub fn auth_state_trusted(&self) -> bool {
        self.auth.is_trusted()
    }

    /// Called by the one commit of the store when the transaction bumped the
    /// auth epoch, leaving `row`. Returns once no replica can judge a
    /// request by an earlier state.
    pub(super) async fn after_revoking_commit(&self, row: settings::Model, committed: bool) {
        let epoch = row.auth_epoch;
        match &self.auth.0.mode {
            Mode::Exclusive(suspicion) => {
                if committed {
                    self.auth.observe(row);
                } else {
                    // Perhaps committed, perhaps not: read before trusting again.
                    suspicion.raised.fetch_add(1, Ordering::AcqRel);
                }
            }
            Mode::Leased(lease) => {
                if committed {
                    self.auth.observe(row);
                } else {
                    // This replica reads until its next renewal catches up.
                    *lease
                        .trusted_until
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = None;
                }
                self.await_acknowledgements(lease, epoch).await;
            }
        }
    }

    /// Waits until every other replica with a live lease has acknowledged
    /// `epoch`, at most until the leases that had not can have run out.
    async fn await_acknowledgements(&self, lease: &Lease, epoch: i64) {
        let started = Instant::now();
        // A lease not acknowledging `epoch` was renewed before the commit
        // (a renewal after it acknowledges it), so it ends within LEASE of
        // now; MARGIN covers the two clocks' rates.
        let bound = started + LEASE + MARGIN;
        let mut pause = Duration::from_millis(1);
        loop {
            match self.unacknowledged(&lease.replica_id, epoch).await {
                Ok(0) => return,
                Ok(waiting) => {
                    if Instant::now() >= bound {
                        tracing::warn!(
                            waiting,
                            epoch,
                            "replicas did not acknowledge a revocation; their leases have run out"
                        );
                        return;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = ?err, epoch, "cannot see which replicas acknowledged a revocation; waiting out their leases");
                    tokio::time::sleep_until(bound).await;
                    return;
                }
            }
            tokio::time::sleep(pause.min(bound.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    async fn unacknowledged(&self, me: &str, epoch: i64) -> Result<i64, DbErr> {
        let row = self
            .db()
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                // A lease counts as live for one lease length past its end by
                // the database's clock: should that clock step forward, a
                // lease still live by its replica's clock is waited for all
                // the same (the wait is bounded by this replica's own clock).
                "SELECT count(*) AS waiting FROM replica_lease \
                 WHERE acked_epoch < $1 AND replica_id <> $2 \
                 AND expires_at > clock_timestamp() - $3 * interval '1 millisecond'",
                [epoch.into(), me.into(), lease_millis().into()],
            ))
            .await?;
        match row {
            Some(row) => row.try_get::<i64>("", "waiting"),
            None => Ok(0),
        }
    }

    /// PostgreSQL: holds this replica's lease until the task is dropped,
    /// renewing it every second. Returns at once on SQLite.
    pub(crate) async fn hold_lease(&self) {
        let Some(lease) = self.auth.lease() else {
            return;
        };
        let mut ticks = tokio::time::interval(RENEW_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticks.tick().await;
            let sent = boot_clock();
            match within(self.db().limit(), self.renew(lease)).await {
                Ok(()) => {
                    *lease
                        .trusted_until
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(sent + LEASE - MARGIN);
                    if failing {
                        tracing::info!("lease renewed; answering from memory again");
                        failing = false;
                    }
                }
                Err(err) => {
                    if !failing {
                        tracing::warn!(error = %err, "cannot renew this replica's lease; reading the auth state per request until it is renewed");
                        failing = true;
                    }
                }
            }
        }
    }

    /// One renewal: the settings row under a share lock (no revoking change
    /// can commit before this transaction does), memory brought up to it,
    /// and its epoch recorded as acknowledged.
    async fn renew(&self, lease: &Lease) -> Result<(), DbErr> {
        let txn = self.db().inner().begin().await?;
        let row = Settings::find()
            .filter(sea_orm::ColumnTrait::eq(&settings::Column::Id, SETTINGS_ID))
            .lock_shared()
            .one(&txn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("the settings row".into()))?;
        let epoch = self.auth.observe(row).auth_epoch;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO replica_lease (replica_id, expires_at, acked_epoch) \
             VALUES ($1, clock_timestamp() + $2 * interval '1 millisecond', $3) \
             ON CONFLICT (replica_id) DO UPDATE \
             SET expires_at = EXCLUDED.expires_at, acked_epoch = EXCLUDED.acked_epoch",
            [
                lease.replica_id.clone().into(),
                lease_millis().into(),
                epoch.into(),
            ],
        ))
        .await?;
        // Leases of replicas long gone.
        txn.execute_unprepared(
            "DELETE FROM replica_lease WHERE expires_at < clock_timestamp() - interval '1 hour'",
        )
        .await?;
        txn.commit().await
    }

    /// Acknowledges what memory holds now.
    async fn acknowledge(&self, lease: &Lease) -> Result<(), Error> {
        let row = self.auth.observe(self.read_settings().await?);
        self.db()
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE replica_lease SET acked_epoch = GREATEST(acked_epoch, $2) WHERE replica_id = $1",
                [lease.replica_id.clone().into(), row.auth_epoch.into()],
            ))
            .await?;
        Ok(())
    }

    /// Gives the lease up (the server is stopping): revoking changes stop
    /// waiting for this replica at once.
    pub(crate) async fn release_lease(&self) {
        let Some(lease) = self.auth.lease() else {
            return;
        };
        *lease
            .trusted_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        let released = self
            .db()
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "DELETE FROM replica_lease WHERE replica_id = $1",
                [lease.replica_id.clone().into()],
            ))
            .await;
        if let Err(err) = released {
            tracing::warn!(error = ?err, "cannot release this replica's lease; it runs out by itself");
        }
    }

    /// PostgreSQL: listens for revoking changes and acknowledges each at
    /// once, until the task is dropped. Returns at once on SQLite.
    pub(crate) async fn listen_for_revocations(&self) {
        let Some(lease) = self.auth.lease() else {
            return;
        };
        let options = self
            .db()
            .inner()
            .get_postgres_connection_pool()
            .connect_options();
        loop {
            // A pool of its own, as LISTEN holds its connection for good; a
            // new one each time, so that a connection given up on (one gone
            // silent, across a partition) is closed, never handed out again.
            let pool = sea_orm::sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(self.db().limit())
                .connect_lazy_with((*options).clone());
            let result = self.listen_revocations(lease, &pool).await;
            // Dropped, not closed: closing waits for a goodbye that a silent
            // connection never carries.
            drop(pool);
            lease.listening.store(false, Ordering::Release);
            if let Err(err) = result {
                tracing::warn!(error = %err, "revocation listener lost its connection; reading the auth state per request until it is back");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn listen_revocations(
        &self,
        lease: &Lease,
        pool: &sea_orm::sqlx::PgPool,
    ) -> Result<(), Error> {
        use sea_orm::sqlx::Executor as _;
        use sea_orm::sqlx::postgres::PgListener;
        let limit = self.db().limit();
        let mut listener = bounded(limit, PgListener::connect_with(pool)).await?;
        // Reconnecting loses notifications: come back explicitly instead.
        listener.eager_reconnect(false);
        bounded(limit, listener.listen(CHANNEL)).await?;
        // Listening now: whatever committed before is in the row.
        self.acknowledge(lease).await?;
        lease.listening.store(true, Ordering::Release);
        loop {
            match tokio::time::timeout(LISTENER_PROBE_INTERVAL, listener.try_recv()).await {
                // Acknowledged even when memory already holds that epoch (a
                // request may have read it): the revoking mutation waits for
                // the acknowledgement, not for memory.
                Ok(Ok(Some(_))) => self.acknowledge(lease).await?,
                Ok(Ok(None)) => return Err(Error::internal("the listening connection closed")),
                Ok(Err(err)) => return Err(Error::internal(err)),
                Err(_) => {
                    bounded(limit, listener.execute("SELECT 1")).await?;
                }
            }
        }
    }
}

/// The listening connection is outside the store's bounded pool: each of its
/// round trips gets the same bound here.
async fn bounded<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, sea_orm::sqlx::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(Error::internal),
        Err(_) => Err(Error::internal(timed_out(limit))),
    }
}
