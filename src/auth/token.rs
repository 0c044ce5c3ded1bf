//! Generation of access keys and secret keys.

use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};

use super::Secret;

const ACCESS_KEY_LEN: usize = 20;
const ACCESS_KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_KEY_LEN: usize = 40;
const SECRET_KEY_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A freshly generated key pair. The secret is only ever held in memory until
/// it has been hashed and returned to the caller once.
#[derive(Debug)]
pub struct NewKeyPair {
    pub access_key: String,
    pub secret_key: Secret,
}

impl NewKeyPair {
    /// 20 characters of `[A-Z0-9]` (~103 bits) and 40 of `[A-Za-z0-9]` (~238
    /// bits), both drawn straight from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self {
            access_key: random_string(ACCESS_KEY_ALPHABET, ACCESS_KEY_LEN),
            secret_key: Secret::new(random_string(SECRET_KEY_ALPHABET, SECRET_KEY_LEN)),
        }
    }
}

/// A new session cookie value: 43 characters of `[A-Za-z0-9]` (~256 bits)
/// from the operating system's CSPRNG.
pub fn session_token() -> Secret {
    Secret::new(random_string(SECRET_KEY_ALPHABET, SESSION_TOKEN_LEN))
}

const SESSION_TOKEN_LEN: usize = 43;

/// Whether `s` has the shape of an access key. Lets authentication skip the
/// database for usernames that cannot be one.
pub fn looks_like_access_key(s: &str) -> bool {
    s.len() == ACCESS_KEY_LEN && s.bytes().all(|b| ACCESS_KEY_ALPHABET.contains(&b))
}

/// `len` characters drawn uniformly from `alphabet` (`random_range` rejects
/// biased samples, so there is no modulo bias).
pub(crate) fn random_string(alphabet: &[u8], len: usize) -> String {
    // `unwrap_err` panics only if the OS has no entropy source at all, where
    // no key could be made safely anyway.
    let mut rng = OsRng.unwrap_err();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_have_the_documented_shape() {
        let pair = NewKeyPair::generate();
        assert!(looks_like_access_key(&pair.access_key));
        let secret = pair.secret_key.expose();
        assert_eq!(secret.len(), SECRET_KEY_LEN);
        assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn pairs_differ() {
        let a = NewKeyPair::generate();
        let b = NewKeyPair::generate();
        assert_ne!(a.access_key, b.access_key);
        assert_ne!(a.secret_key, b.secret_key);
    }
}
