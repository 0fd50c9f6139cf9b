//! FASTQ QC and FASTQ Toolkit launched with `bs` on reads uploaded with `bs`: their outputs are
//! downloaded (verified) and checked against the test's own reading of the same bytes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::launch::{demo_project, launch};
use crate::support::*;

const ADAPTER: &[u8] = b"AGATCGGAAGAGC";

/// One read as the test writes and reads it.
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    header: String,
    seq: Vec<u8>,
    qual: Vec<u8>,
}

/// Deterministic noise.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Reads with the cases trimming must handle: adapters whole and cut short at the 3' end, low
/// quality tails, mates that end up too short, plain good reads.
fn reads(mate: u8, count: usize) -> Vec<Rec> {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15 + u64::from(mate));
    (0..count)
        .map(|i| {
            let len = 60 + (noise.next() % 41) as usize;
            let mut seq: Vec<u8> = (0..len).map(|_| b"ACGT"[(noise.next() % 4) as usize]).collect();
            let mut qual: Vec<u8> = (0..len).map(|_| b'!' + 30 + (noise.next() % 10) as u8).collect();
            match (i + mate as usize) % 6 {
                0 => {
                    // The whole adapter inside the read.
                    let at = 10 + (noise.next() % 40) as usize;
                    seq[at..at + ADAPTER.len()].copy_from_slice(ADAPTER);
                }
                1 => {
                    // The adapter's start at the very end.
                    let keep = 3 + (noise.next() % 8) as usize;
                    let at = len - keep;
                    seq[at..].copy_from_slice(&ADAPTER[..keep]);
                }
                2 => {
                    // A low-quality tail.
                    let tail = 5 + (noise.next() % 30) as usize;
                    for q in &mut qual[len - tail..] {
                        *q = b'!' + (noise.next() % 8) as u8;
                    }
                }
                3 if mate == 2 && i % 4 == 3 => {
                    // This mate becomes too short: adapter right at the start.
                    seq[5..5 + ADAPTER.len()].copy_from_slice(ADAPTER);
                }
                _ => {}
            }
            Rec {
                header: format!("M00123:7:000000000-ABCDE:1:1101:{}:{} {mate}:N:0:1", 1000 + i, 2000 + i),
                seq,
                qual,
            }
        })
        .collect()
}

fn write_gz(path: &Path, records: &[Rec]) {
    let file = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    for r in records {
        writeln!(gz, "@{}", r.header).unwrap();
        gz.write_all(&r.seq).unwrap();
        gz.write_all(b"\n+\n").unwrap();
        gz.write_all(&r.qual).unwrap();
        gz.write_all(b"\n").unwrap();
    }
    gz.finish().unwrap();
}

fn read_fastq(path: &Path) -> Vec<Rec> {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(4)
        .map(|c| Rec {
            header: c[0].trim_start_matches('@').to_string(),
            seq: c[1].as_bytes().to_vec(),
            qual: c[3].as_bytes().to_vec(),
        })
        .collect()
}

/// 3' quality trimming as BWA and cutadapt do it, written here independently.
fn quality_cut(qual: &[u8], threshold: i64) -> usize {
    let (mut sum, mut best, mut cut) = (0i64, 0i64, qual.len());
    for i in (0..qual.len()).rev() {
        sum += threshold - i64::from(qual[i] - 33);
        if sum < 0 {
            break;
        }
        if sum > best {
            best = sum;
            cut = i;
        }
    }
    cut
}

/// The leftmost place where the adapter, or (at the end) at least 3 of its first bases, starts.
fn adapter_cut(seq: &[u8]) -> usize {
    for i in 0..seq.len() {
        let rest = &seq[i..];
        let n = rest.len().min(ADAPTER.len());
        if (rest.len() >= ADAPTER.len() || n >= 3) && rest[..n].eq_ignore_ascii_case(&ADAPTER[..n]) {
            return i;
        }
    }
    seq.len()
}

fn trimmed(r: &Rec, threshold: i64) -> Rec {
    let q = quality_cut(&r.qual, threshold);
    let a = adapter_cut(&r.seq[..q]);
    Rec {
        header: r.header.clone(),
        seq: r.seq[..a].to_vec(),
        qual: r.qual[..a].to_vec(),
    }
}

/// Uploads a pair as sample `name`; returns the biosample's ID.
async fn upload_pair(env: &Env, project: &str, name: &str, r1: &[Rec], r2: &[Rec]) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_gz(&dir.path().join(format!("{name}_S1_L001_R1_001.fastq.gz")), r1);
    write_gz(&dir.path().join(format!("{name}_S1_L001_R2_001.fastq.gz")), r2);
    let created = env
        .json(&[
            "upload",
            "dataset",
            "-p",
            project,
            "-f",
            "json",
            dir.path().to_str().unwrap(),
        ])
        .await;
    assert_eq!(created[0]["BioSampleName"], name);
    let biosamples = env.json(&["list", "biosamples", "-f", "json"]).await;
    biosamples
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["BioSampleName"] == name)
        .and_then(|b| b["Id"].as_str())
        .expect("the uploaded biosample")
        .to_string()
}

/// Downloads a session's outputs; returns the folder.
async fn download(env: &Env, id: &str, dir: &Path) -> PathBuf {
    let target = dir.join(format!("out-{id}"));
    let summary = env
        .ok(&[
            "download",
            "appsession",
            "-i",
            id,
            "-o",
            target.to_str().unwrap(),
            "--summary",
        ])
        .await;
    assert!(summary.to_lowercase().contains("verified"), "{summary}");
    target
}

fn find(dir: &Path, suffix: &str) -> PathBuf {
    let files = files_under(dir);
    let found = files
        .iter()
        .find(|f| f.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {suffix} in {files:?}"));
    dir.join(found)
}

#[tokio::test]
async fn fastq_toolkit_trims_read_by_read_and_keeps_pairs_in_sync() {
    let env = Env::new().await;
    let project = demo_project(&env).await;
    let (r1, r2) = (reads(1, 600), reads(2, 600));
    let biosample = upload_pair(&env, &project, "Trimme", &r1, &r2).await;
    let id = launch(
        &env,
        &[
            "-n",
            "FASTQ Toolkit",
            "-o",
            &format!("project-id:{project}"),
            "-o",
            &format!("sample-id:{biosample}"),
            "-o",
            "quality-threshold:20",
            "-o",
            &format!("adapter-sequence:{}", String::from_utf8_lossy(ADAPTER)),
            "-o",
            "minimum-length:40",
            "-o",
            "output-suffix:_clean",
        ],
    )
    .await;
    env.ok(&["await", "appsession", &id, "--poll-interval", "0.2"]).await;
    let work = tempfile::tempdir().unwrap();
    let out = download(&env, &id, work.path()).await;
    let got1 = read_fastq(&find(&out, "Trimme_clean_S1_L001_R1_001.fastq.gz"));
    let got2 = read_fastq(&find(&out, "Trimme_clean_S1_L001_R2_001.fastq.gz"));

    // The test's own trimming of the same reads.
    let mut expected = Vec::new();
    for (a, b) in r1.iter().zip(&r2) {
        let (ta, tb) = (trimmed(a, 20), trimmed(b, 20));
        if ta.seq.len() >= 40 && tb.seq.len() >= 40 {
            expected.push((ta, tb));
        }
    }
    assert!(
        expected.len() < 600 && expected.len() > 300,
        "the input exercises the filter: {}",
        expected.len()
    );
    assert_eq!(got1.len(), expected.len(), "R1 count");
    assert_eq!(got2.len(), expected.len(), "R2 count");
    for (i, ((g1, g2), (e1, e2))) in got1.iter().zip(&got2).zip(&expected).enumerate() {
        assert_eq!(g1, e1, "R1 read {i}");
        assert_eq!(g2, e2, "R2 read {i}");
    }
    // A new biosample with the suffix, its dataset named as Illumina names it, statistics filled.
    let datasets = env.json(&["list", "datasets", "-f", "json"]).await;
    let output = datasets
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["AppSession"]["Id"] == id.as_str())
        .expect("an output dataset");
    assert_eq!(output["Name"], "Trimme_clean_L001");
    assert_eq!(output["DatasetType"]["Id"], "illumina.fastq.v1.8");
    let common = &output["Attributes"]["common_fastq"];
    assert_eq!(common["TotalClustersPF"], expected.len());
    assert_eq!(common["IsPairedEnd"], true);
    let biosamples = env.json(&["list", "biosamples", "-f", "json"]).await;
    assert!(biosamples.to_string().contains("Trimme_clean"), "{biosamples}");
    // The session is linked to its input biosample and output project.
    let by_input: Value = reqwest::Client::new()
        .get(format!("{}/v2/appsessions?input.biosamples={biosample}", env.hub.url))
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_input["Items"][0]["Id"], id.as_str());

    // The outputs are what Ferry's upload accepts: they upload again as a new sample.
    let again = tempfile::tempdir().unwrap();
    for (read, records) in [(1, &got1), (2, &got2)] {
        write_gz(
            &again.path().join(format!("Reup_S1_L001_R{read}_001.fastq.gz")),
            records,
        );
    }
    env.ok(&["upload", "dataset", "-p", &project, again.path().to_str().unwrap()])
        .await;

    // Subsampling keeps exactly N pairs, in input order, still in sync.
    let sub = launch(
        &env,
        &[
            "-n",
            "FASTQ Toolkit",
            "-o",
            &format!("project-id:{project}"),
            "-o",
            &format!("sample-id:{biosample}"),
            "-o",
            "subsample-reads:50",
            "-o",
            "output-suffix:_sub",
        ],
    )
    .await;
    env.ok(&["await", "appsession", &sub, "--poll-interval", "0.2"]).await;
    let out = download(&env, &sub, work.path()).await;
    let s1 = read_fastq(&find(&out, "Trimme_sub_S1_L001_R1_001.fastq.gz"));
    let s2 = read_fastq(&find(&out, "Trimme_sub_S1_L001_R2_001.fastq.gz"));
    assert_eq!((s1.len(), s2.len()), (50, 50));
    let position = |header: &str| r1.iter().position(|r| r.header == header).expect("an input read");
    let order: Vec<usize> = s1.iter().map(|r| position(&r.header)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "input order kept");
    for (a, b) in s1.iter().zip(&s2) {
        assert_eq!(a.header.split(' ').next(), b.header.split(' ').next(), "mates in step");
    }
}

#[tokio::test]
async fn fastq_qc_figures_match_an_independent_reading() {
    let env = Env::new().await;
    let project = demo_project(&env).await;
    let (r1, r2) = (reads(1, 400), reads(2, 400));
    let biosample = upload_pair(&env, &project, "Checkme", &r1, &r2).await;
    let id = launch(
        &env,
        &[
            "-n",
            "FASTQ QC",
            "-o",
            &format!("project-id:{project}"),
            "-o",
            &format!("sample-id:{biosample}"),
        ],
    )
    .await;
    env.ok(&["await", "appsession", &id, "--poll-interval", "0.2"]).await;
    let work = tempfile::tempdir().unwrap();
    let out = download(&env, &id, work.path()).await;
    for (records, read) in [(&r1, "R1"), (&r2, "R2")] {
        let report: Value =
            serde_json::from_slice(&std::fs::read(find(&out, &format!("Checkme_S1_L001_{read}_001_qc.json"))).unwrap())
                .unwrap();
        let html = std::fs::read_to_string(find(&out, &format!("Checkme_S1_L001_{read}_001_qc.html"))).unwrap();
        assert!(html.contains("<svg"), "the report has plots");
        let bases: usize = records.iter().map(|r| r.seq.len()).sum();
        assert_eq!(report["reads"], records.len());
        assert_eq!(report["bases"], bases);
        let quality: u64 = records.iter().flat_map(|r| &r.qual).map(|q| u64::from(q - 33)).sum();
        let mean = quality as f64 / bases as f64;
        assert!((report["mean_quality"].as_f64().unwrap() - mean).abs() < 1e-9);
        let gc = records
            .iter()
            .flat_map(|r| &r.seq)
            .filter(|b| matches!(b, b'G' | b'C'))
            .count();
        assert!((report["gc_percent"].as_f64().unwrap() - 100.0 * gc as f64 / bases as f64).abs() < 1e-9);
        // Per position: mean and median quality of position 1 and of the last position.
        let max_len = records.iter().map(|r| r.seq.len()).max().unwrap();
        for position in [1, max_len] {
            let mut scores: Vec<u8> = records
                .iter()
                .filter_map(|r| r.qual.get(position - 1))
                .map(|q| q - 33)
                .collect();
            scores.sort();
            let row = &report["per_position_quality"][position - 1];
            assert_eq!(row["position"], position);
            assert_eq!(row["reads"], scores.len());
            let mean = scores.iter().map(|&q| f64::from(q)).sum::<f64>() / scores.len() as f64;
            assert!(
                (row["mean"].as_f64().unwrap() - mean).abs() < 1e-9,
                "position {position}"
            );
            let rank = scores.len().div_ceil(2).max(1);
            assert_eq!(row["median"], scores[rank - 1], "median at {position}");
        }
        // GC distribution and lengths, read by read.
        let mut gc_bins = vec![0u64; 101];
        let mut lengths = std::collections::BTreeMap::new();
        for r in records.iter() {
            let g = r.seq.iter().filter(|b| matches!(b, b'G' | b'C')).count();
            gc_bins[(100.0 * g as f64 / r.seq.len() as f64).round() as usize] += 1;
            *lengths.entry(r.seq.len()).or_insert(0u64) += 1;
        }
        let reported: Vec<u64> = report["gc_distribution"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(reported, gc_bins);
        let reported: Vec<(u64, u64)> = report["length_distribution"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["length"].as_u64().unwrap(), v["reads"].as_u64().unwrap()))
            .collect();
        let expected: Vec<(u64, u64)> = lengths.into_iter().map(|(l, n)| (l as u64, n)).collect();
        assert_eq!(reported, expected);
        // Reads with the whole adapter: the adapter curve ends at their share.
        let with_adapter = records
            .iter()
            .filter(|r| r.seq.windows(12).any(|w| w == &ADAPTER[..12]))
            .count();
        let universal = report["adapter_content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["sequence"].as_str().unwrap().starts_with("AGATCGGAAGAG"))
            .expect("the Illumina universal adapter");
        let last = universal["percent_by_position"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_f64()
            .unwrap();
        assert!((last - 100.0 * with_adapter as f64 / records.len() as f64).abs() < 1e-9);
    }
    let log = env.ok(&["logs", "appsession", &id]).await;
    assert!(log.contains("Checkme_S1_L001_R1_001.fastq.gz: 400 reads"), "{log}");
}

#[tokio::test]
async fn fastq_qc_reads_real_reads() {
    // Debian's bowtie2-examples (installed by .ci/run) ships simulated Illumina-like reads.
    let source = Path::new("/usr/share/doc/bowtie2/examples/reads/reads_1.fq.gz");
    if !source.exists() {
        eprintln!(
            "skipped: {} is not installed (apt install bowtie2-examples)",
            source.display()
        );
        return;
    }
    let env = Env::new().await;
    let project = demo_project(&env).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(source, dir.path().join("Bowtie_S1_L001_R1_001.fastq.gz")).unwrap();
    env.ok(&[
        "upload",
        "dataset",
        "-p",
        &project,
        "--allow-invalid-readnames",
        dir.path().to_str().unwrap(),
    ])
    .await;
    let records = read_fastq(&dir.path().join("Bowtie_S1_L001_R1_001.fastq.gz"));
    let datasets = env.json(&["list", "datasets", "-f", "json"]).await;
    let dataset = datasets
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["Name"] == "Bowtie_L001")
        .and_then(|d| d["Id"].as_str())
        .unwrap()
        .to_string();
    let id = launch(
        &env,
        &[
            "-n",
            "FASTQ QC",
            "-o",
            &format!("project-id:{project}"),
            "-o",
            &format!("dataset-id:{dataset}"),
        ],
    )
    .await;
    env.ok(&["await", "appsession", &id, "--poll-interval", "0.2"]).await;
    let out = download(&env, &id, dir.path()).await;
    let report: Value =
        serde_json::from_slice(&std::fs::read(find(&out, "Bowtie_S1_L001_R1_001_qc.json")).unwrap()).unwrap();
    assert_eq!(report["reads"], records.len());
    let bases: usize = records.iter().map(|r| r.seq.len()).sum();
    assert_eq!(report["bases"], bases);
    assert_eq!(report["max_length"], records.iter().map(|r| r.seq.len()).max().unwrap());
}
