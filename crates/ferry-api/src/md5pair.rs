//! Two MD5 digests advanced over the same 64-byte blocks at once.
//!
//! Verifying a multipart ETag needs the MD5 of every 8 MiB part, and the workspace also keeps the
//! MD5 of the whole file: two digests of the very same bytes, differing only in where they start.
//! MD5 is one long chain of dependent additions, so a CPU computing one digest leaves most of its
//! execution units idle; interleaving two independent chains costs little more than one. The
//! single-state padding steps use the `md-5` crate's compression function, and the tests check
//! every result against `md-5`.

use md5::block_api::compress;

/// MD5's initial state.
pub(crate) const INITIAL_STATE: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The 64 additive constants (the integer parts of |sin(i + 1)| · 2³²).
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// Left-rotation amounts, four per round.
const SHIFTS: [[u32; 4]; 4] = [[7, 12, 17, 22], [5, 9, 14, 20], [4, 11, 16, 23], [6, 10, 15, 21]];

/// The message word each step reads.
const fn word_index(i: usize) -> usize {
    match i / 16 {
        0 => i,
        1 => (5 * i + 1) % 16,
        2 => (3 * i + 5) % 16,
        _ => (7 * i) % 16,
    }
}

/// The round's mixing function of `b`, `c` and `d`.
#[inline(always)]
fn mix(round: usize, b: u32, c: u32, d: u32) -> u32 {
    match round {
        0 => (b & c) | (!b & d),
        1 => (b & d).wrapping_add(c & !d),
        2 => b ^ c ^ d,
        _ => c ^ (b | !d),
    }
}

/// Step `I` for both lanes; `I` is a constant, so every table lookup folds away.
#[inline(always)]
fn step<const I: usize>(first: &mut [u32; 4], second: &mut [u32; 4], words: &[u32; 16]) {
    let round = I / 16;
    let added = K[I].wrapping_add(words[word_index(I)]);
    let shift = SHIFTS[round][I % 4];
    for lane in [first, second] {
        let [a, b, c, d] = *lane;
        let t = a
            .wrapping_add(added)
            .wrapping_add(mix(round, b, c, d))
            .rotate_left(shift)
            .wrapping_add(b);
        *lane = [d, t, b, c];
    }
}

macro_rules! steps {
    ($first:ident, $second:ident, $words:ident; $($i:literal)*) => {
        $(step::<$i>(&mut $first, &mut $second, &$words);)*
    };
}

/// Advances both states over the same blocks.
pub(crate) fn compress_pair(first: &mut [u32; 4], second: &mut [u32; 4], blocks: &[[u8; 64]]) {
    for block in blocks {
        let mut words = [0u32; 16];
        for (word, bytes) in words.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        let mut lane1 = *first;
        let mut lane2 = *second;
        steps!(lane1, lane2, words;
            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
            16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
            32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
            48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
        for (word, add) in first.iter_mut().zip(lane1) {
            *word = word.wrapping_add(add);
        }
        for (word, add) in second.iter_mut().zip(lane2) {
            *word = word.wrapping_add(add);
        }
    }
}

/// Finishes one digest: `state` has absorbed `length - tail.len()` bytes in whole blocks and
/// `tail` (shorter than a block) holds the rest.
pub(crate) fn finalize(mut state: [u32; 4], tail: &[u8], length: u64) -> [u8; 16] {
    debug_assert!(tail.len() < 64);
    let mut blocks = [[0u8; 64]; 2];
    let flat = blocks.as_flattened_mut();
    flat[..tail.len()].copy_from_slice(tail);
    flat[tail.len()] = 0x80;
    let used = if tail.len() < 56 { 1 } else { 2 };
    let end = used * 64;
    flat[end - 8..end].copy_from_slice(&length.wrapping_mul(8).to_le_bytes());
    compress(&mut state, &blocks[..used]);
    let mut digest = [0u8; 16];
    for (bytes, word) in digest.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    digest
}

/// Views whole blocks of `data` as blocks (the rest is returned separately).
pub(crate) fn as_blocks(data: &[u8]) -> (&[[u8; 64]], &[u8]) {
    data.as_chunks::<64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    /// Bytes that differ from seed to seed and show no short period.
    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        (0..len as u64)
            .map(|i| ((i + seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
            .collect()
    }

    #[test]
    fn both_lanes_equal_md5_for_every_tail_length() {
        for len in [0usize, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 4096 + 17] {
            let first = pseudo_random(len, 7 + len as u64);
            let (blocks, tail) = as_blocks(&first);
            let mut a = INITIAL_STATE;
            let mut b = INITIAL_STATE;
            compress_pair(&mut a, &mut b, blocks);
            let expected: [u8; 16] = Md5::digest(&first).into();
            assert_eq!(finalize(a, tail, len as u64), expected, "lane 1, length {len}");
            assert_eq!(finalize(b, tail, len as u64), expected, "lane 2, length {len}");
        }
    }

    #[test]
    fn lanes_with_different_starting_points_stay_independent() {
        // Lane 2 starts after one block of its own, as a part starting mid-file does.
        let data = pseudo_random(64 * 40 + 9, 99);
        let mut whole = INITIAL_STATE;
        compress(&mut whole, &as_blocks(&data[..64]).0[..1]);
        let mut part = INITIAL_STATE;
        let (blocks, tail) = as_blocks(&data[64..]);
        compress_pair(&mut whole, &mut part, blocks);
        let whole_digest: [u8; 16] = Md5::digest(&data).into();
        let part_digest: [u8; 16] = Md5::digest(&data[64..]).into();
        assert_eq!(finalize(whole, tail, data.len() as u64), whole_digest);
        assert_eq!(finalize(part, tail, (data.len() - 64) as u64), part_digest);
    }
}
