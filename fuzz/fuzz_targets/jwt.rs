//! Any visitor token: verified or refused, never a panic; a token accepted under the tenant's
//! secret is refused under any other.
#![no_main]

use sentientiq_server::identity::jwt::{verify_hs256, TokenPolicy};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let policy = TokenPolicy::hs256("fuzz-secret-0123456789abcdef");
    if verify_hs256(token, &policy).is_ok() {
        // Only a correctly signed token gets here (the seed corpus holds one): the same token
        // under another secret is refused.
        assert!(verify_hs256(token, &TokenPolicy::hs256("another-secret-0123456789abcdef")).is_err());
    }
});
