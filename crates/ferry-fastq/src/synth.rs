//! Deterministic synthetic Illumina FASTQ.gz for demo data, tests and benchmarks.
//!
//! Records look like NextSeq output: `@NB551234:12:HGYFKBGXY:1:11101:10000:1000 1:N:0:1`, bases
//! ACGTN with about 48% GC and rare Ns, binned Phred+33 qualities that drop towards the end of
//! the read. The same spec and seed always give the same bytes; R1 and R2 of the same spec have
//! identical read names except the read number.

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::names::{IlluminaName, Read};
use crate::stats::FastqStats;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSpec {
    /// Sample name (used in [`SynthSpec::file_name`]).
    pub sample_name: String,
    /// Sample number, written as the last header field and the `S` number of the file name.
    pub sample_number: u32,
    /// Lane number in headers and file name.
    pub lane: u32,
    /// 1 or 2.
    pub read: u8,
    /// Number of records.
    pub reads: u64,
    /// Bases per read.
    pub read_length: usize,
    /// PRNG seed; R1 and R2 must share it to pair up.
    pub seed: u64,
    /// Instrument id in the read headers.
    pub instrument: String,
    /// Run number in the read headers.
    pub run_number: u32,
    /// Flow cell id in the read headers.
    pub flowcell: String,
}

impl SynthSpec {
    /// A NextSeq-like spec: 151-base reads, instrument `NB551234`, run 12, and a seed derived from
    /// the sample name, number and lane (so mates share it and different samples differ).
    pub fn new(sample_name: impl Into<String>, sample_number: u32, lane: u32, read: u8, reads: u64) -> SynthSpec {
        let sample_name = sample_name.into();
        let mut seed = 0xcbf2_9ce4_8422_2325u64;
        for byte in sample_name
            .bytes()
            .chain(sample_number.to_le_bytes())
            .chain(lane.to_le_bytes())
        {
            seed = (seed ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        SynthSpec {
            sample_name,
            sample_number,
            lane,
            read,
            reads,
            read_length: 151,
            seed,
            instrument: "NB551234".to_string(),
            run_number: 12,
            flowcell: "HGYFKBGXY".to_string(),
        }
    }

    /// The same spec for the other read of the pair.
    pub fn mate(&self) -> SynthSpec {
        SynthSpec {
            read: if self.read == 2 { 1 } else { 2 },
            ..self.clone()
        }
    }

    /// The Illumina file name for this spec, e.g. `Sample_S1_L001_R1_001.fastq.gz`.
    pub fn file_name(&self) -> String {
        IlluminaName {
            sample_name: self.sample_name.clone(),
            sample_number: self.sample_number,
            lane: Some(self.lane),
            read: if self.read == 2 { Read::R2 } else { Read::R1 },
            segment: 1,
            extension: crate::names::ILLUMINA_EXTENSION.to_string(),
        }
        .to_string()
    }

    fn check(&self) -> io::Result<()> {
        if !(1..=2).contains(&self.read) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("synthetic FASTQ read number must be 1 or 2, not {}", self.read),
            ));
        }
        if self.read_length == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "synthetic FASTQ read length must be at least 1",
            ));
        }
        Ok(())
    }
}

/// SplitMix64: tiny, fast, good enough for synthetic data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Tables mapping random bits to bases and qualities.
struct Tables {
    /// 10 random bits → base: 1/1024 N, ≈47.9% G+C.
    bases: [u8; 1024],
    /// 8 random bits → quality for the first 70% of a read.
    early: [u8; 256],
    /// 8 random bits → quality for the rest.
    late: [u8; 256],
}

impl Tables {
    fn new() -> Tables {
        let mut bases = [0u8; 1024];
        for (i, base) in bases.iter_mut().enumerate() {
            *base = match i {
                0 => b'N',
                1..=245 => b'G',
                246..=490 => b'C',
                491..=756 => b'A',
                _ => b'T',
            };
        }
        // NextSeq bins: Q14 '/', Q21 '6', Q27 '<', Q32 'A', Q36 'E'.
        let fill = |weights: [(u8, usize); 5]| {
            let mut table = [0u8; 256];
            let mut at = 0;
            for (quality, count) in weights {
                for slot in &mut table[at..at + count] {
                    *slot = quality;
                }
                at += count;
            }
            debug_assert_eq!(at, 256);
            table
        };
        Tables {
            bases,
            early: fill([(b'E', 206), (b'A', 25), (b'<', 13), (b'6', 7), (b'/', 5)]),
            late: fill([(b'E', 153), (b'A', 46), (b'<', 26), (b'6', 18), (b'/', 13)]),
        }
    }
}

/// Writes the spec as gzip to `out` and returns the exact statistics of what it wrote.
///
/// Level 2: zlib-rs level 1 uses static Huffman codes only, which gives files twice the size of
/// real FASTQ.gz (about 2:1 instead of 3–4:1) and would skew size-based benchmarks.
pub fn write_fastq_gz<W: Write>(spec: &SynthSpec, out: W) -> io::Result<FastqStats> {
    spec.check()?;
    let mut encoder = GzEncoder::new(out, Compression::new(2));
    let stats = write_records(spec, &mut encoder)?;
    encoder.finish()?.flush()?;
    Ok(stats)
}

/// Writes the spec as plain (uncompressed) FASTQ.
pub fn write_fastq<W: Write>(spec: &SynthSpec, mut out: W) -> io::Result<FastqStats> {
    spec.check()?;
    let stats = write_records(spec, &mut out)?;
    out.flush()?;
    Ok(stats)
}

/// The gzipped FASTQ for small specs (tests, demo data).
pub fn fastq_gz_bytes(spec: &SynthSpec) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail; an invalid spec yields an empty gzip-less buffer.
    if write_fastq_gz(spec, &mut out).is_err() {
        out.clear();
    }
    out
}

/// How many reads make a gzip file of about `target_bytes` for this spec (at least 1). Measured by
/// compressing a sample of R1, so it is accurate to a few percent and the same for both mates.
pub fn estimate_reads_for_size(spec: &SynthSpec, target_bytes: u64) -> io::Result<u64> {
    const SAMPLE_READS: u64 = 4000;
    let sample = SynthSpec {
        reads: SAMPLE_READS,
        read: 1,
        ..spec.clone()
    };
    let mut counter = CountingWriter(0);
    write_fastq_gz(&sample, &mut counter)?;
    let per_read = (counter.0 as f64 / SAMPLE_READS as f64).max(1.0);
    Ok(((target_bytes as f64 / per_read).round() as u64).max(1))
}

/// Writes about `target_bytes` of gzip (the spec's `reads` is ignored). Call with the same
/// arguments and [`SynthSpec::mate`] to get a matching R2 with the same number of reads.
pub fn write_fastq_gz_sized<W: Write>(spec: &SynthSpec, target_bytes: u64, out: W) -> io::Result<FastqStats> {
    let reads = estimate_reads_for_size(spec, target_bytes)?;
    write_fastq_gz(&SynthSpec { reads, ..spec.clone() }, out)
}

struct CountingWriter(u64);

impl Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn write_records<W: Write>(spec: &SynthSpec, out: &mut W) -> io::Result<FastqStats> {
    const FLUSH_AT: usize = 256 * 1024;
    const READS_PER_TILE: u64 = 4000;
    const TILES: u64 = 72;

    let tables = Tables::new();
    let mut names = SplitMix64(spec.seed);
    let mut bases = SplitMix64(spec.seed ^ (0x5851_f42d_4c95_7f2d_u64.wrapping_mul(u64::from(spec.read))));
    let prefix = format!(
        "@{}:{}:{}:{}:",
        spec.instrument, spec.run_number, spec.flowcell, spec.lane
    );
    let suffix = format!(" {}:N:0:{}\n", spec.read, spec.sample_number);
    let length = spec.read_length;
    let early_end = length * 7 / 10;

    let mut stats = FastqStats::default();
    let mut buffer = Vec::with_capacity(FLUSH_AT + 4 * length + 256);
    let mut sequence = vec![0u8; length];
    let mut quality = vec![0u8; length];

    for i in 0..spec.reads {
        let noise = names.next();
        let tile_index = i / READS_PER_TILE;
        let tile = 11101 + (tile_index % 12) + ((tile_index / 12) % (TILES / 12)) * 100;
        let cycle = tile_index / TILES;
        let x = 1000 + noise % 24000;
        let y = 1000 + (i % READS_PER_TILE) * 13 + (noise >> 32) % 13 + cycle * 60000;

        let mut j = 0;
        while j < length {
            let mut bits = bases.next();
            for _ in 0..6 {
                if j == length {
                    break;
                }
                sequence[j] = tables.bases[(bits & 1023) as usize];
                bits >>= 10;
                j += 1;
            }
        }
        let mut j = 0;
        while j < length {
            let bits = bases.next().to_le_bytes();
            for byte in bits {
                if j == length {
                    break;
                }
                let table = if j < early_end { &tables.early } else { &tables.late };
                quality[j] = if sequence[j] == b'N' {
                    b'#'
                } else {
                    table[usize::from(byte)]
                };
                j += 1;
            }
        }
        stats.add_record(&sequence, &quality);

        buffer.extend_from_slice(prefix.as_bytes());
        write!(buffer, "{tile}:{x}:{y}")?;
        buffer.extend_from_slice(suffix.as_bytes());
        buffer.extend_from_slice(&sequence);
        buffer.extend_from_slice(b"\n+\n");
        buffer.extend_from_slice(&quality);
        buffer.push(b'\n');
        if buffer.len() >= FLUSH_AT {
            out.write_all(&buffer)?;
            buffer.clear();
        }
    }
    out.write_all(&buffer)?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn gunzip(data: &[u8]) -> String {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(data)
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn deterministic_and_well_formed() {
        let spec = SynthSpec::new("Demo_1", 3, 2, 1, 500);
        let a = fastq_gz_bytes(&spec);
        let b = fastq_gz_bytes(&spec);
        assert_eq!(a, b);
        let text = gunzip(&a);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2000);
        assert!(lines[0].starts_with("@NB551234:12:HGYFKBGXY:2:11101:"), "{}", lines[0]);
        assert!(lines[0].ends_with(" 1:N:0:3"), "{}", lines[0]);
        assert_eq!(lines[1].len(), 151);
        assert_eq!(lines[2], "+");
        assert_eq!(lines[3].len(), 151);
        assert_eq!(spec.file_name(), "Demo_1_S3_L002_R1_001.fastq.gz");
        let other = fastq_gz_bytes(&SynthSpec {
            seed: 7,
            ..spec.clone()
        });
        assert_ne!(a, other);
    }

    #[test]
    fn mates_share_names_but_not_bases() {
        let r1 = SynthSpec::new("S", 1, 1, 1, 300);
        let r2 = r1.mate();
        assert_eq!(r2.read, 2);
        let (t1, t2) = (gunzip(&fastq_gz_bytes(&r1)), gunzip(&fastq_gz_bytes(&r2)));
        let (l1, l2): (Vec<&str>, Vec<&str>) = (t1.lines().collect(), t2.lines().collect());
        assert_eq!(l1.len(), l2.len());
        for k in (0..l1.len()).step_by(4) {
            let (n1, n2) = (l1[k].split_once(' ').unwrap(), l2[k].split_once(' ').unwrap());
            assert_eq!(n1.0, n2.0);
            assert_eq!(n1.1, "1:N:0:1");
            assert_eq!(n2.1, "2:N:0:1");
        }
        assert_ne!(l1[1], l2[1]);
    }

    #[test]
    fn returned_stats_match_content() {
        let spec = SynthSpec {
            read_length: 75,
            ..SynthSpec::new("Q", 1, 1, 2, 2000)
        };
        let mut out = Vec::new();
        let stats = write_fastq_gz(&spec, &mut out).unwrap();
        let text = gunzip(&out);
        let lines: Vec<&str> = text.lines().collect();
        let (mut gc, mut n, mut q30, mut qsum) = (0u64, 0u64, 0u64, 0u64);
        for record in lines.chunks(4) {
            gc += record[1].bytes().filter(|b| matches!(b, b'G' | b'C')).count() as u64;
            n += record[1].bytes().filter(|&b| b == b'N').count() as u64;
            q30 += record[3].bytes().filter(|&b| b >= 63).count() as u64;
            qsum += record[3].bytes().map(|b| u64::from(b - 33)).sum::<u64>();
        }
        assert_eq!(stats.reads, 2000);
        assert_eq!(stats.bases, 150_000);
        assert_eq!((stats.min_length, stats.max_length), (75, 75));
        assert_eq!(
            (stats.gc_bases, stats.n_bases, stats.q30_bases, stats.quality_sum),
            (gc, n, q30, qsum)
        );
        assert!((40.0..56.0).contains(&stats.gc_percent()), "{}", stats.gc_percent());
        assert!((30.0..36.0).contains(&stats.mean_quality()), "{}", stats.mean_quality());
    }

    #[test]
    fn names_stay_unique_across_tiles() {
        let spec = SynthSpec {
            read_length: 4,
            ..SynthSpec::new("U", 1, 1, 1, 300_000)
        };
        let text = gunzip(&fastq_gz_bytes(&spec));
        let mut names: Vec<&str> = text.lines().step_by(4).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before);
    }

    #[test]
    fn sized_output_is_close_to_target() {
        let spec = SynthSpec::new("Sized", 1, 1, 1, 0);
        let mut out = Vec::new();
        let stats = write_fastq_gz_sized(&spec, 2_000_000, &mut out).unwrap();
        assert!((1_800_000..2_200_000).contains(&out.len()), "{}", out.len());
        let mut mate = Vec::new();
        let mate_stats = write_fastq_gz_sized(&spec.mate(), 2_000_000, &mut mate).unwrap();
        assert_eq!(stats.reads, mate_stats.reads);
    }

    #[test]
    fn rejects_bad_spec() {
        assert!(write_fastq_gz(&SynthSpec::new("X", 1, 1, 3, 1), Vec::new()).is_err());
        assert!(fastq_gz_bytes(&SynthSpec::new("X", 1, 1, 3, 1)).is_empty());
    }
}
