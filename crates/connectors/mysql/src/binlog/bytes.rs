//! A bounds-checked little reader over an event body. Every read returns an
//! error instead of panicking when the body is shorter than the format says.

use std::fmt;

/// Why a piece of an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl DecodeError {
    pub fn new(msg: impl Into<String>) -> DecodeError {
        DecodeError(msg.into())
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type DResult<T> = Result<T, DecodeError>;

#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Everything not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub fn take(&mut self, n: usize) -> DResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(DecodeError(format!(
                "truncated: {n} bytes needed at offset {}, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn skip(&mut self, n: usize) -> DResult<()> {
        self.take(n).map(|_| ())
    }

    pub fn u8(&mut self) -> DResult<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u16_le(&mut self) -> DResult<u16> {
        Ok(self.uint_le(2)? as u16)
    }

    pub fn u32_le(&mut self) -> DResult<u32> {
        Ok(self.uint_le(4)? as u32)
    }

    pub fn u64_le(&mut self) -> DResult<u64> {
        self.uint_le(8)
    }

    /// An unsigned little-endian integer of `n` (≤ 8) bytes.
    pub fn uint_le(&mut self, n: usize) -> DResult<u64> {
        Ok(le(self.take(n)?))
    }

    /// An unsigned big-endian integer of `n` (≤ 8) bytes.
    pub fn uint_be(&mut self, n: usize) -> DResult<u64> {
        Ok(be(self.take(n)?))
    }

    /// A length-encoded ("packed") integer. 0xFB (SQL NULL) is refused.
    pub fn packed(&mut self) -> DResult<u64> {
        match self.u8()? {
            b @ 0..=0xFA => Ok(u64::from(b)),
            0xFC => self.uint_le(2),
            0xFD => self.uint_le(3),
            0xFE => self.uint_le(8),
            b => Err(DecodeError(format!("invalid packed integer prefix 0x{b:02X}"))),
        }
    }

    /// A packed integer used as a length, checked against what is left.
    pub fn packed_len(&mut self) -> DResult<usize> {
        let n = self.packed()?;
        if n > self.remaining() as u64 {
            return Err(DecodeError(format!("length {n} exceeds the {} bytes left", self.remaining())));
        }
        Ok(n as usize)
    }

    /// A string prefixed by its packed length.
    pub fn packed_bytes(&mut self) -> DResult<&'a [u8]> {
        let n = self.packed_len()?;
        self.take(n)
    }
}

pub fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

pub fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

/// Is bit `i` set in a little-endian-bit-order bitmap (bit 0 = LSB of byte 0)?
pub fn bit(bitmap: &[u8], i: usize) -> bool {
    bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads() {
        let mut r = Reader::new(&[1, 2, 0, 0xFC, 0x34, 0x12, 0xFB, 9]);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16_le().unwrap(), 2);
        assert_eq!(r.packed().unwrap(), 0x1234);
        assert!(r.packed().is_err());
        assert_eq!(r.u8().unwrap(), 9);
        assert!(r.u8().is_err());
        assert_eq!(be(&[1, 2, 3]), 0x010203);
        assert_eq!(le(&[1, 2, 3]), 0x030201);
        assert!(bit(&[0b10], 1) && !bit(&[0b10], 0) && !bit(&[0b10], 9));
        let mut r = Reader::new(&[0xFD, 5, 0, 0, 7]);
        assert!(r.packed_len().is_err());
    }
}
