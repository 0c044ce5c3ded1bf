//! What a receiver verifies: the signing secret, the signature over
//! `{webhook-id}.{webhook-timestamp}.{body}`, and the JSON body that is both
//! sent and signed (Standard Webhooks, symmetric `v1` scheme).

use std::fmt;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::Sha256;

/// The prefix the specification gives symmetric secrets, so that a receiver
/// (and a person reading a config file) can tell which scheme a key is for.
const PREFIX: &str = "whsec_";

/// The length of a generated key: 256 bits, the HMAC-SHA256 output size.
const GENERATED_LEN: usize = 32;

/// The specification's bounds for a symmetric key: at least 192 bits, at
/// most 512 (one SHA-256 block; a longer key would be hashed first anyway).
const MIN_LEN: usize = 24;
const MAX_LEN: usize = 64;

/// Decodes with or without `=` padding: secrets made by other tools (the
/// reference libraries accept both) parse, while generated ones are padded.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a string is not a signing secret. No variant carries any part of the
/// string, so the error can be logged or shown without leaking the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook signing secret starts with \"whsec_\"")]
    MissingPrefix,
    #[error("the part of a webhook signing secret after \"whsec_\" must be standard base64")]
    NotBase64,
    #[error("a webhook signing secret must be {MIN_LEN} to {MAX_LEN} bytes, not {len}")]
    Length { len: usize },
    #[error("the operating system had no randomness for a signing secret")]
    NoRandomness,
}

/// A webhook signing secret, `whsec_` followed by the base64 of the key.
///
/// `Debug` and `Display` are redacted so that a stray `?secret` or `%secret`
/// in a log statement prints nothing useful; the only ways to the value are
/// [`SigningSecret::expose`] (to show it once, or to store it) and
/// [`SigningSecret::sign`].
#[derive(Clone)]
pub struct SigningSecret {
    /// The serialized form, as generated or as parsed.
    encoded: String,
    /// The HMAC key: the decoded part after the prefix.
    key: Vec<u8>,
}

impl SigningSecret {
    /// A fresh secret of 32 bytes from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, SecretError> {
        let mut key = vec![0u8; GENERATED_LEN];
        OsRng
            .try_fill_bytes(&mut key)
            .map_err(|_| SecretError::NoRandomness)?;
        let encoded = format!("{PREFIX}{}", STANDARD.encode(&key));
        Ok(Self { encoded, key })
    }

    /// Reads a secret in its serialized form (as stored, or as given by an
    /// operator who brings their own), refusing one the specification would
    /// not allow.
    pub fn parse(value: &str) -> Result<Self, SecretError> {
        let encoded = value
            .strip_prefix(PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        // The decoder's own error names the offending character and offset:
        // dropped, as it is part of the secret.
        let key = LENIENT
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if !(MIN_LEN..=MAX_LEN).contains(&key.len()) {
            return Err(SecretError::Length { len: key.len() });
        }
        Ok(Self {
            encoded: value.to_owned(),
            key,
        })
    }

    /// The serialized secret (`whsec_…`), for the one response that shows it
    /// to its owner and for storage.
    pub fn expose(&self) -> &str {
        &self.encoded
    }

    /// The `webhook-signature` header value for one attempt: `v1,` and the
    /// base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
    ///
    /// `timestamp` is the attempt's time in unix seconds, as sent in
    /// `webhook-timestamp`; `body` the exact bytes sent. The id must not
    /// contain `.` (the client refuses such ids), or two different messages
    /// could sign the same bytes.
    #[allow(
        clippy::expect_used,
        reason = "HMAC takes a key of any length: new_from_slice cannot fail"
    )]
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl fmt::Display for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("whsec_<redacted>")
    }
}

/// The body of one webhook message: `{"type":…,"timestamp":…,"data":…}`,
/// minified, in that order.
///
/// Built once per message and kept as bytes: a signature covers bytes, not
/// JSON values, so what is signed must be exactly what is sent, on the first
/// attempt and on every retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    bytes: Vec<u8>,
}

impl Payload {
    /// The body for an event of `event_type` (keyward sends the audit
    /// action, such as `KEY_CREATED`) that happened at `timestamp` (RFC 3339, UTC, in
    /// microseconds), carrying `data`.
    pub fn new(event_type: &str, timestamp: DateTime<Utc>, data: &serde_json::Value) -> Self {
        // Written by hand rather than through a map so the keys keep the
        // specification's order; each value is serialized by serde_json, so
        // strings are escaped, and `Value`'s `Display` cannot fail.
        let event_type = serde_json::Value::from(event_type);
        let timestamp =
            serde_json::Value::from(timestamp.to_rfc3339_opts(SecondsFormat::Micros, true));
        let json = format!(r#"{{"type":{event_type},"timestamp":{timestamp},"data":{data}}}"#);
        Self {
            bytes: json.into_bytes(),
        }
    }

    /// The bytes to send and to sign.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, for storing with the message so that retries send the same.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use chrono::TimeZone;

    use super::*;

    /// The reference Rust library's `test_sign` vector (standard-webhooks,
    /// libraries/rust/src/lib.rs); the Python package gives the same.
    const VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const VECTOR_TIMESTAMP: i64 = 1649367553;
    const VECTOR_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const VECTOR_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn signature_matches_the_reference_vector() {
        let secret = SigningSecret::parse(VECTOR_SECRET).expect("valid secret");
        assert_eq!(
            secret.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY),
            VECTOR_SIGNATURE
        );
    }

    #[test]
    fn signature_changes_with_each_signed_part() {
        let secret = SigningSecret::parse(VECTOR_SECRET).expect("valid secret");
        let other = SigningSecret::generate().expect("randomness");
        for signature in [
            secret.sign("msg_other", VECTOR_TIMESTAMP, VECTOR_BODY),
            secret.sign(VECTOR_ID, VECTOR_TIMESTAMP + 1, VECTOR_BODY),
            secret.sign(VECTOR_ID, VECTOR_TIMESTAMP, b"{}"),
            other.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY),
        ] {
            assert_ne!(signature, VECTOR_SIGNATURE);
        }
    }

    #[test]
    fn generated_secret_is_prefixed_32_bytes_and_parses_back() {
        let secret = SigningSecret::generate().expect("randomness");
        let encoded = secret.expose();
        let key = STANDARD
            .decode(encoded.strip_prefix("whsec_").expect("prefix"))
            .expect("standard base64");
        assert_eq!(key.len(), 32);
        let parsed = SigningSecret::parse(encoded).expect("parses back");
        assert_eq!(parsed.sign("m", 1, b"x"), secret.sign("m", 1, b"x"));
        assert_ne!(
            SigningSecret::generate().expect("randomness").expose(),
            encoded
        );
    }

    #[test]
    fn parse_accepts_and_refuses_by_table() {
        let bytes = |n: usize| STANDARD.encode(vec![7u8; n]);
        let unpadded = |n: usize| bytes(n).trim_end_matches('=').to_owned();
        let cases: Vec<(String, Result<(), SecretError>)> = vec![
            (VECTOR_SECRET.to_owned(), Ok(())),
            (format!("whsec_{}", bytes(32)), Ok(())),
            (format!("whsec_{}", unpadded(32)), Ok(())),
            (format!("whsec_{}", bytes(64)), Ok(())),
            (bytes(32), Err(SecretError::MissingPrefix)),
            (
                format!("WHSEC_{}", bytes(32)),
                Err(SecretError::MissingPrefix),
            ),
            (
                format!("whsk_{}", bytes(32)),
                Err(SecretError::MissingPrefix),
            ),
            ("whsec_not base64!".to_owned(), Err(SecretError::NotBase64)),
            // URL-safe alphabet: not what the specification serializes.
            (
                "whsec_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-".to_owned(),
                Err(SecretError::NotBase64),
            ),
            ("whsec_".to_owned(), Err(SecretError::Length { len: 0 })),
            (
                format!("whsec_{}", bytes(23)),
                Err(SecretError::Length { len: 23 }),
            ),
            (
                format!("whsec_{}", bytes(65)),
                Err(SecretError::Length { len: 65 }),
            ),
        ];
        for (input, expected) in cases {
            let got = SigningSecret::parse(&input).map(|_| ());
            assert_eq!(got, expected, "parse({input:?})");
        }
    }

    #[test]
    fn debug_display_and_errors_never_show_the_secret() {
        let secret = SigningSecret::parse(VECTOR_SECRET).expect("valid secret");
        let key_part = &VECTOR_SECRET["whsec_".len()..];
        for shown in [
            format!("{secret:?}"),
            format!("{secret}"),
            format!("{secret:#?}"),
        ] {
            assert!(!shown.contains(key_part), "{shown}");
            assert!(shown.contains("redacted"), "{shown}");
        }
        let bad = "whsec_C2FVsBQIhrscChlQIMV+b5sSY$pob7oD";
        let err = SigningSecret::parse(bad).expect_err("not base64");
        assert!(!format!("{err} {err:?}").contains("C2FV"));
    }

    #[test]
    fn payload_is_minified_json_in_the_specification_order() {
        let at = Utc
            .timestamp_opt(1667507170, 344_522_000)
            .single()
            .expect("valid time");
        let cases = [
            (
                "example.event",
                serde_json::json!({"foo": "bar", "fizzbuzz": 2}),
                r#"{"type":"example.event","timestamp":"2022-11-03T20:26:10.344522Z","data":{"fizzbuzz":2,"foo":"bar"}}"#,
            ),
            (
                "key.\"quoted\"",
                serde_json::json!({}),
                r#"{"type":"key.\"quoted\"","timestamp":"2022-11-03T20:26:10.344522Z","data":{}}"#,
            ),
        ];
        for (event_type, data, expected) in cases {
            let payload = Payload::new(event_type, at, &data);
            assert_eq!(std::str::from_utf8(payload.as_bytes()), Ok(expected));
            let parsed: serde_json::Value =
                serde_json::from_slice(payload.as_bytes()).expect("valid JSON");
            assert_eq!(parsed["data"], data);
        }
    }

    /// Verifies our output with the Python reference package
    /// (`standardwebhooks`), as a receiver would: signed now (it checks the
    /// timestamp's freshness), with the headers we send. Built as ignored
    /// where the package is not installed (build.rs); run without it, it was
    /// required to (`KEYWARD_WEBHOOK_TESTS=require`), and fails.
    #[test]
    #[cfg_attr(
        not(keyward_standardwebhooks),
        ignore = "needs the Python package standardwebhooks: pip install standardwebhooks==1.3.0"
    )]
    fn python_reference_library_verifies_our_signature() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhooks/verify.py");
        let secret = SigningSecret::generate().expect("randomness");
        let payload = Payload::new(
            "key.created",
            Utc::now(),
            &serde_json::json!({"id": "k_1", "name": "naïve ☃"}),
        );
        let id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
        let timestamp = Utc::now().timestamp();
        let input = serde_json::json!({
            "secret": secret.expose(),
            "headers": {
                "webhook-id": id,
                "webhook-timestamp": timestamp.to_string(),
                "webhook-signature": secret.sign(id, timestamp, payload.as_bytes()),
            },
            "body": String::from_utf8(payload.as_bytes().to_vec()).expect("UTF-8"),
            "vector": {
                "secret": VECTOR_SECRET,
                "id": VECTOR_ID,
                "timestamp": VECTOR_TIMESTAMP,
                "body": std::str::from_utf8(VECTOR_BODY).expect("UTF-8"),
                "signature": VECTOR_SIGNATURE,
            },
        });
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3, which runs the Standard Webhooks reference package");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.to_string().as_bytes())
            .expect("write to verify.py");
        let output = child.wait_with_output().expect("verify.py ran");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "verify.py refused our signature (exit 3: standardwebhooks not importable): \
             {stdout}{stderr}"
        );
    }
}
