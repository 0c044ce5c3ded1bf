//! KEY_EXPIRING: each ACTIVE key is warned once per threshold of
//! `--key-expiry-warnings` it comes within, whatever the number of replicas
//! sweeping. A warning is claimed by inserting its row (primary key: key and
//! threshold) in the transaction of its event, so two replicas cannot both
//! record it, and a crash between the two records neither.
//!
//! A key that comes within several thresholds at once (created to expire in
//! an hour, with `7d,1d`) gets one event, for the smallest, and the larger
//! ones are marked as given. Keys rotated already are not warned: their end
//! is the planned end of a grace period.
//!
//! The key is read again inside the claiming transaction, so a key
//! deactivated or rotated after the sweep's first read is not warned.

use chrono::Duration;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::audit::{AuditAction, AuditContext, AuditOutcome, Target, insert};
use super::entity::api_key::{self, Entity as ApiKey, KeyState};
use super::entity::key_expiry_warning::{self, Entity as Warning};
use super::{Store, now};
use crate::error::Error;

/// Most keys warned per threshold and sweep; the rest wait for the next.
const BATCH: u64 = 100;

impl Store {
    /// Records the KEY_EXPIRING events due under `thresholds` (largest
    /// first); how many it recorded.
    pub async fn record_expiry_warnings(&self, thresholds: &[Duration]) -> Result<usize, Error> {
        let mut ascending = thresholds.to_vec();
        ascending.sort_unstable();
        let context = AuditContext::system(AuditAction::KeyExpiring);
        let mut recorded = 0;
        // Smallest first: a key within a day is warned for the day, and its
        // week is marked given in the same transaction.
        for (index, threshold) in ascending.iter().enumerate() {
            let now = now();
            let seconds = threshold.num_seconds();
            let warned = Query::select()
                .expr(Expr::val(1))
                .from(Warning)
                .and_where(
                    Expr::col((Warning, key_expiry_warning::Column::KeyId))
                        .equals((ApiKey, api_key::Column::Id)),
                )
                .and_where(
                    Expr::col((Warning, key_expiry_warning::Column::ThresholdSeconds)).eq(seconds),
                )
                .to_owned();
            // `expiry_recorded = false` holds for every key not yet expired,
            // and lets the sweep use the (expiry_recorded, expires_at) index
            // instead of reading every key each second; the other conditions
            // filter the rows that range yields. Rotated keys are left out
            // here, not only when claiming: skipped there without a row,
            // they would come back first on every sweep, and a batch of them
            // would keep later keys from ever being warned.
            let due = ApiKey::find()
                .filter(api_key::Column::ExpiryRecorded.eq(false))
                .filter(api_key::Column::State.eq(KeyState::Active))
                .filter(api_key::Column::RotatedAt.is_null())
                .filter(api_key::Column::ExpiresAt.gt(now))
                .filter(api_key::Column::ExpiresAt.lte(now + *threshold))
                .filter(Expr::exists(warned).not())
                .order_by_asc(api_key::Column::ExpiresAt)
                .limit(BATCH)
                .all(self.db())
                .await?;
            for key in due {
                let txn = self.begin_write().await?;
                // Read again in the claiming transaction: deactivated or
                // rotated since the sweep's read, it is not warned.
                let Some(key) = ApiKey::find_by_id(key.id)
                    .filter(api_key::Column::State.eq(KeyState::Active))
                    .filter(api_key::Column::RotatedAt.is_null())
                    .one(&txn)
                    .await?
                else {
                    continue;
                };
                let mark = |thresholds: &[Duration]| {
                    let rows: Vec<_> = thresholds
                        .iter()
                        .map(|t| key_expiry_warning::ActiveModel {
                            key_id: Set(key.id),
                            threshold_seconds: Set(t.num_seconds()),
                            at: Set(now),
                        })
                        .collect();
                    Warning::insert_many(rows).on_conflict(
                        OnConflict::columns([
                            key_expiry_warning::Column::KeyId,
                            key_expiry_warning::Column::ThresholdSeconds,
                        ])
                        .do_nothing()
                        .to_owned(),
                    )
                };
                // The claim: this threshold's row. Another replica's insert
                // of it waits for this transaction and then inserts nothing.
                let claimed = mark(&ascending[index..=index])
                    .exec_without_returning(&txn)
                    .await?
                    > 0;
                if !claimed {
                    continue;
                }
                if index + 1 < ascending.len() {
                    mark(&ascending[index + 1..])
                        .exec_without_returning(&txn)
                        .await?;
                }
                let at = key.expires_at.map(|at| at.to_rfc3339()).unwrap_or_default();
                let reason = format!(
                    "expires within {} (at {at})",
                    crate::expiry_warnings::format_duration(*threshold)
                );
                let event = insert(
                    &txn,
                    &context,
                    AuditOutcome::Succeeded,
                    Target::key(&key),
                    Some(reason),
                )
                .await?;
                self.commit_with_events(txn, [event]).await?;
                recorded += 1;
            }
        }
        Ok(recorded)
    }
}
