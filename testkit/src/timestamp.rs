//! RFC 3339 UTC timestamps as the emulated services send them (`2026-11-22T04:00:00Z`, or with
//! 3, 6 or 9 fractional digits), and the matching truncation so that what an emulator records
//! equals what it sent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::macros::format_description;

/// `at` as `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with `digits` fractional digits (0 for none; at
/// most 9).
pub(crate) fn format_rfc3339(at: SystemTime, digits: u8) -> String {
    let whole = OffsetDateTime::from(at)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .expect("a SystemTime within the years 0..=9999 formats as RFC 3339");
    if digits == 0 {
        return format!("{whole}Z");
    }
    let digits = u32::from(digits.min(9));
    let nanos = since_epoch(at).subsec_nanos();
    let fraction = nanos / 10u32.pow(9 - digits);
    format!("{whole}.{fraction:0width$}Z", width = digits as usize)
}

/// `at` cut to what [`format_rfc3339`] shows with `digits` fractional digits.
pub(crate) fn truncate(at: SystemTime, digits: u8) -> SystemTime {
    let since_epoch = since_epoch(at);
    let unit = 10u32.pow(9 - u32::from(digits.min(9)));
    let nanos = since_epoch.subsec_nanos() / unit * unit;
    UNIX_EPOCH + Duration::new(since_epoch.as_secs(), nanos)
}

/// An `x-amz-date` (`YYYYMMDDTHHMMSSZ`, SigV4's basic ISO 8601), or `None`.
pub(crate) fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = time::PrimitiveDateTime::parse(value, format)
        .ok()?
        .assume_utc();
    let secs = u64::try_from(at.unix_timestamp()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

fn since_epoch(at: SystemTime) -> Duration {
    at.duration_since(UNIX_EPOCH).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_truncates_with_0_3_6_9_digits() {
        let at = UNIX_EPOCH + Duration::new(1_795_320_000, 123_456_789);
        let cases = [
            (0, "2026-11-22T04:00:00Z", 0),
            (3, "2026-11-22T04:00:00.123Z", 123_000_000),
            (6, "2026-11-22T04:00:00.123456Z", 123_456_000),
            (9, "2026-11-22T04:00:00.123456789Z", 123_456_789),
        ];
        for (digits, text, nanos) in cases {
            assert_eq!(format_rfc3339(at, digits), text);
            assert_eq!(
                truncate(at, digits),
                UNIX_EPOCH + Duration::new(1_795_320_000, nanos)
            );
        }
        let whole = UNIX_EPOCH + Duration::from_secs(1_795_320_000);
        assert_eq!(format_rfc3339(whole, 3), "2026-11-22T04:00:00.000Z");
    }
}
