//! Why a sign-in through a provider failed, as the person is told: a code
//! the sign-in page (`/?signInError=<code>`) turns into a sentence. The
//! codes say which step failed and never carry anything secret or anything
//! an attacker wrote (a provider's error text stays in the debug log).

/// A failed sign-in through an identity provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("there is no enabled identity provider of that name")]
    UnknownProvider,
    #[error("access control is off: nobody needs to sign in")]
    AccessControlOff,
    #[error("the sign-in expired, was already used, or was not started here")]
    StateInvalid,
    #[error("the identity provider did not sign the person in")]
    ProviderDenied,
    #[error("the identity provider could not be reached or answered nonsense")]
    ProviderUnreachable,
    #[error("the identity provider refused the sign-in's code")]
    CodeRefused,
    #[error("the ID token's signature is not the identity provider's")]
    IdTokenSignature,
    #[error("the ID token was issued by another issuer")]
    IdTokenIssuer,
    #[error("the ID token was issued for another client")]
    IdTokenAudience,
    #[error("the ID token has expired")]
    IdTokenExpired,
    #[error("the ID token claims to be issued in the future")]
    IdTokenIssuedInFuture,
    #[error("the ID token belongs to another sign-in")]
    IdTokenNonce,
    #[error("the ID token is not valid")]
    IdTokenInvalid,
    #[error("the identity provider did not say the person's username")]
    NoUsername,
    #[error("the access mode does not let this person sign in")]
    NotAllowed,
    #[error("this person's user is disabled")]
    UserDisabled,
    #[error("too many sign-ins were started from here; try again in a few minutes")]
    TooManySignIns,
    #[error("keyward could not complete the sign-in; try again")]
    Internal,
}

impl Failure {
    /// The code in the sign-in page's URL (binding: the console and
    /// clients read it).
    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownProvider => "unknown_provider",
            Self::AccessControlOff => "access_control_off",
            Self::StateInvalid => "state_invalid",
            Self::ProviderDenied => "provider_denied",
            Self::ProviderUnreachable => "provider_unreachable",
            Self::CodeRefused => "code_refused",
            Self::IdTokenSignature => "id_token_signature",
            Self::IdTokenIssuer => "id_token_issuer",
            Self::IdTokenAudience => "id_token_audience",
            Self::IdTokenExpired => "id_token_expired",
            Self::IdTokenIssuedInFuture => "id_token_issued_in_future",
            Self::IdTokenNonce => "id_token_nonce",
            Self::IdTokenInvalid => "id_token_invalid",
            Self::NoUsername => "no_username",
            Self::NotAllowed => "not_allowed",
            Self::UserDisabled => "user_disabled",
            Self::TooManySignIns => "too_many_sign_ins",
            Self::Internal => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every failure, for the test below.
    const ALL: [Failure; 18] = [
        Failure::UnknownProvider,
        Failure::AccessControlOff,
        Failure::StateInvalid,
        Failure::ProviderDenied,
        Failure::ProviderUnreachable,
        Failure::CodeRefused,
        Failure::IdTokenSignature,
        Failure::IdTokenIssuer,
        Failure::IdTokenAudience,
        Failure::IdTokenExpired,
        Failure::IdTokenIssuedInFuture,
        Failure::IdTokenNonce,
        Failure::IdTokenInvalid,
        Failure::NoUsername,
        Failure::NotAllowed,
        Failure::UserDisabled,
        Failure::TooManySignIns,
        Failure::Internal,
    ];

    /// The sign-in page has a sentence for every code keyward sends it to
    /// with (a code it does not know would get only a generic one).
    #[test]
    fn the_sign_in_page_explains_every_failure() {
        let page = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/js/auth.js"),
        )
        .expect("the console's sign-in module");
        for failure in ALL {
            assert!(
                page.contains(&format!("  {}: ", failure.code())),
                "web/js/auth.js has no sentence for {}",
                failure.code()
            );
        }
    }
}
