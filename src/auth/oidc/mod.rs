//! Signing people in through an OpenID Connect provider: the authorization
//! code flow with PKCE (S256), `state` and `nonce`, and the ID token checked
//! as OpenID Connect Core 1.0 §3.1.3.7 says.
//!
//! The protocol is `openidconnect`'s (discovery, the authorization URL, the
//! code exchange, the ID token's signature, issuer, audience, expiry and
//! nonce). What it leaves to its users is done here: an `azp` that must name
//! this client when the token has several audiences, an `iat` not in the
//! future, a small leeway on `exp`, a JWKS fetched again when a token is
//! signed by a key it does not have yet (the provider rotated its keys),
//! and the username and groups read by the claim names an administrator
//! configured (from the ID token, else from the userinfo endpoint).
//!
//! Issuers may be on loopback or private networks: identity providers
//! usually are, and only administrators configure them.

mod claims;
mod failure;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreResponseType,
};
use openidconnect::{
    AccessToken, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde_json::{Map, Value};

pub use failure::Failure;

use super::Secret;
use crate::store::{ProviderIdentity, identity_provider};

/// How long an answer from a provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a provider's discovery document and keys are used before they
/// are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// At most one fetch of a provider's keys per this long for tokens signed
/// by a key it does not publish (rotation), however many arrive.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(10);
/// What the `iat` check says of a token issued in the future (the library
/// reports it as an expiry: told apart by these words).
const ISSUED_IN_THE_FUTURE: &str = "issued in the future";
/// Clocks differ: an ID token is taken up to this long after its `exp`, and
/// with an `iat` up to this long ahead of keyward's clock.
const LEEWAY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// Asymmetric signatures only: an HMAC keyed with the client secret proves
/// nothing the token endpoint's TLS did not, and `none` proves nothing.
const ALGORITHMS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// The OpenID Connect client of every configured provider.
pub struct Oidc {
    http: reqwest::Client,
    /// Discovery documents (with their keys) by provider id.
    metadata: Mutex<HashMap<i64, Cached>>,
}

#[derive(Clone)]
struct Cached {
    /// The provider's row as of the fetch: an edited provider is fetched
    /// again.
    updated_at: chrono::DateTime<chrono::Utc>,
    fetched: Instant,
    /// When the keys were last fetched again for a token signed by a key
    /// they did not have.
    refetched: Option<Instant>,
    metadata: CoreProviderMetadata,
}

/// Why a provider cannot be used, as `createIdentityProvider` says.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("the issuer URL is not a URL: {0}")]
    BadUrl(String),
    #[error("{0}")]
    Unusable(String),
}

/// A sign-in sent to a provider, to be checked when it comes back: what the
/// store keeps (see `store::oidc_sign_in`), secrets included.
pub struct Pending {
    pub state: Secret,
    pub nonce: Secret,
    pub pkce_verifier: Secret,
}

impl Oidc {
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            // OAuth's endpoints answer, they do not redirect; following a
            // redirect would also send the client's credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .connect_timeout(PROVIDER_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            metadata: Mutex::new(HashMap::new()),
        })
    }

    /// Fetches `issuer_url`'s discovery document and says whether keyward
    /// can sign people in through it: the issuer it names is exactly
    /// `issuer_url`, it offers the authorization code flow, a token
    /// endpoint and signing keys. (PKCE is always used; a provider that does
    /// not know it ignores it, and the code is still bound by `state`.)
    pub async fn discover(&self, issuer_url: &str) -> Result<CoreProviderMetadata, DiscoveryError> {
        let issuer = IssuerUrl::new(issuer_url.to_owned())
            .map_err(|err| DiscoveryError::BadUrl(err.to_string()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|err| {
                tracing::debug!(error = %err, "discovery failed");
                DiscoveryError::Unusable(describe_discovery_error(&err))
            })?;
        let code_flow = metadata
            .response_types_supported()
            .iter()
            .any(|types| types.as_slice() == [CoreResponseType::Code]);
        if !code_flow {
            return Err(DiscoveryError::Unusable(
                "the provider does not offer the authorization code flow (response type `code`)"
                    .into(),
            ));
        }
        if metadata.token_endpoint().is_none() {
            return Err(DiscoveryError::Unusable(
                "the provider's discovery document names no token endpoint".into(),
            ));
        }
        if metadata.jwks().keys().is_empty() {
            return Err(DiscoveryError::Unusable(
                "the provider publishes no signing keys (jwks_uri)".into(),
            ));
        }
        Ok(metadata)
    }

    /// The provider's metadata: from memory while fresh, else fetched.
    async fn metadata(
        &self,
        provider: &identity_provider::Model,
        refetch: bool,
    ) -> Result<CoreProviderMetadata, Failure> {
        let cached = self
            .metadata
            .lock()
            .ok()
            .and_then(|cache| cache.get(&provider.id).cloned())
            .filter(|cached| cached.updated_at == provider.updated_at);
        let mut refetched = None;
        if let Some(cached) = &cached {
            let fresh = cached.fetched.elapsed() < METADATA_TTL;
            let may_refetch = cached
                .refetched
                .is_none_or(|at| at.elapsed() >= REFETCH_AT_MOST_EVERY);
            if fresh && !(refetch && may_refetch) {
                return Ok(cached.metadata.clone());
            }
            refetched = cached.refetched;
        }
        if refetch {
            refetched = Some(Instant::now());
        }
        let metadata = self
            .discover(&provider.issuer_url)
            .await
            .map_err(|err| {
                tracing::warn!(provider = %provider.name, error = %err, "an identity provider cannot be used");
                Failure::ProviderUnreachable
            })?;
        if let Ok(mut cache) = self.metadata.lock() {
            cache.insert(
                provider.id,
                Cached {
                    updated_at: provider.updated_at,
                    fetched: Instant::now(),
                    refetched,
                    metadata: metadata.clone(),
                },
            );
        }
        Ok(metadata)
    }

    /// Forgets what was fetched of provider `id` (edited or deleted).
    pub fn forget(&self, id: i64) {
        if let Ok(mut cache) = self.metadata.lock() {
            cache.remove(&id);
        }
    }

    /// The URL to send the browser to, and what must be kept until it comes
    /// back to `redirect_uri`.
    pub async fn begin(
        &self,
        provider: &identity_provider::Model,
        redirect_uri: &str,
    ) -> Result<(String, Pending), Failure> {
        let metadata = self.metadata(provider, false).await?;
        let client = provider_client(provider, metadata, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in provider.scope_list() {
            // `openid` is always asked for by the flow itself.
            if scope != "openid" {
                request = request.add_scope(Scope::new(scope));
            }
        }
        let (url, state, nonce) = request.url();
        Ok((
            url.to_string(),
            Pending {
                state: Secret::new(state.secret().clone()),
                nonce: Secret::new(nonce.secret().clone()),
                pkce_verifier: Secret::new(verifier.secret().clone()),
            },
        ))
    }

    /// Exchanges `code` for tokens, checks the ID token against `pending`,
    /// and reads who signed in.
    pub async fn finish(
        &self,
        provider: &identity_provider::Model,
        redirect_uri: &str,
        code: &str,
        pending: Pending,
    ) -> Result<ProviderIdentity, Failure> {
        let metadata = self.metadata(provider, false).await?;
        let userinfo_url = metadata.userinfo_endpoint().map(|url| url.url().clone());
        let client = provider_client(provider, metadata, redirect_uri)?;
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| Failure::ProviderUnreachable)?
            .set_pkce_verifier(PkceCodeVerifier::new(
                pending.pkce_verifier.expose().to_owned(),
            ));
        let tokens = exchange.request_async(&self.http).await.map_err(|err| {
            tracing::debug!(provider = %provider.name, error = %err, "the code exchange failed");
            match err {
                openidconnect::RequestTokenError::ServerResponse(_) => Failure::CodeRefused,
                _ => Failure::ProviderUnreachable,
            }
        })?;
        let id_token = tokens.id_token().ok_or_else(|| {
            tracing::debug!(provider = %provider.name, "the token response has no ID token");
            Failure::IdTokenInvalid
        })?;
        let nonce = Nonce::new(pending.nonce.expose().to_owned());
        let subject = match self.check(&client, id_token, &nonce) {
            Err(Failure::IdTokenSignature) => {
                // Perhaps signed with a key published since: fetch the keys
                // again (at most so often), and check once more.
                let metadata = self.metadata(provider, true).await?;
                let client = provider_client(provider, metadata, redirect_uri)?;
                self.check(&client, id_token, &nonce)?
            }
            checked => checked?,
        };
        let mut claims = payload(id_token).ok_or(Failure::IdTokenInvalid)?;
        let wants_more = claims::username(&claims, &provider.username_claim).is_none()
            || claims::groups(&claims, &provider.groups_claim).is_none();
        if wants_more && let Some(url) = userinfo_url {
            let info = self
                .userinfo(url, tokens.access_token(), &subject)
                .await
                .unwrap_or_default();
            for (name, value) in info {
                claims.entry(name).or_insert(value);
            }
        }
        let username =
            claims::username(&claims, &provider.username_claim).ok_or(Failure::NoUsername)?;
        Ok(ProviderIdentity {
            subject,
            username: usable_username(&username),
            display_name: claims::text(&claims, "name"),
            groups: claims::groups(&claims, &provider.groups_claim).map(|groups| {
                groups
                    .into_iter()
                    .filter(|group| usable_group(group))
                    .collect()
            }),
        })
    }

    /// The ID token's subject, if every check passes.
    fn check(
        &self,
        client: &ProviderClient,
        id_token: &CoreIdToken,
        nonce: &Nonce,
    ) -> Result<String, Failure> {
        let now = chrono::Utc::now();
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(ALGORITHMS)
            // Several audiences are allowed when `azp` names this client
            // (checked below, as Core §3.1.3.7 steps 4 and 5 say).
            .set_other_audience_verifier_fn(|_| true)
            .set_time_fn(move || now - LEEWAY)
            .set_issue_time_verifier_fn(move |issued| {
                if issued > now + LEEWAY {
                    Err(ISSUED_IN_THE_FUTURE.to_owned())
                } else {
                    Ok(())
                }
            });
        let claims = id_token.claims(&verifier, nonce).map_err(|err| {
            tracing::debug!(error = %err, "an ID token was refused");
            classify(&err)
        })?;
        let audiences = claims.audiences();
        let client_id = client.client_id();
        match claims.authorized_party() {
            Some(party) if party.as_str() != client_id.as_str() => {
                return Err(Failure::IdTokenAudience);
            }
            None if audiences.len() > 1 => return Err(Failure::IdTokenAudience),
            _ => {}
        }
        Ok(claims.subject().as_str().to_owned())
    }

    /// The userinfo endpoint's claims, if it answers with JSON about the
    /// same subject (Core §5.3.2: anything else must not be used).
    async fn userinfo(
        &self,
        url: url::Url,
        access_token: &AccessToken,
        subject: &str,
    ) -> Option<Map<String, Value>> {
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token.secret())
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?;
        let claims: Map<String, Value> = response.json().await.ok()?;
        if claims.get("sub").and_then(Value::as_str) != Some(subject) {
            tracing::debug!("the userinfo endpoint spoke of another subject");
            return None;
        }
        Some(claims)
    }
}

type ProviderClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn provider_client(
    provider: &identity_provider::Model,
    metadata: CoreProviderMetadata,
    redirect_uri: &str,
) -> Result<ProviderClient, Failure> {
    let redirect = RedirectUrl::new(redirect_uri.to_owned()).map_err(|_| Failure::Internal)?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.clone())),
    )
    .set_redirect_uri(redirect))
}

/// A username made of what a provider's username claim said: no `:` (a
/// username travels in Basic credentials), at most 120 characters (room
/// for a `-2` that makes it unique), and never shaped like an access key
/// (a key's and a person's Basic credentials are told apart by that
/// shape).
fn usable_username(claimed: &str) -> String {
    let mut username: String = claimed.replace(':', "_").chars().take(120).collect();
    if crate::auth::looks_like_access_key(&username) {
        username.push_str("-sso");
    }
    username
}

/// Groups keyward keeps: 1 to 256 characters, no control characters. A
/// provider sending others is misconfigured, and they are ignored.
fn usable_group(group: &str) -> bool {
    let length = group.chars().count();
    (1..=256).contains(&length) && !group.chars().any(char::is_control)
}

/// Which check an ID token failed.
fn classify(err: &ClaimsVerificationError) -> Failure {
    match err {
        ClaimsVerificationError::Expired(message) if message == ISSUED_IN_THE_FUTURE => {
            Failure::IdTokenIssuedInFuture
        }
        ClaimsVerificationError::Expired(_) => Failure::IdTokenExpired,
        ClaimsVerificationError::InvalidAudience(_) => Failure::IdTokenAudience,
        ClaimsVerificationError::InvalidIssuer(_) => Failure::IdTokenIssuer,
        ClaimsVerificationError::InvalidNonce(_) => Failure::IdTokenNonce,
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey
            | SignatureVerificationError::CryptoError(_)
            | SignatureVerificationError::NoSignature
            | SignatureVerificationError::DisallowedAlg(_)
            | SignatureVerificationError::UnsupportedAlg(_)
            | SignatureVerificationError::InvalidKey(_)
            | SignatureVerificationError::AmbiguousKeyId(_),
        ) => Failure::IdTokenSignature,
        _ => Failure::IdTokenInvalid,
    }
}

/// The claims of a verified ID token, every one of them (`openidconnect`
/// types only the standard ones; the username and groups claims are
/// whatever an administrator named).
fn payload(id_token: &CoreIdToken) -> Option<Map<String, Value>> {
    let compact = id_token.to_string();
    let payload = compact.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// What went wrong in discovery, in words for an administrator.
fn describe_discovery_error<E: std::error::Error>(
    err: &openidconnect::DiscoveryError<E>,
) -> String {
    use openidconnect::DiscoveryError as D;
    match err {
        D::Request(_) => "the issuer's discovery document could not be fetched (is the issuer URL right, and the provider reachable from keyward?)".into(),
        D::Response(status, _, _) => format!(
            "the issuer answered {status} for its discovery document (/.well-known/openid-configuration)"
        ),
        D::Parse(_) => "the issuer's discovery document or keys are not valid OpenID Connect metadata".into(),
        D::Validation(message) => format!("the discovery document is not the issuer's: {message}"),
        D::UrlParse(_) => "the issuer URL cannot be extended with /.well-known/openid-configuration".into(),
        D::Other(message) => message.clone(),
        _ => "the issuer's discovery document cannot be used".into(),
    }
}
