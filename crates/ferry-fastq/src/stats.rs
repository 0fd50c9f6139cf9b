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

/// Counts G/C and N bases (either case). Written as branch-free comparisons so it vectorises.
pub(crate) fn count_gc_n(sequence: &[u8]) -> (u64, u64) {
    let mut gc = 0u64;
    let mut n = 0u64;
    for chunk in sequence.chunks(1 << 16) {
        let mut chunk_gc = 0u32;
        let mut chunk_n = 0u32;
        for &base in chunk {
            let upper = base & !0x20;
            chunk_gc += u32::from(upper == b'G') + u32::from(upper == b'C');
            chunk_n += u32::from(upper == b'N');
        }
        gc += u64::from(chunk_gc);
        n += u64::from(chunk_n);
    }
    (gc, n)
}

/// Counts bases with Q ≥ 20 and Q ≥ 30 and the raw sum of quality characters.
pub(crate) fn count_quality(quality: &[u8]) -> (u64, u64, u64) {
    let mut q20 = 0u64;
    let mut q30 = 0u64;
    let mut sum = 0u64;
    for chunk in quality.chunks(1 << 16) {
        let mut chunk_q20 = 0u32;
        let mut chunk_q30 = 0u32;
        let mut chunk_sum = 0u32;
        for &q in chunk {
            chunk_q20 += u32::from(q >= PHRED_OFFSET + 20);
            chunk_q30 += u32::from(q >= PHRED_OFFSET + 30);
            chunk_sum += u32::from(q);
        }
        q20 += u64::from(chunk_q20);
        q30 += u64::from(chunk_q30);
        sum += u64::from(chunk_sum);
    }
    (q20, q30, sum)
}
