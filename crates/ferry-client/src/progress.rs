//! Progress reporting for transfers.

/// Receives progress of transfers. Implementations must be cheap: they are called for every
/// chunk of bytes moved.
pub trait TransferProgress: Send + Sync {
    /// `bytes` more were transferred (downloaded or uploaded).
    fn add(&self, bytes: u64);
    /// `bytes` counted earlier are being transferred again (a failed range or part is retried,
    /// or a partial file is discarded).
    fn rewind(&self, bytes: u64) {
        let _ = bytes;
    }
}

/// Discards progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl TransferProgress for NoProgress {
    fn add(&self, _bytes: u64) {}
}
