//! Illumina FASTQ names, single-pass statistics, validation, record I/O, quality control,
//! trimming and synthetic data.
//!
//! - [`names`]: parse and print `SampleName_S1_L001_R1_001.fastq.gz`.
//! - [`stats`]: push-based FASTQ(.gz) statistics for bytes as they arrive.
//! - [`validate`]: BaseSpace-style checks of a FASTQ.gz file and of R1/R2 pairs.
//! - [`records`]: pull reader of FASTQ(.gz) records and a FASTQ.gz writer.
//! - [`qc`]: FastQC-like single-pass quality control and its HTML report.
//! - [`trim`]: quality/adapter trimming, length filtering and subsampling of single or paired files.
//! - [`synth`]: deterministic synthetic Illumina FASTQ.gz for demos, tests and benchmarks.

mod gz;
pub mod names;
pub mod qc;
pub mod records;
pub mod stats;
pub mod synth;
pub mod trim;
pub mod validate;

pub use names::{IlluminaName, Read, is_fastq_name};
pub use qc::{
    AdapterContent, Duplication, LengthCount, PositionComposition, PositionQuality, QcAccumulator, QcReport,
    qc_of_file, render_html,
};
pub use records::{FastqRecord, GzRecordWriter, RecordReader};
pub use stats::{FastqError, FastqParser, FastqStats, GzFastqStats, RecordSink, stats_of_file, stats_of_gz_file};
pub use synth::{SynthSpec, fastq_gz_bytes, write_fastq_gz};
pub use trim::{
    Mate, ToolkitError, ToolkitOptions, ToolkitSummary, TrimOptions, TrimOutcome, run_toolkit, trim_record,
    trim_record_outcome,
};
pub use validate::{FileReport, Problem, ValidateOptions, check_pairs, validate_fastq_gz};
