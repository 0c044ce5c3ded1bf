//! Usage over time: adding counts batched in memory (see `crate::usage`),
//! reading buckets, the recent clients of a key, and retention.
//!
//! Every count is written three times, to its minute, hour and day buckets
//! at once: the roll-up happens as counts are added, so no job has to move
//! counts between granularities, and pruning one granularity never loses
//! what another keeps. Counts are added by an upsert (`x = x + excluded.x`),
//! so replicas adding to the same bucket never lose each other's counts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Query, SubQueryStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::Store;
use super::entity::{api_key, key_client, key_usage, project};
use crate::error::Error;

/// How many client addresses are kept per key (`ApiKey.recentClients`).
pub const RECENT_CLIENTS: u64 = 5;

/// Rows per INSERT: well inside both backends' limits on bound values.
const ROWS_PER_STATEMENT: usize = 500;

/// The width of a usage bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UsageGranularity {
    Minute,
    Hour,
    Day,
}

impl UsageGranularity {
    pub const ALL: [Self; 3] = [Self::Minute, Self::Hour, Self::Day];

    /// As stored in `key_usage.granularity`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    /// The bucket's length in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }

    /// The start (Unix seconds) of the bucket holding `at` (Unix seconds);
    /// days are UTC days.
    pub fn floor(self, at: i64) -> i64 {
        at - at.rem_euclid(self.seconds())
    }
}

/// Authentications of a key, by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageCounts {
    pub accepted: i64,
    pub refused: i64,
    pub forbidden: i64,
    pub throttled: i64,
}

impl UsageCounts {
    pub fn add(&mut self, other: Self) {
        self.accepted += other.accepted;
        self.refused += other.refused;
        self.forbidden += other.forbidden;
        self.throttled += other.throttled;
    }

    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// Counts to add to a key's minute (and so its hour and day).
#[derive(Clone, Copy, Debug)]
pub struct UsageDelta {
    pub key_id: i64,
    pub project_id: i64,
    /// The minute's first second, in Unix time.
    pub minute: i64,
    pub counts: UsageCounts,
}

/// A client address a key was used from.
#[derive(Clone, Debug)]
pub struct ClientSeen {
    pub key_id: i64,
    pub address: String,
    pub user_agent: String,
    pub last_seen_at: DateTime<Utc>,
}

/// Whose usage to read.
#[derive(Clone, Copy, Debug)]
pub enum UsageOf {
    Key(i64),
    /// Summed over the project's keys, deleted ones included.
    Project(i64),
}

/// One bucket of usage as read.
#[derive(Clone, Copy, Debug)]
pub struct UsageBucketRow {
    /// The bucket's first second, in Unix time.
    pub start: i64,
    pub counts: UsageCounts,
}

/// How long each granularity's buckets are kept.
#[derive(Clone, Copy, Debug)]
pub struct UsageRetention {
    pub minute: chrono::Duration,
    pub hour: chrono::Duration,
    pub day: chrono::Duration,
}

impl UsageRetention {
    fn of(&self, granularity: UsageGranularity) -> chrono::Duration {
        match granularity {
            UsageGranularity::Minute => self.minute,
            UsageGranularity::Hour => self.hour,
            UsageGranularity::Day => self.day,
        }
    }
}

#[derive(FromQueryResult)]
struct SummedRow {
    bucket_start: i64,
    accepted: i64,
    refused: i64,
    forbidden: i64,
    throttled: i64,
}

impl Store {
    /// Adds `deltas` to their buckets of every granularity and records
    /// `clients`, in one transaction: a batch is written whole or not at
    /// all (and then retried by the caller). Counts of a project deleted
    /// since are dropped: its usage went with it.
    pub async fn add_usage(
        &self,
        deltas: &[UsageDelta],
        clients: &[ClientSeen],
    ) -> Result<(), Error> {
        // One row per (key, granularity, bucket), in a fixed order, so that
        // one statement never touches a row twice and replicas' batches
        // lock rows in the same order.
        let mut rows: BTreeMap<(i64, UsageGranularity, i64), (i64, UsageCounts)> = BTreeMap::new();
        for delta in deltas.iter().filter(|delta| !delta.counts.is_zero()) {
            for granularity in UsageGranularity::ALL {
                let start = granularity.floor(delta.minute);
                rows.entry((delta.key_id, granularity, start))
                    .or_insert((delta.project_id, UsageCounts::default()))
                    .1
                    .add(delta.counts);
            }
        }
        let txn = self.begin_write().await?;
        let mut projects: Vec<i64> = rows.values().map(|(project, _)| *project).collect();
        projects.sort_unstable();
        projects.dedup();
        let mut live = std::collections::HashSet::new();
        for chunk in projects.chunks(ROWS_PER_STATEMENT) {
            live.extend(
                project::Entity::find()
                    .select_only()
                    .column(project::Column::Id)
                    .filter(project::Column::Id.is_in(chunk.iter().copied()))
                    .into_tuple::<i64>()
                    .all(&txn)
                    .await?,
            );
        }
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|(_, (project, _))| live.contains(project))
            .collect();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let models =
                chunk
                    .iter()
                    .map(|((key_id, granularity, start), (project_id, counts))| {
                        key_usage::ActiveModel {
                            key_id: Set(*key_id),
                            granularity: Set(granularity.name().to_owned()),
                            bucket_start: Set(*start),
                            project_id: Set(*project_id),
                            accepted: Set(counts.accepted),
                            refused: Set(counts.refused),
                            forbidden: Set(counts.forbidden),
                            throttled: Set(counts.throttled),
                        }
                    });
            key_usage::Entity::insert_many(models)
                .on_conflict(
                    OnConflict::columns([
                        key_usage::Column::KeyId,
                        key_usage::Column::Granularity,
                        key_usage::Column::BucketStart,
                    ])
                    .values([
                        added(key_usage::Column::Accepted),
                        added(key_usage::Column::Refused),
                        added(key_usage::Column::Forbidden),
                        added(key_usage::Column::Throttled),
                    ])
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        self.record_clients(&txn, clients).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Upserts `clients` (a key deleted meanwhile is skipped), then keeps
    /// the 5 most recently seen addresses of each of their keys.
    async fn record_clients(
        &self,
        txn: &impl ConnectionTrait,
        clients: &[ClientSeen],
    ) -> Result<(), Error> {
        if clients.is_empty() {
            return Ok(());
        }
        let mut by_row: BTreeMap<(i64, &str), &ClientSeen> = BTreeMap::new();
        for client in clients {
            let entry = by_row
                .entry((client.key_id, client.address.as_str()))
                .or_insert(client);
            if client.last_seen_at > entry.last_seen_at {
                *entry = client;
            }
        }
        let ids: Vec<i64> = by_row.keys().map(|(id, _)| *id).collect();
        // Keys deleted since they were used: their clients go with them.
        let existing: std::collections::HashSet<i64> = api_key::Entity::find()
            .select_only()
            .column(api_key::Column::Id)
            .filter(api_key::Column::Id.is_in(ids.clone()))
            .into_tuple::<i64>()
            .all(txn)
            .await?
            .into_iter()
            .collect();
        let seen: Vec<&ClientSeen> = by_row
            .into_values()
            .filter(|client| existing.contains(&client.key_id))
            .collect();
        for chunk in seen.chunks(ROWS_PER_STATEMENT) {
            let models = chunk.iter().map(|client| key_client::ActiveModel {
                key_id: Set(client.key_id),
                address: Set(client.address.clone()),
                user_agent: Set(client.user_agent.clone()),
                last_seen_at: Set(client.last_seen_at),
            });
            key_client::Entity::insert_many(models)
                .on_conflict(
                    OnConflict::columns([key_client::Column::KeyId, key_client::Column::Address])
                        .update_columns([
                            key_client::Column::UserAgent,
                            key_client::Column::LastSeenAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
        }
        // Only the most recent few are ever shown: the rest of these keys'
        // addresses go (a row with at least that many newer ones).
        let newer = Alias::new("newer");
        let newer_count = Query::select()
            .expr(Func::count(Expr::val(1)))
            .from_as(key_client::Entity, newer.clone())
            .and_where(
                Expr::col((newer.clone(), key_client::Column::KeyId))
                    .equals((key_client::Entity, key_client::Column::KeyId)),
            )
            .and_where(
                Expr::col((newer, key_client::Column::LastSeenAt)).gt(Expr::col((
                    key_client::Entity,
                    key_client::Column::LastSeenAt,
                ))),
            )
            .to_owned();
        let mut keys: Vec<i64> = seen.iter().map(|client| client.key_id).collect();
        keys.dedup();
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            key_client::Entity::delete_many()
                .filter(key_client::Column::KeyId.is_in(chunk.iter().copied()))
                .filter(
                    Expr::expr(Expr::SubQuery(
                        None,
                        Box::new(SubQueryStatement::SelectStatement(newer_count.clone())),
                    ))
                    .gte(RECENT_CLIENTS),
                )
                .exec(txn)
                .await?;
        }
        Ok(())
    }

    /// The usage of `of` in `granularity` buckets starting in
    /// `[since, until)` (Unix seconds), oldest first; buckets without
    /// counts are left out.
    pub async fn usage(
        &self,
        of: UsageOf,
        granularity: UsageGranularity,
        since: i64,
        until: i64,
    ) -> Result<Vec<UsageBucketRow>, Error> {
        let owner = match of {
            UsageOf::Key(id) => key_usage::Column::KeyId.eq(id),
            UsageOf::Project(id) => key_usage::Column::ProjectId.eq(id),
        };
        let sum =
            |column: key_usage::Column| Func::sum(Expr::col(column)).cast_as(Alias::new("BIGINT"));
        let rows = key_usage::Entity::find()
            .select_only()
            .column(key_usage::Column::BucketStart)
            .column_as(sum(key_usage::Column::Accepted), "accepted")
            .column_as(sum(key_usage::Column::Refused), "refused")
            .column_as(sum(key_usage::Column::Forbidden), "forbidden")
            .column_as(sum(key_usage::Column::Throttled), "throttled")
            .filter(owner)
            .filter(key_usage::Column::Granularity.eq(granularity.name()))
            .filter(key_usage::Column::BucketStart.gte(since))
            .filter(key_usage::Column::BucketStart.lt(until))
            .group_by(key_usage::Column::BucketStart)
            .order_by_asc(key_usage::Column::BucketStart)
            .into_model::<SummedRow>()
            .all(self.db())
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| UsageBucketRow {
                start: row.bucket_start,
                counts: UsageCounts {
                    accepted: row.accepted,
                    refused: row.refused,
                    forbidden: row.forbidden,
                    throttled: row.throttled,
                },
            })
            .filter(|bucket| !bucket.counts.is_zero())
            .collect())
    }

    /// The client addresses key `key_id` was last used from, most recent
    /// first, at most `limit`.
    pub async fn recent_clients(
        &self,
        key_id: i64,
        limit: u64,
    ) -> Result<Vec<key_client::Model>, Error> {
        Ok(key_client::Entity::find()
            .filter(key_client::Column::KeyId.eq(key_id))
            .order_by_desc(key_client::Column::LastSeenAt)
            .order_by_asc(key_client::Column::Address)
            .limit(limit)
            .all(self.db())
            .await?)
    }

    /// The id and project of each key among `access_keys` that exists.
    pub async fn keys_by_access_keys(
        &self,
        access_keys: &[String],
    ) -> Result<Vec<(String, i64, i64)>, Error> {
        let mut found = Vec::new();
        for chunk in access_keys.chunks(ROWS_PER_STATEMENT) {
            found.extend(
                api_key::Entity::find()
                    .select_only()
                    .column(api_key::Column::AccessKey)
                    .column(api_key::Column::Id)
                    .column(api_key::Column::ProjectId)
                    .filter(api_key::Column::AccessKey.is_in(chunk.iter().cloned()))
                    .into_tuple::<(String, i64, i64)>()
                    .all(self.db())
                    .await?,
            );
        }
        Ok(found)
    }

    /// Deletes the buckets each granularity no longer keeps at `now`;
    /// returns how many went.
    pub async fn prune_usage(
        &self,
        now: DateTime<Utc>,
        retention: UsageRetention,
    ) -> Result<u64, Error> {
        let mut pruned = 0;
        for granularity in UsageGranularity::ALL {
            let cutoff = (now - retention.of(granularity)).timestamp();
            pruned += key_usage::Entity::delete_many()
                .filter(key_usage::Column::Granularity.eq(granularity.name()))
                .filter(key_usage::Column::BucketStart.lt(granularity.floor(cutoff)))
                .exec(self.db())
                .await?
                .rows_affected;
        }
        Ok(pruned)
    }
}

/// `column = key_usage.column + excluded.column`.
fn added(column: key_usage::Column) -> (key_usage::Column, Expr) {
    (
        column,
        Expr::col((key_usage::Entity, column)).add(Expr::col((Alias::new("excluded"), column))),
    )
}
