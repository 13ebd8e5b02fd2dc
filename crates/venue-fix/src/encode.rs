//! Building outbound messages in the order FIX clients expect.
//!
//! The caller states what to send: the MsgType, header fields (or
//! [`Encoder::header`] for 49, 56, 34 and 52) and body fields, in any order,
//! with repeating groups opened with [`Encoder::begin_group`]. [`Encoder::finish`]
//! writes the message into the caller's buffer in the wire order the venue
//! promises:
//!
//! - `8`, `9`, `35` first, then the other header fields in ascending tag order;
//! - body fields in ascending tag order, except that a repeating group is
//!   written as one block at its count tag's place: the count (computed from
//!   the entries added, so it cannot disagree), then each entry's members in
//!   dictionary order, nested groups likewise;
//! - `10` last, with BodyLength and CheckSum computed over the bytes written.
//!
//! Values are appended to a scratch buffer as they are given and only their
//! byte ranges are sorted, so the encoder allocates nothing once its scratch
//! buffers have grown to the largest message (keep one per connection).
//! Integers, scaled decimals and timestamps are formatted on the stack.
//!
//! Mistakes in building a message are programmer errors, but they come back
//! as a typed [`EncodeError`] from `finish` instead of a panic, so that one bad
//! outbound message cannot take down a gateway. The first error sticks; the
//! builder methods chain.

use std::ops::Range;

use crate::dict::{Dictionary, FieldType, GroupSpec, Scope};
use crate::frame::checksum;
use crate::message::{SOH, is_decimal};
use crate::time::format_utc_timestamp_millis;

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// [`Encoder::start`] was not called, or the MsgType is empty or contains
    /// the delimiter or `=`.
    NoMsgType,
    /// 8, 9, 10 and 35 are written by the encoder itself.
    ReservedTag(u32),
    /// Tag 0 is not a tag.
    InvalidTag,
    /// FIX has no empty values: leave the field out instead.
    EmptyValue(u32),
    /// A non-`DATA` value containing the delimiter.
    DelimiterInValue(u32),
    /// [`Encoder::decimal`] was given something that is not a plain decimal.
    NotADecimal(u32),
    /// The same tag twice in one place (top level or one group entry).
    DuplicateTag(u32),
    /// The count tag opens no repeating group here (for this MsgType, or in the
    /// enclosing group entry).
    UnknownGroup(u32),
    /// The tag is not a member of the open group's entry.
    NotInGroup(u32),
    /// A field was added to an open group before [`Encoder::entry`].
    NoEntry(u32),
    /// [`Encoder::entry`] or [`Encoder::end_group`] without an open group.
    NoOpenGroup,
    /// [`Encoder::finish`] with a group still open.
    UnclosedGroup(u32),
    /// Groups nested deeper than FIX 4.4 ever nests them (three levels).
    TooDeep(u32),
    /// [`Encoder::raw_fields`] was given bytes that are not whole
    /// `tag=value<SOH>` fields.
    MalformedRawFields,
    /// [`Encoder::set_begin_string`] was given an empty value or one
    /// containing the delimiter or `=`.
    InvalidBeginString,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::NoMsgType => f.write_str("no valid MsgType"),
            EncodeError::ReservedTag(t) => write!(f, "tag {t} is written by the encoder"),
            EncodeError::InvalidTag => f.write_str("tag 0 is not a tag"),
            EncodeError::EmptyValue(t) => write!(f, "tag {t} has an empty value"),
            EncodeError::DelimiterInValue(t) => write!(f, "tag {t} contains the field delimiter"),
            EncodeError::NotADecimal(t) => write!(f, "tag {t} is not a decimal"),
            EncodeError::DuplicateTag(t) => write!(f, "tag {t} given twice"),
            EncodeError::UnknownGroup(t) => write!(f, "tag {t} opens no repeating group here"),
            EncodeError::NotInGroup(t) => write!(f, "tag {t} is not a member of the open group"),
            EncodeError::NoEntry(t) => write!(f, "tag {t} added to a group before its first entry"),
            EncodeError::NoOpenGroup => f.write_str("no open repeating group"),
            EncodeError::UnclosedGroup(t) => write!(f, "group {t} not closed"),
            EncodeError::TooDeep(t) => write!(f, "group {t} nested too deep"),
            EncodeError::MalformedRawFields => f.write_str("raw fields are not whole tag=value fields"),
            EncodeError::InvalidBeginString => f.write_str("invalid BeginString"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Sort key depth: top-level tag, then (entry, position) for up to three
/// nested group levels.
const KEY_LEN: usize = 7;
const MAX_DEPTH: usize = (KEY_LEN - 1) / 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Header,
    Body,
}

#[derive(Clone, Copy, Debug)]
struct Item {
    section: Section,
    key: [u32; KEY_LEN],
    tag: u32,
    start: u32,
    end: u32,
}

#[derive(Clone, Copy, Debug)]
struct OpenGroup {
    spec: &'static GroupSpec,
    section: Section,
    /// Key of the count field; entries extend it at `depth`.
    key: [u32; KEY_LEN],
    depth: usize,
    entries: u32,
    count_item: usize,
}

/// A reusable message builder. See the module documentation.
///
/// ```
/// use venue_fix::{Dictionary, Encoder};
/// let mut enc = Encoder::new(Dictionary::fix44());
/// let mut out = Vec::new();
/// enc.start(b"0").header("VENUE", "CLIENT", 7, 0).finish(&mut out).unwrap();
/// assert!(out.starts_with(b"8=FIX.4.4\x019="));
/// ```
#[derive(Debug)]
pub struct Encoder {
    dict: &'static Dictionary,
    begin_string: Vec<u8>,
    msg_type: Range<usize>,
    scratch: Vec<u8>,
    /// Pre-encoded fields written verbatim after the ordered ones.
    raw: Vec<u8>,
    items: Vec<Item>,
    open: Vec<OpenGroup>,
    error: Option<EncodeError>,
    started: bool,
}

impl Encoder {
    /// An encoder writing `8=FIX.4.4` messages laid out by `dict`.
    pub fn new(dict: &'static Dictionary) -> Encoder {
        Encoder {
            dict,
            begin_string: b"FIX.4.4".to_vec(),
            msg_type: 0..0,
            scratch: Vec::new(),
            raw: Vec::new(),
            items: Vec::new(),
            open: Vec::new(),
            error: None,
            started: false,
        }
    }

    /// Writes `value` as `BeginString (8)` instead of `FIX.4.4`, for a session
    /// configured with another spelling (the layout stays FIX 4.4). Refused,
    /// keeping the previous value, if empty or containing the delimiter or `=`.
    pub fn set_begin_string(&mut self, value: &str) -> Result<(), EncodeError> {
        let bytes = value.as_bytes();
        if bytes.is_empty() || bytes.iter().any(|&b| b == SOH || b == b'=') {
            return Err(EncodeError::InvalidBeginString);
        }
        self.begin_string.clear();
        self.begin_string.extend_from_slice(bytes);
        Ok(())
    }

    /// Begins a new message of this MsgType, discarding any unfinished one.
    pub fn start(&mut self, msg_type: &[u8]) -> &mut Self {
        self.scratch.clear();
        self.raw.clear();
        self.items.clear();
        self.open.clear();
        self.error = None;
        self.started = true;
        self.scratch.extend_from_slice(msg_type);
        self.msg_type = 0..msg_type.len();
        if msg_type.is_empty() || msg_type.iter().any(|&b| b == SOH || b == b'=') {
            self.fail(EncodeError::NoMsgType);
        }
        self
    }

    fn fail(&mut self, error: EncodeError) {
        self.error.get_or_insert(error);
    }

    /// The four header fields every venue message carries: `SenderCompID (49)`,
    /// `TargetCompID (56)`, `MsgSeqNum (34)` and `SendingTime (52)` with
    /// milliseconds.
    pub fn header(
        &mut self,
        sender_comp_id: &str,
        target_comp_id: &str,
        seq_num: u64,
        sending_time_ns: u64,
    ) -> &mut Self {
        // In wire order, so that a body added in order needs no sort.
        self.uint(34, seq_num).str(49, sender_comp_id).timestamp(52, sending_time_ns).str(56, target_comp_id)
    }

    /// A text or raw value.
    pub fn bytes(&mut self, tag: u32, value: &[u8]) -> &mut Self {
        let start = self.scratch.len();
        self.scratch.extend_from_slice(value);
        self.push(tag, start)
    }

    /// A text value.
    pub fn str(&mut self, tag: u32, value: &str) -> &mut Self {
        self.bytes(tag, value.as_bytes())
    }

    /// An `INT` value.
    pub fn int(&mut self, tag: u32, value: i64) -> &mut Self {
        let mut digits = [0u8; 20];
        let start = self.scratch.len();
        if value < 0 {
            self.scratch.push(b'-');
        }
        self.scratch.extend_from_slice(format_u64(value.unsigned_abs(), &mut digits));
        self.push(tag, start)
    }

    /// A non-negative integer (`SEQNUM`, `LENGTH`, `NUMINGROUP`, `INT`).
    pub fn uint(&mut self, tag: u32, value: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let start = self.scratch.len();
        self.scratch.extend_from_slice(format_u64(value, &mut digits));
        self.push(tag, start)
    }

    /// A `CHAR` value.
    pub fn char(&mut self, tag: u32, value: u8) -> &mut Self {
        self.bytes(tag, &[value])
    }

    /// A `BOOLEAN` value (`Y`/`N`).
    pub fn bool(&mut self, tag: u32, value: bool) -> &mut Self {
        self.char(tag, if value { b'Y' } else { b'N' })
    }

    /// A decimal already in text form (e.g. echoing a client's price); refused
    /// unless it is a plain decimal.
    pub fn decimal(&mut self, tag: u32, value: &str) -> &mut Self {
        if !is_decimal(value.as_bytes()) {
            self.fail(EncodeError::NotADecimal(tag));
            return self;
        }
        self.str(tag, value)
    }

    /// A decimal from a scaled integer: `scaled(44, 2_712_350, 2)` writes
    /// `44=27123.50`. This is how prices in ticks and quantities in lots leave
    /// the venue, with exactly the instrument's number of decimals.
    pub fn scaled(&mut self, tag: u32, value: i64, decimals: u8) -> &mut Self {
        let mut digits = [0u8; 20];
        let start = self.scratch.len();
        if value < 0 {
            self.scratch.push(b'-');
        }
        let text = format_u64(value.unsigned_abs(), &mut digits);
        let decimals = usize::from(decimals);
        if decimals == 0 {
            self.scratch.extend_from_slice(text);
        } else if text.len() > decimals {
            let (int_part, frac_part) = text.split_at(text.len() - decimals);
            self.scratch.extend_from_slice(int_part);
            self.scratch.push(b'.');
            self.scratch.extend_from_slice(frac_part);
        } else {
            self.scratch.extend_from_slice(b"0.");
            self.scratch.extend(std::iter::repeat_n(b'0', decimals - text.len()));
            self.scratch.extend_from_slice(text);
        }
        self.push(tag, start)
    }

    /// A `UTCTIMESTAMP` with milliseconds from nanoseconds since the epoch.
    pub fn timestamp(&mut self, tag: u32, epoch_ns: u64) -> &mut Self {
        self.bytes(tag, &format_utc_timestamp_millis(epoch_ns))
    }

    /// Appends already-encoded body fields (`tag=value<SOH>...`) verbatim,
    /// after every field added by tag. Nothing inside is reordered or
    /// checked against the dictionary: the caller vouches for it. This is how
    /// the session layer resends a stored message under a new header
    /// (PossDupFlag, OrigSendingTime) with its body exactly as first sent.
    /// Refused unless the bytes start with a tag digit and end with the
    /// delimiter, and unless their first tag is not one the encoder writes.
    pub fn raw_fields(&mut self, fields: &[u8]) -> &mut Self {
        if fields.is_empty() {
            return self;
        }
        let first_tag_end = fields.iter().position(|&b| b == b'=').unwrap_or(0);
        let first_tag = &fields[..first_tag_end];
        let well_formed = fields.last() == Some(&SOH)
            && !first_tag.is_empty()
            && first_tag[0] != b'0'
            && first_tag.iter().all(u8::is_ascii_digit)
            && !matches!(first_tag, b"8" | b"9" | b"10" | b"35");
        if !well_formed {
            self.fail(EncodeError::MalformedRawFields);
            return self;
        }
        self.raw.extend_from_slice(fields);
        self
    }

    /// Opens the repeating group counted by `count_tag`, at top level or inside
    /// the current entry of the innermost open group. Add entries with
    /// [`Encoder::entry`] and close with [`Encoder::end_group`]; the count is
    /// written from the number of entries.
    pub fn begin_group(&mut self, count_tag: u32) -> &mut Self {
        let spec = match self.open.last() {
            None => {
                let msg_type = &self.scratch[self.msg_type.clone()];
                self.dict.group(msg_type, count_tag)
            }
            Some(parent) => parent.spec.entry.member(count_tag).and_then(|m| m.group.as_deref()),
        };
        let Some(spec) = spec else {
            self.fail(EncodeError::UnknownGroup(count_tag));
            return self;
        };
        if self.open.len() >= MAX_DEPTH {
            self.fail(EncodeError::TooDeep(count_tag));
            return self;
        }
        let Some((section, key, depth)) = self.place(count_tag) else { return self };
        let start = self.scratch.len() as u32;
        self.items.push(Item { section, key, tag: count_tag, start, end: start });
        self.open.push(OpenGroup { spec, section, key, depth, entries: 0, count_item: self.items.len() - 1 });
        self
    }

    /// Starts the next entry of the innermost open group.
    pub fn entry(&mut self) -> &mut Self {
        match self.open.last_mut() {
            Some(group) => group.entries += 1,
            None => self.fail(EncodeError::NoOpenGroup),
        }
        self
    }

    /// Closes the innermost open group and writes its count.
    pub fn end_group(&mut self) -> &mut Self {
        let Some(group) = self.open.pop() else {
            self.fail(EncodeError::NoOpenGroup);
            return self;
        };
        let mut digits = [0u8; 20];
        let start = self.scratch.len();
        self.scratch.extend_from_slice(format_u64(u64::from(group.entries), &mut digits));
        let item = &mut self.items[group.count_item];
        item.start = start as u32;
        item.end = self.scratch.len() as u32;
        self
    }

    /// Where a field goes: its section and sort key in the current context.
    fn place(&mut self, tag: u32) -> Option<(Section, [u32; KEY_LEN], usize)> {
        if matches!(tag, 8 | 9 | 10 | 35) {
            self.fail(EncodeError::ReservedTag(tag));
            return None;
        }
        if tag == 0 {
            self.fail(EncodeError::InvalidTag);
            return None;
        }
        let Some(group) = self.open.last() else {
            let section =
                if self.dict.header().member(tag).is_some() { Section::Header } else { Section::Body };
            let mut key = [0; KEY_LEN];
            key[0] = tag;
            return Some((section, key, 1));
        };
        if group.entries == 0 {
            self.fail(EncodeError::NoEntry(tag));
            return None;
        }
        let entry_scope: &Scope = &group.spec.entry;
        let Some(member) = entry_scope.member(tag) else {
            self.fail(EncodeError::NotInGroup(tag));
            return None;
        };
        let mut key = group.key;
        key[group.depth] = group.entries;
        key[group.depth + 1] = u32::from(member.position) + 1;
        Some((group.section, key, group.depth + 2))
    }

    /// Records the value written at `scratch[start..]` for `tag`.
    fn push(&mut self, tag: u32, start: usize) -> &mut Self {
        let value = &self.scratch[start..];
        // The field's type matters only for a value holding the delimiter.
        let is_data = |dict: &Dictionary| dict.field(tag).is_some_and(|f| f.ty == FieldType::Data);
        if value.is_empty() {
            self.fail(EncodeError::EmptyValue(tag));
        } else if value.contains(&SOH) && !is_data(self.dict) {
            self.fail(EncodeError::DelimiterInValue(tag));
        } else if let Some((section, key, _)) = self.place(tag) {
            let end = self.scratch.len() as u32;
            self.items.push(Item { section, key, tag, start: start as u32, end });
        }
        self
    }

    /// Appends the finished message to `out` and returns where it was written.
    /// The encoder is ready for [`Encoder::start`] again either way.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<Range<usize>, EncodeError> {
        let started = std::mem::replace(&mut self.started, false);
        if !started {
            return Err(EncodeError::NoMsgType);
        }
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        if let Some(group) = self.open.last() {
            return Err(EncodeError::UnclosedGroup(group.spec.count_tag));
        }
        // Builders that add fields in wire order (as the gateway's reports
        // do) need no sort.
        if !self.items.is_sorted_by_key(|a| (a.section, a.key)) {
            self.items.sort_unstable_by_key(|a| (a.section, a.key));
        }
        if let Some(pair) =
            self.items.windows(2).find(|w| (w[0].section, w[0].key) == (w[1].section, w[1].key))
        {
            return Err(EncodeError::DuplicateTag(pair[1].tag));
        }
        let msg_type = &self.scratch[self.msg_type.clone()];
        let mut body_len = 3 + msg_type.len() + 1;
        for item in &self.items {
            body_len += decimal_len(u64::from(item.tag)) + 1 + (item.end - item.start) as usize + 1;
        }
        body_len += self.raw.len();
        let begin = out.len();
        out.extend_from_slice(b"8=");
        out.extend_from_slice(&self.begin_string);
        out.extend_from_slice(b"\x019=");
        let mut digits = [0u8; 20];
        out.extend_from_slice(format_u64(body_len as u64, &mut digits));
        out.push(SOH);
        let body_start = out.len();
        out.extend_from_slice(b"35=");
        out.extend_from_slice(msg_type);
        out.push(SOH);
        for item in &self.items {
            out.extend_from_slice(format_u64(u64::from(item.tag), &mut digits));
            out.push(b'=');
            out.extend_from_slice(&self.scratch[item.start as usize..item.end as usize]);
            out.push(SOH);
        }
        out.extend_from_slice(&self.raw);
        debug_assert_eq!(out.len() - body_start, body_len, "BodyLength must count the body exactly");
        let sum = checksum(&out[begin..]);
        out.extend_from_slice(b"10=");
        out.extend_from_slice(&[b'0' + sum / 100, b'0' + sum / 10 % 10, b'0' + sum % 10]);
        out.push(SOH);
        Ok(begin..out.len())
    }
}

/// Formats `value` into the end of `buf` and returns the digits.
fn format_u64(mut value: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &buf[start..];
        }
    }
}

fn decimal_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 10 {
        value /= 10;
        len += 1;
    }
    len
}
