//! Where batches go. `collector`: HTTP POST to a logship collector.
pub mod collector;
