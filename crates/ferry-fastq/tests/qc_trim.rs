//! QC, record I/O and trimming through the public API, on handmade inputs whose figures are
//! computed by hand or by straightforward reference code.

use std::io::Read;
use std::path::{Path, PathBuf};

use ferry_fastq::qc::{ADAPTERS, QcAccumulator, QcReport, qc_of_file, render_html};
use ferry_fastq::records::{FastqRecord, GzRecordWriter, RecordReader};
use ferry_fastq::stats::FastqError;
use ferry_fastq::trim::{
    Mate, ToolkitError, ToolkitOptions, ToolkitSummary, TrimOptions, run_toolkit, trim_record, trim_record_outcome,
};

/// A fresh directory for one test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ferry-fastq-qc-trim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn phred(scores: &[u8]) -> Vec<u8> {
    scores.iter().map(|q| q + 33).collect()
}

fn record(header: &str, sequence: &str, scores: &[u8]) -> FastqRecord {
    assert_eq!(sequence.len(), scores.len(), "test record {header}");
    FastqRecord::new(header, sequence, phred(scores))
}

/// A record with all qualities 40.
fn good(header: &str, sequence: &str) -> FastqRecord {
    record(header, sequence, &vec![40; sequence.len()])
}

fn fastq_text(records: &[FastqRecord]) -> Vec<u8> {
    let mut text = Vec::new();
    for r in records {
        text.push(b'@');
        text.extend_from_slice(&r.header);
        text.push(b'\n');
        text.extend_from_slice(&r.sequence);
        text.extend_from_slice(b"\n+\n");
        text.extend_from_slice(&r.quality);
        text.push(b'\n');
    }
    text
}

fn write_plain(path: &Path, records: &[FastqRecord]) {
    std::fs::write(path, fastq_text(records)).unwrap();
}

fn write_gz(path: &Path, records: &[FastqRecord]) {
    let mut writer = GzRecordWriter::new(std::fs::File::create(path).unwrap());
    for r in records {
        writer.write(r).unwrap();
    }
    writer.finish().unwrap().sync_all().unwrap();
}

fn read_records(path: &Path) -> Vec<FastqRecord> {
    let mut reader = RecordReader::open(path).unwrap();
    let mut records = Vec::new();
    let mut r = FastqRecord::default();
    while reader.next_record(&mut r).unwrap() {
        records.push(r.clone());
    }
    records
}

fn qc_of(records: &[FastqRecord]) -> QcReport {
    let mut qc = QcAccumulator::new();
    for r in records {
        qc.add(r);
    }
    qc.finish()
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-9
}

#[track_caller]
fn assert_close(actual: f64, expected: f64) {
    assert!(close(actual, expected), "{actual} != {expected}");
}

/// Deterministic pseudo-random numbers for generated inputs.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

#[test]
fn qc_figures_of_a_small_input_match_hand_computation() {
    let records = [
        record("a", "ACGTN", &[40, 40, 2, 20, 30]),
        record("b", "ggcc", &[0, 0, 93, 93]),
        record("c", "", &[]),
        record("d", "AAAT", &[10, 20, 30, 40]),
    ];
    let report = qc_of(&records);
    assert_eq!((report.reads, report.bases), (4, 13));
    assert_eq!((report.min_length, report.max_length), (0, 5));
    assert_close(report.mean_quality, 418.0 / 13.0);
    assert_close(report.gc_percent, 600.0 / 13.0);
    assert_close(report.n_percent, 100.0 / 13.0);
    assert_close(report.q30_percent, 700.0 / 13.0);

    let q = &report.per_position_quality;
    assert_eq!(q.len(), 5);
    // Position 1 holds 40, 0, 10: ranks 1, 1, 2, 3, 3 for p10, Q1, median, Q3, p90.
    assert_eq!((q[0].position, q[0].reads), (1, 3));
    assert_close(q[0].mean, 50.0 / 3.0);
    assert_eq!(
        (
            q[0].p10,
            q[0].lower_quartile,
            q[0].median,
            q[0].upper_quartile,
            q[0].p90
        ),
        (0, 0, 10, 40, 40)
    );
    // Position 3 holds 2, 93, 30.
    assert_eq!(
        (
            q[2].p10,
            q[2].lower_quartile,
            q[2].median,
            q[2].upper_quartile,
            q[2].p90
        ),
        (2, 2, 30, 93, 93)
    );
    // Position 5: only read a (30).
    assert_eq!((q[4].position, q[4].reads), (5, 1));
    assert_close(q[4].mean, 30.0);
    assert_eq!((q[4].p10, q[4].median, q[4].p90), (30, 30, 30));

    let c = &report.per_position_composition;
    assert_eq!(c.len(), 5);
    assert_eq!(c[0].position, 1);
    assert_close(c[0].a, 200.0 / 3.0);
    assert_close(c[0].g, 100.0 / 3.0);
    assert_close(c[0].c + c[0].t + c[0].n, 0.0);
    // Position 4: T (a), c (b), T (d).
    assert_close(c[3].t, 200.0 / 3.0);
    assert_close(c[3].c, 100.0 / 3.0);
    assert_close(c[4].n, 100.0);

    let mut gc = vec![0u64; 101];
    gc[40] = 1; // ACGTN: 2 of 5
    gc[100] = 1; // ggcc
    gc[0] = 1; // AAAT; the empty read is not counted
    assert_eq!(report.gc_distribution, gc);

    let lengths: Vec<(u64, u64)> = report.length_distribution.iter().map(|l| (l.length, l.reads)).collect();
    assert_eq!(lengths, [(0, 1), (4, 2), (5, 1)]);

    assert_eq!(report.adapter_content.len(), 4);
    for (content, (name, sequence)) in report.adapter_content.iter().zip(ADAPTERS) {
        assert_eq!((content.name.as_str(), content.sequence.as_str()), (name, sequence));
        assert_eq!(content.percent_by_position, vec![0.0; 5]);
    }
    assert_eq!(
        (report.duplication.sampled_reads, report.duplication.distinct_in_sample),
        (4, 4)
    );
    assert_close(report.duplication.duplicate_percent, 0.0);

    // The empty report.
    let empty = QcAccumulator::default().finish();
    assert_eq!((empty.reads, empty.min_length, empty.max_length), (0, 0, 0));
    assert_eq!(empty.gc_distribution, vec![0; 101]);
    assert!(empty.per_position_quality.is_empty() && empty.length_distribution.is_empty());
    assert_eq!(empty.mean_quality, 0.0);
}

#[test]
fn quartiles_follow_the_documented_rank_rule() {
    // Ten reads of length 1 with Phred 1..=10 (shuffled).
    let records: Vec<FastqRecord> = [7u8, 3, 10, 1, 5, 9, 2, 8, 4, 6]
        .iter()
        .map(|&q| record("r", "A", &[q]))
        .collect();
    let p = &qc_of(&records).per_position_quality[0];
    // ranks: ceil(10/10)=1, ceil(10/4)=3, ceil(10/2)=5, ceil(30/4)=8, ceil(90/10)=9
    assert_eq!(
        (p.p10, p.lower_quartile, p.median, p.upper_quartile, p.p90),
        (1, 3, 5, 8, 9)
    );
    assert_close(p.mean, 5.5);

    // Random reads against a reference: sort the scores of a position; the quantile for num/den
    // is the value at rank max(1, ceil(n × num / den)).
    let mut random = Lcg(5);
    let records: Vec<FastqRecord> = (0..997)
        .map(|i| {
            let length = 1 + random.below(60) as usize;
            let scores: Vec<u8> = (0..length).map(|_| random.below(42) as u8).collect();
            record(&format!("r{i}"), &"G".repeat(length), &scores)
        })
        .collect();
    let report = qc_of(&records);
    for p in &report.per_position_quality {
        let index = p.position as usize - 1;
        let mut scores: Vec<u64> = records
            .iter()
            .filter_map(|r| r.quality.get(index).map(|&c| u64::from(c - 33)))
            .collect();
        scores.sort_unstable();
        let n = scores.len() as u64;
        let at = |num: u64, den: u64| scores[((n * num).div_ceil(den).max(1) - 1) as usize] as u8;
        assert_eq!(p.reads, n);
        assert_eq!(
            (p.p10, p.lower_quartile, p.median, p.upper_quartile, p.p90),
            (at(1, 10), at(1, 4), at(1, 2), at(3, 4), at(9, 10)),
            "position {}",
            p.position
        );
        assert_close(p.mean, scores.iter().sum::<u64>() as f64 / n as f64);
    }
    assert_eq!(report.per_position_quality.len() as u64, report.max_length);
}

#[test]
fn gc_distribution_rounds_half_away_from_zero() {
    let records = [
        good("1", "GCAAAAAA"), // 25
        good("2", "GAAAAAAA"), // 12.5 -> 13
        good("3", "GCA"),      // 66.67 -> 67
        good("4", "gcN"),      // 66.67 -> 67
        good("5", "GGGGGGGA"), // 87.5 -> 88
        good("6", "NNNNNNNN"), // 0
        good("7", ""),         // not counted
    ];
    let report = qc_of(&records);
    let mut expected = vec![0u64; 101];
    expected[25] = 1;
    expected[13] = 1;
    expected[67] = 2;
    expected[88] = 1;
    expected[0] = 1;
    assert_eq!(report.gc_distribution, expected);
}

#[test]
fn adapter_content_is_cumulative_over_all_reads() {
    let records = [
        good("1", "CCCAGATCGGAAGAGCCCCC"), // Illumina at 0-based 3
        good("2", "CCCCCCCCagatcggaagag"), // Illumina (lower case) at 8
        good("3", "CCCCCCCCCCCCAGATCGGA"), // only a partial adapter: not counted
        good("4", "AAAAAAAAAAAAAAAAAAAA"), // polyA at 0
    ];
    let report = qc_of(&records);
    let by_name = |name: &str| report.adapter_content.iter().find(|a| a.name.contains(name)).unwrap();
    let illumina = &by_name("Universal").percent_by_position;
    assert_eq!(illumina.len(), 20);
    for (index, &percent) in illumina.iter().enumerate() {
        let expected = match index {
            0..=2 => 0.0,
            3..=7 => 25.0,
            _ => 50.0,
        };
        assert_close(percent, expected);
    }
    assert_eq!(by_name("PolyA").percent_by_position, vec![25.0; 20]);
    assert_eq!(by_name("Nextera").percent_by_position, vec![0.0; 20]);
    assert_eq!(by_name("Small RNA").percent_by_position, vec![0.0; 20]);
}

#[test]
fn duplication_follows_the_documented_rule() {
    let long_a = format!("{}{}", "ACGT".repeat(20), "A"); // 81 bases
    let long_b = format!("{}{}", "ACGT".repeat(20), "C"); // same first 50 bases
    let mid_a = format!("{}{}", "ACGT".repeat(18), "AAA"); // 75 bases: not truncated
    let mid_b = format!("{}{}", "ACGT".repeat(18), "CCC");
    let records = [
        good("1", "AAA"),
        good("2", "AAA"),
        good("3", "CCC"),
        good("4", "AAA"),
        good("5", "aaa"), // case-sensitive: a new sequence
        good("6", &long_a),
        good("7", &long_b),
        good("8", &mid_a),
        good("9", &mid_b),
        good("10", ""),
        good("11", ""),
    ];
    let d = qc_of(&records).duplication;
    // Keys: AAA×3, CCC, aaa, long(50)×2, mid_a, mid_b, ""×2 → 11 reads, 7 distinct.
    assert_eq!((d.sampled_reads, d.distinct_in_sample), (11, 7));
    assert_close(d.duplicate_percent, 100.0 * (1.0 - 7.0 / 11.0));

    // The cap: 100 000 distinct sequences are tracked; later new ones are ignored, repeats of
    // tracked ones still count.
    let name = |i: u64| -> String {
        (0..10)
            .map(|k| ['A', 'C', 'G', 'T'][((i >> (2 * k)) & 3) as usize])
            .collect()
    };
    let mut qc = QcAccumulator::new();
    let mut r = FastqRecord::default();
    let mut set = |qc: &mut QcAccumulator, sequence: &str| {
        r.sequence = sequence.as_bytes().to_vec();
        r.quality = vec![b'I'; sequence.len()];
        qc.add(&r);
    };
    for i in 0..100_000 {
        set(&mut qc, &name(i));
    }
    for i in 100_000..100_010 {
        set(&mut qc, &name(i));
    }
    set(&mut qc, &name(0));
    set(&mut qc, &name(100_001));
    set(&mut qc, &name(99_999));
    let d = qc.finish().duplication;
    assert_eq!((d.sampled_reads, d.distinct_in_sample), (100_002, 100_000));
    assert_close(d.duplicate_percent, 100.0 * (1.0 - 100_000.0 / 100_002.0));
}

fn varied_records(count: usize, seed: u64) -> Vec<FastqRecord> {
    let mut random = Lcg(seed);
    (0..count)
        .map(|i| {
            let length = random.below(151) as usize;
            let mut sequence: Vec<u8> = (0..length)
                .map(|_| b"ACGTACGTACGTNacgt"[random.below(17) as usize])
                .collect();
            if i % 7 == 0 && length > 20 {
                let at = random.below(length as u64 - 12) as usize;
                sequence[at..at + 12].copy_from_slice(b"CTGTCTCTTATA");
            }
            let quality: Vec<u8> = (0..length).map(|_| b'!' + random.below(42) as u8).collect();
            FastqRecord::new(format!("read{i} 1:N:0:1"), sequence, quality)
        })
        .collect()
}

#[test]
fn files_plain_and_gzip_give_the_accumulator_report() {
    let dir = TempDir::new("files");
    let records = varied_records(3000, 9);
    let expected = qc_of(&records);
    assert_eq!(expected.reads, 3000);
    let plain = dir.path("reads.fastq");
    write_plain(&plain, &records);
    let gz = dir.path("reads.fastq.gz");
    write_gz(&gz, &records);
    assert_eq!(qc_of_file(&plain).unwrap(), expected);
    assert_eq!(qc_of_file(&gz).unwrap(), expected);
    assert_eq!(read_records(&plain), records);
    assert_eq!(read_records(&gz), records);
    let nextera = expected
        .adapter_content
        .iter()
        .find(|a| a.name.contains("Nextera"))
        .unwrap();
    assert!(*nextera.percent_by_position.last().unwrap() > 10.0);

    // Two gzip members concatenated, CRLF line ends.
    let mut joined = Vec::new();
    for part in [&records[..1000], &records[1000..]] {
        let mut writer = GzRecordWriter::new(Vec::new());
        for r in part {
            writer.write(r).unwrap();
        }
        joined.extend(writer.finish().unwrap());
    }
    std::fs::write(&gz, &joined).unwrap();
    assert_eq!(qc_of_file(&gz).unwrap(), expected);
    let crlf: Vec<u8> = fastq_text(&records)
        .iter()
        .flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] })
        .collect();
    std::fs::write(&plain, crlf).unwrap();
    assert_eq!(qc_of_file(&plain).unwrap(), expected);

    // The report serialises with snake_case field names and comes back equal.
    let value = serde_json::to_value(&expected).unwrap();
    for key in [
        "reads",
        "bases",
        "min_length",
        "max_length",
        "mean_quality",
        "gc_percent",
        "n_percent",
        "q30_percent",
        "per_position_quality",
        "per_position_composition",
        "gc_distribution",
        "length_distribution",
        "adapter_content",
        "duplication",
    ] {
        assert!(value.get(key).is_some(), "{key}");
    }
    assert!(value["per_position_quality"][0].get("lower_quartile").is_some());
    assert!(value["adapter_content"][0].get("percent_by_position").is_some());
    assert!(value["duplication"].get("duplicate_percent").is_some());
    let back: QcReport = serde_json::from_value(value).unwrap();
    assert_eq!(back, expected);
}

#[test]
fn malformed_input_is_an_error_with_line_and_record() {
    let dir = TempDir::new("malformed");
    let path = dir.path("bad.fastq");
    let cases: [(&[u8], u64, u64); 4] = [
        (b"@r1\nACGT\n+\nIIII\nr2\nACGT\n+\nIIII\n", 5, 2),
        (b"@r1\nACGT\n+\nIIII\n@r2\nAC-T\n-\nIIII\n", 7, 2),
        (b"@r1\nACGT\n+\nII\x01I\n", 4, 1),
        (b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\n", 7, 2),
    ];
    for (text, line, record) in cases {
        std::fs::write(&path, text).unwrap();
        let error = qc_of_file(&path).unwrap_err();
        assert_eq!((error.line(), error.record()), (Some(line), Some(record)), "{error}");
        let mut reader = RecordReader::open(&path).unwrap();
        let mut r = FastqRecord::default();
        for _ in 1..record {
            assert!(reader.next_record(&mut r).unwrap());
        }
        let pulled = reader.next_record(&mut r).unwrap_err();
        assert_eq!(pulled.to_string(), error.to_string());
    }
    let gz = dir.path("cut.fastq.gz");
    write_gz(&gz, &varied_records(500, 1));
    let whole = std::fs::read(&gz).unwrap();
    std::fs::write(&gz, &whole[..whole.len() / 2]).unwrap();
    assert!(matches!(qc_of_file(&gz), Err(FastqError::TruncatedGzip { .. })));
    let missing = qc_of_file(&dir.path("missing.fastq")).unwrap_err();
    assert!(missing.to_string().contains("missing.fastq"), "{missing}");
}

#[test]
fn html_report_is_self_contained_and_escapes_the_title() {
    let report = qc_of(&varied_records(200, 3));
    let html = render_html(&report, "<script>alert('x')</script> & \"R1\"");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<title>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;R1&quot;</title>"));
    assert!(!html.to_lowercase().contains("<script"));
    assert_eq!(html.matches("<svg").count(), 5);
    assert_eq!(html.matches("</svg>").count(), 5);
    for external in ["http:", "https:", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(external), "{external}");
    }
    assert!(html.contains("<style>"));
    // Long reads switch the quality plot to bands; an empty report still renders.
    let long = qc_of(&[good("long", &"ACGT".repeat(400))]);
    assert!(render_html(&long, "long").contains("<polygon"));
    let empty = render_html(&QcAccumulator::new().finish(), "empty");
    assert_eq!(empty.matches("<svg").count(), 5);
    assert!(!empty.contains("NaN") && !empty.contains("inf"));
}

#[test]
fn real_fastq_files_if_present() {
    // bowtie2's example reads: as unpacked by hand, and as Debian's bowtie2-examples ships them.
    for path in [
        "/usr/share/bowtie2/example/reads/reads_1.fq",
        "/usr/share/doc/bowtie2/examples/reads/reads_1.fq.gz",
        "/usr/share/doc/bowtie2/examples/reads/reads_2.fq.gz",
    ] {
        let path = Path::new(path);
        if !path.exists() {
            continue;
        }
        let mut text = Vec::new();
        let file = std::fs::read(path).unwrap();
        if file.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(&file[..])
                .read_to_end(&mut text)
                .unwrap();
        } else {
            text = file;
        }
        let lines = text.split(|&b| b == b'\n').filter(|line| !line.is_empty()).count() as u64;
        let report = qc_of_file(path).unwrap();
        assert!(report.reads > 0);
        assert_eq!(report.reads, lines / 4, "{}", path.display());
        let records = read_records(path);
        assert_eq!(records.len() as u64, report.reads);
        assert_eq!(report.bases, records.iter().map(|r| r.len() as u64).sum::<u64>());
        assert_eq!(qc_of(&records), report);
        assert!(render_html(&report, "reads").contains("<svg"));
    }
}

// ---------------------------------------------------------------------------------------------
// Trimming

fn options(quality_threshold: u8, adapter: &str, min_length: usize) -> TrimOptions {
    TrimOptions {
        quality_threshold,
        adapter: adapter.as_bytes().to_vec(),
        min_length,
    }
}

const ADAPTER: &str = "AGATCGGAAGAGC";

#[test]
fn quality_trimming_follows_bwa() {
    let mut r = record("bwa", "ACGTACGTAC", &[42, 40, 26, 27, 8, 7, 11, 4, 2, 3]);
    let outcome = trim_record_outcome(&mut r, &options(10, "", 0));
    assert_eq!(r.sequence, b"ACGT");
    assert_eq!(r.quality, phred(&[42, 40, 26, 27]));
    assert_eq!(r.header, b"bwa");
    assert_eq!(
        (outcome.quality_trimmed, outcome.adapter_trimmed, outcome.kept),
        (6, 0, 4)
    );

    // Threshold 0 disables quality trimming.
    let mut r = record("off", "ACGT", &[0, 0, 0, 0]);
    trim_record(&mut r, &options(0, "", 0));
    assert_eq!(r.sequence, b"ACGT");
    // A low base inside good ones is kept when the sum turns negative first.
    let mut r = record("dip", "ACGTA", &[30, 30, 2, 30, 30]);
    trim_record(&mut r, &options(20, "", 0));
    assert_eq!(r.sequence, b"ACGTA");
    // All low: everything goes.
    let mut r = record("low", "ACG", &[2, 2, 2]);
    trim_record(&mut r, &options(20, "", 0));
    assert!(r.sequence.is_empty() && r.quality.is_empty());
}

#[test]
fn adapter_trimming_full_partial_case_and_minimum_overlap() {
    let cut = |sequence: &str| {
        let mut r = good("r", sequence);
        trim_record(&mut r, &options(0, ADAPTER, 0));
        assert_eq!(r.sequence.len(), r.quality.len());
        String::from_utf8(r.sequence).unwrap()
    };
    assert_eq!(cut("ACGTACGTAGATCGGAAGAGCTTT"), "ACGTACGT"); // full
    assert_eq!(cut("AGATCGGAAGAGC"), ""); // the whole read
    assert_eq!(cut("ACGTACGTacgtAGATCGGAAGAGCAGATCGGAAGAGC"), "ACGTACGTacgt"); // leftmost
    assert_eq!(cut("acgtacgtagatcggaagagctt"), "acgtacgt"); // case-insensitive
    assert_eq!(cut("CCCCCCCCAGATCGGAA"), "CCCCCCCC"); // partial: 9 bases of the adapter at the end
    assert_eq!(cut("CCCCCCCCAGA"), "CCCCCCCC"); // partial: 3 bases, the minimum
    assert_eq!(cut("CCCCCCCCAG"), "CCCCCCCCAG"); // 2 bases: too short to count
    assert_eq!(cut("CCCCCCCCAGATCGGTAGAGCCC"), "CCCCCCCCAGATCGGTAGAGCCC"); // a mismatch: exact only
    assert_eq!(cut("CCCCCCCCAGATCGGAAGAGG"), "CCCCCCCCAGATCGGAAGAGG"); // partial must reach the end
    let mut r = good("r", "ACGTAGATCGGAAGAGC");
    trim_record(&mut r, &options(0, "", 0));
    assert_eq!(r.sequence.len(), 17, "empty adapter disables adapter trimming");

    // Quality first, then the adapter on what is left: the quality cut leaves "AGA" at the end.
    let mut r = record("both", "CCCCCAGATCGG", &[40, 40, 40, 40, 40, 40, 40, 40, 2, 2, 2, 2]);
    let outcome = trim_record_outcome(&mut r, &options(20, ADAPTER, 0));
    assert_eq!(r.sequence, b"CCCCC");
    assert_eq!(
        (outcome.quality_trimmed, outcome.adapter_trimmed, outcome.kept),
        (4, 3, 5)
    );
}

fn toolkit(
    r1_in: &Path,
    r2_in: Option<&Path>,
    r1_out: &Path,
    r2_out: Option<&Path>,
    options: &ToolkitOptions,
) -> Result<(ToolkitSummary, Vec<u64>), ToolkitError> {
    let mut calls = Vec::new();
    let summary = run_toolkit(r1_in, r2_in, r1_out, r2_out, options, &mut |n| calls.push(n))?;
    Ok((summary, calls))
}

#[test]
fn single_end_trimming_filters_and_writes_gzip() {
    let dir = TempDir::new("single");
    let input = vec![
        record("r1 keep", "ACGTACGTAC", &[40; 10]),
        record("r2 adapter", "ACGTACAGATCGGAAGAGC", &[40; 19]),
        record("r3 quality", "ACGTACGTAC", &[40, 40, 40, 40, 40, 40, 2, 2, 2, 2]),
        record("r4 short", "ACGTAGATCGG", &[40; 11]),
        record(
            "r5 both",
            "ACGTACGTAGATC",
            &[40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 2, 2],
        ),
    ];
    let r1_in = dir.path("in.fastq");
    write_plain(&r1_in, &input);
    let out = dir.path("out.fastq.gz");
    let opts = ToolkitOptions {
        trim: options(20, ADAPTER, 6),
        subsample: None,
        seed: 1,
    };
    let (summary, calls) = toolkit(&r1_in, None, &out, None, &opts).unwrap();
    assert_eq!(
        summary,
        ToolkitSummary {
            reads_in: 5,
            reads_passing: 4,
            reads_out: 4,
            bases_in: 10 + 19 + 10 + 11 + 13,
            bases_out: 10 + 6 + 6 + 8,
            too_short: 1,
            adapter_trimmed: 3,
            quality_trimmed: 2,
        }
    );
    assert_eq!(calls.last(), Some(&5));
    let output = read_records(&out);
    let headers: Vec<&[u8]> = output.iter().map(|r| r.header.as_slice()).collect();
    assert_eq!(headers, [&b"r1 keep"[..], b"r2 adapter", b"r3 quality", b"r5 both"]);
    assert_eq!(output[1].sequence, b"ACGTAC");
    assert_eq!(output[2].quality, phred(&[40; 6]));
    assert_eq!(output[3].sequence, b"ACGTACGT");
    // Output is gzip (single member) and nothing else is left in the directory.
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut text).unwrap();
    assert_eq!(text, fastq_text(&output));
    assert_eq!(dir.names(), ["in.fastq", "out.fastq.gz"]);

    // An existing output is replaced; gzip input works too.
    let gz_in = dir.path("in.fastq.gz");
    write_gz(&gz_in, &input);
    let (again, _) = toolkit(&gz_in, None, &out, None, &opts).unwrap();
    assert_eq!(again, summary);
    assert_eq!(read_records(&out), output);
}

fn pair_inputs(count: usize) -> (Vec<FastqRecord>, Vec<FastqRecord>) {
    let mut random = Lcg(77);
    let mut r1 = Vec::new();
    let mut r2 = Vec::new();
    for i in 0..count {
        let mut mate = |read: u8| {
            let length = 30 + random.below(20) as usize;
            // No A: no chance adapter prefix at the 3' end.
            let mut sequence: Vec<u8> = (0..length).map(|_| b"CGT"[random.below(3) as usize]).collect();
            // Every fifth pair has the adapter early in one mate, making that mate short.
            if i % 5 == 0 && read == if i % 10 == 0 { 1 } else { 2 } {
                sequence[4..4 + ADAPTER.len()].copy_from_slice(ADAPTER.as_bytes());
            }
            FastqRecord::new(format!("pair{i} {read}:N:0:1"), sequence, vec![b'I'; length])
        };
        r1.push(mate(1));
        r2.push(mate(2));
    }
    (r1, r2)
}

fn pair_number(header: &[u8]) -> u64 {
    let text = std::str::from_utf8(header).unwrap();
    text[4..text.find(' ').unwrap()].parse().unwrap()
}

#[test]
fn pairs_are_dropped_together_and_stay_in_sync() {
    let dir = TempDir::new("pairs");
    let (r1, r2) = pair_inputs(100);
    let (r1_in, r2_in) = (dir.path("R1.fastq.gz"), dir.path("R2.fastq"));
    write_gz(&r1_in, &r1);
    write_plain(&r2_in, &r2);
    let (r1_out, r2_out) = (dir.path("out_R1.fastq.gz"), dir.path("out_R2.fastq.gz"));
    let opts = ToolkitOptions {
        trim: options(0, ADAPTER, 20),
        subsample: None,
        seed: 0,
    };
    let (summary, _) = toolkit(&r1_in, Some(&r2_in), &r1_out, Some(&r2_out), &opts).unwrap();
    assert_eq!(summary.reads_in, 100);
    assert_eq!(summary.too_short, 20);
    assert_eq!(summary.adapter_trimmed, 20);
    assert_eq!((summary.reads_passing, summary.reads_out), (80, 80));
    let bases = |records: &[FastqRecord]| records.iter().map(|r| r.len() as u64).sum::<u64>();
    assert_eq!(summary.bases_in, bases(&r1) + bases(&r2));
    let (out1, out2) = (read_records(&r1_out), read_records(&r2_out));
    assert_eq!(summary.bases_out, bases(&out1) + bases(&out2));
    assert_eq!((out1.len(), out2.len()), (80, 80));
    for (a, b) in out1.iter().zip(&out2) {
        let number = pair_number(&a.header);
        assert_eq!(number, pair_number(&b.header));
        assert_ne!(number % 5, 0);
        assert_eq!(a, &r1[number as usize]);
        assert_eq!(b, &r2[number as usize]);
    }
}

#[test]
fn mismatched_pairs_are_an_error_naming_both_files() {
    let dir = TempDir::new("mismatch");
    let (r1, r2) = pair_inputs(10);
    let (r1_in, r2_in) = (dir.path("S_R1.fastq"), dir.path("S_R2.fastq"));
    write_plain(&r1_in, &r1);
    write_plain(&r2_in, &r2[..7]);
    let (r1_out, r2_out) = (dir.path("o1.fastq.gz"), dir.path("o2.fastq.gz"));
    let opts = ToolkitOptions {
        trim: options(0, "", 0),
        subsample: None,
        seed: 0,
    };
    let error = toolkit(&r1_in, Some(&r2_in), &r1_out, Some(&r2_out), &opts).unwrap_err();
    assert!(
        matches!(
            error,
            ToolkitError::PairMismatch {
                ended: Mate::R2,
                records: 7,
                ..
            }
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("S_R1.fastq") && message.contains("S_R2.fastq"),
        "{message}"
    );
    // Nothing is left behind.
    assert_eq!(dir.names(), ["S_R1.fastq", "S_R2.fastq"]);

    write_plain(&r2_in, &r2);
    write_plain(&r1_in, &r1[..3]);
    let error = toolkit(&r1_in, Some(&r2_in), &r1_out, Some(&r2_out), &opts).unwrap_err();
    assert!(
        matches!(
            error,
            ToolkitError::PairMismatch {
                ended: Mate::R1,
                records: 3,
                ..
            }
        ),
        "{error}"
    );
    // Subsampling finds the mismatch in its counting pass.
    let sub = ToolkitOptions {
        subsample: Some(2),
        ..opts.clone()
    };
    assert!(matches!(
        toolkit(&r1_in, Some(&r2_in), &r1_out, Some(&r2_out), &sub),
        Err(ToolkitError::PairMismatch { .. })
    ));

    // A malformed input names its file; an R2 input needs an R2 output.
    std::fs::write(&r1_in, b"@r\nACGT\n+\nIII\n").unwrap();
    let error = toolkit(&r1_in, None, &r1_out, None, &opts).unwrap_err();
    assert!(
        matches!(&error, ToolkitError::Fastq { path, source: FastqError::LengthMismatch { .. } } if path == &r1_in)
    );
    assert!(error.to_string().contains("S_R1.fastq"), "{error}");
    assert!(matches!(
        toolkit(&r1_in, Some(&r2_in), &r1_out, None, &opts),
        Err(ToolkitError::Arguments(_))
    ));
    let error = toolkit(&dir.path("none.fastq"), None, &r1_out, None, &opts).unwrap_err();
    assert!(error.to_string().contains("none.fastq"), "{error}");
    let error = toolkit(&r2_in, None, &dir.path("no/such/dir/out.fastq.gz"), None, &opts).unwrap_err();
    assert!(matches!(error, ToolkitError::Io { .. }), "{error}");
    assert_eq!(dir.names(), ["S_R1.fastq", "S_R2.fastq"]);
}

#[test]
fn subsampling_is_exact_deterministic_and_keeps_order() {
    let dir = TempDir::new("subsample");
    let (r1, r2) = pair_inputs(1000);
    let (r1_in, r2_in) = (dir.path("R1.fastq"), dir.path("R2.fastq"));
    write_plain(&r1_in, &r1);
    write_plain(&r2_in, &r2);
    let run = |subsample: Option<u64>, seed: u64, name: &str| {
        let (o1, o2) = (
            dir.path(&format!("{name}_R1.fastq.gz")),
            dir.path(&format!("{name}_R2.fastq.gz")),
        );
        let opts = ToolkitOptions {
            trim: options(0, ADAPTER, 20),
            subsample,
            seed,
        };
        let (summary, calls) = toolkit(&r1_in, Some(&r2_in), &o1, Some(&o2), &opts).unwrap();
        let (out1, out2) = (read_records(&o1), read_records(&o2));
        assert_eq!(out1.len() as u64, summary.reads_out);
        assert_eq!(out2.len() as u64, summary.reads_out);
        let numbers: Vec<u64> = out1.iter().map(|r| pair_number(&r.header)).collect();
        let numbers2: Vec<u64> = out2.iter().map(|r| pair_number(&r.header)).collect();
        assert_eq!(numbers, numbers2, "mates in sync");
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "input order kept");
        assert!(numbers.iter().all(|n| n % 5 != 0), "only passing pairs");
        (summary, numbers, calls)
    };
    let (summary, first, calls) = run(Some(100), 7, "a");
    assert_eq!(
        (summary.reads_in, summary.reads_passing, summary.reads_out),
        (1000, 800, 100)
    );
    assert_eq!(first.len(), 100);
    // Two passes: the progress count keeps rising to twice the input.
    assert_eq!(calls.last(), Some(&2000));
    assert!(calls.windows(2).all(|w| w[0] <= w[1]));
    let (_, again, _) = run(Some(100), 7, "b");
    assert_eq!(again, first, "same seed, same selection");
    let (_, other, _) = run(Some(100), 8, "c");
    assert_ne!(other, first, "another seed, another selection");
    assert_eq!(other.len(), 100);
    let (summary, all, _) = run(Some(5000), 7, "d");
    assert_eq!((summary.reads_out, all.len()), (800, 800));
    let (summary, none, _) = run(Some(0), 7, "e");
    assert_eq!((summary.reads_out, none.len(), summary.bases_out), (0, 0, 0));
    let (summary, unsampled, calls) = run(None, 7, "f");
    assert_eq!((summary.reads_out, unsampled.len()), (800, 800));
    assert_eq!(calls.last(), Some(&1000));

    // Selection is roughly uniform: over many seeds every passing pair gets picked about
    // 100/800 of the time.
    let mut picks = vec![0u32; 1000];
    for seed in 0..40 {
        let (_, numbers, _) = run(Some(100), 1000 + seed, "u");
        for n in numbers {
            picks[n as usize] += 1;
        }
    }
    let first_half: u32 = picks[..500].iter().sum();
    let second_half: u32 = picks[500..].iter().sum();
    assert_eq!(first_half + second_half, 4000);
    assert!((1700..2300).contains(&first_half), "{first_half} vs {second_half}");
}
