//! The developers' own train/test split of the real recordings in `../shared/data/human/`
//! (MiniWoB++ demos, DLRV visits), fixed before any detector was run on them.
//!
//! A recording goes to a half by its **visitor**, never by itself, so the same person's habits
//! are never on both sides:
//!
//! * MiniWoB++: the demo's session id without its trailing `_d<N>` (one worker's assignment,
//!   whose demos are numbered `_d1`, `_d2`, …);
//! * DLRV: the visitor id, the session id before its `#<visit>`.
//!
//! The key's 64-bit FNV-1a hash decides: odd is **test**, even is **train**. Tuning looks at the
//! train half only; both are reported.

use super::corpus::Split;

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The visitor a recording belongs to (see the module docs).
pub fn visitor(session: &str) -> &str {
    if let Some((v, _)) = session.rsplit_once('#') {
        return v;
    }
    match session.rsplit_once("_d") {
        Some((v, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => v,
        _ => session,
    }
}

/// The half `session` belongs to.
pub fn split_of(session: &str) -> Split {
    if fnv1a(visitor(session).as_bytes()) % 2 == 1 {
        Split::Test
    } else {
        Split::Train
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visitor_is_on_one_side_only() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let a = "2017-09-29_first-turk/choose-date-easy/choose-date-easy_30H4UDGLT3C8OK8YNXM1SAQ7142MPB";
        assert_eq!(visitor(&format!("{a}_d2")), a);
        assert_eq!(split_of(&format!("{a}_d2")), split_of(&format!("{a}_d3")));
        assert_eq!(visitor("+bzR3Yv4VRsNjodM#0"), "+bzR3Yv4VRsNjodM");
        assert_eq!(split_of("+bzR3Yv4VRsNjodM#0"), split_of("+bzR3Yv4VRsNjodM#7"));
        assert_eq!(visitor("plain_dx"), "plain_dx");
    }
}
