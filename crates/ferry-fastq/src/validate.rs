//! Checks a FASTQ.gz file the way BaseSpace does before accepting an upload.
//!
//! [`validate_fastq_gz`] reads the file once: gzip integrity (every member's CRC), record
//! structure, Illumina read headers (`@Instrument:Run:Flowcell:Lane:Tile:X:Y[:UMI]
//! Read:Filter:Control:Index`, unless allowed otherwise) and that reads passed filter, and
//! computes the statistics. [`check_pairs`] then compares the reports of R1 and R2.
//! Every problem is listed with its file, line and record.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::names::{IlluminaName, Read};
use crate::stats::{FastqStats, RecordSink, parse_gz_file};

/// At most this many header problems are listed per file (then a count of the rest).
pub const MAX_LISTED_PROBLEMS: usize = 20;

/// Validation switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Accept read headers that do not follow the Illumina format (`bs upload
    /// --allow-invalid-readnames`).
    pub allow_invalid_readnames: bool,
}

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Line in the decompressed text (from 1), when it applies.
    pub line: Option<u64>,
    /// Record number (from 1), when it applies.
    pub record: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        match (self.line, self.record) {
            (Some(line), Some(record)) => write!(f, ": line {line} (record {record})")?,
            (Some(line), None) => write!(f, ": line {line}")?,
            (None, Some(record)) => write!(f, ": record {record}")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)
    }
}

/// What a valid file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// The file.
    pub file: PathBuf,
    /// Its Illumina name, when the file name follows the convention (BaseSpace requires it; the
    /// caller decides whether to insist).
    #[serde(skip)]
    pub name: Option<IlluminaName>,
    /// Statistics.
    pub stats: FastqStats,
    /// The first read's name (header up to the first space, without '@').
    pub first_read_name: Option<String>,
    /// The read number in the headers (`1` in `1:N:0:1`), when they are Illumina headers.
    pub read_number_in_header: Option<u32>,
    /// The index / sample field of the first header (`1` or `ACGTACGT+TTGCAAGG`).
    pub index_in_header: Option<String>,
    /// Number of reads whose headers follow the Illumina format.
    pub illumina_headers: u64,
    /// Order-sensitive digest of all read names (without read numbers), to compare mates.
    pub names_digest: u64,
}

/// Validates a `.fastq.gz` file. `Ok` only when there is no problem at all.
pub fn validate_fastq_gz(path: impl AsRef<Path>, opts: ValidateOptions) -> Result<FileReport, Vec<Problem>> {
    let path = path.as_ref();
    let name = path.file_name().and_then(|n| n.to_str()).and_then(IlluminaName::parse);
    let expected_read = name.as_ref().and_then(|n| match n.read {
        Read::R1 => Some(1),
        Read::R2 => Some(2),
        Read::I1 | Read::I2 => None,
    });
    let checker = HeaderChecker::new(opts, expected_read);
    let (result, checker) = parse_gz_file(path, checker);
    // Header problems found before a fatal error still count: they come first.
    let mut problems: Vec<Problem> = checker
        .problems
        .iter()
        .map(|(line, record, message)| Problem {
            file: path.to_path_buf(),
            line: Some(*line),
            record: Some(*record),
            message: message.clone(),
        })
        .collect();
    let stats = match result {
        Ok(stats) => stats,
        Err(error) => {
            problems.push(Problem {
                file: path.to_path_buf(),
                line: error.line(),
                record: error.record(),
                message: error.to_string(),
            });
            return Err(problems);
        }
    };
    if checker.unlisted > 0 {
        problems.push(Problem {
            file: path.to_path_buf(),
            line: None,
            record: None,
            message: format!("… and {} more records with header problems", checker.unlisted),
        });
    }
    if stats.reads == 0 {
        problems.push(Problem {
            file: path.to_path_buf(),
            line: None,
            record: None,
            message: "the file holds no reads".to_string(),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(FileReport {
        file: path.to_path_buf(),
        name,
        stats,
        first_read_name: checker.first_name,
        read_number_in_header: checker.read_number,
        index_in_header: checker.first_index,
        illumina_headers: checker.illumina_headers,
        names_digest: checker.digest,
    })
}

/// Checks that two reports are mates: same number of reads, read names equal record by record
/// (apart from the read number), read numbers 1 and 2. Returns every problem (empty when fine).
pub fn check_pairs(r1: &FileReport, r2: &FileReport) -> Vec<Problem> {
    let mut problems = Vec::new();
    let problem = |message: String| Problem {
        file: r2.file.clone(),
        line: None,
        record: None,
        message,
    };
    if r1.stats.reads != r2.stats.reads {
        problems.push(problem(format!(
            "has {} reads but its mate {} has {}; R1 and R2 must have the same number of reads",
            r2.stats.reads,
            r1.file.display(),
            r1.stats.reads
        )));
    } else if r1.names_digest != r2.names_digest {
        problems.push(problem(format!(
            "read names differ from its mate {} (first reads {:?} and {:?}); R1 and R2 must list the same reads in the same order",
            r1.file.display(),
            r1.first_read_name.as_deref().unwrap_or(""),
            r2.first_read_name.as_deref().unwrap_or("")
        )));
    }
    if let (Some(a), Some(b)) = (r1.read_number_in_header, r2.read_number_in_header)
        && (a, b) != (1, 2)
    {
        problems.push(problem(format!(
            "read headers say read {b} and its mate {} says read {a}; expected R1 = 1 and R2 = 2",
            r1.file.display()
        )));
    }
    problems
}

/// Checks headers as they stream by.
struct HeaderChecker {
    opts: ValidateOptions,
    expected_read: Option<u32>,
    first_name: Option<String>,
    first_index: Option<String>,
    read_number: Option<u32>,
    illumina_headers: u64,
    digest: u64,
    /// (line, record, message)
    problems: Vec<(u64, u64, String)>,
    unlisted: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

impl HeaderChecker {
    fn new(opts: ValidateOptions, expected_read: Option<u32>) -> HeaderChecker {
        HeaderChecker {
            opts,
            expected_read,
            first_name: None,
            first_index: None,
            read_number: None,
            illumina_headers: 0,
            digest: FNV_OFFSET,
            problems: Vec::new(),
            unlisted: 0,
        }
    }

    fn problem(&mut self, line: u64, record: u64, message: String) {
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push((line, record, message));
        } else {
            self.unlisted += 1;
        }
    }
}

impl RecordSink for HeaderChecker {
    fn header(&mut self, record: u64, line: u64, header: &[u8]) {
        let split = header
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(header.len());
        let (id, comment) = (&header[..split], header.get(split + 1..).unwrap_or(&[]));
        // Old-style names end in /1 or /2; mates must match without it.
        let mate_id = match id {
            [rest @ .., b'/', b'1' | b'2'] => rest,
            _ => id,
        };
        let mut digest = self.digest;
        for &b in mate_id {
            digest = (digest ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
        self.digest = (digest ^ 0xff).wrapping_mul(FNV_PRIME);
        if record == 1 {
            self.first_name = Some(String::from_utf8_lossy(id).into_owned());
        }
        if id.is_empty() {
            self.problem(line, record, "the read has no name after '@'".to_string());
            return;
        }
        match parse_illumina_header(id, comment) {
            Ok(parsed) => {
                self.illumina_headers += 1;
                if record == 1 {
                    self.first_index = Some(String::from_utf8_lossy(parsed.index).into_owned());
                    self.read_number = Some(parsed.read);
                    if let Some(expected) = self.expected_read
                        && parsed.read != expected
                    {
                        self.problem(
                            line,
                            record,
                            format!(
                                "the header says read {} but the file name says R{expected}",
                                parsed.read
                            ),
                        );
                    }
                } else if self.read_number.is_some_and(|first| first != parsed.read) {
                    let first = self.read_number.unwrap_or_default();
                    self.problem(
                        line,
                        record,
                        format!(
                            "the header says read {} but the first read says read {first}",
                            parsed.read
                        ),
                    );
                }
                if parsed.filtered {
                    self.problem(
                        line,
                        record,
                        "the read is marked as failing the chastity filter (':Y:'); BaseSpace accepts only reads that passed filter".to_string(),
                    );
                }
            }
            Err(reason) if !self.opts.allow_invalid_readnames => {
                let shown = String::from_utf8_lossy(&header[..header.len().min(80)]).into_owned();
                self.problem(
                    line,
                    record,
                    format!(
                        "read header {shown:?} is not in Illumina format @Instrument:Run:Flowcell:Lane:Tile:X:Y Read:Filter:0:Index ({reason}); use --allow-invalid-readnames to upload anyway"
                    ),
                );
            }
            Err(_) => {}
        }
    }
}

struct IlluminaHeader<'a> {
    read: u32,
    filtered: bool,
    index: &'a [u8],
}

fn is_digits(field: &[u8]) -> bool {
    !field.is_empty() && field.iter().all(u8::is_ascii_digit)
}

fn parse_illumina_header<'a>(id: &[u8], comment: &'a [u8]) -> Result<IlluminaHeader<'a>, &'static str> {
    let fields: Vec<&[u8]> = id.split(|&b| b == b':').collect();
    if !(7..=8).contains(&fields.len()) {
        return Err("the name needs 7 or 8 ':'-separated fields");
    }
    if fields[0].is_empty()
        || !fields[0]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        return Err("bad instrument id");
    }
    if !is_digits(fields[1]) {
        return Err("the run number is not a number");
    }
    if fields[2].is_empty()
        || !fields[2]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return Err("bad flow cell id");
    }
    if !fields[3..7].iter().all(|f| is_digits(f)) {
        return Err("lane, tile, x and y must be numbers");
    }
    if fields.len() == 8 && fields[7].is_empty() {
        return Err("empty UMI field");
    }
    let comment = comment.split(|b| b.is_ascii_whitespace()).next().unwrap_or(&[]);
    let parts: Vec<&[u8]> = comment.splitn(4, |&b| b == b':').collect();
    if parts.len() != 4 {
        return Err("the description must be Read:Filter:Control:Index");
    }
    let read = std::str::from_utf8(parts[0])
        .ok()
        .filter(|_| is_digits(parts[0]))
        .and_then(|text| text.parse::<u32>().ok())
        .filter(|read| (1..=4).contains(read))
        .ok_or("the read number must be 1 to 4")?;
    let filtered = match parts[1] {
        b"N" => false,
        b"Y" => true,
        _ => return Err("the filter flag must be Y or N"),
    };
    if !is_digits(parts[2]) {
        return Err("the control number must be a number");
    }
    if parts[3].is_empty() {
        return Err("the index / sample number is missing");
    }
    Ok(IlluminaHeader {
        read,
        filtered,
        index: parts[3],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{SynthSpec, write_fastq_gz};
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("ferry-fastq-validate-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        fn synth(&self, spec: &SynthSpec) -> PathBuf {
            let path = self.0.join(spec.file_name());
            write_fastq_gz(spec, std::fs::File::create(&path).unwrap()).unwrap();
            path
        }

        fn gz(&self, name: &str, text: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            let mut encoder = GzEncoder::new(std::fs::File::create(&path).unwrap(), Compression::fast());
            encoder.write_all(text).unwrap();
            encoder.finish().unwrap();
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn synthetic_pair_is_valid() {
        let dir = Dir::new("pair");
        let spec = SynthSpec::new("Good", 2, 1, 1, 1000);
        let (p1, p2) = (dir.synth(&spec), dir.synth(&spec.mate()));
        let r1 = validate_fastq_gz(&p1, ValidateOptions::default()).unwrap();
        let r2 = validate_fastq_gz(&p2, ValidateOptions::default()).unwrap();
        assert_eq!(r1.stats.reads, 1000);
        assert_eq!(r1.read_number_in_header, Some(1));
        assert_eq!(r2.read_number_in_header, Some(2));
        assert_eq!(r1.index_in_header.as_deref(), Some("2"));
        assert_eq!(r1.illumina_headers, 1000);
        assert!(
            r1.first_read_name
                .as_deref()
                .unwrap()
                .starts_with("NB551234:12:HGYFKBGXY:1:11101:")
        );
        assert_eq!(r1.name.as_ref().unwrap().sample_name, "Good");
        assert!(check_pairs(&r1, &r2).is_empty(), "{:?}", check_pairs(&r1, &r2));
        // Reversed mates, and mates of different samples.
        assert_eq!(check_pairs(&r2, &r1).len(), 1);
        let other = dir.synth(&SynthSpec::new("Other", 3, 1, 2, 1000));
        let r3 = validate_fastq_gz(&other, ValidateOptions::default()).unwrap();
        let problems = check_pairs(&r1, &r3);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("read names differ"), "{}", problems[0]);
        let short = dir.synth(&SynthSpec::new("Good", 2, 1, 2, 999));
        let r4 = validate_fastq_gz(&short, ValidateOptions::default()).unwrap();
        assert!(check_pairs(&r1, &r4)[0].message.contains("has 999 reads"));
    }

    #[test]
    fn header_problems_are_listed_with_lines() {
        let dir = Dir::new("headers");
        let text = b"@NB1:1:FC:1:11101:100:200 1:N:0:1\nACGT\n+\nIIII\n\
                     @read2 some comment\nACGT\n+\nIIII\n\
                     @NB1:1:FC:1:11101:100:201 2:N:0:1\nACGT\n+\nIIII\n\
                     @NB1:1:FC:1:11101:100:202 1:Y:0:1\nACGT\n+\nIIII\n";
        let path = dir.gz("S_S1_L001_R1_001.fastq.gz", text);
        let problems = validate_fastq_gz(&path, ValidateOptions::default()).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!((problems[0].line, problems[0].record), (Some(5), Some(2)));
        assert!(problems[0].message.contains("--allow-invalid-readnames"));
        assert_eq!(problems[1].line, Some(9));
        assert!(problems[1].message.contains("read 2"));
        assert!(problems[2].message.contains("filter"));
        assert!(
            problems[0]
                .to_string()
                .starts_with(&format!("{}: line 5 (record 2): ", path.display()))
        );

        let allowed = ValidateOptions {
            allow_invalid_readnames: true,
        };
        let problems = validate_fastq_gz(&path, allowed).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        let text = b"@read1 x\nACGT\n+\nIIII\n@read2\nACGT\n+\nIIII\n";
        let path = dir.gz("free.fastq.gz", text);
        let report = validate_fastq_gz(&path, allowed).unwrap();
        assert_eq!(report.first_read_name.as_deref(), Some("read1"));
        assert_eq!(report.read_number_in_header, None);
        assert_eq!(report.name, None);
        assert_eq!(
            validate_fastq_gz(&path, ValidateOptions::default()).unwrap_err().len(),
            2
        );
    }

    #[test]
    fn header_file_name_mismatch_and_problem_cap() {
        let dir = Dir::new("cap");
        let spec = SynthSpec::new("Mismatch", 1, 1, 2, 10);
        let path = dir.synth(&spec);
        let renamed = dir.0.join("Mismatch_S1_L001_R1_001.fastq.gz");
        std::fs::rename(&path, &renamed).unwrap();
        let problems = validate_fastq_gz(&renamed, ValidateOptions::default()).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("file name says R1"), "{}", problems[0]);

        let text = b"@bad\nA\n+\nI\n".repeat(50);
        let path = dir.gz("bad.fastq.gz", &text);
        let problems = validate_fastq_gz(&path, ValidateOptions::default()).unwrap_err();
        assert_eq!(problems.len(), MAX_LISTED_PROBLEMS + 1);
        assert!(problems.last().unwrap().message.contains("30 more"));
    }

    #[test]
    fn structure_and_gzip_errors() {
        let dir = Dir::new("structure");
        let path = dir.gz("x.fastq.gz", b"@NB1:1:FC:1:1:1:1 1:N:0:1\nACGT\n+\nIII\n");
        let problems = validate_fastq_gz(&path, ValidateOptions::default()).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].line, problems[0].record), (Some(4), Some(1)));

        let good = dir.synth(&SynthSpec::new("Cut", 1, 1, 1, 3000));
        let bytes = std::fs::read(&good).unwrap();
        std::fs::write(&good, &bytes[..bytes.len() - 100]).unwrap();
        let problems = validate_fastq_gz(&good, ValidateOptions::default()).unwrap_err();
        assert!(problems[0].message.contains("truncated"), "{}", problems[0]);

        // Header problems before a fatal error are kept.
        let path = dir.gz("both.fastq.gz", b"@bad\nA\n+\nI\n@NB1:1:FC:1:1:1:1 1:N:0:1\nAC\n+\nI\n");
        let problems = validate_fastq_gz(&path, ValidateOptions::default()).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].line, Some(1));
        assert_eq!(problems[1].line, Some(8));

        let plain = dir.0.join("plain.fastq.gz");
        std::fs::write(&plain, b"@r\nA\n+\nI\n").unwrap();
        let problems = validate_fastq_gz(&plain, ValidateOptions::default()).unwrap_err();
        assert!(problems[0].message.contains("not gzip"), "{}", problems[0]);

        let empty = dir.gz("empty.fastq.gz", b"");
        let problems = validate_fastq_gz(&empty, ValidateOptions::default()).unwrap_err();
        assert!(problems[0].message.contains("no reads"), "{}", problems[0]);

        let problems = validate_fastq_gz(dir.0.join("missing.fastq.gz"), ValidateOptions::default()).unwrap_err();
        assert!(problems[0].message.contains("missing.fastq.gz"), "{}", problems[0]);
    }
}
