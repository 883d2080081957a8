//! Any bytes, cut into pieces anywhere, give the response reader the same answer as the
//! bytes fed at once — and never a panic.
#![no_main]

use c10k_core::{Limits, Progress, Response, ResponseReader, FetchError};
use libfuzzer_sys::fuzz_target;

fn read(pieces: &[&[u8]]) -> Result<Response, FetchError> {
    let mut reader = ResponseReader::new(Limits { max_head: 4096, max_body: 65536 });
    for piece in pieces {
        if let Progress::Done(response) = reader.feed(piece)? {
            return Ok(response);
        }
    }
    reader.eof()
}

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the cut points of the rest.
    let Some((&seed, bytes)) = data.split_first() else { return };
    let step = usize::from(seed % 17) + 1;
    let pieces: Vec<&[u8]> = bytes.chunks(step).collect();
    assert_eq!(read(&[bytes]), read(&pieces));
});
