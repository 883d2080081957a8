//! Deterministic CPU work standing in for what a real crawler does with each page it fetches
//! (indexing it, say): `--work-us N` makes every HTML page cost about N µs of CPU.
//!
//! The work is a chain of 64-bit mixing rounds seeded by the page's body, each depending on
//! the last, so it can be neither skipped nor vectorised; its digest goes into the report, so
//! it cannot be optimised away either. How many rounds make a microsecond is measured by the
//! caller (the core has no clock), see [`rounds_for`].

/// One mixing round (splitmix64's finaliser).
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Runs `rounds` rounds of work seeded by `body`; returns their digest.
pub fn work(body: &[u8], rounds: u64) -> u64 {
    // FNV-1a of the body as the seed: the digest depends on the page.
    let mut digest = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    for round in 0..rounds {
        digest = mix(digest ^ round);
    }
    digest
}

/// Rounds for `micros` µs of work, given a measurement: `rounds_done` rounds took
/// `nanos_taken` ns on this machine.
pub fn rounds_for(micros: u64, rounds_done: u64, nanos_taken: u64) -> u64 {
    let per_micro = rounds_done as f64 * 1000.0 / nanos_taken.max(1) as f64;
    (micros as f64 * per_micro).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_deterministic_and_depends_on_body_and_rounds() {
        assert_eq!(work(b"page", 1000), work(b"page", 1000));
        assert_ne!(work(b"page", 1000), work(b"other", 1000));
        assert_ne!(work(b"page", 1000), work(b"page", 1001));
    }

    #[test]
    fn rounds_scale_with_the_measurement() {
        // 1,000,000 rounds in 2 ms: 500 rounds per µs.
        assert_eq!(rounds_for(100, 1_000_000, 2_000_000), 50_000);
        assert_eq!(rounds_for(0, 1_000_000, 2_000_000), 0);
    }
}
