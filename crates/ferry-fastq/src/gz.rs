//! Push-based multi-member gzip decoder with precise errors.
//!
//! flate2's `write::MultiGzDecoder` reports a truncated file and a corrupt one with the same
//! error, so members are framed here (RFC 1952 header, raw deflate body, CRC32/ISIZE trailer)
//! and only the deflate body goes through flate2 (zlib-rs). The CRC32 is crc32fast's, which uses
//! carry-less multiplication where the CPU has it (several times faster than a table).

use crc32fast::Hasher as Crc32;
use flate2::{Decompress, FlushDecompress, Status};

use crate::stats::FastqError;

const OUTPUT_BUFFER: usize = 256 * 1024;

const FLAG_HCRC: u8 = 0x02;
const FLAG_EXTRA: u8 = 0x04;
const FLAG_NAME: u8 = 0x08;
const FLAG_COMMENT: u8 = 0x10;

enum State {
    /// Collecting a member header (bytes kept in `header`).
    Header,
    /// Inflating a member body.
    Body,
    /// Collecting the 8-byte trailer (bytes kept in `header`).
    Trailer,
    /// Zero bytes after the last member (tolerated, as by gzip).
    Padding,
}

/// Decompresses concatenated gzip members pushed in arbitrary chunks.
pub(crate) struct GzDecoder {
    state: State,
    header: Vec<u8>,
    inflate: Decompress,
    crc: Crc32,
    /// Decompressed bytes of the current member (ISIZE is this modulo 2^32).
    member_size: u64,
    output: Vec<u8>,
    members: u64,
    /// Compressed bytes consumed so far (for error positions).
    offset: u64,
}

enum HeaderParse {
    Incomplete,
    Complete(usize),
}

impl GzDecoder {
    pub(crate) fn new() -> GzDecoder {
        GzDecoder {
            state: State::Header,
            header: Vec::new(),
            inflate: Decompress::new(false),
            crc: Crc32::new(),
            member_size: 0,
            output: vec![0; OUTPUT_BUFFER],
            members: 0,
            offset: 0,
        }
    }

    /// Feeds compressed bytes; decompressed bytes go to `sink` as they are produced.
    pub(crate) fn feed(
        &mut self,
        mut input: &[u8],
        sink: &mut impl FnMut(&[u8]) -> Result<(), FastqError>,
    ) -> Result<(), FastqError> {
        while !input.is_empty() {
            match self.state {
                State::Header => {
                    if self.members > 0 && self.header.is_empty() && input[0] == 0 {
                        self.state = State::Padding;
                        continue;
                    }
                    // Parse straight from the input when a header starts in it; copy only
                    // when a header spans chunks.
                    let before = self.header.len();
                    let parsed = if before == 0 {
                        self.parse_header(input)?
                    } else {
                        HeaderParse::Incomplete
                    };
                    let parsed = match parsed {
                        HeaderParse::Incomplete => {
                            self.header.extend_from_slice(input);
                            self.parse_header(&self.header)?
                        }
                        complete => complete,
                    };
                    match parsed {
                        HeaderParse::Incomplete => {
                            self.offset += input.len() as u64;
                            input = &[];
                        }
                        HeaderParse::Complete(length) => {
                            // `length` counts from the start of the header, part of which may
                            // have come in earlier chunks.
                            let used = length - before;
                            self.offset += used as u64;
                            input = &input[used..];
                            self.header.clear();
                            self.inflate.reset(false);
                            self.crc.reset();
                            self.member_size = 0;
                            self.state = State::Body;
                        }
                    }
                }
                State::Body => {
                    let in_before = self.inflate.total_in();
                    let out_before = self.inflate.total_out();
                    let status = self
                        .inflate
                        .decompress(input, &mut self.output, FlushDecompress::None)
                        .map_err(|error| FastqError::CorruptGzip {
                            offset: self.offset,
                            detail: error.to_string(),
                        })?;
                    let used = (self.inflate.total_in() - in_before) as usize;
                    let produced = (self.inflate.total_out() - out_before) as usize;
                    self.offset += used as u64;
                    input = &input[used..];
                    if produced > 0 {
                        let output = &self.output[..produced];
                        self.crc.update(output);
                        self.member_size += produced as u64;
                        sink(output)?;
                    }
                    match status {
                        Status::StreamEnd => self.state = State::Trailer,
                        _ if used == 0 && produced == 0 => {
                            // Cannot happen with input left and a free output buffer, but never spin.
                            return Err(FastqError::CorruptGzip {
                                offset: self.offset,
                                detail: "inflate made no progress".to_string(),
                            });
                        }
                        _ => {}
                    }
                }
                State::Trailer => {
                    let take = (8 - self.header.len()).min(input.len());
                    self.header.extend_from_slice(&input[..take]);
                    self.offset += take as u64;
                    input = &input[take..];
                    if self.header.len() == 8 {
                        self.check_trailer()?;
                    }
                }
                State::Padding => {
                    if let Some(position) = input.iter().position(|&b| b != 0) {
                        return Err(FastqError::TrailingGarbage {
                            member: self.members,
                            offset: self.offset + position as u64,
                        });
                    }
                    self.offset += input.len() as u64;
                    input = &[];
                }
            }
        }
        Ok(())
    }

    /// Ends the stream: an error unless the last member ended cleanly.
    pub(crate) fn finish(&mut self) -> Result<(), FastqError> {
        match self.state {
            State::Header if self.header.is_empty() => {
                if self.members == 0 {
                    Err(FastqError::EmptyGzip)
                } else {
                    Ok(())
                }
            }
            State::Padding => Ok(()),
            State::Header | State::Body | State::Trailer => Err(FastqError::TruncatedGzip { offset: self.offset }),
        }
    }

    fn check_trailer(&mut self) -> Result<(), FastqError> {
        let crc = u32::from_le_bytes([self.header[0], self.header[1], self.header[2], self.header[3]]);
        let size = u32::from_le_bytes([self.header[4], self.header[5], self.header[6], self.header[7]]);
        self.members += 1;
        if crc != self.crc.clone().finalize() || u64::from(size) != self.member_size & 0xffff_ffff {
            return Err(FastqError::GzipChecksum { member: self.members });
        }
        self.header.clear();
        self.state = State::Header;
        Ok(())
    }

    fn parse_header(&self, h: &[u8]) -> Result<HeaderParse, FastqError> {
        let signature_ok = match h.len() {
            0 => true,
            1 => h[0] == 0x1f,
            _ => h[0] == 0x1f && h[1] == 0x8b,
        };
        if !signature_ok {
            return Err(if self.members == 0 {
                FastqError::NotGzip
            } else {
                FastqError::TrailingGarbage {
                    member: self.members,
                    offset: self.offset,
                }
            });
        }
        if h.len() < 10 {
            return Ok(HeaderParse::Incomplete);
        }
        if h[2] != 8 {
            return Err(FastqError::CorruptGzip {
                offset: self.offset,
                detail: format!("unsupported gzip compression method {}", h[2]),
            });
        }
        let flags = h[3];
        let mut at = 10;
        if flags & FLAG_EXTRA != 0 {
            if h.len() < at + 2 {
                return Ok(HeaderParse::Incomplete);
            }
            at += 2 + usize::from(u16::from_le_bytes([h[at], h[at + 1]]));
        }
        for flag in [FLAG_NAME, FLAG_COMMENT] {
            if flags & flag != 0 {
                match h.get(at..).and_then(|rest| rest.iter().position(|&b| b == 0)) {
                    Some(end) => at += end + 1,
                    None => return Ok(HeaderParse::Incomplete),
                }
            }
        }
        if flags & FLAG_HCRC != 0 {
            at += 2;
        }
        if h.len() < at {
            return Ok(HeaderParse::Incomplete);
        }
        Ok(HeaderParse::Complete(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, GzBuilder, write::GzEncoder};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn decode_chunked(data: &[u8], chunk: usize) -> Result<Vec<u8>, FastqError> {
        let mut decoder = GzDecoder::new();
        let mut out = Vec::new();
        for piece in data.chunks(chunk.max(1)) {
            decoder.feed(piece, &mut |bytes| {
                out.extend_from_slice(bytes);
                Ok(())
            })?;
        }
        decoder.finish()?;
        Ok(out)
    }

    #[test]
    fn concatenated_members_with_header_fields_any_chunking() {
        let text: Vec<u8> = (0..200_000u32).map(|i| b"ACGT\n"[(i % 5) as usize]).collect();
        let mut data = gzip(&text[..70_000]);
        let mut named = GzBuilder::new()
            .filename("part2.fastq")
            .comment("second member")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), Compression::fast());
        named.write_all(&text[70_000..]).unwrap();
        data.extend(named.finish().unwrap());
        for chunk in [1, 2, 3, 7, 10, 4096, 1 << 20] {
            assert_eq!(decode_chunked(&data, chunk).unwrap(), text, "chunk {chunk}");
        }
        // Empty members (like BGZF's end-of-file marker) in between and at the end.
        let mut with_empty = gzip(&text[..1000]);
        with_empty.extend(gzip(b""));
        with_empty.extend(gzip(&text[1000..]));
        with_empty.extend(gzip(b""));
        assert_eq!(decode_chunked(&with_empty, 5).unwrap(), text);
        let mut padded = data.clone();
        padded.extend([0u8; 100]);
        assert_eq!(decode_chunked(&padded, 33).unwrap(), text);
    }

    #[test]
    fn truncation_corruption_and_non_gzip_are_told_apart() {
        let text = b"@r\nACGT\n+\nIIII\n".repeat(1000);
        let data = gzip(&text);
        for cut in [1, 5, 10, data.len() / 2, data.len() - 8, data.len() - 1] {
            assert!(
                matches!(decode_chunked(&data[..cut], 64), Err(FastqError::TruncatedGzip { .. })),
                "cut at {cut}"
            );
        }
        assert!(matches!(decode_chunked(&text, 64), Err(FastqError::NotGzip)));
        assert!(matches!(decode_chunked(b"", 64), Err(FastqError::EmptyGzip)));
        let mut bad_crc = data.clone();
        let at = bad_crc.len() - 6;
        bad_crc[at] ^= 0xff;
        assert!(matches!(
            decode_chunked(&bad_crc, 64),
            Err(FastqError::GzipChecksum { member: 1 })
        ));
        let mut garbage = data.clone();
        garbage.extend(b"junk");
        assert!(matches!(
            decode_chunked(&garbage, 64),
            Err(FastqError::TrailingGarbage { member: 1, .. })
        ));
        assert_eq!(
            FastqError::TruncatedGzip { offset: 3 }.to_string(),
            "gzip stream ends early: file is truncated (after 3 compressed bytes)"
        );
    }
}
