//! The time formats the DTS API uses.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, the unit times are stored in.
pub fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_millis(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()
}

/// `2021-03-16T08:01:31Z`: CreateTime, FinishTime and most other timestamps.
pub fn iso_seconds(ms: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    from_millis(ms).and_then(|t| t.format(&fmt).ok()).unwrap_or_default()
}

/// `2021-03-16T08:01:31.000+00:00`: BootTime and FinishTime of sub-tasks.
pub fn iso_millis_offset(ms: i64) -> String {
    let fmt = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+00:00"
    );
    from_millis(ms).and_then(|t| t.format(&fmt).ok()).unwrap_or_default()
}

/// Parses the `Timestamp` common parameter (`yyyy-MM-ddTHH:mm:ssZ`, any RFC 3339 form accepted).
pub fn parse_request_timestamp(value: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(value, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_seed_samples() {
        let ms = 1_615_881_691_000; // 2021-03-16T08:01:31Z
        assert_eq!(iso_seconds(ms), "2021-03-16T08:01:31Z");
        assert_eq!(iso_millis_offset(ms + 7), "2021-03-16T08:01:31.007+00:00");
    }

    #[test]
    fn request_timestamps_parse() {
        let t = parse_request_timestamp("2021-03-16T08:01:31Z").map(|t| t.unix_timestamp());
        assert_eq!(t, Some(1_615_881_691));
        assert!(parse_request_timestamp("yesterday").is_none());
    }
}
