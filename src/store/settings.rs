//! The server-wide settings row: access control, and the administrators it
//! creates (people, since the people migration: see `users`).

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::access::{Grant, ServerWide};
use super::audit::{AuditAction, AuditContext, Target};
use super::entity::settings::{Column, Entity as Settings, SETTINGS_ID};
use super::entity::user_session;
use super::users::NewUser;
use super::{Store, bump_auth_epoch, now};
use crate::error::Error;

impl Store {
    /// Turns access control on with `administrator` (created, or an
    /// existing user of that name made an ACTIVE administrator with this
    /// password). `false` when it was already on: the check and the change
    /// are one statement, so two concurrent calls cannot both succeed.
    pub async fn enable_access_control(
        &self,
        grant: &Grant<ServerWide>,
        administrator: NewUser,
    ) -> Result<bool, Error> {
        let txn = self.begin_write().await?;
        let result = Settings::update_many()
            .col_expr(Column::AccessControlEnabled, Expr::value(true))
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(Column::Id.eq(SETTINGS_ID))
            .filter(Column::AccessControlEnabled.eq(false))
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            return Ok(false);
        }
        let user = Store::upsert_administrator(&txn, administrator).await?;
        // Anonymous callers stop being let in: a revocation.
        bump_auth_epoch(&txn).await?;
        self.commit_audited(txn, grant.audit(), Target::user(&user))
            .await?;
        Ok(true)
    }

    /// Makes `administrator` an ACTIVE administrator with a new password
    /// (created if there is no user of that name), ending their sessions, as
    /// `keyward admin reset-password` does: break-glass, for an operator
    /// who lost the password. Recorded as keyward's own ADMIN_PASSWORD_RESET
    /// (no request made it), with `note` as the event's reason.
    /// `false`, and nothing changed, while access control is off: nobody
    /// needs a password then.
    pub async fn reset_admin_password(
        &self,
        administrator: NewUser,
        note: String,
    ) -> Result<bool, Error> {
        let audit = &AuditContext::system(AuditAction::AdminPasswordReset);
        let txn = self.begin_write().await?;
        let settings = Settings::find_by_id(SETTINGS_ID).one(&txn).await?;
        if !settings.is_some_and(|row| row.access_control_enabled) {
            return Ok(false);
        }
        let user = Store::upsert_administrator(&txn, administrator).await?;
        // The old password stops working everywhere: a revocation.
        bump_auth_epoch(&txn).await?;
        self.commit_audited_noting(txn, audit, Target::user(&user), Some(note))
            .await?;
        Ok(true)
    }

    /// Turns access control off. People and their memberships stay (for
    /// when it is on again); every session ends.
    pub async fn disable_access_control(&self, grant: &Grant<ServerWide>) -> Result<(), Error> {
        self.disable_access_control_noting(grant.audit(), None)
            .await
    }

    /// [`Store::disable_access_control`] as `keyward admin
    /// disable-access-control` does: break-glass, recorded as keyward's own
    /// ACCESS_CONTROL_DISABLED (no request made it), with `note` as the
    /// event's reason.
    pub async fn break_glass_disable_access_control(&self, note: String) -> Result<(), Error> {
        let audit = &AuditContext::system(AuditAction::AccessControlDisabled);
        self.disable_access_control_noting(audit, Some(note)).await
    }

    async fn disable_access_control_noting(
        &self,
        audit: &AuditContext,
        note: Option<String>,
    ) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        Settings::update_many()
            .col_expr(Column::AccessControlEnabled, Expr::value(false))
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(Column::Id.eq(SETTINGS_ID))
            .exec(&txn)
            .await?;
        user_session::Entity::delete_many().exec(&txn).await?;
        // Credentials stop mattering: a revocation of every verification.
        bump_auth_epoch(&txn).await?;
        self.commit_audited_noting(txn, audit, Target::default(), note)
            .await?;
        Ok(())
    }
}
