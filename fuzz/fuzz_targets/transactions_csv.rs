//! Any transactions CSV uploaded by a member: parsed or refused with a report, never a panic,
//! and no accepted amount outside the bound that keeps account sums from overflowing.
#![no_main]

use sentientiq_server::records::MAX_TRANSACTION_CENTS;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(rows) = sentientiq_server::identity::customers::parse_transactions(data, 0) {
        for r in rows {
            assert!(r.amount_cents.unsigned_abs() <= MAX_TRANSACTION_CENTS as u64);
            assert!(!r.id.is_empty() && !r.account.is_empty() && r.at_ms >= 0);
        }
    }
});
