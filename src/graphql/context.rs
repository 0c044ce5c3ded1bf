//! What every resolver can reach: the services, and who is asking.

use std::sync::{Mutex, PoisonError};

use async_graphql::Context;
use chrono::{DateTime, Utc};

use super::refusal_budget::{self, Decision, Refusal, RefusalBudget};
use crate::auth::{Hasher, Principal};
use crate::error::Error;
use crate::store::{
    Actor, AuditAction, AuditContext, AuditOutcome, Grant, KnownProject, Store, Target,
};

/// Long-lived services, stored once in the schema.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub hasher: Hasher,
    pub keys: KeyPolicy,
    /// How many refusals each caller may add to the audit trail.
    pub refusals: RefusalBudget,
    /// Where webhooks may be sent (`--webhook-allow-private-networks`).
    pub webhook_destinations: crate::webhooks::DestinationPolicy,
    /// The OpenID Connect client: a provider's discovery document is
    /// checked when it is configured, and what was fetched of it forgotten
    /// when it changes.
    pub oidc: std::sync::Arc<crate::auth::oidc::Oidc>,
    /// The clock usage is counted by: `usage` without `until` reads up to
    /// its now.
    pub usage_clock: crate::clock::Clock,
}

/// Server-wide rules for new keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyPolicy {
    /// Longest a key may live; keys created without `expiresAt` get it.
    pub max_lifetime: Option<chrono::Duration>,
    /// The first (largest) expiry warning threshold: within it, a key is
    /// expiring soon.
    pub warn_within: Option<chrono::Duration>,
}

impl KeyPolicy {
    /// The expiry of a key asked to expire at `requested` (if at all),
    /// created at `now`.
    pub fn expiry(
        &self,
        requested: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        let latest = self.max_lifetime.map(|lifetime| now + lifetime);
        match (requested, latest) {
            (Some(at), _) if at <= now => {
                Err(Error::bad_input("input.expiresAt", "must be in the future"))
            }
            (Some(at), Some(latest)) if at > latest => Err(Error::bad_input(
                "input.expiresAt",
                format!("must be at most the server's maximum key lifetime away ({latest})"),
            )),
            (Some(at), _) => Ok(Some(at)),
            (None, latest) => Ok(latest),
        }
    }
}

/// Per-request data, added by the HTTP layer after authentication.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub principal: Principal,
    /// The project of the endpoint called (`/projects/{id}/graphql`), if any,
    /// as known when the request was scoped.
    pub scope: Option<KnownProject>,
    /// Base URL project endpoints are built on, without a trailing slash.
    pub base_url: String,
    /// The client's address, as recorded in the audit trail.
    pub client_address: Option<std::net::IpAddr>,
    /// The request's `x-request-id`, as recorded in the audit trail.
    pub request_id: Option<String>,
}

impl RequestContext {
    /// The project meant when none is named: the endpoint's, else the calling
    /// key's, else none.
    pub fn implied_project(&self) -> Option<i64> {
        self.scope
            .as_ref()
            .map(|project| project.row().id)
            .or(self.principal.confined_to())
    }

    /// Project `id`, reusing the endpoint's project when it is the one asked
    /// for (the common case on a project endpoint) instead of looking again.
    pub async fn project(
        &self,
        services: &Services,
        id: i64,
    ) -> Result<Option<KnownProject>, Error> {
        match &self.scope {
            Some(scope) if scope.row().id == id => Ok(Some(scope.clone())),
            _ => services.store.known_project(id).await,
        }
    }

    /// Runs the mutation `body` of `action`, first about `target`: the one
    /// place a mutation's outcome reaches the audit trail. Its success is
    /// recorded by the store, in the transaction of the change, with the
    /// action decided here (writes take a [`Grant`], which only
    /// [`Mutating::grant`] hands out, for a scope only a permission check
    /// makes); its refusal (FORBIDDEN, NOT_FOUND, CONFLICT), wherever in
    /// `body` it arises, is recorded here, about the target `body` had
    /// narrowed it to by then ([`Mutating::about`]). A resolver cannot
    /// forget either: there is no other way to write, and no way around
    /// this for an error. (Every store write takes a [`Grant`], holding an
    /// [`AuditContext`]; their fields are private, the context's system
    /// constructor is the store's own, and the request constructors of both
    /// are called here only, which
    /// `tests::only_the_mutation_gate_makes_a_requests_audit_context` keeps.)
    pub async fn mutation<T>(
        &self,
        services: &Services,
        action: AuditAction,
        target: Target,
        body: impl AsyncFnOnce(&Mutating<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mutating = Mutating {
            request: self,
            action,
            target: Mutex::new(target),
        };
        match body(&mutating).await {
            Ok(value) => Ok(value),
            Err(err) => {
                let target = mutating
                    .target
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner);
                Err(self.refuse(services, action, target, err).await)
            }
        }
    }

    /// Who is acting and from where, doing `action`, for the audit trail.
    fn audit(&self, action: AuditAction) -> AuditContext {
        let actor = match &self.principal {
            Principal::Anonymous => Actor::Anonymous,
            Principal::Person(person) => Actor::Person {
                id: person.user_id,
                username: person.username.clone(),
                administrator: person.administrator,
            },
            Principal::ApiKey(key) => Actor::Key {
                id: key.key_id,
                access_key: key.access_key.clone(),
                role: key.role,
            },
        };
        AuditContext::of_request(
            action,
            actor,
            self.client_address.map(|address| address.to_string()),
            self.request_id.clone(),
        )
    }

    /// Passes `err` on, recording it in the audit trail first if it is a
    /// refusal (FORBIDDEN, NOT_FOUND, CONFLICT) of `action` on `target`, and
    /// the caller's [`RefusalBudget`] allows; past it, the refusal is counted
    /// into a summary event instead.
    ///
    /// A refused mutation's event names the project the caller is confined
    /// to unless `target` names a project the caller can see: an attempt on
    /// another project's object is told to the caller's own project (and the
    /// admin), never to the other project, and it says nothing the caller did
    /// not already know.
    async fn refuse(
        &self,
        services: &Services,
        action: AuditAction,
        mut target: Target,
        err: Error,
    ) -> Error {
        let Some(outcome) = AuditOutcome::of_refusal(err.code()) else {
            return err;
        };
        if !target
            .project_id
            .is_some_and(|id| self.principal.can_see(id))
        {
            target.project_id = self.principal.confined_to();
            target.access_key = None;
        }
        let refusal = Refusal {
            context: self.audit(action),
            outcome,
            target,
            reason: err.to_string(),
        };
        let (decision, pending) = services.refusals.count(
            &self.principal,
            self.client_address,
            &refusal,
            std::time::Instant::now(),
        );
        if let Some(pending) = pending {
            refusal_budget::record(&services.store, pending.into_event()).await;
        }
        match decision {
            Decision::Record => refusal_budget::record(&services.store, refusal).await,
            Decision::SuppressFirst(due) => {
                services.refusals.flush_later(services.store.clone(), due);
            }
            Decision::Suppress => {}
        }
        err
    }
}

/// A mutation under way (see [`RequestContext::mutation`]).
pub struct Mutating<'a> {
    request: &'a RequestContext,
    action: AuditAction,
    target: Mutex<Target>,
}

impl Mutating<'_> {
    /// The store's write handle for `scope`, which a permission check of
    /// the caller returned (see `store::access`): who is changing what, and
    /// the proof that they may. The store records this mutation's action as
    /// SUCCEEDED in the same transaction.
    pub fn grant<S>(&self, scope: S) -> Grant<S> {
        Grant::new(self.request.audit(self.action), scope)
    }

    /// What the mutation is about, as far as it is known now: a refusal from
    /// here on is recorded about `target`.
    pub fn about(&self, target: Target) {
        *self.target.lock().unwrap_or_else(PoisonError::into_inner) = target;
    }
}

/// The services and the request context of a resolver call.
pub fn parts<'a>(ctx: &Context<'a>) -> Result<(&'a Services, &'a RequestContext), Error> {
    let services = ctx
        .data::<Services>()
        .map_err(|_| Error::internal("schema built without services"))?;
    let request = ctx
        .data::<RequestContext>()
        .map_err(|_| Error::internal("request executed without a request context"))?;
    Ok((services, request))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The files under `dir` (recursively) whose text contains `needle`,
    /// relative to the crate.
    fn files_containing(dir: &Path, needle: &str, found: &mut Vec<String>) {
        let entries = std::fs::read_dir(dir).expect("a readable source folder");
        for entry in entries {
            let path = entry.expect("a readable entry").path();
            if path.is_dir() {
                files_containing(&path, needle, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = std::fs::read_to_string(&path).expect("a readable source file");
                if text.contains(needle) {
                    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
                    let relative = path.strip_prefix(root).unwrap_or(&path);
                    found.push(relative.display().to_string());
                }
            }
        }
    }

    /// "There is no other way to write": a store write takes an
    /// `AuditContext`, whose fields are private (a doc test of
    /// `store::AuditContext` shows a literal refused) and whose request
    /// constructor is the crate's, so this keeps this file its only caller:
    /// a resolver cannot write without going through `mutation`, which
    /// records its refusals too.
    #[test]
    fn only_the_mutation_gate_makes_a_requests_audit_context() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for constructor in ["AuditContext::of_request(", "Grant::new("] {
            let mut callers = Vec::new();
            files_containing(&src, constructor, &mut callers);
            callers.sort();
            assert_eq!(callers, ["src/graphql/context.rs"], "{constructor}");
        }
    }
}
