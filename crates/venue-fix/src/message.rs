//! Zero-copy parsing of one framed message into its fields.
//!
//! A [`Parser`] owns one reusable vector of field slots (tag and the byte range
//! of the value); parsing a frame fills it and returns a [`Message`] that
//! borrows both the frame and the slots. No value is copied and, once the
//! vector has grown to the largest message seen, nothing is allocated: the
//! cost is one pass over the bytes, about 16 bytes of slot per field.
//!
//! The parser is lenient on purpose. It records what it finds, in wire order,
//! and leaves judgement to [`crate::validate`]: a tag that is not a number
//! becomes tag 0, an empty value stays empty, a duplicate stays a duplicate.
//! That way the validator can report the FIX reason in the order QuickFIX
//! would, and the session layer can still read `MsgSeqNum (34)` of a message
//! it is about to reject.
//!
//! The one piece of dictionary knowledge here is `DATA` fields: their value is
//! exactly as many bytes as the preceding `LENGTH` field says and may contain
//! the delimiter, so the parser must know the pairs ([`crate::dict::DATA_FIELDS`]).

use crate::dict::{GroupSpec, length_tag_of};
use crate::time::parse_utc_timestamp;

/// The FIX field delimiter, `SOH` (0x01).
pub const SOH: u8 = 0x01;

/// Slot flag: the DATA value did not end where its LENGTH field said; the value
/// was read up to the next delimiter instead.
pub(crate) const FLAG_DATA_LENGTH_MISMATCH: u8 = 1;

/// One parsed field: the tag (0 when the tag text was not a valid tag number)
/// and the byte range of its value within the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) tag: u32,
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) flags: u8,
}

/// Why a byte buffer could not be read as fields at all. The framer never
/// hands such a buffer to the parser; these guard direct callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No bytes.
    Empty,
    /// The last byte is not the delimiter, so the last field has no end.
    Unterminated,
    /// Longer than `u32::MAX` bytes (offsets are stored as `u32`).
    TooLarge,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ParseError::Empty => "empty message",
            ParseError::Unterminated => "message does not end with the field delimiter",
            ParseError::TooLarge => "message larger than 4 GiB",
        })
    }
}

impl std::error::Error for ParseError {}

/// A reusable parser: keep one per connection so that its slot vector is
/// allocated once.
#[derive(Debug, Default)]
pub struct Parser {
    slots: Vec<Slot>,
}

impl Parser {
    /// An empty parser; its slot vector grows to the largest message parsed.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// A parser whose slot vector already holds `fields` fields, so that even
    /// the first message does not allocate.
    pub fn with_capacity(fields: usize) -> Parser {
        Parser { slots: Vec::with_capacity(fields) }
    }

    /// How many field slots are allocated; stays constant once the largest
    /// message has been parsed, which is how tests check that parsing does not
    /// allocate per field or per message.
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Splits a frame (as returned by [`crate::frame::Framer`]) into fields.
    pub fn parse<'a>(&'a mut self, frame: &'a [u8]) -> Result<Message<'a>, ParseError> {
        match frame.last() {
            None => return Err(ParseError::Empty),
            Some(&last) if last != SOH => return Err(ParseError::Unterminated),
            Some(_) => {}
        }
        if u32::try_from(frame.len()).is_err() {
            return Err(ParseError::TooLarge);
        }
        self.slots.clear();
        let mut pos = 0usize;
        while pos < frame.len() {
            let (slot, next) = parse_field(frame, pos, self.slots.last().copied());
            self.slots.push(slot);
            debug_assert!(next > pos, "the parser must consume at least one byte per field");
            pos = next;
        }
        Ok(Message { fields: Fields { buf: frame, slots: &self.slots } })
    }
}

/// Parses the field starting at `pos` (the frame ends with SOH, so a
/// delimiter is always found). Returns the slot and the start of the next field.
fn parse_field(frame: &[u8], pos: usize, previous: Option<Slot>) -> (Slot, usize) {
    let mut cursor = pos;
    let mut tag: u32 = 0;
    let mut valid = frame[pos] != b'0';
    while frame[cursor] != b'=' && frame[cursor] != SOH {
        let byte = frame[cursor];
        let next = tag.checked_mul(10).and_then(|t| t.checked_add(u32::from(byte.wrapping_sub(b'0'))));
        match next {
            Some(next) if byte.is_ascii_digit() => tag = next,
            _ => valid = false,
        }
        cursor += 1;
    }
    if cursor == pos || tag == 0 {
        valid = false;
    }
    if frame[cursor] == SOH {
        // No '=' at all: keep the raw text as the value of an invalid tag.
        return (Slot { tag: 0, start: pos as u32, end: cursor as u32, flags: 0 }, cursor + 1);
    }
    let value_start = cursor + 1;
    let tag = if valid { tag } else { 0 };
    let mut flags = 0;
    if let (Some(length_tag), Some(previous)) = (length_tag_of(tag), previous)
        && previous.tag == length_tag
    {
        let declared = parse_u64(&frame[previous.start as usize..previous.end as usize]);
        let value_end =
            declared.and_then(|n| usize::try_from(n).ok()).and_then(|n| value_start.checked_add(n));
        match value_end {
            Some(end) if end < frame.len() && frame[end] == SOH => {
                return (Slot { tag, start: value_start as u32, end: end as u32, flags: 0 }, end + 1);
            }
            _ => flags = FLAG_DATA_LENGTH_MISMATCH,
        }
    }
    let value_end = value_start + frame[value_start..].iter().position(|&b| b == SOH).unwrap_or(0);
    (Slot { tag, start: value_start as u32, end: value_end as u32, flags }, value_end + 1)
}

/// Why a typed getter could not return a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// The tag is not in the message (or group entry).
    Missing(u32),
    /// The tag is present but its value is not of the requested type
    /// (including an empty value).
    Malformed(u32),
}

impl core::fmt::Display for FieldError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FieldError::Missing(tag) => write!(f, "tag {tag} missing"),
            FieldError::Malformed(tag) => write!(f, "tag {tag} has a malformed value"),
        }
    }
}

impl std::error::Error for FieldError {}

/// One field as the caller sees it: tag and raw value bytes. Tag 0 marks a
/// field whose tag text was not a valid tag number (its value is then the raw
/// field text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// The tag number (0 if invalid).
    pub tag: u32,
    /// The value bytes, borrowed from the frame.
    pub value: &'a [u8],
}

impl<'a> Field<'a> {
    fn malformed(&self) -> FieldError {
        FieldError::Malformed(self.tag)
    }

    /// The value as UTF-8 text (FIX strings are ASCII in practice).
    pub fn as_str(&self) -> Result<&'a str, FieldError> {
        core::str::from_utf8(self.value).map_err(|_| self.malformed())
    }

    /// An `INT`: optional `-`, digits (leading zeros allowed), fitting `i64`.
    pub fn as_i64(&self) -> Result<i64, FieldError> {
        parse_i64(self.value).ok_or_else(|| self.malformed())
    }

    /// A non-negative integer (`SEQNUM`, `LENGTH`, `NUMINGROUP`), fitting `u64`.
    pub fn as_u64(&self) -> Result<u64, FieldError> {
        parse_u64(self.value).ok_or_else(|| self.malformed())
    }

    /// A `CHAR`: exactly one byte.
    pub fn as_char(&self) -> Result<u8, FieldError> {
        match self.value {
            [byte] => Ok(*byte),
            _ => Err(self.malformed()),
        }
    }

    /// A `BOOLEAN`: `Y` or `N`.
    pub fn as_bool(&self) -> Result<bool, FieldError> {
        match self.value {
            b"Y" => Ok(true),
            b"N" => Ok(false),
            _ => Err(self.malformed()),
        }
    }

    /// A decimal (`PRICE`, `QTY`, `AMT`, `FLOAT`, ...) checked for shape and
    /// returned as text: the caller converts it onto the instrument's grid
    /// (`venue_domain::parse_scaled`), never into a float.
    pub fn as_decimal(&self) -> Result<&'a str, FieldError> {
        if is_decimal(self.value) { self.as_str() } else { Err(self.malformed()) }
    }

    /// A `UTCTIMESTAMP` as nanoseconds since the Unix epoch; milliseconds,
    /// microseconds and nanoseconds are optional.
    pub fn as_timestamp_ns(&self) -> Result<u64, FieldError> {
        parse_utc_timestamp(self.value).map_err(|_| self.malformed())
    }
}

/// Parses an `INT`: optional `-`, then one or more digits, fitting `i64`.
pub fn parse_i64(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulate negatively so that i64::MIN parses.
    let mut value: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(b - b'0'))?;
    }
    if negative { Some(value) } else { value.checked_neg() }
}

/// Parses a non-negative integer: one or more digits, fitting `u64`.
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in text {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

/// Whether `text` is a FIX decimal: optional `-`, digits with at most one
/// `.`, at least one digit; no exponent, no `+`, no spaces.
pub fn is_decimal(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let mut seen_digit = false;
    let mut seen_dot = false;
    for &b in digits {
        match b {
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_dot => seen_dot = true,
            _ => return false,
        }
    }
    seen_digit
}

/// A run of fields in wire order: a whole message or one repeating-group
/// entry. Cheap to copy; lookups are linear scans, which beat any index for
/// the 10–60 fields of an order message.
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a> {
    buf: &'a [u8],
    slots: &'a [Slot],
}

impl<'a> Fields<'a> {
    pub(crate) fn slots(&self) -> &'a [Slot] {
        self.slots
    }

    pub(crate) fn field_of(&self, slot: &Slot) -> Field<'a> {
        Field { tag: slot.tag, value: &self.buf[slot.start as usize..slot.end as usize] }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The field at a wire position.
    pub fn at(&self, index: usize) -> Option<Field<'a>> {
        self.slots.get(index).map(|slot| self.field_of(slot))
    }

    /// All fields in wire order.
    pub fn iter(&self) -> impl Iterator<Item = Field<'a>> + 'a {
        let buf = self.buf;
        self.slots
            .iter()
            .map(move |slot| Field { tag: slot.tag, value: &buf[slot.start as usize..slot.end as usize] })
    }

    /// The first field with this tag, in wire order. In a message this may be
    /// inside a repeating group if the tag only occurs there; use
    /// [`Fields::group`] to read groups.
    pub fn get(&self, tag: u32) -> Option<Field<'a>> {
        if tag == 0 {
            return None;
        }
        self.slots.iter().find(|slot| slot.tag == tag).map(|slot| self.field_of(slot))
    }

    fn require(&self, tag: u32) -> Result<Field<'a>, FieldError> {
        self.get(tag).ok_or(FieldError::Missing(tag))
    }

    /// The raw value of the first field with this tag.
    pub fn value(&self, tag: u32) -> Option<&'a [u8]> {
        self.get(tag).map(|f| f.value)
    }

    /// See [`Field::as_str`].
    pub fn get_str(&self, tag: u32) -> Result<&'a str, FieldError> {
        self.require(tag)?.as_str()
    }

    /// See [`Field::as_i64`].
    pub fn get_i64(&self, tag: u32) -> Result<i64, FieldError> {
        self.require(tag)?.as_i64()
    }

    /// See [`Field::as_u64`].
    pub fn get_u64(&self, tag: u32) -> Result<u64, FieldError> {
        self.require(tag)?.as_u64()
    }

    /// See [`Field::as_char`].
    pub fn get_char(&self, tag: u32) -> Result<u8, FieldError> {
        self.require(tag)?.as_char()
    }

    /// See [`Field::as_bool`].
    pub fn get_bool(&self, tag: u32) -> Result<bool, FieldError> {
        self.require(tag)?.as_bool()
    }

    /// See [`Field::as_decimal`].
    pub fn get_decimal(&self, tag: u32) -> Result<&'a str, FieldError> {
        self.require(tag)?.as_decimal()
    }

    /// See [`Field::as_timestamp_ns`].
    pub fn get_timestamp_ns(&self, tag: u32) -> Result<u64, FieldError> {
        self.require(tag)?.as_timestamp_ns()
    }

    /// The repeating group `spec` (from [`crate::dict::Dictionary::group`]),
    /// if its count tag is present. Entries start at the delimiter and end at
    /// the next delimiter or at the first field that is not a member of the
    /// group at any depth; nested groups are read from an entry the same way.
    pub fn group(&self, spec: &'a GroupSpec) -> Option<Group<'a>> {
        let index = self.slots.iter().position(|slot| slot.tag == spec.count_tag)?;
        let count = self.field_of(&self.slots[index]);
        let rest = &self.slots[index + 1..];
        let end = rest.iter().position(|slot| !spec.entry.contains_deep(slot.tag)).unwrap_or(rest.len());
        Some(Group { buf: self.buf, count, slots: &rest[..end], spec })
    }
}

/// A repeating group found in a message: its count field and its entries.
#[derive(Clone, Copy, Debug)]
pub struct Group<'a> {
    buf: &'a [u8],
    count: Field<'a>,
    slots: &'a [Slot],
    spec: &'a GroupSpec,
}

impl<'a> Group<'a> {
    /// The NumInGroup value the sender declared, if it is a number. The
    /// validator checks it against the entries actually present.
    pub fn declared_count(&self) -> Option<u64> {
        self.count.as_u64().ok()
    }

    /// The entries in wire order.
    pub fn entries(&self) -> GroupEntries<'a> {
        GroupEntries { buf: self.buf, slots: self.slots, delimiter: self.spec.delimiter }
    }
}

/// Iterator over the entries of a [`Group`], each a [`Fields`] view.
#[derive(Clone, Debug)]
pub struct GroupEntries<'a> {
    buf: &'a [u8],
    slots: &'a [Slot],
    delimiter: u32,
}

impl<'a> Iterator for GroupEntries<'a> {
    type Item = Fields<'a>;

    fn next(&mut self) -> Option<Fields<'a>> {
        if self.slots.is_empty() {
            return None;
        }
        let len = 1 + self.slots[1..]
            .iter()
            .position(|slot| slot.tag == self.delimiter)
            .unwrap_or(self.slots.len() - 1);
        let (entry, rest) = self.slots.split_at(len);
        self.slots = rest;
        Some(Fields { buf: self.buf, slots: entry })
    }
}

/// A parsed message: its fields in wire order plus header shortcuts. Derefs to
/// [`Fields`] for lookups and typed getters.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    fields: Fields<'a>,
}

impl<'a> core::ops::Deref for Message<'a> {
    type Target = Fields<'a>;

    fn deref(&self) -> &Fields<'a> {
        &self.fields
    }
}

impl<'a> Message<'a> {
    /// All fields of the message as a [`Fields`] view.
    pub fn fields(&self) -> Fields<'a> {
        self.fields
    }

    /// The whole frame, e.g. for the message store of the session layer.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.fields.buf
    }

    /// `BeginString (8)`; the session compares it with `FIX.4.4` and logs out
    /// on a mismatch (that is not a Reject, so validation does not check it).
    pub fn begin_string(&self) -> &'a [u8] {
        self.header_value(0, 8)
    }

    /// `MsgType (35)`, the third field of every framed message; empty if absent.
    pub fn msg_type(&self) -> &'a [u8] {
        self.header_value(2, 35)
    }

    /// `MsgSeqNum (34)` if present and numeric, read even from a message that
    /// fails validation so that the Reject can carry `RefSeqNum (45)`.
    pub fn seq_num(&self) -> Option<u64> {
        self.fields.get(34).and_then(|f| f.as_u64().ok())
    }

    fn header_value(&self, index: usize, tag: u32) -> &'a [u8] {
        match self.fields.at(index) {
            Some(field) if field.tag == tag => field.value,
            _ => self.fields.value(tag).unwrap_or(b""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_i64(b"-0042"), Some(-42));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        for good in [&b"1"[..], b"-1.5", b"0.", b".5", b"007.100"] {
            assert!(is_decimal(good), "{good:?}");
        }
        for bad in [&b""[..], b"-", b".", b"1e5", b"1.2.3", b"+1", b" 1", b"1,5"] {
            assert!(!is_decimal(bad), "{bad:?}");
        }
    }

    #[test]
    fn invalid_tags_become_tag_zero() {
        let mut parser = Parser::new();
        let msg =
            parser.parse(b"055=A\x010=B\x01x5=C\x01=D\x01noequals\x0199999999999=E\x0155=\x01").unwrap();
        let tags: Vec<u32> = msg.iter().map(|f| f.tag).collect();
        assert_eq!(tags, [0, 0, 0, 0, 0, 0, 55]);
        assert_eq!(msg.at(4).unwrap().value, b"noequals");
        assert_eq!(msg.get(55).unwrap().value, b"");
    }

    #[test]
    fn data_fields_may_hold_the_delimiter() {
        let mut parser = Parser::new();
        let msg = parser.parse(b"95=3\x0196=a\x01b\x0158=x\x01").unwrap();
        assert_eq!(msg.value(96), Some(&b"a\x01b"[..]));
        assert_eq!(msg.value(58), Some(&b"x"[..]));
        let msg = parser.parse(b"95=9\x0196=a\x01b\x01").unwrap();
        assert_eq!(msg.slots()[1].flags, FLAG_DATA_LENGTH_MISMATCH);
        assert_eq!(msg.value(96), Some(&b"a"[..]));
    }
}
