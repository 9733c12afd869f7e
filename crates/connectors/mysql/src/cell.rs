//! Conversion between the driver's values and OpenDTS cells. Both directions
//! are lossless: a cell read from MySQL writes back to MySQL as the same value.

use mysql_async::Value;
use opendts_core::row::Cell;

pub fn from_value(v: Value) -> Cell {
    match v {
        Value::NULL => Cell::Null,
        Value::Int(i) => Cell::Int(i),
        Value::UInt(u) => Cell::UInt(u),
        Value::Float(f) => Cell::Float(f),
        Value::Double(d) => Cell::Double(d),
        Value::Bytes(b) => Cell::Bytes(b),
        Value::Date(year, month, day, hour, minute, second, micros) => {
            Cell::Date { year, month, day, hour, minute, second, micros }
        }
        Value::Time(negative, days, hours, minutes, seconds, micros) => {
            Cell::Time { negative, days, hours, minutes, seconds, micros }
        }
    }
}

pub fn to_value(c: &Cell) -> Value {
    match c {
        Cell::Null => Value::NULL,
        Cell::Int(i) => Value::Int(*i),
        Cell::UInt(u) => Value::UInt(*u),
        Cell::Float(f) => Value::Float(*f),
        Cell::Double(d) => Value::Double(*d),
        Cell::Bytes(b) => Value::Bytes(b.clone()),
        Cell::Date { year, month, day, hour, minute, second, micros } => {
            Value::Date(*year, *month, *day, *hour, *minute, *second, *micros)
        }
        Cell::Time { negative, days, hours, minutes, seconds, micros } => {
            Value::Time(*negative, *days, *hours, *minutes, *seconds, *micros)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let values = vec![
            Value::NULL,
            Value::Int(i64::MIN),
            Value::UInt(u64::MAX),
            Value::Float(f32::MIN_POSITIVE),
            Value::Double(-0.0),
            Value::Bytes(vec![0, 255, 10]),
            Value::Date(0, 0, 0, 0, 0, 0, 0),
            Value::Time(true, 34, 22, 59, 59, 999_999),
        ];
        for v in values {
            assert_eq!(to_value(&from_value(v.clone())), v);
        }
    }
}
