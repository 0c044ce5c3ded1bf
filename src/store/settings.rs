//! The server-wide settings row: access control and the administrator.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::audit::{AuditAction, AuditContext, Target};
use super::entity::settings::{Column, Entity as Settings, SETTINGS_ID};
use super::{Store, bump_auth_epoch, now};
use crate::error::Error;

impl Store {
    /// Turns access control on with this administrator. `false` when it was
    /// already on: the check and the change are one statement, so two
    /// concurrent calls cannot both succeed.
    pub async fn enable_access_control(
        &self,
        username: &str,
        password_hash: &str,
        audit: &AuditContext,
    ) -> Result<bool, Error> {
        let txn = self.begin_write().await?;
        let result = Settings::update_many()
            .col_expr(Column::AccessControlEnabled, Expr::value(true))
            .col_expr(Column::AdminUsername, Expr::value(username))
            .col_expr(Column::AdminPasswordHash, Expr::value(password_hash))
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(Column::Id.eq(SETTINGS_ID))
            .filter(Column::AccessControlEnabled.eq(false))
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            return Ok(false);
        }
        // Anonymous callers stop being let in: a revocation.
        bump_auth_epoch(&txn).await?;
        self.commit_audited(txn, audit, Target::default()).await?;
        Ok(true)
    }

    /// Gives the administrator `username` and a new password (its hash),
    /// as `keyward admin reset-password` does: break-glass, for an operator
    /// who lost the password. Recorded as keyward's own ADMIN_PASSWORD_RESET
    /// (no request made it), with `note` as the event's reason.
    /// `false`, and nothing changed, while access control is off: there is
    /// no administrator then.
    pub async fn reset_admin_password(
        &self,
        username: &str,
        password_hash: &str,
        note: String,
    ) -> Result<bool, Error> {
        let audit = &AuditContext::system(AuditAction::AdminPasswordReset);
        let txn = self.begin_write().await?;
        let result = Settings::update_many()
            .col_expr(Column::AdminUsername, Expr::value(username))
            .col_expr(Column::AdminPasswordHash, Expr::value(password_hash))
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(Column::Id.eq(SETTINGS_ID))
            .filter(Column::AccessControlEnabled.eq(true))
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            return Ok(false);
        }
        // The old password stops working everywhere: a revocation.
        bump_auth_epoch(&txn).await?;
        self.commit_audited_noting(txn, audit, Target::default(), Some(note))
            .await?;
        Ok(true)
    }

    /// Turns access control off and forgets the administrator.
    pub async fn disable_access_control(&self, audit: &AuditContext) -> Result<(), Error> {
        self.disable_access_control_noting(audit, None).await
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
            .col_expr(Column::AdminUsername, Expr::value(Option::<String>::None))
            .col_expr(
                Column::AdminPasswordHash,
                Expr::value(Option::<String>::None),
            )
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(Column::Id.eq(SETTINGS_ID))
            .exec(&txn)
            .await?;
        // The administrator's credentials stop working: a revocation.
        bump_auth_epoch(&txn).await?;
        self.commit_audited_noting(txn, audit, Target::default(), note)
            .await?;
        Ok(())
    }
}
