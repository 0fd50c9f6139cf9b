//! Illumina FASTQ names, single-pass statistics, validation and synthetic data.
