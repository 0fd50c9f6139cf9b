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
    /// `bytes` more of the file `name` (`size` bytes in all) were transferred; engines that move
    /// several files at once call it beside [`TransferProgress::add`], for per-file displays.
    fn add_to_file(&self, name: &str, size: u64, bytes: u64) {
        let _ = (name, size, bytes);
    }
    /// The file `name` is finished (or failed): per-file displays drop it.
    fn file_done(&self, name: &str) {
        let _ = name;
    }
}

/// Discards progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl TransferProgress for NoProgress {
    fn add(&self, _bytes: u64) {}
}

/// A shared bandwidth cap: transfers call [`RateLimit::consume`] after moving bytes and are
/// delayed so the total stays under the rate.
#[derive(Debug)]
pub struct RateLimit {
    bytes_per_second: u64,
    state: tokio::sync::Mutex<(std::time::Instant, u64)>,
}

impl RateLimit {
    /// A cap of `bytes_per_second` (at least 1).
    pub fn new(bytes_per_second: u64) -> Self {
        Self {
            bytes_per_second: bytes_per_second.max(1),
            state: tokio::sync::Mutex::new((std::time::Instant::now(), 0)),
        }
    }

    /// Accounts for `bytes` and waits as long as needed to keep under the rate.
    pub async fn consume(&self, bytes: u64) {
        let wait = {
            let mut state = self.state.lock().await;
            state.1 += bytes;
            let due = std::time::Duration::from_secs_f64(state.1 as f64 / self.bytes_per_second as f64);
            due.saturating_sub(state.0.elapsed())
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}
