//! A file stream's durable progress: the byte offset in its checkpoint
//! (`checkpoints.json`) and the next producer sequence.

use std::sync::Arc;

use super::SourceCtx;
use crate::error::Error;
use crate::stream::Progress;

pub struct FileProgress {
    pub ctx: Arc<SourceCtx>,
    /// The checkpoint id.
    pub id: u64,
}

impl Progress for FileProgress {
    /// The byte offset just past the last acknowledged line.
    type Position = u64;

    fn acknowledged(&self, end: &u64, next_sequence: i32) {
        self.ctx.checkpoints.update(self.id, |c| {
            c.offset = *end;
            c.sequence = next_sequence;
        });
    }

    async fn skip_refused(&self, end: &u64, producer: (i64, i16)) -> Result<(), Error> {
        self.ctx.checkpoints.update(self.id, |c| {
            c.offset = *end;
            c.producer_id = producer.0;
            c.epoch = producer.1;
            c.sequence = 0;
        });
        self.ctx.persist().await
    }
}
