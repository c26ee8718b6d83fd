//! Bounded LZO decompression of arbitrary bytes: no panic, never over the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = ccfarm_proto::lzo::decompress(data, 1 << 20) {
        assert!(out.len() <= 1 << 20);
    }
});
