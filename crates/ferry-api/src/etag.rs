//! S3-style ETags, as BaseSpace reports them for files.
//!
//! A single-part upload's ETag is the MD5 of the bytes. A multipart upload's ETag is the MD5 of
//! the concatenated binary MD5s of its parts, followed by `-N` (the part count). BaseSpace uses
//! 8 MiB parts; a verifier that only knows the size and `N` finds the part size with
//! [`implied_part_sizes`].

use md5::{Digest, Md5};

/// A parsed ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Etag {
    /// The MD5 of the whole content (lowercase hex).
    Md5(String),
    /// The MD5 of the part MD5s (lowercase hex) and the number of parts.
    Multipart { digest: String, parts: u64 },
}

impl Etag {
    /// Parses an ETag as sent (quotes and case are ignored). Returns `None` for text that is not
    /// an S3 ETag (which then cannot be used for verification).
    pub fn parse(text: &str) -> Option<Etag> {
        let text = text.trim().trim_matches('"').to_ascii_lowercase();
        let (digest, parts) = match text.split_once('-') {
            Some((digest, parts)) => (digest.to_string(), Some(parts.parse::<u64>().ok()?)),
            None => (text.clone(), None),
        };
        if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(match parts {
            Some(0) => return None,
            Some(parts) => Etag::Multipart { digest, parts },
            None => Etag::Md5(digest),
        })
    }
}

impl std::fmt::Display for Etag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Etag::Md5(digest) => f.write_str(digest),
            Etag::Multipart { digest, parts } => write!(f, "{digest}-{parts}"),
        }
    }
}

/// Part sizes that split `size` bytes into exactly `parts` parts and that uploaders use: 8 MiB
/// (BaseSpace's) first when it fits, then whole MiB and whole MB (10^6 bytes) from the smallest,
/// at most eight of each. An uploader may have used another size: a multipart ETag that none of
/// these reproduces is unverifiable, not wrong.
pub fn implied_part_sizes(size: u64, parts: u64) -> Vec<u64> {
    const MIB: u64 = 1024 * 1024;
    const MB: u64 = 1_000_000;
    const PER_UNIT: usize = 8;
    let mut sizes = Vec::new();
    if parts == 0 {
        return sizes;
    }
    let fits = |part: u64| part > 0 && size.div_ceil(part) == parts;
    if fits(crate::BASESPACE_PART_SIZE) {
        sizes.push(crate::BASESPACE_PART_SIZE);
    }
    for unit in [MIB, MB] {
        let mut multiple = size.div_ceil(parts).div_ceil(unit).max(1);
        let mut found = 0;
        while found < PER_UNIT {
            let part = multiple * unit;
            if !fits(part) {
                break;
            }
            if !sizes.contains(&part) {
                sizes.push(part);
            }
            found += 1;
            // One part: every size from the file's own up gives the same digest.
            if parts == 1 {
                break;
            }
            multiple += 1;
        }
    }
    sizes
}

/// Computes a multipart ETag from the binary MD5s of the parts, in order.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut outer = Md5::new();
    for part in part_md5s {
        outer.update(part);
    }
    format!("{}-{}", hex::encode(outer.finalize()), part_md5s.len())
}

/// Streaming hasher that computes, in one pass, the whole-content MD5 and the per-part MD5s for a
/// given part size, so both single-part and multipart ETags can be checked.
///
/// When the part size is a multiple of MD5's 64-byte block (every S3 part size is), both digests
/// advance together over each block ([`crate::md5pair`]), at little more than the cost of one.
#[derive(Clone)]
pub struct EtagHasher {
    part_size: u64,
    digests: Digests,
    in_part: u64,
    parts: Vec<[u8; 16]>,
    total: u64,
}

#[derive(Clone)]
enum Digests {
    /// Part boundaries fall on block boundaries: one block buffer serves both states.
    Paired {
        whole: [u32; 4],
        part: [u32; 4],
        buffer: [u8; 64],
        buffered: usize,
    },
    /// Any other part size.
    Separate { whole: Md5, part: Md5 },
}

impl EtagHasher {
    /// A hasher that splits parts every `part_size` bytes (use [`crate::BASESPACE_PART_SIZE`]).
    pub fn new(part_size: u64) -> Self {
        let part_size = part_size.max(1);
        let digests = if part_size.is_multiple_of(64) {
            Digests::Paired {
                whole: crate::md5pair::INITIAL_STATE,
                part: crate::md5pair::INITIAL_STATE,
                buffer: [0; 64],
                buffered: 0,
            }
        } else {
            Digests::Separate {
                whole: Md5::new(),
                part: Md5::new(),
            }
        };
        Self {
            part_size,
            digests,
            in_part: 0,
            parts: Vec::new(),
            total: 0,
        }
    }

    /// Feeds the next bytes of the content.
    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        while !data.is_empty() {
            let room = (self.part_size - self.in_part) as usize;
            let take = room.min(data.len());
            match &mut self.digests {
                Digests::Paired {
                    whole,
                    part,
                    buffer,
                    buffered,
                } => absorb_paired(whole, part, buffer, buffered, &data[..take]),
                Digests::Separate { whole, part } => {
                    whole.update(&data[..take]);
                    part.update(&data[..take]);
                }
            }
            self.in_part += take as u64;
            data = &data[take..];
            if self.in_part == self.part_size {
                let digest = match &mut self.digests {
                    // A full part ends on a block boundary: nothing is buffered.
                    Digests::Paired { part, .. } => crate::md5pair::finalize(
                        std::mem::replace(part, crate::md5pair::INITIAL_STATE),
                        &[],
                        self.part_size,
                    ),
                    Digests::Separate { part, .. } => part.finalize_reset().into(),
                };
                self.parts.push(digest);
                self.in_part = 0;
            }
        }
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True when nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Finishes: the whole-content MD5 (hex) and the multipart ETag for this part size.
    pub fn finish(mut self) -> EtagDigests {
        let last_part = self.in_part > 0 || self.parts.is_empty();
        let whole = match self.digests {
            Digests::Paired {
                whole,
                part,
                buffer,
                buffered,
            } => {
                let tail = &buffer[..buffered];
                if last_part {
                    self.parts.push(crate::md5pair::finalize(part, tail, self.in_part));
                }
                crate::md5pair::finalize(whole, tail, self.total)
            }
            Digests::Separate { whole, part } => {
                if last_part {
                    self.parts.push(part.finalize().into());
                }
                whole.finalize().into()
            }
        };
        EtagDigests {
            md5: hex::encode(whole),
            multipart: multipart_etag(&self.parts),
            size: self.total,
        }
    }
}

/// Feeds bytes that all belong to the current part to both paired states.
fn absorb_paired(
    whole: &mut [u32; 4],
    part: &mut [u32; 4],
    buffer: &mut [u8; 64],
    buffered: &mut usize,
    mut data: &[u8],
) {
    if *buffered > 0 {
        let take = (64 - *buffered).min(data.len());
        buffer[*buffered..*buffered + take].copy_from_slice(&data[..take]);
        *buffered += take;
        data = &data[take..];
        if *buffered < 64 {
            return;
        }
        crate::md5pair::compress_pair(whole, part, std::slice::from_ref(buffer));
        *buffered = 0;
    }
    let (blocks, tail) = crate::md5pair::as_blocks(data);
    crate::md5pair::compress_pair(whole, part, blocks);
    buffer[..tail.len()].copy_from_slice(tail);
    *buffered = tail.len();
}

/// The digests an [`EtagHasher`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtagDigests {
    /// MD5 of the whole content, lowercase hex.
    pub md5: String,
    /// `md5-of-part-md5s-N` for the hasher's part size.
    pub multipart: String,
    /// Bytes hashed.
    pub size: u64,
}

impl EtagDigests {
    /// Whether these digests match `etag` (for a multipart ETag, only if the hasher used the part
    /// size the ETag was made with).
    pub fn matches(&self, etag: &Etag) -> bool {
        match etag {
            Etag::Md5(digest) => *digest == self.md5,
            Etag::Multipart { .. } => etag.to_string() == self.multipart,
        }
    }
}

/// The ETag S3 (and the hub) gives an object uploaded in one part: its MD5.
pub fn single_part_etag(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        assert_eq!(
            Etag::parse("\"3A1F0000000000000000000000000000\""),
            Some(Etag::Md5("3a1f0000000000000000000000000000".into()))
        );
        assert_eq!(
            Etag::parse("3a1f00000000000000000000000083d0-6"),
            Some(Etag::Multipart {
                digest: "3a1f00000000000000000000000083d0".into(),
                parts: 6
            })
        );
        assert_eq!(Etag::parse("abc"), None);
        assert_eq!(Etag::parse("3a1f00000000000000000000000083d0-0"), None);
    }

    #[test]
    fn real_basespace_sizes_imply_8_mib_parts() {
        assert_eq!(
            implied_part_sizes(48_526_491, 6).first(),
            Some(&crate::BASESPACE_PART_SIZE)
        );
        assert_eq!(
            implied_part_sizes(76_874_315, 10).first(),
            Some(&crate::BASESPACE_PART_SIZE)
        );
        assert!(implied_part_sizes(100, 3).is_empty());
        // Decimal megabytes too (5 MB parts: 12 parts for 57 MB).
        assert!(implied_part_sizes(57_000_000, 12).contains(&5_000_000));
        assert!(
            implied_part_sizes(3 << 20, 1).len() <= 3,
            "one part: one size per unit is enough"
        );
    }

    #[test]
    fn hasher_matches_direct_computation() {
        let data: Vec<u8> = (0..25u32 * 1024).map(|i| (i % 251) as u8).collect();
        let mut hasher = EtagHasher::new(10 * 1024);
        for chunk in data.chunks(777) {
            hasher.update(chunk);
        }
        let digests = hasher.finish();
        assert_eq!(digests.md5, single_part_etag(&data));
        let parts: Vec<[u8; 16]> = data.chunks(10 * 1024).map(|c| Md5::digest(c).into()).collect();
        assert_eq!(digests.multipart, multipart_etag(&parts));
        assert!(digests.multipart.ends_with("-3"));
        assert!(digests.matches(&Etag::parse(&digests.multipart).unwrap()));
        assert!(digests.matches(&Etag::parse(&digests.md5).unwrap()));
    }

    #[test]
    fn paired_and_separate_hashing_agree_for_any_chunking_and_part_size() {
        let data: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for part_size in [64u64, 640, 1000, 4096, 65_536, 100_000] {
            let parts: Vec<[u8; 16]> = data.chunks(part_size as usize).map(|c| Md5::digest(c).into()).collect();
            for chunk in [1usize, 63, 64, 65, 4097, 70_000] {
                for len in [0usize, 1, 63, 64, 640, 4095, 65_536, 70_000] {
                    let mut hasher = EtagHasher::new(part_size);
                    for piece in data[..len].chunks(chunk) {
                        hasher.update(piece);
                    }
                    let digests = hasher.finish();
                    assert_eq!(
                        digests.md5,
                        single_part_etag(&data[..len]),
                        "part {part_size} chunk {chunk} len {len}"
                    );
                    let expected: Vec<[u8; 16]> = if len == 0 {
                        vec![Md5::digest(b"").into()]
                    } else {
                        data[..len]
                            .chunks(part_size as usize)
                            .map(|c| Md5::digest(c).into())
                            .collect()
                    };
                    assert_eq!(
                        digests.multipart,
                        multipart_etag(&expected),
                        "part {part_size} chunk {chunk} len {len}"
                    );
                    assert_eq!(digests.size, len as u64);
                }
            }
            assert_eq!(parts.len(), 70_000usize.div_ceil(part_size as usize));
        }
    }
}
