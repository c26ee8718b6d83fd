//! Arbitrary bytes, fed in arbitrary chunks, must never panic the request decoder,
//! and a request that decodes must re-encode to something that decodes the same.
#![no_main]

use bytes::BytesMut;
use ccfarm_proto::distcc::{Limits, RequestDecoder, pump};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_decompressed_len: 1 << 20, max_message_len: 4 << 20, ..Limits::default() };
    // The first byte picks a chunk size, to exercise incremental decoding.
    let (chunk, data) = match data.split_first() {
        Some((c, rest)) => ((*c as usize % 64) + 1, rest),
        None => return,
    };
    let mut decoder = RequestDecoder::new(limits.clone());
    let mut buf = BytesMut::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        match decoder.decode(&mut buf) {
            Ok(Some(request)) => {
                let again = RequestDecoder::new(limits).decode(&mut BytesMut::from(&request.encode()[..]));
                assert_eq!(again.unwrap().unwrap(), request);
                if let ccfarm_proto::distcc::Payload::Tree { cwd, entries } = &request.payload {
                    let _ = pump::validate_tree(cwd, entries, &pump::system_dirs([b"/usr/include".as_slice()]));
                }
                return;
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
    let _ = decoder.decode_eof(&mut buf);
});
