//! Calendar arithmetic for UTC days and RFC 3339 times, on the engine's
//! nanosecond timestamps (no time-zone database, no crate: UTC only).

const NS_PER_SEC: u64 = 1_000_000_000;
const SECS_PER_DAY: u64 = 86_400;

use venue_domain::calendar::{civil_from_days, days_from_civil, days_in_month};

/// The UTC day `[start, end)` in ns since the epoch, if the date exists and
/// is not before 1970.
pub(crate) fn day_bounds(year: i32, month: u32, day: u32) -> Option<(u64, u64)> {
    let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(i64::from(year), month);
    let days = u64::try_from(days_from_civil(i64::from(year), month, day)).ok().filter(|_| valid)?;
    let start = days.checked_mul(SECS_PER_DAY * NS_PER_SEC)?;
    Some((start, start.checked_add(SECS_PER_DAY * NS_PER_SEC)?))
}

/// `YYYY-MM-DD`.
pub(crate) fn date_string(year: i32, month: u32, day: u32) -> String {
    format!("{year:04}-{month:02}-{day:02}")
}

/// RFC 3339 in UTC with microseconds, `2026-11-03T14:05:09.123456Z`;
/// nanoseconds are truncated (never rounded into the next second).
pub fn rfc3339_micros(ns: u64) -> String {
    let secs = ns / NS_PER_SEC;
    let micros = (ns % NS_PER_SEC) / 1_000;
    let (year, month, day) = civil_from_days((secs / SECS_PER_DAY) as i64);
    let of_day = secs % SECS_PER_DAY;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        of_day / 3600,
        (of_day / 60) % 60,
        of_day % 60
    )
}

/// The UTC date of a time in ns since the epoch.
pub fn utc_date(ns: u64) -> (i32, u32, u32) {
    let (year, month, day) = civil_from_days((ns / NS_PER_SEC / SECS_PER_DAY) as i64);
    (year as i32, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        // 2000-02-29T12:34:56.789012345Z
        let ns = 951_827_696_789_012_345;
        assert_eq!(rfc3339_micros(ns), "2000-02-29T12:34:56.789012Z");
        assert_eq!(utc_date(ns), (2000, 2, 29));
        assert_eq!(day_bounds(2000, 2, 29), Some((951_782_400 * NS_PER_SEC, 951_868_800 * NS_PER_SEC)));
        assert_eq!(day_bounds(2001, 2, 29), None);
        assert_eq!(day_bounds(1969, 12, 31), None);
        assert_eq!(day_bounds(2026, 13, 1), None);
    }
}
