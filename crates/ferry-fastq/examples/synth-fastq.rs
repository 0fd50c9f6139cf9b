//! Writes synthetic paired Illumina FASTQ.gz files of about a given total size.
//!
//! Usage: `synth-fastq OUT_DIR TOTAL_MB [PAIRS] [READ_LENGTH]` writes PAIRS (default 1) R1/R2
//! pairs `SampleN_S<n>_L001_R{1,2}_001.fastq.gz` totalling about TOTAL_MB megabytes (10^6 bytes).
//! Generation runs one file per CPU.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use ferry_fastq::synth::{SynthSpec, estimate_reads_for_size, write_fastq_gz};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        eprintln!("usage: synth-fastq OUT_DIR TOTAL_MB [PAIRS] [READ_LENGTH]");
        ExitCode::from(2)
    };
    let (Some(out), Some(total_mb)) = (args.first(), args.get(1).and_then(|v| v.parse::<f64>().ok())) else {
        return usage();
    };
    let pairs = match args.get(2).map(|v| v.parse::<u32>()) {
        None => 1,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => return usage(),
    };
    let read_length = match args.get(3).map(|v| v.parse::<usize>()) {
        None => 151,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => return usage(),
    };
    let out = PathBuf::from(out);
    if let Err(error) = std::fs::create_dir_all(&out) {
        eprintln!("synth-fastq: cannot create {}: {error}", out.display());
        return ExitCode::FAILURE;
    }
    let per_file = (total_mb * 1e6 / f64::from(pairs * 2)) as u64;
    let mut specs = Vec::new();
    for n in 1..=pairs {
        let base = SynthSpec {
            read_length,
            ..SynthSpec::new(format!("Sample{n}"), n, 1, 1, 0)
        };
        let reads = match estimate_reads_for_size(&base, per_file) {
            Ok(reads) => reads,
            Err(error) => {
                eprintln!("synth-fastq: {error}");
                return ExitCode::FAILURE;
            }
        };
        let r1 = SynthSpec { reads, ..base };
        specs.push(r1.mate());
        specs.push(r1);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let failed = std::sync::atomic::AtomicBool::new(false);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(specs.len()) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(spec) = specs.get(index) else { break };
                    let path = out.join(spec.file_name());
                    let result = std::fs::File::create(&path)
                        .and_then(|file| write_fastq_gz(spec, BufWriter::with_capacity(1 << 20, file)));
                    match result {
                        Ok(stats) => println!("{}\t{}\t{}", path.display(), stats.reads, stats.bases),
                        Err(error) => {
                            eprintln!("synth-fastq: {}: {error}", path.display());
                            failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    if failed.into_inner() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
