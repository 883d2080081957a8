//! Any bytes a peer answers a TLS client with, cut into pieces anywhere, give it no response
//! (no plaintext without a handshake) and never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use c10k_core::{Limits, Progress, ResponseReader, Tls, TlsOptions, Url};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| TlsOptions::default().client_config().unwrap());
    // The first byte chooses the cut points of the rest.
    let Some((&seed, bytes)) = data.split_first() else { return };
    let step = usize::from(seed % 17) + 1;
    let mut tls = Tls::new(config, &Url::parse("https://127.0.0.1/").unwrap()).unwrap();
    tls.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    tls.outgoing(&mut Vec::new());
    let mut reader = ResponseReader::new(Limits { max_head: 4096, max_body: 65536 });
    for piece in bytes.chunks(step) {
        match tls.received(piece, &mut reader) {
            Ok(Progress::NeedMore) => {}
            Ok(Progress::Done(response)) => panic!("a response without a handshake: {response:?}"),
            Err(_) => return,
        }
    }
    assert!(tls.eof(&mut reader).is_err());
});
