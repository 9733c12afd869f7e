//! The on-disk frame of one record, and the reader that walks frames in a file region.
//!
//! ```text
//! offset  size  field
//!      0     4  frame_len   u32 LE: number of bytes after this field (crc .. end of source position)
//!      4     4  crc         u32 LE: CRC-32 (IEEE, as computed by crc32fast) of frame_len's 4 bytes
//!                           followed by every byte after the crc field
//!      8     1  version     1
//!      9     1  attributes  bit 0: last record of its append batch ("batch end")
//!     10     8  offset      u64 LE
//!     18     8  timestamp   i64 LE, milliseconds since the epoch
//!     26     4  key_len     i32 LE, -1 for no key
//!     30     k  key
//!              4  value_len u32 LE
//!              v  value
//!              4  pos_len   u32 LE
//!              p  source position (opaque to the log)
//! ```
//!
//! The CRC covers the length too, so a flipped bit in `frame_len` cannot make a shorter or longer frame
//! verify. The offset is stored in each frame (not only implied by the segment's base offset) so recovery
//! can check the sequence and a misplaced frame is detected, not served under the wrong offset.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes of `frame_len` + `crc`.
pub(crate) const PREFIX_LEN: usize = 8;
/// Bytes of a frame with an empty key, value and source position.
pub(crate) const MIN_FRAME: usize = PREFIX_LEN + 1 + 1 + 8 + 8 + 4 + 4 + 4;
/// The largest frame the log writes or accepts when reading. Bounds what a garbage `frame_len` read from a
/// torn tail can make a reader allocate.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

const VERSION: u8 = 1;
const ATTR_BATCH_END: u8 = 1;

/// Size of a record's frame, before encoding it.
pub(crate) fn frame_size(key: Option<&[u8]>, value: &[u8], source_position: &[u8]) -> usize {
    MIN_FRAME + key.map_or(0, <[u8]>::len) + value.len() + source_position.len()
}

/// Appends one frame to `buf`. The caller has checked the size against [`MAX_FRAME_BYTES`].
pub(crate) fn encode(
    buf: &mut Vec<u8>,
    offset: u64,
    timestamp_ms: i64,
    key: Option<&[u8]>,
    value: &[u8],
    source_position: &[u8],
    batch_end: bool,
) {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; PREFIX_LEN]);
    buf.push(VERSION);
    buf.push(if batch_end { ATTR_BATCH_END } else { 0 });
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&timestamp_ms.to_le_bytes());
    match key {
        // A key longer than i32::MAX cannot pass the MAX_FRAME_BYTES check done before encoding.
        Some(k) => {
            buf.extend_from_slice(&(k.len() as i32).to_le_bytes());
            buf.extend_from_slice(k);
        }
        None => buf.extend_from_slice(&(-1i32).to_le_bytes()),
    }
    buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
    buf.extend_from_slice(value);
    buf.extend_from_slice(&(source_position.len() as u32).to_le_bytes());
    buf.extend_from_slice(source_position);
    let frame_len = (buf.len() - start - 4) as u32;
    let len_bytes = frame_len.to_le_bytes();
    buf[start..start + 4].copy_from_slice(&len_bytes);
    let mut h = crc32fast::Hasher::new();
    h.update(&len_bytes);
    h.update(&buf[start + PREFIX_LEN..]);
    let crc = h.finalize();
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// A verified frame, borrowing its bytes.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    /// Total bytes on disk, prefix included.
    pub len: usize,
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
    pub source_position: &'a [u8],
    pub batch_end: bool,
}

/// Total length announced by the frame at the start of `buf`: `Ok(None)` if fewer than 4 bytes are there,
/// `Err` if the length cannot be a frame.
fn announced_len(buf: &[u8]) -> Result<Option<usize>, &'static str> {
    let Some(len) = buf.get(..4) else {
        return Ok(None);
    };
    let frame_len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let total = frame_len + 4;
    if total < MIN_FRAME {
        return Err("frame length below the minimum");
    }
    if total > MAX_FRAME_BYTES {
        return Err("frame length above the maximum");
    }
    Ok(Some(total))
}

fn take<'a>(buf: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], &'static str> {
    let end = at.checked_add(n).ok_or("length overflow")?;
    let s = buf.get(*at..end).ok_or("field lengths exceed the frame")?;
    *at = end;
    Ok(s)
}

fn take_u32(buf: &[u8], at: &mut usize) -> Result<u32, &'static str> {
    let s = take(buf, at, 4)?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn take_u64(buf: &[u8], at: &mut usize) -> Result<u64, &'static str> {
    let s = take(buf, at, 8)?;
    let mut b = [0u8; 8];
    b.copy_from_slice(s);
    Ok(u64::from_le_bytes(b))
}

/// Decodes and verifies the frame that starts `frame` (exactly its bytes).
fn decode(frame: &[u8]) -> Result<Frame<'_>, &'static str> {
    let mut h = crc32fast::Hasher::new();
    h.update(&frame[..4]);
    h.update(&frame[PREFIX_LEN..]);
    let stored = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
    if h.finalize() != stored {
        return Err("CRC mismatch");
    }
    let mut at = PREFIX_LEN;
    let head = take(frame, &mut at, 2)?;
    if head[0] != VERSION {
        return Err("unknown frame version");
    }
    let batch_end = head[1] & ATTR_BATCH_END != 0;
    let offset = take_u64(frame, &mut at)?;
    let timestamp_ms = take_u64(frame, &mut at)? as i64;
    let key_len = take_u32(frame, &mut at)? as i32;
    let key = match key_len {
        -1 => None,
        n if n >= 0 => Some(take(frame, &mut at, n as usize)?),
        _ => return Err("negative key length"),
    };
    let value_len = take_u32(frame, &mut at)? as usize;
    let value = take(frame, &mut at, value_len)?;
    let pos_len = take_u32(frame, &mut at)? as usize;
    let source_position = take(frame, &mut at, pos_len)?;
    if at != frame.len() {
        return Err("trailing bytes in frame");
    }
    Ok(Frame {
        len: frame.len(),
        offset,
        timestamp_ms,
        key,
        value,
        source_position,
        batch_end,
    })
}

/// What [`RegionReader::next`] found.
pub(crate) enum Step<'a> {
    /// A verified frame at file position `.0`.
    Frame(u64, Frame<'a>),
    /// The region ends exactly at a frame boundary.
    End,
    /// The bytes at file position `.0` are not a whole, valid frame (`.1` says why): a torn or corrupt tail
    /// when this is the end of the active segment at open, corruption anywhere else.
    Bad(u64, &'static str),
}

/// Walks the frames of `file` between two positions with positioned reads (`pread`), so any number of
/// readers share one `File` without a shared seek position, and never reads past `end`, which is how a
/// reader is kept away from bytes the writer has not committed yet.
pub(crate) struct RegionReader<'f> {
    file: &'f File,
    /// File position of `buf[0]`.
    buf_pos: u64,
    buf: Vec<u8>,
    cur: usize,
    end: u64,
    chunk: usize,
}

impl<'f> RegionReader<'f> {
    pub(crate) fn new(file: &'f File, start: u64, end: u64, chunk: usize) -> RegionReader<'f> {
        RegionReader {
            file,
            buf_pos: start,
            buf: Vec::new(),
            cur: 0,
            end,
            chunk: chunk.max(MIN_FRAME),
        }
    }

    /// Makes at least `need` bytes available from `cur` (fewer if the region ends first).
    fn fill(&mut self, need: usize) -> std::io::Result<()> {
        let have = self.buf.len() - self.cur;
        if have >= need {
            return Ok(());
        }
        // Drop the consumed part and read more behind what is left.
        self.buf.drain(..self.cur);
        self.buf_pos += self.cur as u64;
        self.cur = 0;
        let file_at = self.buf_pos + self.buf.len() as u64;
        let left = self.end.saturating_sub(file_at) as usize;
        let want = need
            .max(self.chunk)
            .saturating_sub(self.buf.len())
            .min(left);
        let old = self.buf.len();
        self.buf.resize(old + want, 0);
        let mut got = 0;
        while got < want {
            let n = self
                .file
                .read_at(&mut self.buf[old + got..], file_at + got as u64)?;
            if n == 0 {
                break; // the file is shorter than `end` says: reported as a bad frame by the caller
            }
            got += n;
        }
        self.buf.truncate(old + got);
        Ok(())
    }

    pub(crate) fn position(&self) -> u64 {
        self.buf_pos + self.cur as u64
    }

    pub(crate) fn next(&mut self) -> std::io::Result<Step<'_>> {
        let pos = self.position();
        if pos >= self.end {
            return Ok(Step::End);
        }
        self.fill(4)?;
        let total = match announced_len(&self.buf[self.cur..]) {
            Ok(Some(total)) => total,
            Ok(None) => return Ok(Step::Bad(pos, "truncated frame length")),
            Err(why) => return Ok(Step::Bad(pos, why)),
        };
        self.fill(total)?;
        if self.buf.len() - self.cur < total {
            return Ok(Step::Bad(pos, "truncated frame"));
        }
        let start = self.cur;
        self.cur += total;
        match decode(&self.buf[start..start + total]) {
            Ok(frame) => Ok(Step::Frame(pos, frame)),
            Err(why) => {
                self.cur = start;
                Ok(Step::Bad(pos, why))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_and_crc_covers_every_byte() {
        let mut buf = Vec::new();
        encode(&mut buf, 42, -5, Some(b"k"), b"value", b"pos", true);
        encode(&mut buf, 43, 7, None, b"", b"", false);
        let first = announced_len(&buf).unwrap().unwrap();
        assert_eq!(first, frame_size(Some(b"k"), b"value", b"pos"));
        let f = decode(&buf[..first]).unwrap();
        assert_eq!(
            (
                f.offset,
                f.timestamp_ms,
                f.key,
                f.value,
                f.source_position,
                f.batch_end
            ),
            (42, -5, Some(&b"k"[..]), &b"value"[..], &b"pos"[..], true)
        );
        let g = decode(&buf[first..]).unwrap();
        assert_eq!((g.offset, g.key, g.batch_end), (43, None, false));
        for i in 0..first {
            let mut bad = buf[..first].to_vec();
            bad[i] ^= 0x10;
            let ok = match announced_len(&bad) {
                Ok(Some(n)) if n == first => decode(&bad).is_ok(),
                _ => false,
            };
            assert!(!ok, "flipping byte {i} went unnoticed");
        }
    }
}
