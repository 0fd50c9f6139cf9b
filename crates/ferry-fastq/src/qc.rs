//! Single-pass quality control of FASTQ reads, in the spirit of FastQC, with bounded memory.
//!
//! [`QcAccumulator`] takes records one at a time and [`QcAccumulator::finish`] turns what it
//! counted into a [`QcReport`]; [`qc_of_file`] does both for a FASTQ(.gz) file, reading it once.
//! [`render_html`] draws a report as a self-contained HTML page.
//!
//! Memory is bounded by the longest read (per-position counters), not by the number of reads,
//! apart from the duplication sample, which is capped at [`DUPLICATION_TRACKED`] sequences.
//!
//! # Definitions
//!
//! Qualities are Phred+33: the Phred score of a quality character `c` is `c - 33`, clamped to
//! `0..=93` (characters outside `'!'..='~'` cannot come from [`RecordReader`](crate::RecordReader),
//! which rejects them). A record is expected to have as many quality characters as bases (as
//! the reader guarantees); quality characters beyond the sequence length are ignored, and the
//! quality figures count the quality characters actually present. Bases are compared
//! case-insensitively: `A`, `C`, `G`, `T` (either case) are themselves, every other letter
//! (`N`, IUPAC codes, …) counts as N.
//!
//! Percentages are `100 × count / total` in `f64` (0 when the total is 0). Means are
//! `sum / count` in `f64` (0 when the count is 0).
//!
//! - `mean_quality`: sum of the Phred scores of all bases / number of bases.
//! - `gc_percent`, `n_percent`, `q30_percent`: bases that are G or C / that count as N / whose
//!   Phred score is ≥ 30, over all bases.
//! - Per-position quality: for each 1-based position, a histogram of the Phred scores of the
//!   reads long enough to have that position. `reads` is that number of reads, `mean` the mean
//!   score. The quantiles come from the histogram: for a fraction `num/den` (p10 = 1/10, lower
//!   quartile = 1/4, median = 1/2, upper quartile = 3/4, p90 = 9/10), with
//!   `rank = max(1, ceil(reads × num / den))` computed in integers, the quantile is the
//!   smallest Phred score `q` such that the number of reads with score ≤ `q` at that position is
//!   ≥ `rank`.
//! - Per-position composition: for each 1-based position, the percentage of the reads having a
//!   base there that have A, C, G, T or N (as defined above) there.
//! - GC distribution: 101 counters; a read of length `L > 0` with `gc` G/C bases adds one to
//!   counter `(100.0 * gc as f64 / L as f64).round()` (`f64::round`, halves away from zero).
//!   Reads of length 0 are not counted.
//! - Length distribution: `(length, reads)` for every length that occurs, by increasing length.
//! - Adapter content: for each adapter of [`ADAPTERS`], each read is searched (upper-cased) for
//!   the leftmost occurrence of the whole 12-base adapter. Entry `i` of `percent_by_position`
//!   (1-based position `i + 1`) is the percentage of **all** reads whose leftmost occurrence
//!   starts at 0-based index ≤ `i`. There are `max_length` entries.
//! - Duplication: see [`Duplication`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::records::FastqRecord;
use crate::stats::{FastqError, FastqParser, PHRED_OFFSET, RecordSink, feed_file, is_gzip_file, parse_gz_file};

/// Highest Phred score counted (quality character `'~'`).
pub const MAX_PHRED: u8 = 93;

/// The adapters searched for by the adapter-content module: `(name, sequence)`, all 12-mers
/// (the Illumina Universal adapter `AGATCGGAAGAGC` is searched by its first 12 bases, as in
/// FastQC).
pub const ADAPTERS: [(&str, &str); 4] = [
    ("Illumina Universal Adapter", "AGATCGGAAGAG"),
    ("Nextera Transposase Sequence", "CTGTCTCTTATA"),
    ("Illumina Small RNA 3' Adapter", "TGGAATTCTCGG"),
    ("PolyA", "AAAAAAAAAAAA"),
];

/// At most this many distinct sequences are tracked for the duplication estimate.
pub const DUPLICATION_TRACKED: usize = 100_000;
/// Sequences longer than this are truncated for the duplication estimate …
pub const DUPLICATION_LONG_READ: usize = 75;
/// … to this many bases.
pub const DUPLICATION_TRUNCATE: usize = 50;

/// Quality summary of one position (all 1-based), from a histogram of Phred 0..=93.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionQuality {
    /// 1-based read position.
    pub position: u32,
    /// Reads that have a quality value at this position.
    pub reads: u64,
    /// Mean Phred score.
    pub mean: f64,
    /// Median Phred score (fraction 1/2, see the module docs).
    pub median: u8,
    /// Lower quartile (fraction 1/4).
    pub lower_quartile: u8,
    /// Upper quartile (fraction 3/4).
    pub upper_quartile: u8,
    /// 10th percentile (fraction 1/10).
    pub p10: u8,
    /// 90th percentile (fraction 9/10).
    pub p90: u8,
}

/// Base composition of one position, in percent of the reads having a base there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionComposition {
    /// 1-based read position.
    pub position: u32,
    /// Percent A (either case).
    pub a: f64,
    /// Percent C (either case).
    pub c: f64,
    /// Percent G (either case).
    pub g: f64,
    /// Percent T (either case).
    pub t: f64,
    /// Percent of every other letter (N, IUPAC codes, …).
    pub n: f64,
}

/// How many reads have one length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LengthCount {
    /// Read length.
    pub length: u64,
    /// Reads of that length.
    pub reads: u64,
}

/// Cumulative adapter content of one adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterContent {
    /// Adapter name, e.g. "Illumina Universal Adapter".
    pub name: String,
    /// The adapter sequence searched for.
    pub sequence: String,
    /// Entry `i`: percent of all reads in which the adapter has been seen starting at 1-based
    /// position ≤ `i + 1` (see the module docs).
    pub percent_by_position: Vec<f64>,
}

/// FastQC-style estimate of sequence duplication.
///
/// The exact rule: reads are taken in input order. A read's *key* is its sequence bytes as they
/// are (case-sensitive), truncated to the first [`DUPLICATION_TRUNCATE`] (50) bytes when the
/// sequence is longer than [`DUPLICATION_LONG_READ`] (75); reads of length 0 have the empty
/// key. If the key is already tracked, the read is counted for it. Otherwise, if fewer than
/// [`DUPLICATION_TRACKED`] (100 000) keys are tracked, the key becomes tracked with this read
/// counted; otherwise the read is ignored. Then `sampled_reads` is the number of counted reads,
/// `distinct_in_sample` the number of tracked keys, and `duplicate_percent =
/// 100 × (1 − distinct_in_sample / sampled_reads)` (0 when no read was sampled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Duplication {
    /// Reads counted for a tracked sequence.
    pub sampled_reads: u64,
    /// Distinct tracked sequences.
    pub distinct_in_sample: u64,
    /// `100 × (1 − distinct_in_sample / sampled_reads)`.
    pub duplicate_percent: f64,
}

/// Quality-control figures of a set of reads; see the module docs for the exact definitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QcReport {
    /// Number of reads.
    pub reads: u64,
    /// Number of bases.
    pub bases: u64,
    /// Shortest read (0 when there are no reads).
    pub min_length: u64,
    /// Longest read.
    pub max_length: u64,
    /// Mean Phred score over all bases.
    pub mean_quality: f64,
    /// G+C (either case) over all bases × 100.
    pub gc_percent: f64,
    /// Bases that are not A/C/G/T (either case) over all bases × 100.
    pub n_percent: f64,
    /// Bases with Phred ≥ 30 over all bases × 100.
    pub q30_percent: f64,
    /// Index i = 1-based read position i+1.
    pub per_position_quality: Vec<PositionQuality>,
    /// Index i = 1-based read position i+1.
    pub per_position_composition: Vec<PositionComposition>,
    /// 101 entries: reads whose GC% rounds (half away from zero, i.e. f64::round) to that integer percent. Reads of length 0 are not counted.
    pub gc_distribution: Vec<u64>,
    /// (length, reads) sorted by length, only lengths that occur.
    pub length_distribution: Vec<LengthCount>,
    /// One entry per adapter of [`ADAPTERS`], in that order.
    pub adapter_content: Vec<AdapterContent>,
    /// Duplication estimate.
    pub duplication: Duplication,
}

/// Counts of one adapter.
struct AdapterCounter {
    finder: memchr::memmem::Finder<'static>,
    /// Index p: reads whose leftmost occurrence starts at 0-based index p.
    first_at: Vec<u64>,
}

/// Streaming single-pass QC accumulator (FastQC-like modules), bounded memory.
pub struct QcAccumulator {
    reads: u64,
    bases: u64,
    min_length: u64,
    max_length: u64,
    quality_values: u64,
    quality_sum: u64,
    q30: u64,
    gc: u64,
    n: u64,
    /// Per position: histogram of Phred 0..=93.
    quality_histograms: Vec<[u64; MAX_PHRED as usize + 1]>,
    /// Per position: A, C, G, T, N.
    composition: Vec<[u64; 5]>,
    gc_distribution: [u64; 101],
    /// Index: read length.
    lengths: Vec<u64>,
    adapters: Vec<AdapterCounter>,
    duplicates: HashMap<Vec<u8>, u64>,
    duplicates_sampled: u64,
    /// Scratch: the upper-cased sequence.
    upper: Vec<u8>,
}

impl std::fmt::Debug for QcAccumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QcAccumulator")
            .field("reads", &self.reads)
            .field("bases", &self.bases)
            .finish_non_exhaustive()
    }
}

impl Default for QcAccumulator {
    fn default() -> Self {
        QcAccumulator::new()
    }
}

/// Base class of an upper-cased byte: 0 A, 1 C, 2 G, 3 T, 4 anything else.
const fn base_classes() -> [u8; 256] {
    let mut table = [4u8; 256];
    table[b'A' as usize] = 0;
    table[b'C' as usize] = 1;
    table[b'G' as usize] = 2;
    table[b'T' as usize] = 3;
    table
}

const BASE_CLASS: [u8; 256] = base_classes();

impl QcAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        QcAccumulator {
            reads: 0,
            bases: 0,
            min_length: 0,
            max_length: 0,
            quality_values: 0,
            quality_sum: 0,
            q30: 0,
            gc: 0,
            n: 0,
            quality_histograms: Vec::new(),
            composition: Vec::new(),
            gc_distribution: [0; 101],
            lengths: Vec::new(),
            adapters: ADAPTERS
                .iter()
                .map(|(_, sequence)| AdapterCounter {
                    finder: memchr::memmem::Finder::new(sequence.as_bytes()).into_owned(),
                    first_at: Vec::new(),
                })
                .collect(),
            duplicates: HashMap::new(),
            duplicates_sampled: 0,
            upper: Vec::new(),
        }
    }

    /// Reads added so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Accounts one record (only its sequence and quality matter).
    pub fn add(&mut self, record: &FastqRecord) {
        self.add_parts(&record.sequence, &record.quality);
    }

    /// Accounts one read given its sequence and quality lines.
    pub fn add_parts(&mut self, sequence: &[u8], quality: &[u8]) {
        let length = sequence.len();
        self.min_length = if self.reads == 0 {
            length as u64
        } else {
            self.min_length.min(length as u64)
        };
        self.max_length = self.max_length.max(length as u64);
        self.reads += 1;
        self.bases += length as u64;
        if self.lengths.len() <= length {
            self.lengths.resize(length + 1, 0);
        }
        self.lengths[length] += 1;

        // Qualities.
        let quality = &quality[..quality.len().min(length)];
        if self.quality_histograms.len() < quality.len() {
            self.quality_histograms
                .resize(quality.len(), [0; MAX_PHRED as usize + 1]);
        }
        for (histogram, &character) in self.quality_histograms.iter_mut().zip(quality) {
            let phred = character.saturating_sub(PHRED_OFFSET).min(MAX_PHRED);
            histogram[usize::from(phred)] += 1;
            self.quality_sum += u64::from(phred);
            self.q30 += u64::from(phred >= 30);
        }
        self.quality_values += quality.len() as u64;

        // Composition and GC.
        self.upper.clear();
        self.upper.extend(sequence.iter().map(u8::to_ascii_uppercase));
        if self.composition.len() < length {
            self.composition.resize(length, [0; 5]);
        }
        let mut counts = [0u64; 5];
        for (position, &base) in self.composition.iter_mut().zip(&self.upper) {
            let class = usize::from(BASE_CLASS[usize::from(base)]);
            position[class] += 1;
            counts[class] += 1;
        }
        let gc = counts[1] + counts[2];
        self.gc += gc;
        self.n += counts[4];
        if length > 0 {
            let percent = (100.0 * gc as f64 / length as f64).round() as usize;
            self.gc_distribution[percent.min(100)] += 1;
        }

        // Adapters.
        for adapter in &mut self.adapters {
            if let Some(start) = adapter.finder.find(&self.upper) {
                if adapter.first_at.len() <= start {
                    adapter.first_at.resize(start + 1, 0);
                }
                adapter.first_at[start] += 1;
            }
        }

        // Duplication.
        let key = if length > DUPLICATION_LONG_READ {
            &sequence[..DUPLICATION_TRUNCATE]
        } else {
            sequence
        };
        if let Some(count) = self.duplicates.get_mut(key) {
            *count += 1;
            self.duplicates_sampled += 1;
        } else if self.duplicates.len() < DUPLICATION_TRACKED {
            self.duplicates.insert(key.to_vec(), 1);
            self.duplicates_sampled += 1;
        }
    }

    /// The report of everything added.
    pub fn finish(self) -> QcReport {
        let per_position_quality = self
            .quality_histograms
            .iter()
            .enumerate()
            .map(|(index, histogram)| position_quality(index, histogram))
            .collect();
        let per_position_composition = self
            .composition
            .iter()
            .enumerate()
            .map(|(index, counts)| {
                let total: u64 = counts.iter().sum();
                PositionComposition {
                    position: position_number(index),
                    a: percent(counts[0], total),
                    c: percent(counts[1], total),
                    g: percent(counts[2], total),
                    t: percent(counts[3], total),
                    n: percent(counts[4], total),
                }
            })
            .collect();
        let length_distribution = self
            .lengths
            .iter()
            .enumerate()
            .filter(|(_, reads)| **reads > 0)
            .map(|(length, reads)| LengthCount {
                length: length as u64,
                reads: *reads,
            })
            .collect();
        let positions = usize::try_from(self.max_length).unwrap_or(usize::MAX);
        let adapter_content = ADAPTERS
            .iter()
            .zip(&self.adapters)
            .map(|((name, sequence), counter)| {
                let mut seen = 0u64;
                let percent_by_position = (0..positions)
                    .map(|index| {
                        seen += counter.first_at.get(index).copied().unwrap_or(0);
                        percent(seen, self.reads)
                    })
                    .collect();
                AdapterContent {
                    name: (*name).to_string(),
                    sequence: (*sequence).to_string(),
                    percent_by_position,
                }
            })
            .collect();
        let distinct = self.duplicates.len() as u64;
        let sampled = self.duplicates_sampled;
        let duplicate_percent = if sampled == 0 {
            0.0
        } else {
            100.0 * (1.0 - distinct as f64 / sampled as f64)
        };
        QcReport {
            reads: self.reads,
            bases: self.bases,
            min_length: self.min_length,
            max_length: self.max_length,
            mean_quality: mean(self.quality_sum, self.quality_values),
            gc_percent: percent(self.gc, self.bases),
            n_percent: percent(self.n, self.bases),
            q30_percent: percent(self.q30, self.quality_values),
            per_position_quality,
            per_position_composition,
            gc_distribution: self.gc_distribution.to_vec(),
            length_distribution,
            adapter_content,
            duplication: Duplication {
                sampled_reads: sampled,
                distinct_in_sample: distinct,
                duplicate_percent,
            },
        }
    }
}

fn position_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

fn percent(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * count as f64 / total as f64
    }
}

fn mean(sum: u64, count: u64) -> f64 {
    if count == 0 { 0.0 } else { sum as f64 / count as f64 }
}

/// The smallest Phred score whose cumulative count reaches `max(1, ceil(total × num / den))`.
fn quantile(histogram: &[u64], total: u64, num: u64, den: u64) -> u8 {
    let rank = (u128::from(total) * u128::from(num)).div_ceil(u128::from(den)).max(1);
    let mut cumulative = 0u128;
    for (phred, &count) in histogram.iter().enumerate() {
        cumulative += u128::from(count);
        if cumulative >= rank {
            return phred as u8;
        }
    }
    MAX_PHRED
}

fn position_quality(index: usize, histogram: &[u64]) -> PositionQuality {
    let reads: u64 = histogram.iter().sum();
    let sum: u64 = histogram
        .iter()
        .enumerate()
        .map(|(phred, &count)| phred as u64 * count)
        .sum();
    PositionQuality {
        position: position_number(index),
        reads,
        mean: mean(sum, reads),
        median: quantile(histogram, reads, 1, 2),
        lower_quartile: quantile(histogram, reads, 1, 4),
        upper_quartile: quantile(histogram, reads, 3, 4),
        p10: quantile(histogram, reads, 1, 10),
        p90: quantile(histogram, reads, 9, 10),
    }
}

/// Feeds the parser's records into the accumulator.
struct QcSink(QcAccumulator);

impl RecordSink for QcSink {
    fn header(&mut self, _record: u64, _line: u64, _header: &[u8]) {}

    fn wants_records(&self) -> bool {
        true
    }

    fn record(&mut self, _record: u64, _header: &[u8], sequence: &[u8], quality: &[u8]) {
        self.0.add_parts(sequence, quality);
    }
}

/// QC of one file (reads it once).
///
/// The file may be plain or gzip-compressed FASTQ (decided by its first two bytes); gzip input is
/// decompressed on a helper thread while this one parses. Malformed input gives the same
/// [`FastqError`] as [`RecordReader`](crate::RecordReader) would.
pub fn qc_of_file(path: &Path) -> Result<QcReport, FastqError> {
    let sink = QcSink(QcAccumulator::new());
    let sink = if is_gzip_file(path)? {
        let (result, sink) = parse_gz_file(path, sink);
        result?;
        sink
    } else {
        let mut parser = FastqParser::with_sink(sink);
        feed_file(path, |chunk| parser.push(chunk))?;
        parser.finish_with_sink()?.1
    };
    Ok(sink.0.finish())
}

// ---------------------------------------------------------------------------------------------
// HTML

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:900px;color:#222;padding:0 1em}\
h1{font-size:1.5em;word-break:break-all}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}\
table{border-collapse:collapse}td,th{padding:.25em .8em;border-bottom:1px solid #eee;text-align:left}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
svg{display:block;max-width:100%;height:auto;background:#fff}\
svg text{font-size:11px;fill:#333}svg .axis{stroke:#333;stroke-width:1}svg .grid{stroke:#e5e5e5;stroke-width:1}\
.legend span{display:inline-block;margin-right:1.2em;font-size:.9em}.legend i{display:inline-block;width:1.5em;height:.3em;vertical-align:middle;margin-right:.3em}\
p.note{color:#666;font-size:.9em}";

const WIDTH: f64 = 820.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 15.0;
const TOP: f64 = 15.0;
const BOTTOM: f64 = 45.0;

/// Most points drawn per line (longer series are thinned evenly).
const MAX_POINTS: usize = 1000;
/// Up to this many positions, quality is drawn as one box per position; beyond, as bands.
const MAX_BOXES: usize = 300;
/// Up to this span of lengths, the length distribution is drawn as bars; beyond, as a line.
const MAX_BARS: f64 = 300.0;

/// Maps data coordinates to the plot area of an SVG.
struct Frame {
    x_min: f64,
    x_max: f64,
    y_min: f64,
    y_max: f64,
}

impl Frame {
    fn x(&self, value: f64) -> f64 {
        let span = (self.x_max - self.x_min).max(f64::MIN_POSITIVE);
        LEFT + (value - self.x_min) / span * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, value: f64) -> f64 {
        let span = (self.y_max - self.y_min).max(f64::MIN_POSITIVE);
        HEIGHT - BOTTOM - (value - self.y_min) / span * (HEIGHT - TOP - BOTTOM)
    }

    /// Opens the SVG and draws grid, axes, ticks and axis labels.
    fn open(&self, out: &mut String, label: &str, x_label: &str, y_label: &str) {
        let _ = write!(
            out,
            "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{}\">",
            html_escape(label)
        );
        for tick in ticks(self.y_min, self.y_max) {
            let y = self.y(tick);
            let _ = write!(
                out,
                "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                WIDTH - RIGHT,
                LEFT - 5.0,
                y + 4.0,
                tick_label(tick)
            );
        }
        for tick in ticks(self.x_min, self.x_max) {
            let x = self.x(tick);
            let _ = write!(
                out,
                "<line class=\"axis\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                HEIGHT - BOTTOM,
                HEIGHT - BOTTOM + 4.0,
                HEIGHT - BOTTOM + 16.0,
                tick_label(tick)
            );
        }
        let _ = write!(
            out,
            "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{bottom}\"/>\
             <line class=\"axis\" x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\"/>\
             <text x=\"{mid_x:.1}\" y=\"{label_y}\" text-anchor=\"middle\">{x_label}</text>\
             <text transform=\"translate(14 {mid_y:.1}) rotate(-90)\" text-anchor=\"middle\">{y_label}</text>",
            bottom = HEIGHT - BOTTOM,
            right = WIDTH - RIGHT,
            mid_x = (LEFT + WIDTH - RIGHT) / 2.0,
            label_y = HEIGHT - 8.0,
            mid_y = (TOP + HEIGHT - BOTTOM) / 2.0,
            x_label = html_escape(x_label),
            y_label = html_escape(y_label),
        );
    }

    /// A polyline through `(x, y)` points (thinned to at most [`MAX_POINTS`]).
    fn line(&self, out: &mut String, points: &[(f64, f64)], color: &str, width: f64) {
        if points.is_empty() {
            return;
        }
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\" stroke-linejoin=\"round\" points=\""
        );
        for index in thinned(points.len()) {
            let (x, y) = points[index];
            let _ = write!(out, "{:.1},{:.1} ", self.x(x), self.y(y));
        }
        out.push_str("\"/>");
    }
}

/// Indices of at most [`MAX_POINTS`] evenly spread items of `len`, always the first and last.
fn thinned(len: usize) -> impl Iterator<Item = usize> {
    let step = len.div_ceil(MAX_POINTS).max(1);
    (0..len)
        .step_by(step)
        .chain((len > 1 && !(len - 1).is_multiple_of(step)).then_some(len - 1))
}

/// Round tick values covering `min..=max` (about 5 to 10 of them), whole numbers only (every
/// axis shows positions, lengths, counts, Phred scores or percentages).
fn ticks(min: f64, max: f64) -> Vec<f64> {
    let span = max - min;
    if span.is_nan() || span <= 0.0 || !span.is_finite() {
        return vec![min];
    }
    let rough = span / 8.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| span / step <= 10.0)
        .unwrap_or(10.0 * magnitude)
        .max(1.0);
    let mut tick = (min / step).ceil() * step;
    let mut out = Vec::new();
    while tick <= max + step * 1e-9 && out.len() < 50 {
        out.push(tick);
        tick += step;
    }
    out
}

fn tick_label(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        format!("{}", value.round() as i64)
    } else {
        format!("{value:.1}")
    }
}

fn legend(out: &mut String, entries: &[(&str, &str)]) {
    out.push_str("<p class=\"legend\">");
    for (name, color) in entries {
        let _ = write!(
            out,
            "<span><i style=\"background:{color}\"></i>{}</span>",
            html_escape(name)
        );
    }
    out.push_str("</p>");
}

fn quality_plot(out: &mut String, report: &QcReport) {
    let positions = report.per_position_quality.len();
    let top = report
        .per_position_quality
        .iter()
        .map(|p| p.p90)
        .max()
        .unwrap_or(0)
        .max(40);
    let frame = Frame {
        x_min: 0.5,
        x_max: positions as f64 + 0.5,
        y_min: 0.0,
        y_max: f64::from(top) + 2.0,
    };
    frame.open(out, "Per-position quality", "Position in read (bp)", "Phred quality");
    // Background bands: good (≥ 28), reasonable (20–28), poor (< 20).
    for (from, to, color) in [
        (0.0, 20.0, "#f6d5d5"),
        (20.0, 28.0, "#f8ecd0"),
        (28.0, frame.y_max, "#d9eed9"),
    ] {
        let _ = write!(
            out,
            "<rect x=\"{LEFT}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\" opacity=\"0.6\"/>",
            frame.y(to),
            WIDTH - LEFT - RIGHT,
            frame.y(from) - frame.y(to)
        );
    }
    let quality = &report.per_position_quality;
    if positions <= MAX_BOXES {
        let half = ((frame.x(1.0) - frame.x(0.0)) * 0.35).max(0.5);
        for p in quality {
            let x = frame.x(f64::from(p.position));
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#555\"/>\
                 <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#f2d34f\" stroke=\"#555\" stroke-width=\"0.5\"/>\
                 <line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#c00\" stroke-width=\"1.5\"/>",
                frame.y(f64::from(p.p10)),
                frame.y(f64::from(p.p90)),
                x - half,
                frame.y(f64::from(p.upper_quartile)),
                2.0 * half,
                (frame.y(f64::from(p.lower_quartile)) - frame.y(f64::from(p.upper_quartile))).max(0.5),
                x - half,
                frame.y(f64::from(p.median)),
                x + half,
                frame.y(f64::from(p.median)),
            );
        }
    } else {
        for (low, high, color) in [
            (
                quality.iter().map(|p| p.p10).collect::<Vec<_>>(),
                quality.iter().map(|p| p.p90).collect::<Vec<_>>(),
                "#f7e7a6",
            ),
            (
                quality.iter().map(|p| p.lower_quartile).collect(),
                quality.iter().map(|p| p.upper_quartile).collect(),
                "#f2d34f",
            ),
        ] {
            let _ = write!(out, "<polygon fill=\"{color}\" stroke=\"none\" points=\"");
            for index in thinned(positions) {
                let _ = write!(
                    out,
                    "{:.1},{:.1} ",
                    frame.x(index as f64 + 1.0),
                    frame.y(f64::from(high[index]))
                );
            }
            let back: Vec<usize> = thinned(positions).collect();
            for &index in back.iter().rev() {
                let _ = write!(
                    out,
                    "{:.1},{:.1} ",
                    frame.x(index as f64 + 1.0),
                    frame.y(f64::from(low[index]))
                );
            }
            out.push_str("\"/>");
        }
        let medians: Vec<(f64, f64)> = quality
            .iter()
            .map(|p| (f64::from(p.position), f64::from(p.median)))
            .collect();
        frame.line(out, &medians, "#c00", 1.5);
    }
    let means: Vec<(f64, f64)> = quality.iter().map(|p| (f64::from(p.position), p.mean)).collect();
    frame.line(out, &means, "#1f4e9c", 1.5);
    out.push_str("</svg>");
    legend(
        out,
        &[
            ("interquartile range", "#f2d34f"),
            ("10th–90th percentile", "#555"),
            ("median", "#c00"),
            ("mean", "#1f4e9c"),
        ],
    );
}

/// A named, coloured line of the composition plot.
type Series = (&'static str, &'static str, fn(&PositionComposition) -> f64);

fn composition_plot(out: &mut String, report: &QcReport) {
    let composition = &report.per_position_composition;
    let frame = Frame {
        x_min: 1.0,
        x_max: (composition.len() as f64).max(2.0),
        y_min: 0.0,
        y_max: 100.0,
    };
    frame.open(
        out,
        "Per-position base composition",
        "Position in read (bp)",
        "% of bases",
    );
    let series: [Series; 5] = [
        ("A", "#2a9d2a", |p| p.a),
        ("C", "#2060d0", |p| p.c),
        ("G", "#222222", |p| p.g),
        ("T", "#d02020", |p| p.t),
        ("N", "#999999", |p| p.n),
    ];
    for (_, color, value) in &series {
        let points: Vec<(f64, f64)> = composition.iter().map(|p| (f64::from(p.position), value(p))).collect();
        frame.line(out, &points, color, 1.5);
    }
    out.push_str("</svg>");
    let entries: Vec<(&str, &str)> = series.iter().map(|(name, color, _)| (*name, *color)).collect();
    legend(out, &entries);
}

fn gc_plot(out: &mut String, report: &QcReport) {
    let top = report.gc_distribution.iter().copied().max().unwrap_or(0).max(1);
    let frame = Frame {
        x_min: 0.0,
        x_max: 100.0,
        y_min: 0.0,
        y_max: top as f64 * 1.05,
    };
    frame.open(out, "Per-read GC content", "GC content of the read (%)", "Reads");
    let points: Vec<(f64, f64)> = report
        .gc_distribution
        .iter()
        .enumerate()
        .map(|(percent, &reads)| (percent as f64, reads as f64))
        .collect();
    frame.line(out, &points, "#d02020", 2.0);
    out.push_str("</svg>");
}

fn length_plot(out: &mut String, report: &QcReport) {
    let lengths = &report.length_distribution;
    let (first, last) = match (lengths.first(), lengths.last()) {
        (Some(first), Some(last)) => (first.length as f64, last.length as f64),
        _ => (0.0, 1.0),
    };
    let top = lengths.iter().map(|l| l.reads).max().unwrap_or(0).max(1);
    let frame = Frame {
        x_min: first - 1.0,
        x_max: last + 1.0,
        y_min: 0.0,
        y_max: top as f64 * 1.05,
    };
    frame.open(out, "Read length distribution", "Read length (bp)", "Reads");
    if last - first < MAX_BARS {
        // One bar per length.
        let half = ((frame.x(1.0) - frame.x(0.0)) * 0.4).max(0.5);
        for entry in lengths {
            let x = frame.x(entry.length as f64);
            let y = frame.y(entry.reads as f64);
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#1f4e9c\"/>",
                x - half,
                2.0 * half,
                (frame.y(0.0) - y).max(0.0)
            );
        }
        out.push_str("</svg>");
        return;
    }
    // Many lengths: a line, zero between lengths that do not occur.
    let mut points = Vec::with_capacity(lengths.len() * 3);
    let mut previous: Option<f64> = None;
    for entry in lengths {
        let length = entry.length as f64;
        if previous.is_none_or(|p| length - p > 1.0) {
            points.push((length - 1.0, 0.0));
        }
        points.push((length, entry.reads as f64));
        previous = Some(length);
    }
    if let Some(last) = previous {
        points.push((last + 1.0, 0.0));
    }
    frame.line(out, &points, "#1f4e9c", 2.0);
    out.push_str("</svg>");
}

const ADAPTER_COLORS: [&str; 4] = ["#d02020", "#2060d0", "#2a9d2a", "#8a3fb0"];

fn adapter_plot(out: &mut String, report: &QcReport) {
    let positions = report
        .adapter_content
        .iter()
        .map(|a| a.percent_by_position.len())
        .max()
        .unwrap_or(0);
    let frame = Frame {
        x_min: 1.0,
        x_max: (positions as f64).max(2.0),
        y_min: 0.0,
        y_max: 100.0,
    };
    frame.open(out, "Adapter content", "Position in read (bp)", "% of reads");
    let mut entries = Vec::new();
    for (adapter, color) in report.adapter_content.iter().zip(ADAPTER_COLORS.iter().cycle()) {
        let points: Vec<(f64, f64)> = adapter
            .percent_by_position
            .iter()
            .enumerate()
            .map(|(index, &percent)| (index as f64 + 1.0, percent))
            .collect();
        frame.line(out, &points, color, 1.5);
        entries.push((adapter.name.as_str(), *color));
    }
    out.push_str("</svg>");
    legend(out, &entries);
}

/// Self-contained HTML report (inline SVG plots, inline CSS, no JavaScript, no external resources; `title` HTML-escaped).
///
/// Sections: summary table, per-position quality (box plot), per-position base composition,
/// per-read GC content, read length distribution, adapter content, duplication.
pub fn render_html(report: &QcReport, title: &str) -> String {
    let title = html_escape(title);
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>"
    );
    out.push_str("<h2>Summary</h2><table>");
    let duplication = &report.duplication;
    let rows: [(&str, String); 10] = [
        ("Reads", report.reads.to_string()),
        ("Bases", report.bases.to_string()),
        (
            "Read length",
            if report.min_length == report.max_length {
                report.min_length.to_string()
            } else {
                format!("{}–{}", report.min_length, report.max_length)
            },
        ),
        ("Mean quality (Phred)", format!("{:.2}", report.mean_quality)),
        ("Bases ≥ Q30", format!("{:.2} %", report.q30_percent)),
        ("GC", format!("{:.2} %", report.gc_percent)),
        ("N (not A/C/G/T)", format!("{:.2} %", report.n_percent)),
        (
            "Duplicate reads (estimate)",
            format!("{:.2} %", duplication.duplicate_percent),
        ),
        ("Reads in the duplication sample", duplication.sampled_reads.to_string()),
        (
            "Distinct sequences in the sample",
            duplication.distinct_in_sample.to_string(),
        ),
    ];
    for (name, value) in rows {
        let _ = write!(out, "<tr><th>{name}</th><td class=\"num\">{value}</td></tr>");
    }
    out.push_str("</table>");
    out.push_str("<h2>Per-position quality</h2>");
    quality_plot(&mut out, report);
    out.push_str("<h2>Per-position base composition</h2>");
    composition_plot(&mut out, report);
    out.push_str("<h2>Per-read GC content</h2>");
    gc_plot(&mut out, report);
    out.push_str("<h2>Read length distribution</h2>");
    length_plot(&mut out, report);
    out.push_str("<h2>Adapter content</h2>");
    adapter_plot(&mut out, report);
    let _ = write!(
        out,
        "<h2>Duplication</h2><p>{:.2} % of the sampled reads are duplicates: {} reads, {} distinct sequences \
         (the first {DUPLICATION_TRACKED} distinct sequences are tracked; reads longer than \
         {DUPLICATION_LONG_READ} bases are compared on their first {DUPLICATION_TRUNCATE}).</p>",
        duplication.duplicate_percent, duplication.sampled_reads, duplication.distinct_in_sample
    );
    out.push_str("<p class=\"note\">Generated by Ferry.</p></body></html>\n");
    out
}
