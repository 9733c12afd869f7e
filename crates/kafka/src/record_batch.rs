//! Record batches v2 ("magic 2"), the on-wire form of records in Fetch responses: uncompressed, CreateTime,
//! no producer id, CRC32C over everything from the attributes to the end of the batch.
//!
//! ```text
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 = 2 | crc u32 |
//! attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 | producerId i64 = -1 |
//! producerEpoch i16 = -1 | baseSequence i32 = -1 | recordCount i32 | records...
//! record: length varint | attributes i8 | timestampDelta varlong | offsetDelta varint |
//!         keyLength varint (-1 = null) | key | valueLength varint | value | headerCount varint = 0
//! ```
//! Varints are zigzag-encoded base-128 (as protobuf's sint32/sint64).

use crate::Record;
use bytes::{BufMut, BytesMut};

/// Bytes from `partitionLeaderEpoch` to the CRC, counted in batchLength.
const BATCH_HEADER_AFTER_LENGTH: usize = 4 + 1 + 4;
/// The whole batch header (61 bytes).
pub const BATCH_HEADER_LEN: usize = 8 + 4 + BATCH_HEADER_AFTER_LENGTH + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4;

/// Appends a zigzag varint (i32).
pub fn put_varint(buf: &mut BytesMut, v: i32) {
    put_unsigned_varint(buf, ((v << 1) ^ (v >> 31)) as u32 as u64);
}

/// Appends a zigzag varlong (i64).
pub fn put_varlong(buf: &mut BytesMut, v: i64) {
    put_unsigned_varint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_unsigned_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn varint_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

/// Why a run of records cannot be one batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("records are not in increasing offset order")]
    OffsetOrder,
    #[error("a batch spans more than i32 offsets or a field is longer than i32 bytes")]
    TooLarge,
}

/// Encodes `records` (non-empty, increasing offsets) as one batch appended to `out`.
pub fn encode_batch(out: &mut BytesMut, records: &[Record]) -> Result<(), EncodeError> {
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Ok(());
    };
    let base_offset = first.offset;
    let base_ts = first.timestamp_ms;
    let max_ts = records.iter().map(|r| r.timestamp_ms).max().unwrap_or(base_ts);
    let last_delta = i32::try_from(last.offset - base_offset).map_err(|_| EncodeError::TooLarge)?;

    let start = out.len();
    out.put_i64(base_offset);
    out.put_i32(0); // batchLength, patched below
    out.put_i32(0); // partitionLeaderEpoch
    out.put_i8(2); // magic
    out.put_u32(0); // crc, patched below
    let crc_from = out.len();
    out.put_i16(0); // attributes: no compression, CreateTime, not transactional, not control
    out.put_i32(last_delta);
    out.put_i64(base_ts);
    out.put_i64(max_ts);
    out.put_i64(-1); // producerId
    out.put_i16(-1); // producerEpoch
    out.put_i32(-1); // baseSequence
    out.put_i32(i32::try_from(records.len()).map_err(|_| EncodeError::TooLarge)?);

    let mut prev: Option<i64> = None;
    for r in records {
        if prev.is_some_and(|p| r.offset <= p) {
            return Err(EncodeError::OffsetOrder);
        }
        prev = Some(r.offset);
        let offset_delta = i32::try_from(r.offset - base_offset).map_err(|_| EncodeError::TooLarge)?;
        let ts_delta = r.timestamp_ms - base_ts;
        let key_len: i64 = match &r.key {
            Some(k) => i64::try_from(k.len()).map_err(|_| EncodeError::TooLarge)?,
            None => -1,
        };
        let value_len = i32::try_from(r.value.len()).map_err(|_| EncodeError::TooLarge)?;
        let body_len = 1
            + varint_len(ts_delta)
            + varint_len(offset_delta.into())
            + varint_len(key_len)
            + key_len.max(0) as usize
            + varint_len(value_len.into())
            + r.value.len()
            + varint_len(0);
        put_varint(out, i32::try_from(body_len).map_err(|_| EncodeError::TooLarge)?);
        out.put_i8(0); // record attributes
        put_varlong(out, ts_delta);
        put_varint(out, offset_delta);
        match &r.key {
            Some(k) => {
                put_varint(out, key_len as i32);
                out.put_slice(k);
            }
            None => put_varint(out, -1),
        }
        put_varint(out, value_len);
        out.put_slice(&r.value);
        put_varint(out, 0); // headers
    }

    let batch_len = i32::try_from(out.len() - start - 12).map_err(|_| EncodeError::TooLarge)?;
    out[start + 8..start + 12].copy_from_slice(&batch_len.to_be_bytes());
    let crc = crc32c::crc32c(&out[crc_from..]);
    out[crc_from - 4..crc_from].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Encodes `records` as consecutive batches of at most `per_batch` records each.
pub fn encode_batches(records: &[Record], per_batch: usize) -> Result<BytesMut, EncodeError> {
    let mut out = BytesMut::new();
    for chunk in records.chunks(per_batch.max(1)) {
        encode_batch(&mut out, chunk)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    fn rec(offset: i64, ts: i64, key: Option<&[u8]>, value: &[u8]) -> Record {
        Record { offset, timestamp_ms: ts, key: key.map(<[u8]>::to_vec), value: value.to_vec() }
    }

    #[test]
    fn crc32c_reference_vector() {
        // The Castagnoli check value (RFC 3720 / iSCSI), not the IEEE one (0xCBF43926).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn varints_zigzag() {
        let enc = |v: i32| {
            let mut b = BytesMut::new();
            put_varint(&mut b, v);
            b.to_vec()
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(-1), [0x01]);
        assert_eq!(enc(1), [0x02]);
        assert_eq!(enc(63), [0x7e]);
        assert_eq!(enc(64), [0x80, 0x01]);
        assert_eq!(enc(-65), [0x81, 0x01]);
        assert_eq!(enc(300), [0xd8, 0x04]);
        assert_eq!(enc(i32::MIN), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        let mut b = BytesMut::new();
        put_varlong(&mut b, -1_000_000_000_000);
        assert_eq!(b.len(), varint_len(-1_000_000_000_000));
        for v in [0i64, 1, -1, 63, 64, -64, -65, 8191, 8192, i64::from(i32::MAX), i64::MIN, i64::MAX] {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn known_bytes_of_a_one_record_batch() {
        let mut out = BytesMut::new();
        encode_batch(&mut out, &[rec(5, 1000, None, b"hi")]).unwrap();
        assert_eq!(out.len(), BATCH_HEADER_LEN + 1 + 8);
        assert_eq!(&out[0..8], &5i64.to_be_bytes());
        assert_eq!(&out[8..12], &((out.len() - 12) as i32).to_be_bytes());
        assert_eq!(out[16], 2, "magic");
        // record: length 8, attrs 0, tsDelta 0, offsetDelta 0, key -1, value len 2, "hi", 0 headers
        assert_eq!(&out[BATCH_HEADER_LEN..], &[0x10, 0, 0, 0, 0x01, 0x04, b'h', b'i', 0]);
        let crc = u32::from_be_bytes([out[17], out[18], out[19], out[20]]);
        assert_eq!(crc, crc32c::crc32c(&out[21..]));
    }

    #[test]
    fn decodes_with_an_independent_decoder_and_checks_crc() {
        let records: Vec<Record> = (0..250)
            .map(|i| {
                let key = if i % 3 == 0 { None } else { Some(format!("k{i}").into_bytes()) };
                // timestamps not monotonic: negative deltas must survive
                rec(100 + i * 2, 1_700_000_000_000 + (i % 7) * 1000 - 3000, key.as_deref(), &vec![b'x'; (i * 13 % 300) as usize])
            })
            .collect();
        let buf = encode_batches(&records, 64).unwrap();
        let mut bytes = buf.clone().freeze();
        let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
        assert_eq!(sets.len(), 4);
        let decoded: Vec<_> = sets.into_iter().flat_map(|s| s.records).collect();
        assert_eq!(decoded.len(), records.len());
        for (d, r) in decoded.iter().zip(&records) {
            assert_eq!(d.offset, r.offset);
            assert_eq!(d.timestamp, r.timestamp_ms);
            assert_eq!(d.key.as_deref(), r.key.as_deref());
            assert_eq!(d.value.as_deref(), Some(&r.value[..]));
        }

        // One flipped bit in a value: the decoder's CRC check must refuse the batch.
        let mut bad = buf.clone();
        let n = bad.len();
        bad[n - 3] ^= 0x01;
        let mut bytes = bad.freeze();
        assert!(RecordBatchDecoder::decode_all(&mut bytes).is_err());
    }

    #[test]
    fn refuses_unordered_offsets() {
        let mut out = BytesMut::new();
        assert_eq!(
            encode_batch(&mut out, &[rec(2, 0, None, b""), rec(2, 0, None, b"")]),
            Err(EncodeError::OffsetOrder)
        );
    }
}
