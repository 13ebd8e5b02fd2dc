//! Masking of sensitive fields before they reach the audit file.
//!
//! The audit log is read by people (auditors, support, operators) who need to
//! follow what happened without necessarily learning who did it. Account ids
//! are the sensitive field: they identify members. Everything else in a line
//! (prices, quantities, order ids) describes the market, not a member.

use std::fmt;
use std::str::FromStr;

use venue_domain::AccountId;

/// How much of an account id the audit file shows.
///
/// Whatever the policy, an account is written as a JSON string, so that a
/// reader's parser sees the same shape in masked and unmasked files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AccountMask {
    /// The full decimal id, e.g. `"1042"`: for a log that never leaves the
    /// operator's hands.
    None,
    /// Enough to tell accounts apart in a conversation with the member, not
    /// enough to name them: the last two decimal digits are kept and every
    /// other digit becomes `*` (`1042` → `"**42"`). An id of one or two
    /// digits keeps only its last digit behind one star (`7` → `"*7"`,
    /// `42` → `"*2"`), so that a short id is never shown whole. The number
    /// of stars does reveal how many digits the id has.
    #[default]
    Partial,
    /// Nothing of the id: every account is `"***"`, for logs shared outside
    /// the venue.
    Full,
}

/// What the audit writer hides, chosen once in configuration.
///
/// A struct rather than a bare [`AccountMask`] so that more masked fields can
/// be added without changing every caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MaskPolicy {
    /// How account ids are shown.
    pub accounts: AccountMask,
}

impl MaskPolicy {
    /// A policy that shows everything, for tests and private logs where
    /// masking would only get in the way.
    pub const UNMASKED: MaskPolicy = MaskPolicy { accounts: AccountMask::None };

    /// The account as this policy writes it (without JSON quotes), so that
    /// other logs can mask accounts exactly like the audit file does.
    pub fn account(&self, account: AccountId) -> String {
        let mut out = String::new();
        self.push_account(&mut out, account);
        out
    }

    /// Appends the masked account to `out` without allocating.
    pub(crate) fn push_account(&self, out: &mut String, account: AccountId) {
        // u32::MAX has 10 digits.
        let mut digits = [0u8; 10];
        let mut n = account.0;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        // `digits[..len]` holds the id's digits, least significant first.
        let digit = |i: usize| char::from(digits[i]);
        match self.accounts {
            AccountMask::None => (0..len).rev().for_each(|i| out.push(digit(i))),
            AccountMask::Partial if len <= 2 => {
                out.push('*');
                out.push(digit(0));
            }
            AccountMask::Partial => {
                (2..len).for_each(|_| out.push('*'));
                out.push(digit(1));
                out.push(digit(0));
            }
            AccountMask::Full => out.push_str("***"),
        }
    }
}

/// A configuration value that names no known mask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseMaskError {
    /// What the configuration said, so the message can quote it.
    pub given: String,
}

impl fmt::Display for ParseMaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown account mask {:?}: expected \"none\", \"partial\" or \"full\"", self.given)
    }
}

impl std::error::Error for ParseMaskError {}

impl FromStr for AccountMask {
    type Err = ParseMaskError;

    /// Accepts exactly `none`, `partial` or `full`, as written in the
    /// configuration file.
    fn from_str(text: &str) -> Result<AccountMask, ParseMaskError> {
        match text {
            "none" => Ok(AccountMask::None),
            "partial" => Ok(AccountMask::Partial),
            "full" => Ok(AccountMask::Full),
            _ => Err(ParseMaskError { given: text.to_owned() }),
        }
    }
}

impl fmt::Display for AccountMask {
    /// The configuration spelling, so a configuration can be written back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccountMask::None => "none",
            AccountMask::Partial => "partial",
            AccountMask::Full => "full",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(mask: AccountMask, id: u32) -> String {
        MaskPolicy { accounts: mask }.account(AccountId(id))
    }

    #[test]
    fn partial_keeps_the_last_two_digits() {
        assert_eq!(show(AccountMask::Partial, 1042), "**42");
        assert_eq!(show(AccountMask::Partial, 100), "*00");
        assert_eq!(show(AccountMask::Partial, 42), "*2");
        assert_eq!(show(AccountMask::Partial, 7), "*7");
        assert_eq!(show(AccountMask::Partial, 0), "*0");
        assert_eq!(show(AccountMask::Partial, u32::MAX), "********95");
    }

    #[test]
    fn none_and_full() {
        assert_eq!(show(AccountMask::None, 0), "0");
        assert_eq!(show(AccountMask::None, 1042), "1042");
        assert_eq!(show(AccountMask::None, u32::MAX), "4294967295");
        assert_eq!(show(AccountMask::Full, 1042), "***");
        assert_eq!(show(AccountMask::Full, 7), "***");
    }

    #[test]
    fn parses_configuration_spellings() {
        for mask in [AccountMask::None, AccountMask::Partial, AccountMask::Full] {
            assert_eq!(mask.to_string().parse::<AccountMask>(), Ok(mask));
        }
        let err = "Full".parse::<AccountMask>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown account mask \"Full\": expected \"none\", \"partial\" or \"full\""
        );
        assert_eq!(MaskPolicy::default().accounts, AccountMask::Partial);
    }
}
