use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

use super::UsageGranularity;
use crate::error::Error;
use crate::graphql::context::parts;
use crate::store::{self, UsageBucketRow, UsageOf};

/// One usage bucket (GraphQL description on the impl).
#[derive(Clone, Copy, Debug)]
pub struct UsageBucket {
    start: DateTime<Utc>,
    counts: store::UsageCounts,
}

/// How an authentication of a key is counted, in one bucket of time: each
/// one under exactly one outcome.
#[Object]
impl UsageBucket {
    /// When the bucket begins (it lasts one minute, hour or UTC day).
    async fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Authentications let in. A request refused afterwards by a field's
    /// own authorization still counts here.
    async fn accepted(&self) -> i64 {
        self.counts.accepted
    }

    /// Authentications refused: a wrong secret, an inactive or an expired
    /// key.
    async fn refused(&self) -> i64 {
        self.counts.refused
    }

    /// Authentications of a valid key refused by the endpoint: a role,
    /// scope or project requirement of `/verify` not met, or the key used
    /// at another project's endpoint.
    async fn forbidden(&self) -> i64 {
        self.counts.forbidden
    }

    /// Authentications refused before verification because the key (or
    /// the client's address) was past its failure limit.
    async fn throttled(&self) -> i64 {
        self.counts.throttled
    }
}

/// The longest span one answer may cover, per granularity: bounds the
/// number of buckets (2,880 minutes, 2,160 hours, 731 days).
fn max_span(granularity: store::UsageGranularity) -> chrono::Duration {
    match granularity {
        store::UsageGranularity::Minute => chrono::Duration::hours(48),
        store::UsageGranularity::Hour => chrono::Duration::days(90),
        store::UsageGranularity::Day => chrono::Duration::days(731),
    }
}

/// The usage of `of` from `since` to `until` (default: now) in
/// `granularity` buckets, oldest first, buckets without traffic left out.
/// BAD_USER_INPUT unless `since` is before `until` and the span is within
/// the granularity's limit.
pub async fn read(
    ctx: &Context<'_>,
    of: UsageOf,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    granularity: UsageGranularity,
) -> Result<Vec<UsageBucket>> {
    let (services, _) = parts(ctx)?;
    let granularity = store::UsageGranularity::from(granularity);
    let until = until.unwrap_or_else(|| services.usage_clock.now());
    if since >= until {
        return Err(Error::bad_input("since", "must be before until").into());
    }
    let limit = max_span(granularity);
    if until - since > limit {
        return Err(Error::bad_input(
            "until",
            format!(
                "may be at most {} hours after since for {} buckets",
                limit.num_hours(),
                granularity.name()
            ),
        )
        .into());
    }
    let rows = services
        .store
        .usage(
            of,
            granularity,
            granularity.floor(since.timestamp()),
            until.timestamp(),
        )
        .await?;
    Ok(rows.into_iter().filter_map(UsageBucket::from_row).collect())
}

impl UsageBucket {
    fn from_row(row: UsageBucketRow) -> Option<Self> {
        Some(Self {
            start: DateTime::from_timestamp(row.start, 0)?,
            counts: row.counts,
        })
    }
}
