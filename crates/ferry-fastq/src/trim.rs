//! Read trimming, filtering and subsampling of single or paired FASTQ files.
//!
//! # Semantics
//!
//! Each read goes through these steps, in this order ([`trim_record`]):
//!
//! 1. **Quality trimming** of the 3' end (the BWA / cutadapt algorithm), unless
//!    `quality_threshold` is 0. With Phred scores `q[0..len]` (quality character − 33, 0 for
//!    characters below `'!'`) and threshold `t`: start with `s = 0`, `best = 0`, `cut = len`;
//!    for `i` from `len − 1` down to 0: `s += t − q[i]`; if `s < 0` stop; if `s > best` then
//!    `best = s` and `cut = i`. The read keeps its first `cut` bases (and qualities). Because
//!    the comparison is strict, among equal maxima the one reached first (the longest kept read)
//!    wins. Example (threshold 10): qualities `42 40 26 27 8 7 11 4 2 3` give `cut = 4`.
//! 2. **Adapter trimming**, unless the adapter is empty, on the quality-trimmed read: the
//!    leftmost 0-based index `i` (from 0 to `len − 1`) such that either `i + A ≤ len` and
//!    `read[i..i + A]` equals the adapter (length `A`), or `i + A > len`, `len − i ≥ 3`, and
//!    `read[i..]` equals the adapter's first `len − i` bases. Comparisons are exact (no
//!    mismatches or indels) and ASCII case-insensitive. The read is cut to its first `i` bases.
//! 3. **Minimum length**: a read shorter than `min_length` after trimming is dropped. In pairs,
//!    the pair is dropped when either mate is short, so the outputs stay in sync.
//! 4. **Subsampling** ([`ToolkitOptions::subsample`]): with `Some(n)`, of the `N` pairs that pass
//!    step 3, exactly `min(n, N)` are kept (`Some(0)` keeps none), chosen uniformly by selection
//!    sampling (Knuth's Algorithm S), in input order. The random numbers come from splitmix64
//!    seeded with [`ToolkitOptions::seed`] (state `+= 0x9E3779B97F4A7C15`, then
//!    `z = (z ^ z >> 30) × 0xBF58476D1CE4E5B9`, `z = (z ^ z >> 27) × 0x94D049BB133111EB`,
//!    output `z ^ z >> 31`, all wrapping). For each passing pair in order, with `R` the passing
//!    pairs not yet considered (this one included) and `k` the pairs still to keep, the next
//!    output `x` gives `r = (x × R) >> 64` (128-bit product, so `0 ≤ r < R`), and the pair is
//!    kept when `r < k`. Counting `N` needs a first pass over the input; both passes stream.
//!
//! Headers and qualities are preserved (qualities cut along with their bases). Outputs are
//! gzip-compressed with [`GzRecordWriter`], written to a temporary file next to the output
//! (`.<name>.<pid>-<n>.tmp`), flushed to disk, then renamed onto the output path, so nothing
//! partial ever appears under the output name; on error the temporary files are removed.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::records::{FastqRecord, GzRecordWriter, RecordReader};
use crate::stats::{FastqError, PHRED_OFFSET};

/// What to trim and which reads to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrimOptions {
    /// Quality threshold of 3' quality trimming (Phred); 0 disables it.
    pub quality_threshold: u8,
    /// 3' adapter to remove (with everything after it); empty disables adapter trimming.
    pub adapter: Vec<u8>,
    /// Reads shorter than this after trimming are dropped.
    pub min_length: usize,
}

/// What trimming did to one read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrimOutcome {
    /// Bases removed by quality trimming.
    pub quality_trimmed: usize,
    /// Bases removed by adapter trimming (the adapter and everything after it).
    pub adapter_trimmed: usize,
    /// Bases kept.
    pub kept: usize,
}

/// Where 3' quality trimming cuts: the number of leading bases kept (see the module docs).
/// `threshold` 0 keeps everything.
pub fn quality_cut(quality: &[u8], threshold: u8) -> usize {
    if threshold == 0 {
        return quality.len();
    }
    let threshold = i64::from(threshold);
    let mut sum = 0i64;
    let mut best = 0i64;
    let mut cut = quality.len();
    for (index, &character) in quality.iter().enumerate().rev() {
        sum += threshold - i64::from(character.saturating_sub(PHRED_OFFSET));
        if sum < 0 {
            break;
        }
        if sum > best {
            best = sum;
            cut = index;
        }
    }
    cut
}

/// Where the adapter (or, at the 3' end, a prefix of it of at least 3 bases) starts, if
/// anywhere (see the module docs). An empty adapter is never found.
pub fn adapter_start(sequence: &[u8], adapter: &[u8]) -> Option<usize> {
    if adapter.is_empty() {
        return None;
    }
    (0..sequence.len()).find(|&start| {
        let rest = &sequence[start..];
        if rest.len() >= adapter.len() {
            rest[..adapter.len()].eq_ignore_ascii_case(adapter)
        } else {
            rest.len() >= 3 && rest.eq_ignore_ascii_case(&adapter[..rest.len()])
        }
    })
}

/// What trimming did to one record: the kept length.
///
/// Applies steps 1 and 2 of the module docs (quality, then adapter trimming) to `record` in
/// place; the minimum length is left to the caller (see [`TrimOptions::min_length`]).
/// [`trim_record_outcome`] also tells how many bases each step removed.
pub fn trim_record(record: &mut FastqRecord, options: &TrimOptions) {
    trim_record_outcome(record, options);
}

/// Like [`trim_record`], returning what each step removed and the kept length.
///
/// Records are expected to have as many quality characters as bases (as
/// [`RecordReader`] guarantees); otherwise quality trimming works on the quality line and both
/// lines are cut at the same index.
pub fn trim_record_outcome(record: &mut FastqRecord, options: &TrimOptions) -> TrimOutcome {
    let before = record.sequence.len();
    let cut = quality_cut(&record.quality, options.quality_threshold).min(before);
    record.sequence.truncate(cut);
    record.quality.truncate(cut);
    let after_quality = record.sequence.len();
    if let Some(start) = adapter_start(&record.sequence, &options.adapter) {
        record.sequence.truncate(start);
        record.quality.truncate(start);
    }
    let kept = record.sequence.len();
    TrimOutcome {
        quality_trimmed: before - after_quality,
        adapter_trimmed: after_quality - kept,
        kept,
    }
}

/// Options of [`run_toolkit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolkitOptions {
    /// Trimming and minimum length.
    pub trim: TrimOptions,
    /// keep at most this many reads (pairs); None = all
    pub subsample: Option<u64>,
    /// Seed of the subsampling random numbers.
    pub seed: u64,
}

/// What [`run_toolkit`] did. Counts are in reads, a pair counting once, except the bases, which
/// count every read (both mates).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolkitSummary {
    /// Reads (pairs) read.
    pub reads_in: u64,
    /// Reads (pairs) long enough after trimming.
    pub reads_passing: u64,
    /// Reads (pairs) written (after subsampling).
    pub reads_out: u64,
    /// Bases read (all reads).
    pub bases_in: u64,
    /// Bases written (all reads).
    pub bases_out: u64,
    /// Reads (pairs) dropped for being shorter than the minimum length (either mate).
    pub too_short: u64,
    /// Reads (pairs) of which adapter trimming removed at least one base (either mate),
    /// counted over all input reads.
    pub adapter_trimmed: u64,
    /// Reads (pairs) of which quality trimming removed at least one base (either mate),
    /// counted over all input reads.
    pub quality_trimmed: u64,
}

/// One mate of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mate {
    /// Read 1.
    R1,
    /// Read 2.
    R2,
}

impl std::fmt::Display for Mate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mate::R1 => "R1",
            Mate::R2 => "R2",
        })
    }
}

/// Why [`run_toolkit`] failed. Messages name the files.
#[derive(Debug, thiserror::Error)]
pub enum ToolkitError {
    /// An input is not valid FASTQ(.gz), or could not be read.
    #[error("{}: {source}", path.display())]
    Fastq {
        /// The input file.
        path: PathBuf,
        /// What is wrong (with line and record when it applies).
        source: FastqError,
    },
    /// An output could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// R1 and R2 hold different numbers of records.
    #[error(
        "{} (R1) and {} (R2) hold different numbers of records: {ended} ends after {records} records but its mate has more",
        r1.display(),
        r2.display()
    )]
    PairMismatch {
        /// The R1 input.
        r1: PathBuf,
        /// The R2 input.
        r2: PathBuf,
        /// The mate whose file ended first.
        ended: Mate,
        /// Records in the file that ended first.
        records: u64,
    },
    /// The arguments do not fit together (e.g. an R2 input without an R2 output).
    #[error("invalid arguments: {0}")]
    Arguments(String),
}

/// How often `progress` is called (in reads/pairs).
const PROGRESS_EVERY: u64 = 10_000;

/// Trims and filters R1 (and its mate R2 when given) into gzip outputs, keeping pairs in sync.
///
/// See the module docs for the exact semantics. `r2_in` and `r2_out` must be both given or both
/// absent. `progress` is called every 10 000 reads (pairs) and at the end of each pass with the
/// number processed so far in this call; with subsampling the input is read twice and the count
/// keeps rising through the second pass (up to twice the number of reads). Inputs may be plain
/// or gzip FASTQ.
pub fn run_toolkit(
    r1_in: &Path,
    r2_in: Option<&Path>,
    r1_out: &Path,
    r2_out: Option<&Path>,
    options: &ToolkitOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<ToolkitSummary, ToolkitError> {
    if r2_in.is_some() != r2_out.is_some() {
        return Err(ToolkitError::Arguments(
            "an R2 input needs an R2 output and the other way round".to_string(),
        ));
    }
    let mut processed = 0u64;
    let mut selector = match options.subsample {
        None => None,
        Some(wanted) => {
            let counted = pass(r1_in, r2_in, &options.trim, None, None, &mut processed, progress)?;
            Some(Selector::new(
                wanted.min(counted.reads_passing),
                counted.reads_passing,
                options.seed,
            ))
        }
    };
    let mut out1 = Output::create(r1_out)?;
    let mut out2 = r2_out.map(Output::create).transpose()?;
    let summary = pass(
        r1_in,
        r2_in,
        &options.trim,
        Some((&mut out1, out2.as_mut())),
        selector.as_mut(),
        &mut processed,
        progress,
    )?;
    out1.flush()?;
    if let Some(out2) = &mut out2 {
        out2.flush()?;
    }
    out1.commit()?;
    if let Some(out2) = out2 {
        out2.commit()?;
    }
    Ok(summary)
}

/// One pass over the input: trims, filters, and, with `outputs`, writes the selected pairs.
fn pass(
    r1_in: &Path,
    r2_in: Option<&Path>,
    trim: &TrimOptions,
    mut outputs: Option<(&mut Output, Option<&mut Output>)>,
    mut selector: Option<&mut Selector>,
    processed: &mut u64,
    progress: &mut dyn FnMut(u64),
) -> Result<ToolkitSummary, ToolkitError> {
    let mut reader = PairReader::open(r1_in, r2_in)?;
    let mut summary = ToolkitSummary::default();
    let (mut read1, mut read2) = (FastqRecord::default(), FastqRecord::default());
    while reader.next(&mut read1, &mut read2)? {
        let paired = reader.r2.is_some();
        summary.reads_in += 1;
        summary.bases_in += (read1.len() + if paired { read2.len() } else { 0 }) as u64;
        let outcome1 = trim_record_outcome(&mut read1, trim);
        let outcome2 = if paired {
            trim_record_outcome(&mut read2, trim)
        } else {
            TrimOutcome::default()
        };
        summary.quality_trimmed += u64::from(outcome1.quality_trimmed > 0 || outcome2.quality_trimmed > 0);
        summary.adapter_trimmed += u64::from(outcome1.adapter_trimmed > 0 || outcome2.adapter_trimmed > 0);
        let passing = read1.len() >= trim.min_length && (!paired || read2.len() >= trim.min_length);
        if passing {
            summary.reads_passing += 1;
            let keep = selector.as_mut().is_none_or(|selector| selector.select());
            if let (true, Some((out1, out2))) = (keep, outputs.as_mut()) {
                out1.write(&read1)?;
                if let Some(out2) = out2 {
                    out2.write(&read2)?;
                }
                summary.reads_out += 1;
                summary.bases_out += (read1.len() + if paired { read2.len() } else { 0 }) as u64;
            }
        } else {
            summary.too_short += 1;
        }
        *processed += 1;
        if processed.is_multiple_of(PROGRESS_EVERY) {
            progress(*processed);
        }
    }
    progress(*processed);
    Ok(summary)
}

/// Reads R1 and, when given, R2 in step.
struct PairReader {
    r1: RecordReader,
    r2: Option<RecordReader>,
}

impl PairReader {
    fn open(r1: &Path, r2: Option<&Path>) -> Result<PairReader, ToolkitError> {
        Ok(PairReader {
            r1: RecordReader::open(r1).map_err(|source| fastq_error(r1, source))?,
            r2: r2
                .map(|path| RecordReader::open(path).map_err(|source| fastq_error(path, source)))
                .transpose()?,
        })
    }

    /// The next record (pair); `read2` is untouched without R2.
    fn next(&mut self, read1: &mut FastqRecord, read2: &mut FastqRecord) -> Result<bool, ToolkitError> {
        let more1 = self
            .r1
            .next_record(read1)
            .map_err(|source| fastq_error(self.r1.path(), source))?;
        let Some(r2) = &mut self.r2 else {
            return Ok(more1);
        };
        let more2 = r2.next_record(read2).map_err(|source| fastq_error(r2.path(), source))?;
        if more1 == more2 {
            return Ok(more1);
        }
        let (ended, records) = if more1 {
            (Mate::R2, r2.records_read())
        } else {
            (Mate::R1, self.r1.records_read())
        };
        Err(ToolkitError::PairMismatch {
            r1: self.r1.path().to_path_buf(),
            r2: r2.path().to_path_buf(),
            ended,
            records,
        })
    }
}

fn fastq_error(path: &Path, source: FastqError) -> ToolkitError {
    ToolkitError::Fastq {
        path: path.to_path_buf(),
        source,
    }
}

/// splitmix64 (see the module docs).
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0): the high half of the 128-bit product.
    fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(bound)) >> 64) as u64
    }
}

/// Knuth's Algorithm S: keeps exactly `wanted` of `total` items, uniformly, in order.
#[derive(Debug, Clone)]
struct Selector {
    random: SplitMix64,
    /// Items still to keep.
    wanted: u64,
    /// Items not yet considered.
    remaining: u64,
}

impl Selector {
    fn new(wanted: u64, total: u64, seed: u64) -> Selector {
        Selector {
            random: SplitMix64(seed),
            wanted: wanted.min(total),
            remaining: total,
        }
    }

    /// Whether to keep the next item.
    fn select(&mut self) -> bool {
        if self.remaining == 0 {
            // More items than counted (the input changed between passes): keep no more.
            return false;
        }
        let draw = self.random.below(self.remaining);
        self.remaining -= 1;
        if draw < self.wanted {
            self.wanted -= 1;
            true
        } else {
            false
        }
    }
}

/// Distinguishes the temporary files of concurrent runs in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An output written to a sibling temporary file and renamed into place by
/// [`Output::commit`]; dropped without committing, the temporary file is removed.
struct Output {
    path: PathBuf,
    temp: PathBuf,
    writer: Option<GzRecordWriter<BufWriter<File>>>,
    file: Option<File>,
}

impl Output {
    fn create(path: &Path) -> Result<Output, ToolkitError> {
        let io_error = |source| ToolkitError::Io {
            path: path.to_path_buf(),
            source,
        };
        let name = path.file_name().ok_or_else(|| {
            io_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the output path has no file name",
            ))
        })?;
        let temp = path.with_file_name(format!(
            ".{}.{}-{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(io_error)?;
        Ok(Output {
            path: path.to_path_buf(),
            temp,
            writer: Some(GzRecordWriter::new(BufWriter::with_capacity(256 * 1024, file))),
            file: None,
        })
    }

    fn io_error(&self, source: std::io::Error) -> ToolkitError {
        ToolkitError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn write(&mut self, record: &FastqRecord) -> Result<(), ToolkitError> {
        let result = match &mut self.writer {
            Some(writer) => writer.write(record),
            None => Err(std::io::Error::other("the output is already finished")),
        };
        result.map_err(|source| self.io_error(source))
    }

    /// Ends the gzip stream and flushes the temporary file to disk.
    fn flush(&mut self) -> Result<(), ToolkitError> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let result = writer
            .finish()
            .and_then(|buffered| buffered.into_inner().map_err(|error| error.into_error()))
            .and_then(|file| file.sync_all().map(|()| file));
        let file = result.map_err(|source| self.io_error(source))?;
        self.file = Some(file);
        Ok(())
    }

    /// Renames the flushed temporary file onto the output path.
    fn commit(mut self) -> Result<(), ToolkitError> {
        self.flush()?;
        self.file = None;
        std::fs::rename(&self.temp, &self.path).map_err(|source| self.io_error(source))?;
        // The rename is durable once the directory is synced (best effort: not every platform
        // or file system allows opening a directory).
        let directory = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if let Ok(directory) = File::open(directory) {
            let _ = directory.sync_all();
        }
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            self.writer = None;
            self.file = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phred(scores: &[u8]) -> Vec<u8> {
        scores.iter().map(|q| q + 33).collect()
    }

    #[test]
    fn bwa_quality_example() {
        let quality = phred(&[42, 40, 26, 27, 8, 7, 11, 4, 2, 3]);
        assert_eq!(quality_cut(&quality, 10), 4);
        assert_eq!(quality_cut(&quality, 0), 10);
        assert_eq!(quality_cut(&phred(&[30, 30, 30]), 20), 3);
        assert_eq!(quality_cut(&phred(&[5, 5, 5]), 20), 0);
        assert_eq!(quality_cut(b"", 20), 0);
        // s = 0 at the last base: no strict improvement, nothing cut.
        assert_eq!(quality_cut(&phred(&[30, 20]), 20), 2);
    }

    #[test]
    fn selector_keeps_exactly_the_wanted_number() {
        for (wanted, total) in [(0, 10), (3, 10), (10, 10), (7, 7), (1, 1), (0, 0), (5, 1000)] {
            let mut selector = Selector::new(wanted, total, 42);
            let kept = (0..total).filter(|_| selector.select()).count() as u64;
            assert_eq!(kept, wanted);
            assert!(!selector.select());
        }
        // splitmix64 reference values for seed 0.
        let mut random = SplitMix64(0);
        assert_eq!(random.next(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(random.next(), 0x6E78_9E6A_A1B9_65F4);
    }
}
