//! Any bytes as an `Authorization` header: parsing must never panic, and
//! whatever it accepts must be non-empty username and password.
#![no_main]

use http::HeaderValue;
use keyward::auth::Credentials;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = HeaderValue::from_bytes(data) else {
        return;
    };
    if let Ok(credentials) = Credentials::from_header(&header) {
        assert!(!credentials.username.is_empty());
        assert!(!credentials.username.contains(':'));
        assert!(!credentials.password.expose().is_empty());
    }
});
