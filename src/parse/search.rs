//! Finding a byte in a field's value, which is mostly short.

/// First occurrence of `byte`. Fields are mostly under a few hundred
/// bytes, where memchr's general search costs more to set up and finish
/// than it saves, and a byte loop mispredicts its exit: sixteen bytes at a
/// time with SSE2 (part of every x86-64), else eight or four with the SWAR
/// zero-byte test; memchr only for long values.
#[inline(always)]
pub(crate) fn find_byte(hay: &[u8], byte: u8) -> Option<usize> {
    let head = hay.len().min(256);
    if let Some(found) = find_short(&hay[..head], byte) {
        return Some(found);
    }
    if head == hay.len() {
        return None;
    }
    memchr::memchr(byte, &hay[head..]).map(|j| j + head)
}

/// [`find_byte`] within at most a few hundred bytes. The last block (or
/// word) is read where it ends with the value, overlapping bytes already
/// searched: those hold no match, so the first flagged byte is still the
/// first match, and no byte is compared on its own past the first four.
#[inline(always)]
fn find_short(hay: &[u8], byte: u8) -> Option<usize> {
    let n = hay.len();
    #[cfg(target_arch = "x86_64")]
    if n >= 16 {
        return find_byte_sse2(hay, byte);
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 <= n {
            if let Some(j) = first_in_word(word8(hay, i), byte) {
                return Some(i + j);
            }
            i += 8;
        }
        return if i < n {
            first_in_word(word8(hay, n - 8), byte).map(|j| n - 8 + j)
        } else {
            None
        };
    }
    if n >= 4 {
        // The first four bytes and the last four, as one word.
        let word = u64::from(word4(hay, 0)) | u64::from(word4(hay, n - 4)) << 32;
        return first_in_word(word, byte).map(|j| if j < 4 { j } else { n + j - 8 });
    }
    hay.iter().position(|&b| b == byte)
}

#[inline(always)]
fn word8(hay: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(hay[at..at + 8].try_into().unwrap())
}

#[inline(always)]
fn word4(hay: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(hay[at..at + 4].try_into().unwrap())
}

/// The first of a word's eight bytes that is `byte`: the zero-byte test
/// on the word XOR the byte repeated. The lowest flagged byte is exact;
/// borrows only affect higher ones.
#[inline(always)]
fn first_in_word(word: u64, byte: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let word = word ^ (LO * byte as u64);
    let found = word.wrapping_sub(LO) & !word & HI;
    (found != 0).then(|| (found.trailing_zeros() / 8) as usize)
}

/// The 16-byte blocks of [`find_short`], for at least 16 bytes; the last
/// block ends with `hay`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn find_byte_sse2(hay: &[u8], byte: u8) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let n = hay.len();
    debug_assert!(n >= 16);
    // SAFETY: SSE2 is part of the x86-64 baseline, so these intrinsics are
    // available on every CPU this code is compiled for. Each load reads the
    // 16 bytes of `block`, a bounds-checked subslice of `hay`, and
    // `_mm_loadu_si128` has no alignment requirement.
    unsafe {
        let needle = _mm_set1_epi8(byte as i8);
        let search = |at: usize| {
            let block = &hay[at..at + 16];
            let chunk = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            let mask = _mm_movemask_epi8(_mm_cmpeq_epi8(chunk, needle));
            (mask != 0).then(|| at + mask.trailing_zeros() as usize)
        };
        let mut i = 0;
        while i + 16 <= n {
            if let Some(found) = search(i) {
                return Some(found);
            }
            i += 16;
        }
        if i < n {
            return search(n - 16);
        }
    }
    None
}
