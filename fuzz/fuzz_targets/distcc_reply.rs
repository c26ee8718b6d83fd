//! Arbitrary bytes must never panic the reply decoder of any protocol version.
#![no_main]

use bytes::BytesMut;
use ccfarm_proto::distcc::{Limits, ReplyDecoder, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_decompressed_len: 1 << 20, max_message_len: 4 << 20, ..Limits::default() };
    for version in [Version::V1, Version::V2, Version::V3] {
        let _ = ReplyDecoder::new(version, limits.clone()).decode(&mut BytesMut::from(data));
    }
});
