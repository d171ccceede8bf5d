//! logship edge agent.
//!
//! Not built yet: file tailing, metrics sources, batching and sinks land with
//! their own issues (see the README's roadmap). The crate exists now so the
//! workspace layout matches DESIGN.md from the first commit.
