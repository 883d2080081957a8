//! Link extraction never panics, whatever the bytes, and the scanner answers what
//! `html5gum`'s full tokenizer answers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let links = c10k_core::extract_links(data);
    assert_eq!(links, c10k_core::extract_links_html5gum(data));
});
