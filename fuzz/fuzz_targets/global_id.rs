//! Any string as a global id: decoding must never panic, and whatever it
//! accepts must encode back to the same id.
#![no_main]

use keyward::ids::GlobalId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Some(id) = GlobalId::parse(data) {
        assert!(id.id > 0);
        assert_eq!(GlobalId::parse(&id.to_string()), Some(id));
    }
});
