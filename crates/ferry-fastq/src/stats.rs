//! Single-pass FASTQ statistics.

use serde::{Deserialize, Serialize};

/// Phred+33 offset of FASTQ quality characters.
pub const PHRED_OFFSET: u8 = 33;

/// Statistics of a FASTQ file (or several, see [`FastqStats::merge`]).
///
/// Qualities are Phred+33. `quality_sum` is the sum of the Phred scores of all bases, so
/// [`FastqStats::mean_quality`] is the mean per-base quality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FastqStats {
    /// Number of records.
    pub reads: u64,
    /// Number of bases (sum of sequence lengths).
    pub bases: u64,
    /// Shortest sequence (0 when there are no reads).
    pub min_length: u64,
    /// Longest sequence.
    pub max_length: u64,
    /// Bases that are G or C (either case).
    pub gc_bases: u64,
    /// Bases that are N (either case).
    pub n_bases: u64,
    /// Bases with quality ≥ 20.
    pub q20_bases: u64,
    /// Bases with quality ≥ 30.
    pub q30_bases: u64,
    /// Sum of the Phred scores of all bases.
    pub quality_sum: u64,
}

impl FastqStats {
    /// Mean per-base Phred quality (0 when there are no bases).
    pub fn mean_quality(&self) -> f64 {
        ratio(self.quality_sum, self.bases)
    }

    /// Percentage of bases that are G or C (0 when there are no bases).
    pub fn gc_percent(&self) -> f64 {
        100.0 * ratio(self.gc_bases, self.bases)
    }

    /// Percentage of bases with quality ≥ 20.
    pub fn q20_percent(&self) -> f64 {
        100.0 * ratio(self.q20_bases, self.bases)
    }

    /// Percentage of bases with quality ≥ 30.
    pub fn q30_percent(&self) -> f64 {
        100.0 * ratio(self.q30_bases, self.bases)
    }

    /// Mean read length (0 when there are no reads).
    pub fn mean_length(&self) -> f64 {
        ratio(self.bases, self.reads)
    }

    /// Adds the statistics of another file (e.g. the other lanes of a sample).
    pub fn merge(&mut self, other: &FastqStats) {
        if other.reads == 0 {
            return;
        }
        self.min_length = if self.reads == 0 {
            other.min_length
        } else {
            self.min_length.min(other.min_length)
        };
        self.max_length = self.max_length.max(other.max_length);
        self.reads += other.reads;
        self.bases += other.bases;
        self.gc_bases += other.gc_bases;
        self.n_bases += other.n_bases;
        self.q20_bases += other.q20_bases;
        self.q30_bases += other.q30_bases;
        self.quality_sum += other.quality_sum;
    }

    /// Accounts one record given its sequence and quality lines (equal lengths, without line ends).
    pub(crate) fn add_record(&mut self, sequence: &[u8], quality: &[u8]) {
        let length = sequence.len() as u64;
        self.min_length = if self.reads == 0 {
            length
        } else {
            self.min_length.min(length)
        };
        self.max_length = self.max_length.max(length);
        self.reads += 1;
        self.bases += length;
        let (gc, n) = count_gc_n(sequence);
        self.gc_bases += gc;
        self.n_bases += n;
        let (q20, q30, sum) = count_quality(quality);
        self.q20_bases += q20;
        self.q30_bases += q30;
        self.quality_sum += sum - u64::from(PHRED_OFFSET) * quality.len() as u64;
    }
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Bytes counted with 8-bit (16-bit for sums) accumulators before they are widened: narrow
/// accumulators let the compiler count 16 or 32 bytes per vector instruction.
const NARROW_RUN: usize = 255;

/// Counts G/C and N bases (either case). Written as branch-free comparisons so it vectorises.
pub(crate) fn count_gc_n(sequence: &[u8]) -> (u64, u64) {
    let mut gc = 0u64;
    let mut n = 0u64;
    for run in sequence.chunks(NARROW_RUN) {
        let mut run_gc = 0u8;
        let mut run_n = 0u8;
        for &base in run {
            let upper = base & !0x20;
            run_gc += u8::from(upper == b'G' || upper == b'C');
            run_n += u8::from(upper == b'N');
        }
        gc += u64::from(run_gc);
        n += u64::from(run_n);
    }
    (gc, n)
}

/// Counts bases with Q ≥ 20 and Q ≥ 30 and the raw sum of quality characters.
pub(crate) fn count_quality(quality: &[u8]) -> (u64, u64, u64) {
    let mut q20 = 0u64;
    let mut q30 = 0u64;
    let mut sum = 0u64;
    for run in quality.chunks(NARROW_RUN) {
        let mut run_q20 = 0u8;
        let mut run_q30 = 0u8;
        let mut run_sum = 0u16;
        for &q in run {
            run_q20 += u8::from(q >= PHRED_OFFSET + 20);
            run_q30 += u8::from(q >= PHRED_OFFSET + 30);
            run_sum += u16::from(q);
        }
        q20 += u64::from(run_q20);
        q30 += u64::from(run_q30);
        sum += u64::from(run_sum);
    }
    (q20, q30, sum)
}

/// Longest line accepted (a guard against feeding binary data as FASTQ).
pub const MAX_LINE_LENGTH: usize = 64 * 1024 * 1024;

/// What is wrong with a FASTQ(.gz) stream. Line and record numbers count from 1 in the
/// decompressed text.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FastqError {
    /// The data does not start with the gzip signature.
    #[error("not gzip: the data does not start with the gzip signature (1f 8b); expected a .fastq.gz file")]
    NotGzip,
    /// Zero bytes where gzip was expected.
    #[error("the file is empty (0 bytes), not a gzip file")]
    EmptyGzip,
    /// The gzip stream stopped in the middle of a member.
    #[error("gzip stream ends early: file is truncated (after {offset} compressed bytes)")]
    TruncatedGzip {
        /// Compressed bytes received.
        offset: u64,
    },
    /// The deflate data is invalid.
    #[error("gzip data is corrupt at compressed byte {offset}: {detail}")]
    CorruptGzip {
        /// Compressed byte offset where decoding failed.
        offset: u64,
        /// Decoder message.
        detail: String,
    },
    /// A member's CRC32 or length trailer does not match its content.
    #[error("gzip member {member} fails its CRC check: the data is corrupt")]
    GzipChecksum {
        /// 1-based member number.
        member: u64,
    },
    /// Bytes after a complete gzip member that are not another member.
    #[error("data after gzip member {member} (at compressed byte {offset}) is not gzip")]
    TrailingGarbage {
        /// Members decoded before the garbage.
        member: u64,
        /// Compressed byte offset of the garbage.
        offset: u64,
    },
    /// A record's first line does not start with '@'.
    #[error("line {line} (record {record}): a record header must start with '@', found {found:?}")]
    BadHeader {
        /// Line number.
        line: u64,
        /// Record number.
        record: u64,
        /// The start of the offending line.
        found: String,
    },
    /// The third line of a record does not start with '+'.
    #[error("line {line} (record {record}): expected the '+' separator line, found {found:?}")]
    MissingPlus {
        /// Line number.
        line: u64,
        /// Record number.
        record: u64,
        /// The start of the offending line.
        found: String,
    },
    /// Sequence and quality lines differ in length.
    #[error("line {line} (record {record}): {quality} quality values for {sequence} bases")]
    LengthMismatch {
        /// Line number of the quality line.
        line: u64,
        /// Record number.
        record: u64,
        /// Sequence length.
        sequence: u64,
        /// Quality length.
        quality: u64,
    },
    /// A byte that is not a base letter in a sequence line.
    #[error("line {line} (record {record}): invalid character {found:?} in the sequence at column {column}")]
    InvalidSequence {
        /// Line number.
        line: u64,
        /// Record number.
        record: u64,
        /// 1-based column.
        column: u64,
        /// The offending character (escaped).
        found: String,
    },
    /// A quality character outside Phred+33 ('!'..='~').
    #[error(
        "line {line} (record {record}): invalid quality character {found:?} at column {column} (Phred+33 allows '!' to '~')"
    )]
    InvalidQuality {
        /// Line number.
        line: u64,
        /// Record number.
        record: u64,
        /// 1-based column.
        column: u64,
        /// The offending character (escaped).
        found: String,
    },
    /// An empty line followed by more records.
    #[error("line {line}: blank line between records")]
    BlankLine {
        /// Line number of the blank line.
        line: u64,
    },
    /// A line longer than [`MAX_LINE_LENGTH`].
    #[error("line {line} is longer than {MAX_LINE_LENGTH} bytes; this does not look like FASTQ")]
    LineTooLong {
        /// Line number.
        line: u64,
    },
    /// The data ends inside a record.
    #[error("the last record ({record}) is incomplete: the data ends after line {line}")]
    TruncatedRecord {
        /// Record number.
        record: u64,
        /// Last line present.
        line: u64,
    },
    /// Reading the input failed.
    #[error("{0}")]
    Io(std::sync::Arc<std::io::Error>),
}

impl From<std::io::Error> for FastqError {
    fn from(error: std::io::Error) -> Self {
        FastqError::Io(std::sync::Arc::new(error))
    }
}

impl FastqError {
    /// True for errors in the gzip layer (as opposed to FASTQ structure or I/O).
    pub fn is_gzip_error(&self) -> bool {
        matches!(
            self,
            FastqError::NotGzip
                | FastqError::EmptyGzip
                | FastqError::TruncatedGzip { .. }
                | FastqError::CorruptGzip { .. }
                | FastqError::GzipChecksum { .. }
                | FastqError::TrailingGarbage { .. }
        )
    }

    /// The decompressed line the error refers to, if any.
    pub fn line(&self) -> Option<u64> {
        match self {
            FastqError::BadHeader { line, .. }
            | FastqError::MissingPlus { line, .. }
            | FastqError::LengthMismatch { line, .. }
            | FastqError::InvalidSequence { line, .. }
            | FastqError::InvalidQuality { line, .. }
            | FastqError::BlankLine { line }
            | FastqError::LineTooLong { line }
            | FastqError::TruncatedRecord { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The record the error refers to, if any.
    pub fn record(&self) -> Option<u64> {
        match self {
            FastqError::BadHeader { record, .. }
            | FastqError::MissingPlus { record, .. }
            | FastqError::LengthMismatch { record, .. }
            | FastqError::InvalidSequence { record, .. }
            | FastqError::InvalidQuality { record, .. }
            | FastqError::TruncatedRecord { record, .. } => Some(*record),
            _ => None,
        }
    }
}

fn preview(line: &[u8]) -> String {
    let cut = &line[..line.len().min(40)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if line.len() > cut.len() {
        text.push('…');
    }
    text
}

fn escaped(byte: u8) -> String {
    std::ascii::escape_default(byte).to_string()
}

/// Receives each record header as it is parsed (used by validation; `()` ignores them), and,
/// when [`RecordSink::wants_records`] says so, each complete record.
pub trait RecordSink {
    /// `header` is the header line without the leading '@' and line end; `record` and `line`
    /// count from 1.
    fn header(&mut self, record: u64, line: u64, header: &[u8]);

    /// Whether the parser should keep each record's lines and hand the whole record to
    /// [`RecordSink::record`]. Asked once, when the parser is created. Default `false` (no
    /// copying).
    fn wants_records(&self) -> bool {
        false
    }

    /// A complete, valid record (only called when [`RecordSink::wants_records`] is true), after
    /// [`RecordSink::header`] for the same record. `header` is without the leading '@'; no
    /// argument holds a line end; `sequence` and `quality` have equal lengths. `record` counts
    /// from 1.
    fn record(&mut self, record: u64, header: &[u8], sequence: &[u8], quality: &[u8]) {
        let _ = (record, header, sequence, quality);
    }
}

impl RecordSink for () {
    #[inline]
    fn header(&mut self, _record: u64, _line: u64, _header: &[u8]) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Header,
    Sequence,
    Plus,
    Quality,
}

/// Push parser for plain FASTQ: feed bytes in chunks of any size with [`FastqParser::push`] (or
/// through `io::Write`), then call [`FastqParser::finish`]. Records may span chunks; CRLF line
/// ends are accepted; trailing blank lines are ignored. The first error is sticky.
pub struct FastqParser<S: RecordSink = ()> {
    stats: FastqStats,
    sink: S,
    expect: Expect,
    /// Lines completed so far.
    line: u64,
    /// Partial line carried over from the previous chunk.
    carry: Vec<u8>,
    /// The current record's sequence: length, G+C, N.
    sequence: (u64, u64, u64),
    /// A blank line seen while expecting a header (fine only at the end).
    blank_line: Option<u64>,
    failed: Option<FastqError>,
    /// Whether the sink wants whole records (then `record_header` and `record_sequence` hold
    /// the current record's lines).
    keep_records: bool,
    record_header: Vec<u8>,
    record_sequence: Vec<u8>,
}

impl FastqParser<()> {
    /// A parser that only computes statistics.
    pub fn new() -> FastqParser<()> {
        FastqParser::with_sink(())
    }
}

impl Default for FastqParser<()> {
    fn default() -> Self {
        FastqParser::new()
    }
}

impl<S: RecordSink> FastqParser<S> {
    /// A parser that also hands every header to `sink`.
    pub fn with_sink(sink: S) -> FastqParser<S> {
        FastqParser {
            stats: FastqStats::default(),
            keep_records: sink.wants_records(),
            record_header: Vec::new(),
            record_sequence: Vec::new(),
            sink,
            expect: Expect::Header,
            line: 0,
            carry: Vec::new(),
            sequence: (0, 0, 0),
            blank_line: None,
            failed: None,
        }
    }

    /// Statistics of the complete records so far.
    pub fn stats(&self) -> &FastqStats {
        &self.stats
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink, mutably (e.g. to take the records it collected).
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Feeds the next bytes.
    pub fn push(&mut self, data: &[u8]) -> Result<(), FastqError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.push_inner(data);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    fn push_inner(&mut self, mut data: &[u8]) -> Result<(), FastqError> {
        if !self.carry.is_empty() {
            match memchr::memchr(b'\n', data) {
                None => {
                    self.carry.extend_from_slice(data);
                    return self.check_carry();
                }
                Some(end) => {
                    let mut line = std::mem::take(&mut self.carry);
                    line.extend_from_slice(&data[..end]);
                    let result = self.on_line(&line);
                    line.clear();
                    self.carry = line;
                    result?;
                    data = &data[end + 1..];
                }
            }
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', data) {
            self.on_line(&data[start..end])?;
            start = end + 1;
        }
        self.carry.extend_from_slice(&data[start..]);
        self.check_carry()
    }

    fn check_carry(&self) -> Result<(), FastqError> {
        if self.carry.len() > MAX_LINE_LENGTH {
            return Err(FastqError::LineTooLong { line: self.line + 1 });
        }
        Ok(())
    }

    /// Ends the input: checks that the last record is complete and returns the statistics.
    pub fn finish(self) -> Result<FastqStats, FastqError> {
        self.finish_with_sink().map(|(stats, _)| stats)
    }

    /// Like [`FastqParser::finish`], also returning the sink.
    pub fn finish_with_sink(self) -> Result<(FastqStats, S), FastqError> {
        let (result, sink) = self.finish_keeping_sink();
        result.map(|stats| (stats, sink))
    }

    /// Like [`FastqParser::finish`]; the sink comes back whether or not the input was valid.
    pub fn finish_keeping_sink(mut self) -> (Result<FastqStats, FastqError>, S) {
        let result = self.check_end();
        (result.map(|()| self.stats), self.sink)
    }

    /// Ends the input like [`FastqParser::finish`] but keeps the parser (and its sink).
    pub(crate) fn end(&mut self) -> Result<(), FastqError> {
        self.check_end()
    }

    fn check_end(&mut self) -> Result<(), FastqError> {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        if !self.carry.is_empty() {
            let line = std::mem::take(&mut self.carry);
            self.on_line(&line)?;
        }
        if self.expect != Expect::Header {
            return Err(FastqError::TruncatedRecord {
                record: self.stats.reads + 1,
                line: self.line,
            });
        }
        Ok(())
    }

    #[inline]
    fn on_line(&mut self, line: &[u8]) -> Result<(), FastqError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.line += 1;
        let record = self.stats.reads + 1;
        match self.expect {
            Expect::Header => {
                if line.is_empty() {
                    self.blank_line.get_or_insert(self.line);
                    return Ok(());
                }
                if let Some(blank) = self.blank_line {
                    return Err(FastqError::BlankLine { line: blank });
                }
                match line.split_first() {
                    Some((b'@', header)) => {
                        self.sink.header(record, self.line, header);
                        if self.keep_records {
                            self.record_header.clear();
                            self.record_header.extend_from_slice(header);
                        }
                    }
                    _ => {
                        return Err(FastqError::BadHeader {
                            line: self.line,
                            record,
                            found: preview(line),
                        });
                    }
                }
                self.expect = Expect::Sequence;
            }
            Expect::Sequence => {
                let (gc, n, invalid) = scan_sequence(line);
                if invalid {
                    let column = line.iter().position(|&b| !is_base(b)).unwrap_or(0);
                    return Err(FastqError::InvalidSequence {
                        line: self.line,
                        record,
                        column: column as u64 + 1,
                        found: escaped(line[column]),
                    });
                }
                self.sequence = (line.len() as u64, gc, n);
                if self.keep_records {
                    self.record_sequence.clear();
                    self.record_sequence.extend_from_slice(line);
                }
                self.expect = Expect::Plus;
            }
            Expect::Plus => {
                if line.first() != Some(&b'+') {
                    return Err(FastqError::MissingPlus {
                        line: self.line,
                        record,
                        found: preview(line),
                    });
                }
                self.expect = Expect::Quality;
            }
            Expect::Quality => {
                let (length, gc, n) = self.sequence;
                if line.len() as u64 != length {
                    return Err(FastqError::LengthMismatch {
                        line: self.line,
                        record,
                        sequence: length,
                        quality: line.len() as u64,
                    });
                }
                let (q20, q30, sum, invalid) = scan_quality(line);
                if invalid {
                    let column = line.iter().position(|&q| !(b'!'..=b'~').contains(&q)).unwrap_or(0);
                    return Err(FastqError::InvalidQuality {
                        line: self.line,
                        record,
                        column: column as u64 + 1,
                        found: escaped(line[column]),
                    });
                }
                let stats = &mut self.stats;
                stats.min_length = if stats.reads == 0 {
                    length
                } else {
                    stats.min_length.min(length)
                };
                stats.max_length = stats.max_length.max(length);
                stats.reads += 1;
                stats.bases += length;
                stats.gc_bases += gc;
                stats.n_bases += n;
                stats.q20_bases += q20;
                stats.q30_bases += q30;
                stats.quality_sum += sum - u64::from(PHRED_OFFSET) * length;
                if self.keep_records {
                    self.sink
                        .record(record, &self.record_header, &self.record_sequence, line);
                }
                self.expect = Expect::Header;
            }
        }
        Ok(())
    }
}

impl<S: RecordSink> std::io::Write for FastqParser<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.push(buf)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Letters (IUPAC codes, either case) and the gap/stop symbols `.`, `-`, `*`.
#[inline]
fn is_base(b: u8) -> bool {
    (b & !0x20).wrapping_sub(b'A') < 26 || b == b'.' || b == b'-' || b == b'*'
}

/// G+C count, N count, and whether any byte is not a base. Branch-free so it vectorises.
#[inline]
fn scan_sequence(sequence: &[u8]) -> (u64, u64, bool) {
    let (gc, n) = count_gc_n(sequence);
    let mut bad = 0u8;
    for &b in sequence {
        bad |= u8::from(!is_base(b));
    }
    (gc, n, bad != 0)
}

/// Q20 count, Q30 count, raw sum of quality characters, and whether any is outside '!'..='~'.
#[inline]
fn scan_quality(quality: &[u8]) -> (u64, u64, u64, bool) {
    let (q20, q30, sum) = count_quality(quality);
    let mut bad = 0u8;
    for &q in quality {
        bad |= u8::from(q.wrapping_sub(b'!') > b'~' - b'!');
    }
    (q20, q30, sum, bad != 0)
}

/// Push-based statistics of gzip-compressed FASTQ (concatenated members supported): feed
/// compressed bytes as they arrive with [`GzFastqStats::update`], then [`GzFastqStats::finish`].
pub struct GzFastqStats<S: RecordSink = ()> {
    decoder: crate::gz::GzDecoder,
    parser: FastqParser<S>,
    compressed: u64,
}

impl GzFastqStats<()> {
    /// Statistics only.
    pub fn new() -> GzFastqStats<()> {
        GzFastqStats::with_sink(())
    }
}

impl Default for GzFastqStats<()> {
    fn default() -> Self {
        GzFastqStats::new()
    }
}

impl<S: RecordSink> GzFastqStats<S> {
    /// Statistics, and every header handed to `sink`.
    pub fn with_sink(sink: S) -> GzFastqStats<S> {
        GzFastqStats {
            decoder: crate::gz::GzDecoder::new(),
            parser: FastqParser::with_sink(sink),
            compressed: 0,
        }
    }

    /// Feeds the next compressed bytes.
    pub fn update(&mut self, compressed: &[u8]) -> Result<(), FastqError> {
        self.compressed += compressed.len() as u64;
        let parser = &mut self.parser;
        self.decoder.feed(compressed, &mut |bytes| parser.push(bytes))
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        self.parser.sink()
    }

    /// The sink, mutably.
    pub fn sink_mut(&mut self) -> &mut S {
        self.parser.sink_mut()
    }

    /// Compressed bytes fed so far.
    pub fn compressed_bytes(&self) -> u64 {
        self.compressed
    }

    /// Statistics of the complete records decoded so far.
    pub fn stats(&self) -> &FastqStats {
        self.parser.stats()
    }

    /// Ends the input: the gzip stream must be complete and the last record whole.
    pub fn finish(self) -> Result<FastqStats, FastqError> {
        self.finish_with_sink().map(|(stats, _)| stats)
    }

    /// Like [`GzFastqStats::finish`], also returning the sink.
    pub fn finish_with_sink(mut self) -> Result<(FastqStats, S), FastqError> {
        self.decoder.finish()?;
        self.parser.finish_with_sink()
    }
}

impl<S: RecordSink> std::io::Write for GzFastqStats<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const READ_CHUNK: usize = 256 * 1024;

/// Statistics of a `.fastq.gz` file. Errors name the file for I/O problems; FASTQ and gzip
/// errors carry lines/records.
///
/// Reading and decompressing run on a second thread while this one parses, so a single file goes
/// about a third faster than through [`GzFastqStats`] when a second core is free.
pub fn stats_of_gz_file(path: impl AsRef<std::path::Path>) -> Result<FastqStats, FastqError> {
    parse_gz_file(path.as_ref(), ()).0
}

/// Parses a `.fastq.gz` file with decompression on a helper thread; returns the sink in any case.
pub(crate) fn parse_gz_file<S: RecordSink>(path: &std::path::Path, sink: S) -> (Result<FastqStats, FastqError>, S) {
    use std::sync::mpsc;
    const IN_FLIGHT: usize = 4;
    let (full_tx, full_rx) = mpsc::sync_channel::<Result<Vec<u8>, FastqError>>(IN_FLIGHT);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    let mut parser = FastqParser::with_sink(sink);
    let parsed = std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut decoder = crate::gz::GzDecoder::new();
            let mut forward = |bytes: &[u8]| {
                let mut buffer = empty_rx.try_recv().unwrap_or_default();
                buffer.clear();
                buffer.extend_from_slice(bytes);
                // A closed channel means the parser stopped at an error: stop quietly.
                full_tx
                    .send(Ok(buffer))
                    .map_err(|_| FastqError::from(std::io::Error::other("parser stopped")))
            };
            let result = feed_file(path, |chunk| decoder.feed(chunk, &mut forward)).and_then(|()| decoder.finish());
            if let Err(error) = result {
                let _ = full_tx.send(Err(error));
            }
        });
        for item in full_rx {
            let buffer = item?;
            parser.push(&buffer)?;
            let _ = empty_tx.send(buffer);
        }
        Ok(())
    });
    match parsed {
        Ok(()) => parser.finish_keeping_sink(),
        Err(error) => (Err(error), parser.finish_keeping_sink().1),
    }
}

/// Statistics of a FASTQ file, gzip-compressed or not (decided by the first two bytes).
pub fn stats_of_file(path: impl AsRef<std::path::Path>) -> Result<FastqStats, FastqError> {
    let path = path.as_ref();
    if is_gzip_file(path)? {
        stats_of_gz_file(path)
    } else {
        let mut parser = FastqParser::new();
        feed_file(path, |chunk| parser.push(chunk))?;
        parser.finish()
    }
}

/// True when the file starts with the gzip signature.
pub fn is_gzip_file(path: &std::path::Path) -> Result<bool, FastqError> {
    use std::io::Read;
    let mut file = open(path)?;
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(read_error(path, error)),
        }
    }
    Ok(got == 2 && magic == [0x1f, 0x8b])
}

pub(crate) fn open(path: &std::path::Path) -> Result<std::fs::File, FastqError> {
    std::fs::File::open(path)
        .map_err(|error| std::io::Error::new(error.kind(), format!("cannot open {}: {error}", path.display())).into())
}

pub(crate) fn read_error(path: &std::path::Path, error: std::io::Error) -> FastqError {
    std::io::Error::new(error.kind(), format!("cannot read {}: {error}", path.display())).into()
}

pub(crate) fn feed_file(
    path: &std::path::Path,
    mut consume: impl FnMut(&[u8]) -> Result<(), FastqError>,
) -> Result<(), FastqError> {
    use std::io::Read;
    let mut file = open(path)?;
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => consume(&buffer[..n])?,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(read_error(path, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{SynthSpec, fastq_gz_bytes, write_fastq, write_fastq_gz};
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    const SMALL: &[u8] = b"@r1 1:N:0:1\nACGTN\n+\nII#5?\n@r2\nGGcc\n+r2\n!!~~\n@r3\n\n+\n\n";

    fn plain(data: &[u8]) -> Result<FastqStats, FastqError> {
        let mut parser = FastqParser::new();
        parser.push(data)?;
        parser.finish()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// Tiny deterministic PRNG for random split points.
    fn splits(len: usize, seed: u64) -> Vec<usize> {
        let mut state = seed;
        let mut cuts = Vec::new();
        let mut at = 0;
        while at < len {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            at += 1 + (state >> 33) as usize % 9000;
            cuts.push(at.min(len));
        }
        cuts
    }

    #[test]
    fn counts_small_file_exactly() {
        let stats = plain(SMALL).unwrap();
        assert_eq!(stats.reads, 3);
        assert_eq!(stats.bases, 9);
        assert_eq!((stats.min_length, stats.max_length), (0, 5));
        assert_eq!(stats.gc_bases, 2 + 4);
        assert_eq!(stats.n_bases, 1);
        // II#5? = 40 40 2 20 30 ; !!~~ = 0 0 93 93
        assert_eq!(stats.quality_sum, 40 + 40 + 2 + 20 + 30 + 93 + 93);
        assert_eq!(stats.q20_bases, 6);
        assert_eq!(stats.q30_bases, 5);
        assert!((stats.mean_length() - 3.0).abs() < 1e-9);
        assert!((stats.gc_percent() - 600.0 / 9.0).abs() < 1e-9);
    }

    #[test]
    fn crlf_and_missing_final_newline_and_trailing_blank_lines() {
        let crlf: Vec<u8> = SMALL
            .iter()
            .flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] })
            .collect();
        assert_eq!(plain(&crlf).unwrap(), plain(SMALL).unwrap());
        let ends = b"@a\nAC\n+\nII\n@b\nG\n+\n5\n";
        assert_eq!(plain(&ends[..ends.len() - 1]).unwrap(), plain(ends).unwrap());
        assert_eq!(plain(ends).unwrap().reads, 2);
        let mut blank = SMALL.to_vec();
        blank.extend(b"\n\r\n\n");
        assert_eq!(plain(&blank).unwrap(), plain(SMALL).unwrap());
        assert_eq!(plain(b"").unwrap(), FastqStats::default());
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let spec = SynthSpec {
            read_length: 33,
            ..SynthSpec::new("Chunks", 1, 1, 1, 700)
        };
        let mut text = Vec::new();
        let expected = write_fastq(&spec, &mut text).unwrap();
        let compressed = fastq_gz_bytes(&spec);
        for chunk in 1..=7 {
            let mut parser = FastqParser::new();
            for piece in text.chunks(chunk) {
                parser.push(piece).unwrap();
            }
            assert_eq!(parser.finish().unwrap(), expected, "plain chunk {chunk}");
            let mut gz = GzFastqStats::new();
            for piece in compressed.chunks(chunk) {
                gz.update(piece).unwrap();
            }
            assert_eq!(gz.finish().unwrap(), expected, "gz chunk {chunk}");
        }
        for seed in 0..20 {
            let (mut parser, mut gz) = (FastqParser::new(), GzFastqStats::new());
            let mut from = 0;
            for to in splits(text.len(), seed) {
                parser.push(&text[from..to]).unwrap();
                from = to;
            }
            let mut from = 0;
            for to in splits(compressed.len(), seed + 100) {
                gz.update(&compressed[from..to]).unwrap();
                from = to;
            }
            assert_eq!(parser.finish().unwrap(), expected, "seed {seed}");
            assert_eq!(gz.finish().unwrap(), expected, "seed {seed}");
        }
    }

    #[test]
    fn concatenated_members_count_as_one_file() {
        let a = SynthSpec::new("Lane", 1, 1, 1, 300);
        let b = SynthSpec::new("Lane", 1, 2, 1, 200);
        let (mut data, mut expected) = (Vec::new(), FastqStats::default());
        expected.merge(&write_fastq_gz(&a, &mut data).unwrap());
        expected.merge(&write_fastq_gz(&b, &mut data).unwrap());
        let mut gz = GzFastqStats::new();
        for piece in data.chunks(1000) {
            gz.update(piece).unwrap();
        }
        let stats = gz.finish().unwrap();
        assert_eq!(stats, expected);
        assert_eq!(stats.reads, 500);
    }

    #[test]
    fn truncated_gzip_is_reported() {
        let data = fastq_gz_bytes(&SynthSpec::new("T", 1, 1, 1, 2000));
        let mut gz = GzFastqStats::new();
        gz.update(&data[..data.len() * 2 / 3]).unwrap();
        let error = gz.finish().unwrap_err();
        assert!(matches!(error, FastqError::TruncatedGzip { .. }), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("gzip stream ends early: file is truncated")
        );
        let mut gz = GzFastqStats::new();
        assert!(matches!(gz.update(SMALL), Err(FastqError::NotGzip)));
    }

    #[test]
    fn structural_errors_name_line_and_record() {
        type Case = (&'static [u8], fn(&FastqError) -> bool, u64);
        let cases: [Case; 8] = [
            (b"r1\nACGT\n+\nIIII\n", |e| matches!(e, FastqError::BadHeader { .. }), 1),
            (
                b"@r1\nACGT\n-\nIIII\n",
                |e| matches!(e, FastqError::MissingPlus { .. }),
                3,
            ),
            (
                b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIII\n",
                |e| {
                    matches!(
                        e,
                        FastqError::LengthMismatch {
                            sequence: 4,
                            quality: 3,
                            record: 2,
                            ..
                        }
                    )
                },
                8,
            ),
            (
                b"@r1\nAC1T\n+\nIIII\n",
                |e| matches!(e, FastqError::InvalidSequence { column: 3, .. }),
                2,
            ),
            (
                b"@r1\nACGT\n+\nII I\n",
                |e| matches!(e, FastqError::InvalidQuality { column: 3, .. }),
                4,
            ),
            (
                b"@r1\nACGT\n+\nIIII\n\n@r2\nA\n+\nI\n",
                |e| matches!(e, FastqError::BlankLine { .. }),
                5,
            ),
            (
                b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n",
                |e| matches!(e, FastqError::TruncatedRecord { record: 2, .. }),
                6,
            ),
            (
                b"@r1\nACGT\n+\n",
                |e| matches!(e, FastqError::TruncatedRecord { record: 1, .. }),
                3,
            ),
        ];
        for (data, is_expected, line) in cases {
            let error = plain(data).unwrap_err();
            assert!(is_expected(&error), "{error}");
            assert_eq!(error.line(), Some(line), "{error}");
            let gz_error = {
                let mut gz = GzFastqStats::new();
                gz.update(&gzip(data)).and_then(|()| gz.finish().map(|_| ()))
            }
            .unwrap_err();
            assert_eq!(gz_error.to_string(), error.to_string());
        }
        let error = plain(b"@r1\nACGT\n+\nIII\n").unwrap_err();
        assert_eq!(error.to_string(), "line 4 (record 1): 3 quality values for 4 bases");
    }

    #[test]
    fn errors_are_sticky_and_io_write_works() {
        let mut parser = FastqParser::new();
        assert!(parser.push(b"xx\n").is_err());
        assert!(parser.push(b"@r\nA\n+\nI\n").is_err());
        assert!(parser.finish().is_err());
        let mut parser = FastqParser::new();
        parser.write_all(SMALL).unwrap();
        assert_eq!(parser.finish().unwrap().reads, 3);
    }

    #[test]
    fn files_plain_and_gz() {
        let dir = std::env::temp_dir().join(format!("ferry-fastq-stats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = SynthSpec::new("F", 1, 1, 1, 100);
        let gz_path = dir.join(spec.file_name());
        let expected = write_fastq_gz(&spec, std::fs::File::create(&gz_path).unwrap()).unwrap();
        let plain_path = dir.join("F.fastq");
        write_fastq(&spec, std::fs::File::create(&plain_path).unwrap()).unwrap();
        assert_eq!(stats_of_gz_file(&gz_path).unwrap(), expected);
        assert_eq!(stats_of_file(&gz_path).unwrap(), expected);
        assert_eq!(stats_of_file(&plain_path).unwrap(), expected);
        assert!(matches!(stats_of_gz_file(&plain_path), Err(FastqError::NotGzip)));
        // Pipelined file parsing: early FASTQ errors stop the decoder thread; gzip errors come
        // after the records before them, as with the push API.
        let mut early_error = b"@r\nAC\n+\nI\n".to_vec();
        let mut big = Vec::new();
        write_fastq(&SynthSpec::new("Big", 1, 1, 1, 5_000), &mut big).unwrap();
        early_error.extend_from_slice(&big);
        let bad_path = dir.join("bad.fastq.gz");
        std::fs::write(&bad_path, gzip(&early_error)).unwrap();
        let error = stats_of_gz_file(&bad_path).unwrap_err();
        assert!(matches!(error, FastqError::LengthMismatch { line: 4, .. }), "{error}");
        let whole = fastq_gz_bytes(&SynthSpec::new("Cut", 1, 1, 1, 5_000));
        let cut_path = dir.join("cut.fastq.gz");
        std::fs::write(&cut_path, &whole[..whole.len() - 1000]).unwrap();
        assert!(matches!(
            stats_of_gz_file(&cut_path),
            Err(FastqError::TruncatedGzip { .. })
        ));
        std::fs::write(&cut_path, &whole).unwrap();
        let mut push = GzFastqStats::new();
        push.update(&whole).unwrap();
        assert_eq!(stats_of_gz_file(&cut_path).unwrap(), push.finish().unwrap());

        let missing = stats_of_gz_file(dir.join("missing.fastq.gz")).unwrap_err();
        assert!(missing.to_string().contains("missing.fastq.gz"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A straightforward line-based reference for well-formed input.
    fn reference(text: &[u8]) -> FastqStats {
        let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        let mut stats = FastqStats::default();
        for record in lines.chunks(4).filter(|r| r.len() == 4) {
            stats.add_record(record[1], record[3]);
        }
        stats
    }

    fn random_bytes(state: &mut u64, alphabet: &[u8], len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                alphabet[(*state >> 33) as usize % alphabet.len()]
            })
            .collect()
    }

    #[test]
    fn random_input_gives_the_same_answer_for_any_chunking() {
        let alphabet = b"@@+\n\n\n\rACGNacgtIII#~ :1\xff";
        let mut state = 7u64;
        for round in 0..3000 {
            let len = (round % 120) + 1;
            let mut data = random_bytes(&mut state, alphabet, len);
            if round % 3 == 0 {
                data.splice(0..0, b"@r\nACGT\n+\nIIII\n".iter().copied());
            }
            let whole = plain(&data).map_err(|e| e.to_string());
            for chunk in 1..=7 {
                let mut parser = FastqParser::new();
                let mut result = Ok(());
                for piece in data.chunks(chunk) {
                    result = result.and_then(|()| parser.push(piece));
                }
                let chunked = result.and_then(|()| parser.finish()).map_err(|e| e.to_string());
                assert_eq!(
                    chunked,
                    whole,
                    "round {round} chunk {chunk}: {:?}",
                    String::from_utf8_lossy(&data)
                );
            }
        }
    }

    #[test]
    fn agrees_with_reference_on_varied_lengths() {
        let mut state = 11u64;
        let mut text = Vec::new();
        for i in 0..2000 {
            let len = (i * 7919) % 300;
            let seq = random_bytes(&mut state, b"ACGTNacgtn", len);
            let qual = random_bytes(&mut state, b"!#+5?@AEFIJ~", len);
            text.extend_from_slice(format!("@read{i}\n").as_bytes());
            text.extend_from_slice(&seq);
            text.extend_from_slice(b"\n+\n");
            text.extend_from_slice(&qual);
            text.push(b'\n');
        }
        let expected = reference(&text);
        assert_eq!(expected.reads, 2000);
        assert_eq!(plain(&text).unwrap(), expected);
        let mut gz = GzFastqStats::new();
        for piece in gzip(&text).chunks(4093) {
            gz.update(piece).unwrap();
        }
        assert_eq!(gz.finish().unwrap(), expected);
    }

    #[test]
    fn corrupted_gzip_never_panics_and_is_reported() {
        let data = fastq_gz_bytes(&SynthSpec::new("Corrupt", 1, 1, 1, 500));
        let mut state = 3u64;
        let mut detected = 0;
        for round in 0..300 {
            let mut bad = data.clone();
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = (state >> 33) as usize % bad.len();
            bad[at] ^= 1 << (round % 8);
            let mut gz = GzFastqStats::new();
            let result = gz.update(&bad).and_then(|()| gz.finish());
            // A flipped bit is caught by inflate, the CRC, or the FASTQ parser; only a flip in
            // gzip header fields that carry no data (mtime, OS, XFL) may pass.
            match result {
                Err(_) => detected += 1,
                Ok(stats) => assert!(at < 10, "undetected corruption at byte {at}: {stats:?}"),
            }
        }
        assert!(detected > 250, "{detected}");
    }
}
