//! Parsing of the `Authorization: Basic …` header.

use axum::http::HeaderValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Secret;

/// Username and password from a Basic header: an access key and secret key,
/// or the administrator's username and password.
#[derive(Debug)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

/// Why a header is not usable credentials. Only ever logged: every variant
/// gives the client the same 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    #[error("the Authorization header is longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    #[error("the Authorization header is not visible ASCII")]
    NotAscii,
    #[error("the authorization scheme is not Basic")]
    NotBasic,
    #[error("the Basic credentials are not valid base64")]
    NotBase64,
    #[error("the Basic credentials are not UTF-8")]
    NotUtf8,
    #[error("the Basic credentials have no ':' between username and password")]
    NoColon,
    #[error("the Basic credentials have an empty username or password")]
    Empty,
}

/// Real credentials are well under 1 KiB (admin username and password are
/// capped at 128 and 1024 characters); longer headers are refused before any
/// decoding work.
pub const MAX_HEADER_LEN: usize = 2048;

impl Credentials {
    /// Parses `Basic base64(username:password)` (RFC 7617).
    pub fn from_header(header: &HeaderValue) -> Result<Self, CredentialsError> {
        if header.len() > MAX_HEADER_LEN {
            return Err(CredentialsError::TooLong);
        }
        let value = header.to_str().map_err(|_| CredentialsError::NotAscii)?;
        let (scheme, encoded) = value
            .trim()
            .split_once(' ')
            .ok_or(CredentialsError::NotBasic)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(CredentialsError::NotBasic);
        }
        let decoded = STANDARD
            .decode(encoded.trim())
            .map_err(|_| CredentialsError::NotBase64)?;
        let decoded = String::from_utf8(decoded).map_err(|_| CredentialsError::NotUtf8)?;
        // The username cannot contain ':', the password can (RFC 7617 §2).
        let (username, password) = decoded.split_once(':').ok_or(CredentialsError::NoColon)?;
        if username.is_empty() || password.is_empty() {
            return Err(CredentialsError::Empty);
        }
        Ok(Self {
            username: username.to_owned(),
            password: Secret::new(password),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(raw: &[u8]) -> Result<Credentials, CredentialsError> {
        Credentials::from_header(&HeaderValue::from_bytes(raw).expect("valid header bytes"))
    }

    fn basic(decoded: &[u8]) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(decoded)).into_bytes()
    }

    #[test]
    fn parses_username_and_password_with_colons() {
        let creds = parse(&basic(b"AKEY:pa:ss")).expect("valid");
        assert_eq!(creds.username, "AKEY");
        assert_eq!(creds.password.expose(), "pa:ss");
        assert!(
            parse(b"basic QUtFWTpwdw==").is_ok(),
            "scheme is case-insensitive"
        );
    }

    #[test]
    fn names_each_malformed_shape() {
        assert_eq!(parse(b"Bearer abc").err(), Some(CredentialsError::NotBasic));
        assert_eq!(parse(b"Basic").err(), Some(CredentialsError::NotBasic));
        assert_eq!(parse(b"Basic !!!").err(), Some(CredentialsError::NotBase64));
        assert_eq!(
            parse(&basic(b"nocolon")).err(),
            Some(CredentialsError::NoColon)
        );
        assert_eq!(parse(&basic(b":pw")).err(), Some(CredentialsError::Empty));
        assert_eq!(parse(&basic(b"user:")).err(), Some(CredentialsError::Empty));
        assert_eq!(
            parse(&basic(b"\xff\xfe:pw")).err(),
            Some(CredentialsError::NotUtf8)
        );
        assert_eq!(parse(b"Basic \xe9").err(), Some(CredentialsError::NotAscii));
        let long = basic(&vec![b'a'; MAX_HEADER_LEN]);
        assert_eq!(parse(&long).err(), Some(CredentialsError::TooLong));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_header_bytes(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(header) = HeaderValue::from_bytes(&raw) {
                let _ = Credentials::from_header(&header);
            }
        }

        #[test]
        fn never_panics_on_any_decoded_payload(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&basic(&payload));
        }
    }
}
