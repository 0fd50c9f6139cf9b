//! BaseSpace dates: .NET round-trip UTC with seven fractional digits (`2018-07-18T18:49:07.0000000Z`).
//!
//! Parsing is lenient: any number of fractional digits, with or without `Z`, and the
//! `0001-01-01T00:00:00.0000000Z` placeholder (returned as `None`).

use time::{
    OffsetDateTime, PrimitiveDateTime, UtcOffset, format_description::well_known::Rfc3339, macros::format_description,
};

/// Formats a UTC instant the way BaseSpace does, with seven fractional digits and `Z`.
pub fn format(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.nanosecond() / 100
    )
}

/// Formats a Unix time in milliseconds as a BaseSpace date.
pub fn format_millis(millis: i64) -> String {
    let at =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format(at)
}

/// Parses a BaseSpace date leniently. Returns `None` for the year-1 placeholder or text that is
/// not a date.
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if text.starts_with("0001-01-01") || text.is_empty() {
        return None;
    }
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    // No offset (old documentation shows dates without `Z`): read as UTC.
    let without_zone = text.trim_end_matches('Z');
    let (main, fraction) = match without_zone.split_once('.') {
        Some((main, fraction)) => (main, fraction),
        None => (without_zone, ""),
    };
    let seconds = PrimitiveDateTime::parse(
        main,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .ok()?;
    let digits: String = fraction.chars().take_while(char::is_ascii_digit).take(9).collect();
    let nanos = if digits.is_empty() {
        0
    } else {
        digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
    };
    Some(seconds.assume_utc() + time::Duration::nanoseconds(i64::from(nanos)))
}

/// The current time in Unix milliseconds.
pub fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_seven_fraction_digits() {
        assert_eq!(format_millis(1_531_939_747_123), "2018-07-18T18:49:07.1230000Z");
    }

    #[test]
    fn parses_real_and_odd_forms() {
        let a = parse("2018-07-18T18:49:07.0000000Z").unwrap();
        let b = parse("2018-07-18T18:49:07").unwrap();
        let c = parse("2018-07-18T18:49:07.5Z").unwrap();
        assert_eq!(a, b);
        assert_eq!((c - a).whole_milliseconds(), 500);
        assert!(parse("0001-01-01T00:00:00.0000000Z").is_none());
        assert!(parse("yesterday").is_none());
        assert_eq!(
            format(parse(&format_millis(1_700_000_000_000)).unwrap()),
            format_millis(1_700_000_000_000)
        );
    }
}
