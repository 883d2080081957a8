//! Link extraction never panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let links = c10k_core::extract_links(data);
    // Every href is valid UTF-8 by construction (decoded lossily).
    assert!(links.hrefs.iter().all(|h| std::str::from_utf8(h.as_bytes()).is_ok()));
});
