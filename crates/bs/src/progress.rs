//! Progress bars for transfers: one per file in flight (`name  done / size [===>  ] pct ETA`, as
//! Illumina's `bs` draws them) above a total, drawn only on a terminal.

use std::collections::HashMap;
use std::sync::Mutex;

use ferry_client::progress::TransferProgress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress bars should be drawn.
pub fn show_bars(quiet: bool, no_bars: bool) -> bool {
    use std::io::IsTerminal;
    !quiet && !no_bars && std::io::stderr().is_terminal()
}

/// Progress of one file, counted on its own bar and on the total.
pub struct FileBars {
    /// The file's bar.
    pub file: ProgressBar,
    total: ProgressBar,
}

impl TransferProgress for FileBars {
    fn add(&self, bytes: u64) {
        self.file.inc(bytes);
        self.total.inc(bytes);
    }
    fn rewind(&self, bytes: u64) {
        for bar in [&self.file, &self.total] {
            bar.set_position(bar.position().saturating_sub(bytes));
        }
    }
}

/// The bars of a transfer. As a [`TransferProgress`] itself, it counts on the total and keeps a
/// bar per file named by [`TransferProgress::add_to_file`] (the upload engine reports that way).
pub struct Bars {
    multi: MultiProgress,
    /// The total's bar.
    pub total: ProgressBar,
    file_style: ProgressStyle,
    files: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    /// Bars for `total_bytes` in all; drawn on standard error when `shown`.
    pub fn new(total_bytes: u64, shown: bool) -> Bars {
        let target = if shown {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let total = multi.add(ProgressBar::new(total_bytes));
        total.set_style(
            ProgressStyle::with_template(
                "total [{elapsed_precise}] [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        let file_style = ProgressStyle::with_template(
            "{msg:40!} {bytes:>11} / {total_bytes:<11} [{bar:30}] {percent:>3}% ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        Bars {
            multi,
            total,
            file_style,
            files: Mutex::new(HashMap::new()),
        }
    }

    fn file_bar(&self, name: &str, size: u64) -> ProgressBar {
        let bar = self.multi.insert_before(&self.total, ProgressBar::new(size));
        bar.set_style(self.file_style.clone());
        bar.set_message(name.to_string());
        bar
    }

    /// A bar for one file, shown while it transfers (finish it with `finish_and_clear`).
    pub fn file(&self, name: &str, size: u64) -> FileBars {
        FileBars {
            file: self.file_bar(name, size),
            total: self.total.clone(),
        }
    }
}

impl TransferProgress for Bars {
    fn add(&self, bytes: u64) {
        self.total.inc(bytes);
    }
    fn rewind(&self, bytes: u64) {
        self.total.set_position(self.total.position().saturating_sub(bytes));
    }
    fn add_to_file(&self, name: &str, size: u64, bytes: u64) {
        if let Ok(mut files) = self.files.lock() {
            files
                .entry(name.to_string())
                .or_insert_with(|| self.file_bar(name, size))
                .inc(bytes);
        }
    }
    fn file_done(&self, name: &str) {
        let bar = self.files.lock().ok().and_then(|mut files| files.remove(name));
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    }
}
