//! Decoders for the binary forms of DECIMAL and the temporal types, shared by
//! row images and by the opaque values of binary JSON.

use super::bytes::{DResult, DecodeError, Reader};
use opendts_core::row::Cell;

/// Bytes taken by 0..=9 leftover decimal digits.
const DIG2BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
const POW10: [u32; 10] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

/// Storage size of a DECIMAL(precision, scale) in the binary format.
pub fn decimal_len(precision: u8, scale: u8) -> DResult<usize> {
    if scale > precision || precision > 65 || scale > 38 {
        return Err(DecodeError(format!("invalid DECIMAL({precision},{scale})")));
    }
    let intg = usize::from(precision - scale);
    let frac = usize::from(scale);
    Ok(intg / 9 * 4 + DIG2BYTES[intg % 9] + frac / 9 * 4 + DIG2BYTES[frac % 9])
}

/// Appends the decimal text of a binary DECIMAL(precision, scale), as SELECT
/// prints it: optional '-', integer digits without leading zeros (at least
/// one), and exactly `scale` fraction digits after a '.'.
pub fn decode_decimal(raw: &[u8], precision: u8, scale: u8, out: &mut Vec<u8>) -> DResult<()> {
    let len = decimal_len(precision, scale)?;
    if raw.len() != len || len == 0 {
        return Err(DecodeError(format!("DECIMAL({precision},{scale}) needs {len} bytes, got {}", raw.len())));
    }
    let negative = raw[0] & 0x80 == 0;
    let mask: u8 = if negative { 0xFF } else { 0 };
    // Reads `n` bytes big-endian with the sign bit of the first byte flipped and
    // negative values complemented, without copying the input.
    let byte = |i: usize| -> u8 {
        let b = if i == 0 { raw[0] ^ 0x80 } else { raw[i] };
        b ^ mask
    };
    let mut at = 0usize;
    let mut group = |n: usize| -> u32 {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 8) | u32::from(byte(at));
            at += 1;
        }
        v
    };
    let intg = usize::from(precision - scale);
    let frac = usize::from(scale);
    let start = out.len();
    if negative {
        out.push(b'-');
    }
    let digits_start = out.len();
    let push_digits = |out: &mut Vec<u8>, v: u32, width: usize, skip_leading: bool| -> DResult<()> {
        if v >= POW10[width] {
            return Err(DecodeError(format!("corrupt DECIMAL digit group {v}")));
        }
        for k in (0..width).rev() {
            let d = (v / POW10[k]) % 10;
            if skip_leading && d == 0 && out.len() == digits_start {
                continue;
            }
            out.push(b'0' + d as u8);
        }
        Ok(())
    };
    // Integer part: the leftover digits first, then full groups of nine.
    let lead = intg % 9;
    if lead > 0 {
        let v = group(DIG2BYTES[lead]);
        push_digits(out, v, lead, true)?;
    }
    for _ in 0..intg / 9 {
        let v = group(4);
        push_digits(out, v, 9, true)?;
    }
    if out.len() == digits_start {
        out.push(b'0');
    }
    let mut all_zero = out[digits_start..].iter().all(|&d| d == b'0');
    if frac > 0 {
        out.push(b'.');
        let frac_start = out.len();
        for _ in 0..frac / 9 {
            let v = group(4);
            push_digits(out, v, 9, false)?;
        }
        let tail = frac % 9;
        if tail > 0 {
            let v = group(DIG2BYTES[tail]);
            push_digits(out, v, tail, false)?;
        }
        all_zero = all_zero && out[frac_start..].iter().all(|&d| d == b'0');
    }
    if negative && all_zero {
        // "-0.00" is not a value MySQL returns.
        out.remove(start);
    }
    Ok(())
}

/// Microseconds of a fractional-seconds suffix of `fsp` digits (big-endian).
pub fn read_frac(r: &mut Reader<'_>, fsp: u8) -> DResult<u32> {
    Ok(match fsp {
        0 => 0,
        1 | 2 => r.uint_be(1)? as u32 * 10_000,
        3 | 4 => r.uint_be(2)? as u32 * 100,
        5 | 6 => r.uint_be(3)? as u32,
        _ => return Err(DecodeError(format!("invalid fractional precision {fsp}"))),
    })
}

pub fn zero_date() -> Cell {
    Cell::Date { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, micros: 0 }
}

/// DATE: 3 bytes little-endian, day in bits 0-4, month 5-8, year from bit 9.
pub fn date(v: u32) -> Cell {
    Cell::Date {
        year: (v >> 9) as u16,
        month: ((v >> 5) & 15) as u8,
        day: (v & 31) as u8,
        hour: 0,
        minute: 0,
        second: 0,
        micros: 0,
    }
}

/// The integer part of DATETIME2 (without the 0x80_0000_0000 offset) and its microseconds.
pub fn datetime2(int_part: u64, micros: u32) -> Cell {
    let ymd = int_part >> 17;
    let ym = ymd >> 5;
    let hms = int_part & 0x1_FFFF;
    Cell::Date {
        year: (ym / 13) as u16,
        month: (ym % 13) as u8,
        day: (ymd & 31) as u8,
        hour: (hms >> 12) as u8,
        minute: ((hms >> 6) & 63) as u8,
        second: (hms & 63) as u8,
        micros,
    }
}

/// The old DATETIME: an integer YYYYMMDDhhmmss.
pub fn datetime_v1(v: u64) -> Cell {
    let (d, t) = (v / 1_000_000, v % 1_000_000);
    Cell::Date {
        year: (d / 10_000) as u16,
        month: (d / 100 % 100) as u8,
        day: (d % 100) as u8,
        hour: (t / 10_000) as u8,
        minute: (t / 100 % 100) as u8,
        second: (t % 100) as u8,
        micros: 0,
    }
}

/// A TIME from a sign, a total number of hours and the rest.
pub fn time(negative: bool, hours: u32, minutes: u8, seconds: u8, micros: u32) -> Cell {
    let negative = negative && (hours != 0 || minutes != 0 || seconds != 0 || micros != 0);
    Cell::Time { negative, days: hours / 24, hours: (hours % 24) as u8, minutes, seconds, micros }
}

/// TIME in MySQL's packed form: (hms << 24) + microseconds, negated when negative;
/// hms = hour << 12 | minute << 6 | second.
pub fn time_packed(packed: i64) -> Cell {
    let negative = packed < 0;
    let a = packed.unsigned_abs();
    let micros = (a & 0xFF_FFFF) as u32;
    let hms = a >> 24;
    time(negative, ((hms >> 12) & 0x3FF) as u32, ((hms >> 6) & 63) as u8, (hms & 63) as u8, micros)
}

/// TIME2: 3 bytes big-endian (offset 0x800000) and the fraction; negative values
/// keep their fraction in complement form.
pub fn time2(r: &mut Reader<'_>, fsp: u8) -> DResult<Cell> {
    let packed: i64 = match fsp {
        0 => (r.uint_be(3)? as i64 - 0x80_0000) << 24,
        1..=4 => {
            let (n, scale, modulus) = if fsp <= 2 { (1, 10_000, 0x100) } else { (2, 100, 0x1_0000) };
            let mut int_part = r.uint_be(3)? as i64 - 0x80_0000;
            let mut frac = r.uint_be(n)? as i64;
            if int_part < 0 && frac != 0 {
                int_part += 1;
                frac -= modulus;
            }
            (int_part << 24) + frac * scale
        }
        5 | 6 => r.uint_be(6)? as i64 - 0x8000_0000_0000,
        _ => return Err(DecodeError(format!("invalid TIME precision {fsp}"))),
    };
    Ok(time_packed(packed))
}

/// The old TIME: a signed integer HHMMSS (3 bytes little-endian).
pub fn time_v1(raw: u32) -> Cell {
    let v = ((raw << 8) as i32) >> 8; // sign-extend 24 bits
    let negative = v < 0;
    let a = v.unsigned_abs();
    time(negative, a / 10_000, (a / 100 % 100) as u8, (a % 100) as u8, 0)
}

/// A TIMESTAMP (seconds since the epoch) as a UTC calendar value; 0 is the zero date.
pub fn timestamp(secs: u64, micros: u32) -> Cell {
    if secs == 0 && micros == 0 {
        return zero_date();
    }
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    Cell::Date {
        year: year as u16,
        month: month as u8,
        day: day as u8,
        hour: (rem / 3600) as u8,
        minute: (rem / 60 % 60) as u8,
        second: (rem % 60) as u8,
        micros,
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of each year,
    // then split into 400-year eras of 146097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(raw: &[u8], p: u8, s: u8) -> String {
        let mut out = Vec::new();
        decode_decimal(raw, p, s, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn decimals() {
        // DECIMAL(4,2): intg 2 (1 byte), frac 2 (1 byte). 12.34 -> 0x8C 0x22.
        assert_eq!(dec(&[0x80 | 12, 34], 4, 2), "12.34");
        // -12.34: complement of the positive form.
        assert_eq!(dec(&[!(0x80 | 12u8), !34u8], 4, 2), "-12.34");
        // 0.05
        assert_eq!(dec(&[0x80, 5], 4, 2), "0.05");
        // DECIMAL(3,0) 7 (2 bytes: 3 digits)
        assert_eq!(dec(&[0x80, 7], 3, 0), "7");
        // DECIMAL(1,1) .5 -> one byte frac digit; intg 0
        assert_eq!(dec(&[0x80 | 5], 1, 1), "0.5");
        // DECIMAL(18,9): 9 int digits (4 bytes) + 9 frac digits (4 bytes)
        let mut raw = Vec::new();
        raw.extend_from_slice(&123_456_789u32.to_be_bytes());
        raw.extend_from_slice(&1u32.to_be_bytes());
        raw[0] |= 0x80;
        assert_eq!(dec(&raw, 18, 9), "123456789.000000001");
        // negative zero is printed as 0
        assert_eq!(dec(&[!0x80u8, !0u8], 4, 2), "0.00");
        assert_eq!(decimal_len(65, 30).unwrap(), 30);
        assert!(decode_decimal(&[0x80], 4, 2, &mut Vec::new()).is_err());
        // corrupt group
        assert!(decode_decimal(&[0x80 | 0x7F, 0xFF], 4, 0, &mut Vec::new()).is_err());
    }

    #[test]
    fn temporal() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(24_855), (2038, 1, 19));
        assert_eq!(
            timestamp(2_147_483_647, 5),
            Cell::Date { year: 2038, month: 1, day: 19, hour: 3, minute: 14, second: 7, micros: 5 }
        );
        assert_eq!(timestamp(0, 0), zero_date());
        // -838:59:59 as TIME2(0)
        let hms: i64 = (838 << 12) | (59 << 6) | 59;
        let raw = ((0x80_0000 - hms) as u32).to_be_bytes();
        assert_eq!(
            time2(&mut Reader::new(&raw[1..]), 0).unwrap(),
            Cell::Time { negative: true, days: 34, hours: 22, minutes: 59, seconds: 59, micros: 0 }
        );
        // -00:00:01.5 as TIME2(1): packed = -(1<<24 | 500000)
        let packed: i64 = -((1 << 24) + 500_000);
        // int part rounds toward -inf and the fraction is complemented
        let int_part = (packed >> 24) + 0x80_0000; // floor
        let frac = ((packed % (1 << 24)) / 10_000) as i8 as u8; // -50 stored as 0x100 - 50
        let mut raw = (int_part as u32).to_be_bytes()[1..].to_vec();
        raw.push(frac);
        assert_eq!(
            time2(&mut Reader::new(&raw), 1).unwrap(),
            Cell::Time { negative: true, days: 0, hours: 0, minutes: 0, seconds: 1, micros: 500_000 }
        );
        assert_eq!(
            time_v1((-101_010i32 as u32) & 0xFF_FFFF),
            Cell::Time { negative: true, days: 0, hours: 10, minutes: 10, seconds: 10, micros: 0 }
        );
        assert_eq!(
            datetime_v1(20_231_231_235_959),
            Cell::Date { year: 2023, month: 12, day: 31, hour: 23, minute: 59, second: 59, micros: 0 }
        );
        assert_eq!(date(0), zero_date());
        assert_eq!(
            date((2024 << 9) | (2 << 5) | 29),
            Cell::Date { year: 2024, month: 2, day: 29, hour: 0, minute: 0, second: 0, micros: 0 }
        );
    }
}
