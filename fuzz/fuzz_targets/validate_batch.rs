//! A producer's record set through RecordBatch v2 header and CRC-32C
//! validation. Any input must give `Ok` or a `BatchError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logship_collector::storage::batch;

fuzz_target!(|data: &[u8]| {
    if let Ok(headers) = batch::validate_incoming(data) {
        // Accepted batches must tile the buffer exactly.
        let total: usize = headers.iter().map(|h| h.total_len()).sum();
        assert_eq!(
            total,
            data.len(),
            "accepted batches do not cover the buffer"
        );
    }
});
