//! Exact conversion between decimal strings and scaled integers.
//!
//! Clients speak decimal strings ("27123.50"); the engine speaks integers. The
//! conversion is strict on purpose: a value with more significant fractional
//! digits than the scale allows is refused, never rounded, because a rounded
//! price is a price the client did not send.

use crate::Reject;

/// Parses a plain decimal string (`-?digits[.digits]`) into an integer
/// scaled by `10^decimals`.
///
/// Trailing fractional zeros beyond the scale are accepted ("1.500" at two
/// decimals is 150); any other extra digit is `Reject::OffGrid`. Exponents,
/// signs other than a leading `-`, whitespace and empty parts are
/// `Reject::MalformedNumber`; values that do not fit in `i64` are
/// `Reject::NumberOutOfRange`.
///
/// ```
/// use venue_domain::{parse_scaled, Reject};
/// assert_eq!(parse_scaled("27123.5", 2), Ok(2_712_350));
/// assert_eq!(parse_scaled("0.001", 2), Err(Reject::OffGrid));
/// assert_eq!(parse_scaled("1e3", 2), Err(Reject::MalformedNumber));
/// ```
pub fn parse_scaled(text: &str, decimals: u8) -> Result<i64, Reject> {
    let bytes = text.as_bytes();
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    let (int_part, frac_part) = match digits.iter().position(|&b| b == b'.') {
        Some(dot) => (&digits[..dot], Some(&digits[dot + 1..])),
        None => (digits, None),
    };
    if int_part.is_empty() || frac_part.is_some_and(<[u8]>::is_empty) {
        return Err(Reject::MalformedNumber);
    }
    let frac_part = frac_part.unwrap_or(&[]);
    if !int_part.iter().chain(frac_part).all(u8::is_ascii_digit) {
        return Err(Reject::MalformedNumber);
    }
    let scale = usize::from(decimals);
    let (kept, extra) = frac_part.split_at(frac_part.len().min(scale));
    // Accumulate as a negative number so that i64::MIN is representable.
    let mut acc: i64 = 0;
    let digits_in_order =
        int_part.iter().chain(kept).copied().chain(std::iter::repeat_n(b'0', scale - kept.len()));
    for digit in digits_in_order {
        acc = acc
            .checked_mul(10)
            .and_then(|v| v.checked_sub(i64::from(digit - b'0')))
            .ok_or(Reject::NumberOutOfRange)?;
    }
    if extra.iter().any(|&b| b != b'0') {
        return Err(Reject::OffGrid);
    }
    if negative { Ok(acc) } else { acc.checked_neg().ok_or(Reject::NumberOutOfRange) }
}

/// Formats an integer scaled by `10^decimals` as a decimal string with exactly
/// `decimals` fractional digits, the inverse of [`parse_scaled`].
///
/// ```
/// use venue_domain::format_scaled;
/// assert_eq!(format_scaled(2_712_350, 2), "27123.50");
/// assert_eq!(format_scaled(-5, 3), "-0.005");
/// ```
pub fn format_scaled(value: i64, decimals: u8) -> String {
    let mut out = String::with_capacity(24);
    write_scaled(&mut out, value, decimals);
    out
}

/// [`format_scaled`] appended to `out`: what encoders that build a whole
/// message in one buffer (market-data frames, sent at millions a second)
/// use, so that a number costs no allocation of its own.
///
/// ```
/// let mut out = String::from("p=");
/// venue_domain::write_scaled(&mut out, 2_712_350, 2);
/// assert_eq!(out, "p=27123.50");
/// ```
pub fn write_scaled(out: &mut String, value: i64, decimals: u8) {
    use std::fmt::Write;
    let magnitude = value.unsigned_abs();
    if value < 0 {
        out.push('-');
    }
    // Writing to a String cannot fail.
    let _ = if decimals == 0 {
        write!(out, "{magnitude}")
    } else {
        let scale = 10u64.pow(u32::from(decimals));
        let width = usize::from(decimals);
        write!(out, "{}.{:0width$}", magnitude / scale, magnitude % scale)
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_malformed_numbers() {
        for bad in ["", "-", ".", "1.", ".5", "1..2", "1e3", "+1", " 1", "1 ", "1,5", "0x10", "--1", "١"] {
            assert_eq!(parse_scaled(bad, 4), Err(Reject::MalformedNumber), "{bad:?}");
        }
    }

    #[test]
    fn rejects_values_that_do_not_fit() {
        assert_eq!(parse_scaled("9223372036854775808", 0), Err(Reject::NumberOutOfRange));
        assert_eq!(parse_scaled("-9223372036854775808", 0), Ok(i64::MIN));
        assert_eq!(parse_scaled("922337203685477.5808", 4), Err(Reject::NumberOutOfRange));
        assert_eq!(parse_scaled("99999999999999999999999", 2), Err(Reject::NumberOutOfRange));
    }

    #[test]
    fn trailing_zeros_beyond_scale_are_exact_other_digits_are_off_grid() {
        assert_eq!(parse_scaled("1.2500000", 2), Ok(125));
        assert_eq!(parse_scaled("1.2510000", 2), Err(Reject::OffGrid));
        assert_eq!(parse_scaled("007", 0), Ok(7));
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(value in any::<i64>(), decimals in 0u8..=18) {
            prop_assert_eq!(parse_scaled(&format_scaled(value, decimals), decimals), Ok(value));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,30}", decimals in 0u8..=18) {
            let _ = parse_scaled(&text, decimals);
        }
    }
}
