//! UTC dates and times as FIX writes them, without a time library.
//!
//! FIX carries time as text (`YYYYMMDD-HH:MM:SS[.sss]`); the venue carries it
//! as nanoseconds since the Unix epoch (`venue_domain::Timestamp`). This module
//! converts between the two with Howard Hinnant's `days_from_civil` /
//! `civil_from_days` algorithms (proleptic Gregorian calendar, exact integer
//! arithmetic, no tables, no floating point). Every parser checks the calendar
//! (month 1–12, day within the month, hour 0–23, minute 0–59, second 0–60 for
//! a leap second) and refuses rather than normalises: `20240230` is an error,
//! not the 1st of March.
//!
//! Cost: a timestamp parse or format is a few dozen integer operations and
//! never allocates (formatting returns a fixed array).

/// Nanoseconds in one second.
pub const NANOS_PER_SECOND: u64 = 1_000_000_000;
const SECONDS_PER_DAY: u64 = 86_400;
const NANOS_PER_DAY: u64 = SECONDS_PER_DAY * NANOS_PER_SECOND;

/// Why a date or time text was refused. Kept apart from field errors so that
/// callers can tell "not a timestamp" from "a timestamp we cannot represent".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeError {
    /// Not of the FIX shape, or a calendar field out of its range.
    Format,
    /// Well formed, but before 1970-01-01 or beyond what `u64` nanoseconds hold
    /// (the year 2554).
    OutOfRange,
}

pub use venue_domain::calendar::{civil_from_days, days_from_civil, days_in_month};

/// Parses exactly `N` ASCII digits into a number; `None` on anything else.
fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 9 {
        return None;
    }
    let mut value: u32 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
    }
    Some(value)
}

/// Parses `YYYYMMDD` (FIX `UTCDateOnly`, `LocalMktDate`) into a checked
/// calendar date.
pub fn parse_date(text: &[u8]) -> Result<(i64, u32, u32), TimeError> {
    if text.len() != 8 {
        return Err(TimeError::Format);
    }
    let year = digits(&text[0..4]).ok_or(TimeError::Format)?;
    let month = digits(&text[4..6]).ok_or(TimeError::Format)?;
    let day = digits(&text[6..8]).ok_or(TimeError::Format)?;
    let year = i64::from(year);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(TimeError::Format);
    }
    Ok((year, month, day))
}

/// Parses `HH:MM:SS[.fff|.ffffff|.fffffffff]` (FIX `UTCTimeOnly`) into
/// nanoseconds since midnight. Second 60 (a leap second) is accepted as the
/// spec allows and counts as the first second of the next minute.
pub fn parse_time_of_day(text: &[u8]) -> Result<u64, TimeError> {
    if text.len() < 8 || text[2] != b':' || text[5] != b':' {
        return Err(TimeError::Format);
    }
    let hour = digits(&text[0..2]).ok_or(TimeError::Format)?;
    let minute = digits(&text[3..5]).ok_or(TimeError::Format)?;
    let second = digits(&text[6..8]).ok_or(TimeError::Format)?;
    if hour > 23 || minute > 59 || second > 60 {
        return Err(TimeError::Format);
    }
    let fraction_ns = match &text[8..] {
        [] => 0,
        [b'.', frac @ ..] if matches!(frac.len(), 3 | 6 | 9) => {
            let value = u64::from(digits(frac).ok_or(TimeError::Format)?);
            value * 10u64.pow(9 - frac.len() as u32)
        }
        _ => return Err(TimeError::Format),
    };
    let seconds = u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second);
    Ok(seconds * NANOS_PER_SECOND + fraction_ns)
}

/// Parses a FIX `UTCTimestamp` (`YYYYMMDD-HH:MM:SS` with optional
/// milliseconds, microseconds or nanoseconds) into nanoseconds since the Unix
/// epoch.
///
/// ```
/// use venue_fix::time::parse_utc_timestamp;
/// assert_eq!(parse_utc_timestamp(b"19700101-00:00:01.500"), Ok(1_500_000_000));
/// ```
pub fn parse_utc_timestamp(text: &[u8]) -> Result<u64, TimeError> {
    if text.len() < 17 || text[8] != b'-' {
        return Err(TimeError::Format);
    }
    let (year, month, day) = parse_date(&text[..8])?;
    let time_ns = parse_time_of_day(&text[9..])?;
    let days = days_from_civil(year, month, day);
    let days = u64::try_from(days).map_err(|_| TimeError::OutOfRange)?;
    days.checked_mul(NANOS_PER_DAY).and_then(|ns| ns.checked_add(time_ns)).ok_or(TimeError::OutOfRange)
}

/// Checks a FIX `MonthYear` (`YYYYMM`, `YYYYMMDD` or `YYYYMMwN` with week
/// 1–5). Only validated, never converted: the venue does not trade dated
/// contracts yet.
pub fn check_month_year(text: &[u8]) -> Result<(), TimeError> {
    match text.len() {
        6 => {
            digits(&text[0..4]).ok_or(TimeError::Format)?;
            let month = digits(&text[4..6]).ok_or(TimeError::Format)?;
            if (1..=12).contains(&month) { Ok(()) } else { Err(TimeError::Format) }
        }
        8 if text[6] == b'w' => {
            check_month_year(&text[..6])?;
            if (b'1'..=b'5').contains(&text[7]) { Ok(()) } else { Err(TimeError::Format) }
        }
        8 => parse_date(text).map(|_| ()),
        _ => Err(TimeError::Format),
    }
}

/// Length of a `UTCTimestamp` with milliseconds: `YYYYMMDD-HH:MM:SS.sss`.
pub const UTC_TIMESTAMP_MILLIS_LEN: usize = 21;

/// Formats nanoseconds since the epoch as `YYYYMMDD-HH:MM:SS.sss`, the shape
/// the venue sends in `SendingTime (52)` and `TransactTime (60)`. Sub-millisecond
/// digits are truncated (never rounded up into the next second). Returns a
/// fixed array so that the encoder's hot path does not allocate.
///
/// ```
/// use venue_fix::time::format_utc_timestamp_millis;
/// assert_eq!(&format_utc_timestamp_millis(1_500_000_999), b"19700101-00:00:01.500");
/// ```
pub fn format_utc_timestamp_millis(epoch_ns: u64) -> [u8; UTC_TIMESTAMP_MILLIS_LEN] {
    let seconds = epoch_ns / NANOS_PER_SECOND;
    let millis = (epoch_ns % NANOS_PER_SECOND) / 1_000_000;
    let days = seconds / SECONDS_PER_DAY;
    let second_of_day = seconds % SECONDS_PER_DAY;
    // u64 nanoseconds end in the year 2554: the day count always fits i64
    // and the year always has four digits.
    let (year, month, day) = civil_from_days(days as i64);
    let mut out = *b"00000000-00:00:00.000";
    put_digits(&mut out[0..4], year as u64);
    put_digits(&mut out[4..6], u64::from(month));
    put_digits(&mut out[6..8], u64::from(day));
    put_digits(&mut out[9..11], second_of_day / 3600);
    put_digits(&mut out[12..14], second_of_day % 3600 / 60);
    put_digits(&mut out[15..17], second_of_day % 60);
    put_digits(&mut out[18..21], millis);
    out
}

/// Writes `value` right-aligned into `slot` as zero-padded decimal digits.
fn put_digits(slot: &mut [u8], mut value: u64) {
    for byte in slot.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_impossible_calendar_values() {
        for bad in [
            &b"20240230-00:00:00"[..],
            b"20230229-00:00:00",
            b"20241301-00:00:00",
            b"20240100-00:00:00",
            b"20240101-24:00:00",
            b"20240101-23:60:00",
            b"20240101-23:59:61",
            b"20240101-23:59:59.1",
            b"20240101-23:59:59.1234",
            b"20240101 23:59:59",
            b"2024010-23:59:59",
            b"20240101-23:59:59.",
        ] {
            assert_eq!(parse_utc_timestamp(bad), Err(TimeError::Format), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_utc_timestamp(b"19691231-23:59:59"), Err(TimeError::OutOfRange));
        assert_eq!(parse_utc_timestamp(b"99991231-23:59:59"), Err(TimeError::OutOfRange));
    }

    #[test]
    fn fractions_scale_to_nanoseconds() {
        let base = parse_utc_timestamp(b"20240229-12:34:56").unwrap();
        assert_eq!(parse_utc_timestamp(b"20240229-12:34:56.007").unwrap(), base + 7_000_000);
        assert_eq!(parse_utc_timestamp(b"20240229-12:34:56.000007").unwrap(), base + 7_000);
        assert_eq!(parse_utc_timestamp(b"20240229-12:34:56.000000007").unwrap(), base + 7);
    }

    #[test]
    fn format_then_parse_keeps_milliseconds() {
        for ns in [0u64, 999_999, 1_709_210_096_123_456_789, u64::MAX] {
            let text = format_utc_timestamp_millis(ns);
            assert_eq!(parse_utc_timestamp(&text), Ok(ns / 1_000_000 * 1_000_000));
        }
    }

    #[test]
    fn month_year_shapes() {
        assert!(check_month_year(b"202403").is_ok());
        assert!(check_month_year(b"20240315").is_ok());
        assert!(check_month_year(b"202403w2").is_ok());
        assert!(check_month_year(b"202413").is_err());
        assert!(check_month_year(b"202403w6").is_err());
    }
}
