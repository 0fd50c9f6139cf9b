//! Record-level access to FASTQ: a pull reader over FASTQ or FASTQ.gz files and a FASTQ.gz
//! writer.
//!
//! [`RecordReader`] is built on the same push parser as the statistics ([`FastqParser`]) and the
//! same multi-member gzip decoder, so it accepts and rejects exactly what
//! [`stats_of_file`](crate::stats_of_file) does, with the same [`FastqError`]s (line and record
//! numbers included). It reads the file in small pieces: memory stays bounded whatever the file
//! size.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::gz::GzDecoder;
use crate::stats::{FastqError, FastqParser, FastqStats, RecordSink, open, read_error};

/// One FASTQ record; header without the leading '@' and without line end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FastqRecord {
    /// The header line without the leading '@' and without the line end.
    pub header: Vec<u8>,
    /// The bases.
    pub sequence: Vec<u8>,
    /// The Phred+33 quality characters (as many as bases).
    pub quality: Vec<u8>,
}

impl FastqRecord {
    /// A record from its three parts.
    pub fn new(header: impl Into<Vec<u8>>, sequence: impl Into<Vec<u8>>, quality: impl Into<Vec<u8>>) -> Self {
        FastqRecord {
            header: header.into(),
            sequence: sequence.into(),
            quality: quality.into(),
        }
    }

    /// Number of bases.
    pub fn len(&self) -> usize {
        self.sequence.len()
    }

    /// True when the record has no bases.
    pub fn is_empty(&self) -> bool {
        self.sequence.is_empty()
    }
}

/// Bytes read from the file at a time.
const READ_BUFFER: usize = 64 * 1024;
/// Bytes handed to the decoder or parser at a time. Parsed records wait in memory until they are
/// pulled, so this bounds that memory: at most this many bytes of plain FASTQ, or what this many
/// compressed bytes inflate to (deflate expands at most about 1032-fold).
const FEED_PIECE: usize = 16 * 1024;

/// Where one parsed record lies in [`RecordQueue::data`].
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    header_end: usize,
    sequence_end: usize,
    quality_end: usize,
}

/// Collects whole records from the parser until they are pulled.
#[derive(Debug, Default)]
struct RecordQueue {
    data: Vec<u8>,
    spans: VecDeque<Span>,
}

impl RecordSink for RecordQueue {
    fn header(&mut self, _record: u64, _line: u64, _header: &[u8]) {}

    fn wants_records(&self) -> bool {
        true
    }

    fn record(&mut self, _record: u64, header: &[u8], sequence: &[u8], quality: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(header);
        let header_end = self.data.len();
        self.data.extend_from_slice(sequence);
        let sequence_end = self.data.len();
        self.data.extend_from_slice(quality);
        self.spans.push_back(Span {
            start,
            header_end,
            sequence_end,
            quality_end: self.data.len(),
        });
    }
}

impl RecordQueue {
    fn pop_into(&mut self, record: &mut FastqRecord) -> bool {
        let Some(span) = self.spans.pop_front() else {
            return false;
        };
        record.header.clear();
        record.header.extend_from_slice(&self.data[span.start..span.header_end]);
        record.sequence.clear();
        record
            .sequence
            .extend_from_slice(&self.data[span.header_end..span.sequence_end]);
        record.quality.clear();
        record
            .quality
            .extend_from_slice(&self.data[span.sequence_end..span.quality_end]);
        if self.spans.is_empty() {
            self.data.clear();
        }
        true
    }
}

/// Pull reader of records from a FASTQ or FASTQ.gz file (gzip detected by magic bytes, multi-member gzip ok).
///
/// Records come in file order. Records before a malformed one are returned first; then every
/// call returns the same error. Line ends may be LF or CRLF; trailing blank lines are ignored.
pub struct RecordReader {
    path: PathBuf,
    file: File,
    buffer: Vec<u8>,
    /// `buffer[fed..filled]` is read but not yet handed on.
    fed: usize,
    filled: usize,
    /// Present for gzip input.
    decoder: Option<GzDecoder>,
    parser: FastqParser<RecordQueue>,
    /// The first error, returned (again) once the records before it are pulled.
    error: Option<FastqError>,
    /// The input has ended and the last record was checked.
    ended: bool,
    delivered: u64,
}

impl std::fmt::Debug for RecordReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordReader")
            .field("path", &self.path)
            .field("gzip", &self.decoder.is_some())
            .field("records_read", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl RecordReader {
    /// Opens a FASTQ file, gzip-compressed or not (decided by its first two bytes). I/O errors
    /// name the file.
    pub fn open(path: &Path) -> Result<RecordReader, FastqError> {
        let mut file = open(path)?;
        let mut buffer = vec![0u8; READ_BUFFER];
        let mut filled = 0;
        while filled < 2 {
            match file.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(read_error(path, error)),
            }
        }
        let gzip = filled >= 2 && buffer[..2] == [0x1f, 0x8b];
        Ok(RecordReader {
            path: path.to_path_buf(),
            file,
            buffer,
            fed: 0,
            filled,
            decoder: gzip.then(GzDecoder::new),
            parser: FastqParser::with_sink(RecordQueue::default()),
            error: None,
            ended: false,
            delivered: 0,
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the file is gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.decoder.is_some()
    }

    /// Records returned by [`RecordReader::next_record`] so far.
    pub fn records_read(&self) -> u64 {
        self.delivered
    }

    /// Statistics of the records parsed so far (parsing runs a little ahead of the records
    /// returned; after `next_record` returned `Ok(false)` they cover the whole file).
    pub fn stats(&self) -> &FastqStats {
        self.parser.stats()
    }

    /// Reads the next record into `record`; Ok(false) at end of input. Malformed input -> FastqError with line/record.
    ///
    /// `record`'s buffers are reused (cleared, then filled), so one record can serve a whole
    /// file without allocating. On `Ok(false)` and on errors `record` is left unchanged.
    pub fn next_record(&mut self, record: &mut FastqRecord) -> Result<bool, FastqError> {
        loop {
            if self.parser.sink_mut().pop_into(record) {
                self.delivered += 1;
                return Ok(true);
            }
            if let Some(error) = &self.error {
                return Err(error.clone());
            }
            if self.ended {
                return Ok(false);
            }
            if let Err(error) = self.advance() {
                self.error = Some(error);
            }
        }
    }

    /// Hands the next piece of input on, reading from the file when the buffer is used up, and
    /// checks the end of the input at end of file.
    fn advance(&mut self) -> Result<(), FastqError> {
        if self.fed == self.filled {
            self.fed = 0;
            self.filled = 0;
            let read = loop {
                match self.file.read(&mut self.buffer) {
                    Ok(n) => break n,
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(read_error(&self.path, error)),
                }
            };
            if read == 0 {
                self.ended = true;
                if let Some(decoder) = &mut self.decoder {
                    decoder.finish()?;
                }
                return self.parser.end();
            }
            self.filled = read;
        }
        let end = self.filled.min(self.fed + FEED_PIECE);
        let piece = &self.buffer[self.fed..end];
        self.fed = end;
        let parser = &mut self.parser;
        match &mut self.decoder {
            Some(decoder) => decoder.feed(piece, &mut |bytes| parser.push(bytes)),
            None => parser.push(piece),
        }
    }
}

/// Records buffered before they go to the gzip encoder (few large writes compress faster than
/// many small ones).
const WRITE_BUFFER: usize = 128 * 1024;

/// Writes FASTQ.gz records (`@header\nseq\n+\nqual\n`), gzip level 6 (flate2), single member.
///
/// Nothing is guaranteed to reach `inner` before [`GzRecordWriter::finish`]; dropping the writer
/// without finishing leaves an incomplete gzip stream.
pub struct GzRecordWriter<W: Write> {
    encoder: GzEncoder<W>,
    buffer: Vec<u8>,
    written: u64,
}

impl<W: Write> std::fmt::Debug for GzRecordWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzRecordWriter")
            .field("records_written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<W: Write> GzRecordWriter<W> {
    /// A writer compressing into `inner`.
    pub fn new(inner: W) -> Self {
        GzRecordWriter {
            encoder: GzEncoder::new(inner, Compression::new(6)),
            buffer: Vec::with_capacity(WRITE_BUFFER + 1024),
            written: 0,
        }
    }

    /// Records written so far.
    pub fn records_written(&self) -> u64 {
        self.written
    }

    /// Appends one record. A record that would not read back as the same record (a line end in
    /// a field, or sequence and quality of different lengths) is refused with
    /// [`std::io::ErrorKind::InvalidInput`] and nothing is written.
    pub fn write(&mut self, record: &FastqRecord) -> std::io::Result<()> {
        let number = self.written + 1;
        if record.sequence.len() != record.quality.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "record {number}: {} quality values for {} bases",
                    record.quality.len(),
                    record.sequence.len()
                ),
            ));
        }
        for (field, bytes) in [
            ("header", &record.header),
            ("sequence", &record.sequence),
            ("quality", &record.quality),
        ] {
            if memchr::memchr2(b'\n', b'\r', bytes).is_some() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("record {number}: the {field} contains a line end"),
                ));
            }
        }
        self.buffer.push(b'@');
        self.buffer.extend_from_slice(&record.header);
        self.buffer.push(b'\n');
        self.buffer.extend_from_slice(&record.sequence);
        self.buffer.extend_from_slice(b"\n+\n");
        self.buffer.extend_from_slice(&record.quality);
        self.buffer.push(b'\n');
        self.written += 1;
        if self.buffer.len() >= WRITE_BUFFER {
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> std::io::Result<()> {
        let result = self.encoder.write_all(&self.buffer);
        self.buffer.clear();
        result
    }

    /// Finishes the gzip stream and returns the inner writer (caller fsyncs).
    pub fn finish(mut self) -> std::io::Result<W> {
        self.drain()?;
        self.encoder.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ferry-fastq-records-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn read_all(path: &Path) -> Result<Vec<FastqRecord>, FastqError> {
        let mut reader = RecordReader::open(path)?;
        let mut records = Vec::new();
        let mut record = FastqRecord::default();
        while reader.next_record(&mut record)? {
            records.push(record.clone());
        }
        assert!(!reader.next_record(&mut record)?, "end is sticky");
        Ok(records)
    }

    fn numbered(count: usize) -> Vec<FastqRecord> {
        (0..count)
            .map(|i| {
                let length = (i * 37) % 180;
                let sequence: Vec<u8> = (0..length).map(|j| b"ACGTNacgt"[(i + j * 7) % 9]).collect();
                let quality: Vec<u8> = (0..length).map(|j| b'!' + ((i + j) % 94) as u8).collect();
                FastqRecord::new(format!("read{i} 1:N:0:ACGT"), sequence, quality)
            })
            .collect()
    }

    fn plain_text(records: &[FastqRecord]) -> Vec<u8> {
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

    #[test]
    fn round_trip_plain_gzip_and_multi_member() {
        let dir = temp_dir("round");
        let records = numbered(20_000);
        let plain = dir.join("r.fastq");
        std::fs::write(&plain, plain_text(&records)).unwrap();
        assert_eq!(read_all(&plain).unwrap(), records);

        let gz = dir.join("r.fastq.gz");
        let mut writer = GzRecordWriter::new(Vec::new());
        for r in &records {
            writer.write(r).unwrap();
        }
        assert_eq!(writer.records_written(), 20_000);
        let bytes = writer.finish().unwrap();
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut text).unwrap();
        assert_eq!(text, plain_text(&records));
        std::fs::write(&gz, &bytes).unwrap();
        let mut reader = RecordReader::open(&gz).unwrap();
        assert!(reader.is_gzip());
        let mut record = FastqRecord::default();
        let mut count = 0;
        while reader.next_record(&mut record).unwrap() {
            assert_eq!(record, records[count]);
            count += 1;
        }
        assert_eq!(reader.records_read(), 20_000);
        assert_eq!(reader.stats().reads, 20_000);

        // Two members, written separately and concatenated.
        let mut first = GzRecordWriter::new(Vec::new());
        let mut second = GzRecordWriter::new(Vec::new());
        for (i, r) in records.iter().enumerate() {
            let writer = if i < 7_000 { &mut first } else { &mut second };
            writer.write(r).unwrap();
        }
        let mut joined = first.finish().unwrap();
        joined.extend(second.finish().unwrap());
        std::fs::write(&gz, &joined).unwrap();
        assert_eq!(read_all(&gz).unwrap(), records);

        let empty = dir.join("empty.fastq");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(read_all(&empty).unwrap(), Vec::new());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn records_before_an_error_come_first_and_the_error_is_sticky() {
        let dir = temp_dir("errors");
        let mut text = plain_text(&numbered(3));
        text.extend_from_slice(b"@bad\nACGT\n+\nIII\n@after\nA\n+\nI\n");
        let path = dir.join("bad.fastq");
        std::fs::write(&path, &text).unwrap();
        let mut reader = RecordReader::open(&path).unwrap();
        let mut record = FastqRecord::default();
        for _ in 0..3 {
            assert!(reader.next_record(&mut record).unwrap());
        }
        let error = reader.next_record(&mut record).unwrap_err();
        assert!(
            matches!(
                error,
                FastqError::LengthMismatch {
                    line: 16,
                    record: 4,
                    ..
                }
            ),
            "{error}"
        );
        let again = reader.next_record(&mut record).unwrap_err();
        assert_eq!(again.to_string(), error.to_string());

        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(&text).unwrap();
        let gz = encoder.finish().unwrap();
        let gz_path = dir.join("bad.fastq.gz");
        std::fs::write(&gz_path, &gz).unwrap();
        assert_eq!(read_all(&gz_path).unwrap_err().to_string(), error.to_string());
        std::fs::write(&gz_path, &gz[..gz.len() - 3]).unwrap();
        // The FASTQ error comes before the truncation is noticed.
        assert!(matches!(read_all(&gz_path), Err(FastqError::LengthMismatch { .. })));
        let good = plain_text(&numbered(50));
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(&good).unwrap();
        let gz = encoder.finish().unwrap();
        std::fs::write(&gz_path, &gz[..gz.len() - 3]).unwrap();
        assert!(matches!(read_all(&gz_path), Err(FastqError::TruncatedGzip { .. })));

        std::fs::write(&path, b"@r1\nACGT\n+\nIIII\n@r2\nAC").unwrap();
        assert!(matches!(
            read_all(&path),
            Err(FastqError::TruncatedRecord { record: 2, line: 6 })
        ));
        let missing = RecordReader::open(&dir.join("missing.fastq")).unwrap_err();
        assert!(missing.to_string().contains("missing.fastq"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writer_refuses_records_that_would_not_read_back() {
        let mut writer = GzRecordWriter::new(Vec::new());
        let bad_length = FastqRecord::new("r", "ACGT", "III");
        assert_eq!(
            writer.write(&bad_length).unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
        let newline = FastqRecord::new("r\nx", "A", "I");
        assert!(writer.write(&newline).is_err());
        writer.write(&FastqRecord::new("ok", "", "")).unwrap();
        let bytes = writer.finish().unwrap();
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut text).unwrap();
        assert_eq!(text, b"@ok\n\n+\n\n");
    }
}
