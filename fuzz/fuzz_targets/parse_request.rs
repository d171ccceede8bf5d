//! One Kafka request frame (without its 4-byte length prefix) through the
//! collector's header checks and `kafka-protocol` decoding. Any input must
//! give `Ok` or a `Refusal`, never a panic, abort or runaway allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = logship_collector::handler::parse(bytes::Bytes::copy_from_slice(data));
});
