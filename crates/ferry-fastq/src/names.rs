//! Illumina FASTQ file names: `SampleName_S1_L001_R1_001.fastq.gz`.
//!
//! BaseSpace only imports files named `SampleName_S#_L00#_R#_001.fastq.gz` (the lane part may be
//! missing when lanes were merged). Sample names may contain `_` and `-`; the name is parsed from
//! the right, so `My_Sample_2_S12_L002_R2_001.fastq.gz` has sample name `My_Sample_2`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The only extension BaseSpace accepts for FASTQ uploads.
pub const ILLUMINA_EXTENSION: &str = "fastq.gz";

/// Extensions recognised as FASTQ by [`is_fastq_name`] and [`IlluminaName::parse_relaxed`],
/// longest first so `.fastq.gz` wins over `.gz`-less forms.
const FASTQ_EXTENSIONS: [&str; 4] = ["fastq.gz", "fq.gz", "fastq", "fq"];

/// Which read of a cluster a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Read {
    /// First read.
    R1,
    /// Second (paired) read.
    R2,
    /// First index read.
    I1,
    /// Second index read.
    I2,
}

impl Read {
    /// True for the sequencing reads R1 and R2 (not index reads).
    pub fn is_sequence_read(self) -> bool {
        matches!(self, Read::R1 | Read::R2)
    }

    /// The mate of a paired read (R1 ↔ R2, I1 ↔ I2).
    pub fn mate(self) -> Read {
        match self {
            Read::R1 => Read::R2,
            Read::R2 => Read::R1,
            Read::I1 => Read::I2,
            Read::I2 => Read::I1,
        }
    }

    fn parse(text: &str) -> Option<Read> {
        Some(match text {
            "R1" => Read::R1,
            "R2" => Read::R2,
            "I1" => Read::I1,
            "I2" => Read::I2,
            _ => return None,
        })
    }
}

impl fmt::Display for Read {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Read::R1 => "R1",
            Read::R2 => "R2",
            Read::I1 => "I1",
            Read::I2 => "I2",
        })
    }
}

/// The parts of an Illumina FASTQ file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IlluminaName {
    /// Sample name (may contain `_` and `-`).
    pub sample_name: String,
    /// The `S` number (0 for `Undetermined`).
    pub sample_number: u32,
    /// The `L` number, absent in lane-merged names such as `Sample_S1_R1_001.fastq.gz`.
    pub lane: Option<u32>,
    /// R1, R2, I1 or I2.
    pub read: Read,
    /// The final segment number (`001`).
    pub segment: u32,
    /// The extension without the leading dot (`fastq.gz`).
    pub extension: String,
}

impl IlluminaName {
    /// Parses a BaseSpace-conformant name (`.fastq.gz` only). `None` when the name does not
    /// follow `SampleName_S#[_L###]_R#_###.fastq.gz`. A leading directory is ignored.
    pub fn parse(file_name: &str) -> Option<IlluminaName> {
        let name = base_name(file_name);
        let stem = name.strip_suffix(".fastq.gz")?;
        parse_stem(stem, ILLUMINA_EXTENSION)
    }

    /// Like [`IlluminaName::parse`] but also accepts `.fq.gz`, `.fastq` and `.fq` (which
    /// BaseSpace would reject; see [`IlluminaName::is_basespace_conformant`]).
    pub fn parse_relaxed(file_name: &str) -> Option<IlluminaName> {
        let name = base_name(file_name);
        FASTQ_EXTENSIONS.iter().find_map(|extension| {
            let stem = name.strip_suffix(extension)?.strip_suffix('.')?;
            parse_stem(stem, extension)
        })
    }

    /// True when BaseSpace would accept this name for upload (extension `fastq.gz`).
    pub fn is_basespace_conformant(&self) -> bool {
        self.extension == ILLUMINA_EXTENSION
    }

    /// The name of the mate file (R1 ↔ R2), everything else unchanged.
    pub fn mate(&self) -> IlluminaName {
        IlluminaName {
            read: self.read.mate(),
            ..self.clone()
        }
    }

    /// The BaseSpace dataset name for this file: `SampleName_L001`, or `SampleName` without lane.
    pub fn dataset_name(&self) -> String {
        match self.lane {
            Some(lane) => format!("{}_L{lane:03}", self.sample_name),
            None => self.sample_name.clone(),
        }
    }
}

impl fmt::Display for IlluminaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_S{}", self.sample_name, self.sample_number)?;
        if let Some(lane) = self.lane {
            write!(f, "_L{lane:03}")?;
        }
        write!(f, "_{}_{:03}.{}", self.read, self.segment, self.extension)
    }
}

impl FromStr for IlluminaName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        IlluminaName::parse(text)
            .ok_or_else(|| format!("{text:?} is not an Illumina FASTQ name like SampleName_S1_L001_R1_001.fastq.gz"))
    }
}

/// True when the name looks like a FASTQ file (`.fastq.gz`, `.fq.gz`, `.fastq`, `.fq`, any case),
/// whether or not it follows the Illumina naming convention.
pub fn is_fastq_name(file_name: &str) -> bool {
    let lower = base_name(file_name).to_ascii_lowercase();
    FASTQ_EXTENSIONS
        .iter()
        .any(|extension| lower.len() > extension.len() + 1 && lower.ends_with(&format!(".{extension}")))
}

fn base_name(file_name: &str) -> &str {
    file_name.rsplit(['/', '\\']).next().unwrap_or(file_name)
}

fn parse_stem(stem: &str, extension: &str) -> Option<IlluminaName> {
    let mut parts = stem.rsplit('_');
    let segment = digits(parts.next()?, Some(3))?;
    let read = Read::parse(parts.next()?)?;
    let mut next = parts.next()?;
    let lane = match next.strip_prefix('L') {
        Some(lane) => {
            let lane = digits(lane, Some(3))?;
            next = parts.next()?;
            Some(lane)
        }
        None => None,
    };
    let sample_number = digits(next.strip_prefix('S')?, None)?;
    // What is left (joined back with `_`) is the sample name.
    let consumed: usize = [
        Some(4),              // "_001"
        Some(3),              // "_R1"
        lane.map(|_| 5),      // "_L001"
        Some(next.len() + 1), // "_S12"
    ]
    .into_iter()
    .flatten()
    .sum();
    let sample_name = stem.get(..stem.len().checked_sub(consumed)?)?;
    if sample_name.is_empty() || sample_name.ends_with('_') || sample_name.chars().any(char::is_control) {
        return None;
    }
    Some(IlluminaName {
        sample_name: sample_name.to_string(),
        sample_number,
        lane,
        read,
        segment,
        extension: extension.to_string(),
    })
}

fn digits(text: &str, exact_len: Option<usize>) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if exact_len.is_some_and(|len| text.len() != len) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_standard_name() {
        let name = IlluminaName::parse("SampleName_S1_L001_R1_001.fastq.gz").unwrap();
        assert_eq!(name.sample_name, "SampleName");
        assert_eq!(name.sample_number, 1);
        assert_eq!(name.lane, Some(1));
        assert_eq!(name.read, Read::R1);
        assert_eq!(name.segment, 1);
        assert_eq!(name.extension, "fastq.gz");
        assert_eq!(name.to_string(), "SampleName_S1_L001_R1_001.fastq.gz");
        assert_eq!(name.dataset_name(), "SampleName_L001");
        assert!(name.is_basespace_conformant());
    }

    #[test]
    fn sample_names_keep_underscores_and_hyphens() {
        let name = IlluminaName::parse("My_Sample_2_S12_L002_R2_001.fastq.gz").unwrap();
        assert_eq!(name.sample_name, "My_Sample_2");
        assert_eq!(name.sample_number, 12);
        assert_eq!(name.lane, Some(2));
        assert_eq!(name.read, Read::R2);
        assert_eq!(name.to_string(), "My_Sample_2_S12_L002_R2_001.fastq.gz");
        let name = IlluminaName::parse("/data/run/PBS-1-1_S3_L001_I1_001.fastq.gz").unwrap();
        assert_eq!(name.sample_name, "PBS-1-1");
        assert_eq!(name.read, Read::I1);
        assert_eq!(name.mate().to_string(), "PBS-1-1_S3_L001_I2_001.fastq.gz");
    }

    #[test]
    fn lane_less_and_undetermined() {
        let name = IlluminaName::parse("Sample_S1_R1_001.fastq.gz").unwrap();
        assert_eq!(name.sample_name, "Sample");
        assert_eq!(name.lane, None);
        assert_eq!(name.to_string(), "Sample_S1_R1_001.fastq.gz");
        assert_eq!(name.dataset_name(), "Sample");
        let name = IlluminaName::parse("Undetermined_S0_L004_R2_001.fastq.gz").unwrap();
        assert_eq!(name.sample_number, 0);
        assert_eq!(name.lane, Some(4));
        // A sample literally named like a lane is still parsed from the right.
        let name = IlluminaName::parse("L001_S1_L001_R1_001.fastq.gz").unwrap();
        assert_eq!(name.sample_name, "L001");
    }

    #[test]
    fn rejects_non_conforming_names() {
        for bad in [
            "Sample_R1.fastq.gz",
            "Sample_S1_L001_R1_001.fastq",
            "Sample_S1_L001_R3_001.fastq.gz",
            "Sample_S1_L01_R1_001.fastq.gz",
            "Sample_S1_L001_R1_1.fastq.gz",
            "Sample_Sx_L001_R1_001.fastq.gz",
            "_S1_L001_R1_001.fastq.gz",
            "S1_L001_R1_001.fastq.gz",
            "Sample__S1_L001_R1_001.fastq.gz",
            "Sample_S1_L001_R1_001.fastq.gz.md5",
            "",
            "_.fastq.gz",
        ] {
            assert_eq!(IlluminaName::parse(bad), None, "{bad}");
        }
        assert!("Sample_R1.fastq.gz".parse::<IlluminaName>().is_err());
    }

    #[test]
    fn relaxed_extensions() {
        let name = IlluminaName::parse_relaxed("Sample_S1_L001_R1_001.fq.gz").unwrap();
        assert_eq!(name.extension, "fq.gz");
        assert!(!name.is_basespace_conformant());
        assert_eq!(name.to_string(), "Sample_S1_L001_R1_001.fq.gz");
        assert_eq!(
            IlluminaName::parse_relaxed("Sample_S1_L001_R1_001.fastq")
                .unwrap()
                .extension,
            "fastq"
        );
        assert!(
            IlluminaName::parse_relaxed("Sample_S1_L001_R1_001.fastq.gz")
                .unwrap()
                .is_basespace_conformant()
        );
        assert!(is_fastq_name("reads.FASTQ.GZ"));
        assert!(is_fastq_name("dir/reads.fq"));
        assert!(is_fastq_name("x.fq.gz"));
        assert!(!is_fastq_name("reads.bam"));
        assert!(!is_fastq_name(".fastq.gz"));
        assert!(!is_fastq_name("reads.fastq.gz.md5"));
    }
}
