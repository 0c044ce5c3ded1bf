//! One key's authentications in one time bucket, by outcome (see
//! `Store::add_usage`). Kept after the key is deleted: its project's usage
//! includes it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "key_usage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_id: i64,
    /// `minute`, `hour` or `day` (see `UsageGranularity`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub granularity: String,
    /// The bucket's first second, in Unix time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket_start: i64,
    pub project_id: i64,
    pub accepted: i64,
    pub refused: i64,
    pub forbidden: i64,
    pub throttled: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
