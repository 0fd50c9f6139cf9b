//! Prints FASTQ statistics of files (gzip or plain) as TSV, one line per file, in the spirit of
//! `seqkit stats -a -T`. Files are processed in parallel (`--threads N`, default: all CPUs); each
//! gzip file is also decompressed on a helper thread while its records are parsed.
//!
//! Usage: `cargo run --release -p ferry-fastq --example fastq-stats -- [--threads N] FILES...`

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_fastq::{FastqStats, stats_of_file};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut files = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" | "-j" => match args.next().and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if n > 0 => threads = n,
                _ => {
                    eprintln!("fastq-stats: --threads needs a positive number");
                    return ExitCode::from(2);
                }
            },
            "--help" | "-h" => {
                println!("usage: fastq-stats [--threads N] FILES...");
                return ExitCode::SUCCESS;
            }
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        eprintln!("usage: fastq-stats [--threads N] FILES...");
        return ExitCode::from(2);
    }

    let results: Vec<Mutex<Option<Result<FastqStats, String>>>> = files.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(files.len()) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(index) else { break };
                    let result = stats_of_file(file).map_err(|e| e.to_string());
                    if let Ok(mut slot) = results[index].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });

    println!("file\treads\tbases\tmin_len\tavg_len\tmax_len\tQ20(%)\tQ30(%)\tAvgQual\tGC(%)\tN_bases");
    let mut failed = false;
    for (file, slot) in files.iter().zip(results) {
        match slot.into_inner().ok().flatten() {
            Some(Ok(s)) => println!(
                "{file}\t{}\t{}\t{}\t{:.1}\t{}\t{:.2}\t{:.2}\t{:.2}\t{:.2}\t{}",
                s.reads,
                s.bases,
                s.min_length,
                s.mean_length(),
                s.max_length,
                s.q20_percent(),
                s.q30_percent(),
                s.mean_quality(),
                s.gc_percent(),
                s.n_bases
            ),
            Some(Err(error)) => {
                eprintln!("fastq-stats: {file}: {error}");
                failed = true;
            }
            None => {
                eprintln!("fastq-stats: {file}: not processed");
                failed = true;
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
