//! Session-level validation of a parsed message against the dictionary.
//!
//! The result is either the message's definition, "valid but unsupported
//! message type" (the caller answers BusinessMessageReject), or the first
//! problem as FIX names it: a [`SessionReject`] with `SessionRejectReason
//! (373)`, its text as the FIX specification spells it (for `Text (58)`),
//! `RefTagID (371)`, `RefMsgType (372)` and `RefSeqNum (45)`.
//!
//! The order of the checks mirrors QuickFIX's `DataDictionary::validate`, so
//! that a client tested against a QuickFIX acceptor sees the same reason for
//! the same bad message:
//!
//! 1. structure: header fields first, then body, then trailer (14);
//! 2. the MsgType is a FIX 4.4 type (11); a FIX type the dictionary does not
//!    describe stops here as [`Verdict::UnsupportedMsgType`] once the header
//!    and trailer passed steps 3–4;
//! 3. required fields: header, trailer, body, then inside group entries (1);
//! 4. field by field, header, then trailer, then body, each in wire order:
//!    repeated (13), no value (4), format (6), enumerated value (5), tag
//!    number invalid (0) or undefined (3), not defined for this message type
//!    (2), and at a group's count tag its structure (15) and count (16).
//!
//! Deliberate differences from QuickFIX, each for a reason:
//! - within a section QuickFIX visits fields in tag order (its field map is
//!   sorted); this visits them in wire order, which is the same for clients
//!   that send ascending tags and cheaper;
//! - QuickFIX reports a tag its dictionary does not know as "Invalid tag
//!   number" (0); here 0 is kept for tag text that is not a tag number at all
//!   (non-numeric, zero, leading zero), a FIX 4.4 field this dictionary does
//!   not allow in the message is "Tag not defined for this message type" (2),
//!   and a number FIX 4.4 does not define is "Undefined Tag" (3);
//! - repeating-group entries must keep dictionary order (15), which FIX
//!   requires and QuickFIX only checks for the delimiter;
//! - a `DATA` value that does not end where its `LENGTH` field says is "Other"
//!   (99): FIX has no closer reason.
//!
//! CompID (9) and SendingTime accuracy (10) need session state (the expected
//! CompIDs, a clock) and are separate functions: [`check_comp_ids`] and
//! [`check_sending_time`].
//!
//! Cost: two passes over the fields plus binary searches in the dictionary;
//! the only memory is the reusable [`Validator`].

use crate::dict::{Dictionary, FieldDef, FieldType, GroupSpec, MessageSpec, MsgTypeClass, Scope, TagSet};
use crate::dict::{MAX_DICTIONARY_TAG, is_fix44_tag};
use crate::message::{
    FLAG_DATA_LENGTH_MISMATCH, Field, Fields, Message, Slot, is_decimal, parse_i64, parse_u64,
};
use crate::time;

/// `SessionRejectReason (373)` as FIX 4.4 defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionRejectReason {
    /// 0: the tag text is not a tag number (non-numeric, zero, leading zero).
    InvalidTagNumber,
    /// 1: a field the dictionary requires here is absent.
    RequiredTagMissing,
    /// 2: a FIX 4.4 field that this message type does not allow.
    TagNotDefinedForMessageType,
    /// 3: a tag number neither FIX 4.4 nor this dictionary defines.
    UndefinedTag,
    /// 4: `tag=` followed directly by the delimiter.
    TagSpecifiedWithoutValue,
    /// 5: well formed, but not one of the field's enumerated values.
    ValueIncorrect,
    /// 6: not of the field's type (number, char, timestamp, ...).
    IncorrectDataFormat,
    /// 7: not produced here; the venue supports no encryption.
    DecryptionProblem,
    /// 8: not produced here; the venue supports no signatures.
    SignatureProblem,
    /// 9: SenderCompID or TargetCompID not those of the session.
    CompIdProblem,
    /// 10: SendingTime too far from the venue's clock.
    SendingTimeAccuracyProblem,
    /// 11: MsgType is not a FIX 4.4 message type.
    InvalidMsgType,
    /// 12: not produced here; FIXML is not spoken.
    XmlValidationError,
    /// 13: a field outside repeating groups occurs twice.
    TagAppearsMoreThanOnce,
    /// 14: header, body and trailer fields are interleaved.
    TagSpecifiedOutOfRequiredOrder,
    /// 15: a group entry does not start with its delimiter or breaks
    /// dictionary order.
    RepeatingGroupFieldsOutOfOrder,
    /// 16: NumInGroup differs from the number of entries present.
    IncorrectNumInGroupCount,
    /// 17: not produced here; a delimiter always ends a non-data field.
    NonDataValueIncludesFieldDelimiter,
    /// 99: a DATA value that does not end where its LENGTH field says.
    Other,
}

impl SessionRejectReason {
    /// The value of `SessionRejectReason (373)`.
    pub const fn code(self) -> u32 {
        match self {
            Self::InvalidTagNumber => 0,
            Self::RequiredTagMissing => 1,
            Self::TagNotDefinedForMessageType => 2,
            Self::UndefinedTag => 3,
            Self::TagSpecifiedWithoutValue => 4,
            Self::ValueIncorrect => 5,
            Self::IncorrectDataFormat => 6,
            Self::DecryptionProblem => 7,
            Self::SignatureProblem => 8,
            Self::CompIdProblem => 9,
            Self::SendingTimeAccuracyProblem => 10,
            Self::InvalidMsgType => 11,
            Self::XmlValidationError => 12,
            Self::TagAppearsMoreThanOnce => 13,
            Self::TagSpecifiedOutOfRequiredOrder => 14,
            Self::RepeatingGroupFieldsOutOfOrder => 15,
            Self::IncorrectNumInGroupCount => 16,
            Self::NonDataValueIncludesFieldDelimiter => 17,
            Self::Other => 99,
        }
    }

    /// The reason's name exactly as the FIX specification spells it; sent in
    /// `Text (58)` so that a human reading a client log recognises it.
    pub const fn text(self) -> &'static str {
        match self {
            Self::InvalidTagNumber => "Invalid tag number",
            Self::RequiredTagMissing => "Required tag missing",
            Self::TagNotDefinedForMessageType => "Tag not defined for this message type",
            Self::UndefinedTag => "Undefined Tag",
            Self::TagSpecifiedWithoutValue => "Tag specified without a value",
            Self::ValueIncorrect => "Value is incorrect (out of range) for this tag",
            Self::IncorrectDataFormat => "Incorrect data format for value",
            Self::DecryptionProblem => "Decryption problem",
            Self::SignatureProblem => "Signature problem",
            Self::CompIdProblem => "CompID problem",
            Self::SendingTimeAccuracyProblem => "SendingTime accuracy problem",
            Self::InvalidMsgType => "Invalid MsgType",
            Self::XmlValidationError => "XML Validation error",
            Self::TagAppearsMoreThanOnce => "Tag appears more than once",
            Self::TagSpecifiedOutOfRequiredOrder => "Tag specified out of required order",
            Self::RepeatingGroupFieldsOutOfOrder => "Repeating group fields out of order",
            Self::IncorrectNumInGroupCount => "Incorrect NumInGroup count for repeating group",
            Self::NonDataValueIncludesFieldDelimiter => {
                "Non Data Value includes Field Delimiter (SOH character)"
            }
            Self::Other => "Other",
        }
    }
}

/// `BusinessRejectReason (380)` as FIX 4.4 defines it, for the
/// BusinessMessageReject (35=j) the application layer sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BusinessRejectReason {
    /// 0: anything not listed.
    Other,
    /// 1: a referenced identifier (e.g. an order id) is unknown.
    UnknownId,
    /// 2: the instrument is unknown.
    UnknownSecurity,
    /// 3: a FIX message type the venue does not handle.
    UnsupportedMessageType,
    /// 4: the application behind the session is down.
    ApplicationNotAvailable,
    /// 5: a field required by the values of other fields is absent.
    ConditionallyRequiredFieldMissing,
    /// 6: the session may not send this message.
    NotAuthorized,
    /// 7: the DeliverToCompID cannot be reached.
    DeliverToFirmNotAvailable,
}

impl BusinessRejectReason {
    /// The value of `BusinessRejectReason (380)`.
    pub const fn code(self) -> u32 {
        match self {
            Self::Other => 0,
            Self::UnknownId => 1,
            Self::UnknownSecurity => 2,
            Self::UnsupportedMessageType => 3,
            Self::ApplicationNotAvailable => 4,
            Self::ConditionallyRequiredFieldMissing => 5,
            Self::NotAuthorized => 6,
            Self::DeliverToFirmNotAvailable => 7,
        }
    }

    /// The reason's name as the FIX specification spells it, for `Text (58)`.
    pub const fn text(self) -> &'static str {
        match self {
            Self::Other => "Other",
            Self::UnknownId => "Unknown ID",
            Self::UnknownSecurity => "Unknown Security",
            Self::UnsupportedMessageType => "Unsupported Message Type",
            Self::ApplicationNotAvailable => "Application not available",
            Self::ConditionallyRequiredFieldMissing => "Conditionally Required Field Missing",
            Self::NotAuthorized => "Not authorized",
            Self::DeliverToFirmNotAvailable => "DeliverTo firm not available at this time",
        }
    }
}

/// Everything a session-level Reject (35=3) needs to say about a message.
/// Borrows the MsgType from the frame; encode the Reject before reusing the
/// read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionReject<'a> {
    /// `SessionRejectReason (373)`; its text goes into `Text (58)`.
    pub reason: SessionRejectReason,
    /// `RefTagID (371)`: the offending tag, when there is one.
    pub ref_tag_id: Option<u32>,
    /// `RefMsgType (372)`: the MsgType of the rejected message.
    pub ref_msg_type: &'a [u8],
    /// `RefSeqNum (45)`: the MsgSeqNum of the rejected message, if readable.
    pub ref_seq_num: Option<u64>,
}

impl core::fmt::Display for SessionReject<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.reason.text(), self.reason.code())?;
        if let Some(tag) = self.ref_tag_id {
            write!(f, ", tag {tag}")?;
        }
        write!(f, ", MsgType {}", String::from_utf8_lossy(self.ref_msg_type))
    }
}

impl std::error::Error for SessionReject<'_> {}

/// The outcome of a validation that found nothing to reject at session level.
#[derive(Clone, Copy, Debug)]
pub enum Verdict<'d> {
    /// A message the dictionary describes, and it conforms.
    Valid(&'d MessageSpec),
    /// A FIX 4.4 message type the venue does not handle; header and trailer
    /// conform. Answer with BusinessMessageReject, reason
    /// [`BusinessRejectReason::UnsupportedMessageType`].
    UnsupportedMsgType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Header,
    Body,
    Trailer,
}

/// What the structural pass learnt about one field.
#[derive(Clone, Copy, Debug)]
struct Role {
    section: Section,
    /// 0 for a top-level field, n inside an n-deep group entry.
    depth: u8,
    /// At a count tag: the first structural problem of its group.
    group_problem: Option<(SessionRejectReason, u32)>,
}

/// Validates messages; holds reusable scratch space so that validation does
/// not allocate once warmed up. One per connection (or per thread).
#[derive(Debug)]
pub struct Validator {
    dict: &'static Dictionary,
    roles: Vec<Role>,
    seen: TagSet,
}

type Rejection = (SessionRejectReason, Option<u32>);

impl Validator {
    /// A validator for the given dictionary (usually [`Dictionary::fix44`]).
    pub fn new(dict: &'static Dictionary) -> Validator {
        Validator { dict, roles: Vec::new(), seen: TagSet::default() }
    }

    /// The dictionary this validator checks against.
    pub fn dictionary(&self) -> &'static Dictionary {
        self.dict
    }

    /// Validates a parsed message; see the module documentation for the order
    /// of the checks.
    pub fn validate<'a>(&mut self, msg: &Message<'a>) -> Result<Verdict<'static>, SessionReject<'a>> {
        let to_reject = |(reason, ref_tag_id): Rejection| SessionReject {
            reason,
            ref_tag_id,
            ref_msg_type: msg.msg_type(),
            ref_seq_num: msg.seq_num(),
        };
        self.check(msg).map_err(to_reject)
    }

    fn check(&mut self, msg: &Message<'_>) -> Result<Verdict<'static>, Rejection> {
        let dict = self.dict;
        let class = dict.classify(msg.msg_type());
        let body = match class {
            MsgTypeClass::Supported(spec) => Some(&spec.body),
            _ => None,
        };
        let fields = msg.fields();
        let group_problem_in_entry = self.structure(fields, body);

        // 1. Header, body, trailer order (14). The framer already refuses a
        // message whose first three fields are not 8, 9, 35 (garbled); this
        // covers messages that did not come through it.
        for (position, expected) in [8, 9, 35].into_iter().enumerate() {
            match fields.slots().get(position) {
                Some(slot) if slot.tag == expected => {}
                _ => return Err((SessionRejectReason::TagSpecifiedOutOfRequiredOrder, Some(expected))),
            }
        }
        let mut section = Section::Header;
        for (slot, role) in fields.slots().iter().zip(&self.roles) {
            if role.depth > 0 {
                continue;
            }
            match (role.section, section) {
                (Section::Header, Section::Header) | (Section::Trailer, _) => section = role.section,
                (Section::Body, Section::Header | Section::Body) => section = Section::Body,
                _ => return Err((SessionRejectReason::TagSpecifiedOutOfRequiredOrder, nonzero(slot.tag))),
            }
        }

        // 2. MsgType (11).
        if matches!(class, MsgTypeClass::Invalid) {
            return Err((SessionRejectReason::InvalidMsgType, Some(35)));
        }

        // 3. Required fields (1).
        self.seen.clear();
        for (slot, role) in fields.slots().iter().zip(&self.roles) {
            if role.depth == 0 && slot.tag <= MAX_DICTIONARY_TAG {
                self.seen.insert(slot.tag);
            }
        }
        let scopes = [Some(dict.header()), Some(dict.trailer()), body];
        for scope in scopes.into_iter().flatten() {
            if let Some(&tag) = scope.required().iter().find(|&&tag| !self.seen.contains(tag)) {
                return Err((SessionRejectReason::RequiredTagMissing, Some(tag)));
            }
        }
        if let Some(tag) = group_problem_in_entry {
            return Err((SessionRejectReason::RequiredTagMissing, Some(tag)));
        }

        // 4. Field by field: header, trailer, then body (unless unsupported).
        self.seen.clear();
        let sections: &[Section] = if body.is_some() {
            &[Section::Header, Section::Trailer, Section::Body]
        } else {
            &[Section::Header, Section::Trailer]
        };
        for &wanted in sections {
            let scope = match wanted {
                Section::Header => Some(dict.header()),
                Section::Trailer => Some(dict.trailer()),
                Section::Body => body,
            };
            for (index, slot) in fields.slots().iter().enumerate() {
                let role = self.roles[index];
                if role.section != wanted {
                    continue;
                }
                self.check_field(fields, slot, role, scope)?;
            }
        }
        match class {
            MsgTypeClass::Supported(spec) => Ok(Verdict::Valid(spec)),
            _ => Ok(Verdict::UnsupportedMsgType),
        }
    }

    /// Per-field checks, in QuickFIX's order.
    fn check_field(
        &mut self,
        fields: Fields<'_>,
        slot: &Slot,
        role: Role,
        scope: Option<&Scope>,
    ) -> Result<(), Rejection> {
        let tag = slot.tag;
        let field = fields.field_of(slot);
        if role.depth == 0 && tag != 0 && tag <= MAX_DICTIONARY_TAG {
            if self.seen.contains(tag) {
                return Err((SessionRejectReason::TagAppearsMoreThanOnce, Some(tag)));
            }
            self.seen.insert(tag);
        }
        if tag != 0 && field.value.is_empty() {
            return Err((SessionRejectReason::TagSpecifiedWithoutValue, Some(tag)));
        }
        if slot.flags & FLAG_DATA_LENGTH_MISMATCH != 0 {
            return Err((SessionRejectReason::Other, Some(tag)));
        }
        let def = self.dict.field(tag);
        if let Some(def) = def {
            check_value(def, field)?;
        }
        if tag == 0 {
            return Err((SessionRejectReason::InvalidTagNumber, None));
        }
        if def.is_none() && !is_fix44_tag(tag) {
            return Err((SessionRejectReason::UndefinedTag, Some(tag)));
        }
        if role.depth == 0 && role.section == Section::Body && scope.is_none_or(|s| s.member(tag).is_none()) {
            return Err((SessionRejectReason::TagNotDefinedForMessageType, Some(tag)));
        }
        if let Some(problem) = role.group_problem {
            return Err((problem.0, Some(problem.1)));
        }
        Ok(())
    }

    /// The structural pass: classifies every field (section, group depth) and
    /// walks repeating groups, recording their problems at the count tag.
    /// Returns the first required member missing from a group entry.
    fn structure(&mut self, fields: Fields<'_>, body: Option<&Scope>) -> Option<u32> {
        let dict = self.dict;
        let slots = fields.slots();
        self.roles.clear();
        self.roles.resize(slots.len(), Role { section: Section::Body, depth: 0, group_problem: None });
        let mut missing = None;
        let mut index = 0;
        while index < slots.len() {
            let tag = slots[index].tag;
            let (section, scope) = if dict.header().member(tag).is_some() {
                (Section::Header, Some(dict.header()))
            } else if dict.trailer().member(tag).is_some() {
                (Section::Trailer, None)
            } else {
                (Section::Body, body)
            };
            self.roles[index].section = section;
            let group = scope.and_then(|s| s.member(tag)).and_then(|m| m.group.as_deref());
            index = match group {
                Some(group) => self.walk_group(fields, index, group, section, 1, &mut missing),
                None => index + 1,
            };
        }
        missing
    }

    /// Walks the entries of the group whose count tag is at `count_index`;
    /// returns the index of the first field after the group.
    fn walk_group(
        &mut self,
        fields: Fields<'_>,
        count_index: usize,
        group: &GroupSpec,
        section: Section,
        depth: u8,
        missing: &mut Option<u32>,
    ) -> usize {
        let slots = fields.slots();
        let mut problem: Option<(SessionRejectReason, u32)> = None;
        let mut entries: u64 = 0;
        let mut index = count_index + 1;
        while index < slots.len() && group.entry.contains_deep(slots[index].tag) {
            let opener = slots[index].tag;
            if opener != group.delimiter {
                problem.get_or_insert((SessionRejectReason::RepeatingGroupFieldsOutOfOrder, opener));
            }
            entries += 1;
            let entry_start = index;
            let mut last_position: Option<u16> = None;
            loop {
                let tag = slots[index].tag;
                let Some(member) = group.entry.member(tag) else {
                    if index == entry_start {
                        // A member of a nested group without its count tag.
                        problem.get_or_insert((SessionRejectReason::RepeatingGroupFieldsOutOfOrder, tag));
                        self.roles[index] = Role { section, depth, group_problem: None };
                        index += 1;
                    }
                    break;
                };
                if index > entry_start && tag == group.delimiter {
                    break;
                }
                if last_position.is_some_and(|last| member.position <= last) {
                    problem.get_or_insert((SessionRejectReason::RepeatingGroupFieldsOutOfOrder, tag));
                }
                last_position = Some(member.position);
                self.roles[index] = Role { section, depth, group_problem: None };
                index = match member.group.as_deref() {
                    Some(nested) => self.walk_group(fields, index, nested, section, depth + 1, missing),
                    None => index + 1,
                };
                if index >= slots.len() {
                    break;
                }
            }
            if missing.is_none() {
                let entry = &slots[entry_start..index];
                *missing =
                    group.entry.required().iter().copied().find(|&tag| !entry.iter().any(|s| s.tag == tag));
            }
        }
        let declared = parse_u64(fields.field_of(&slots[count_index]).value);
        if problem.is_none() && declared.is_some_and(|declared| declared != entries) {
            problem = Some((SessionRejectReason::IncorrectNumInGroupCount, group.count_tag));
        }
        self.roles[count_index].group_problem = problem;
        index
    }
}

fn nonzero(tag: u32) -> Option<u32> {
    (tag != 0).then_some(tag)
}

/// Format (6) then enumerated value (5) of one value.
fn check_value(def: &FieldDef, field: Field<'_>) -> Result<(), Rejection> {
    let value = field.value;
    let format_ok = match def.ty {
        FieldType::Int => parse_i64(value).is_some(),
        FieldType::Length | FieldType::SeqNum | FieldType::NumInGroup => parse_u64(value).is_some(),
        FieldType::DayOfMonth => parse_u64(value).is_some_and(|d| (1..=31).contains(&d)),
        FieldType::Float
        | FieldType::Qty
        | FieldType::Price
        | FieldType::PriceOffset
        | FieldType::Amt
        | FieldType::Percentage => is_decimal(value),
        FieldType::Char => value.len() == 1,
        FieldType::Boolean => value == b"Y" || value == b"N",
        FieldType::UtcTimestamp => time::parse_utc_timestamp(value).is_ok(),
        FieldType::UtcTimeOnly => time::parse_time_of_day(value).is_ok(),
        FieldType::UtcDateOnly | FieldType::LocalMktDate => time::parse_date(value).is_ok(),
        FieldType::MonthYear => time::check_month_year(value).is_ok(),
        FieldType::String
        | FieldType::MultipleValueString
        | FieldType::Currency
        | FieldType::Exchange
        | FieldType::Country
        | FieldType::Data => true,
    };
    if !format_ok {
        return Err((SessionRejectReason::IncorrectDataFormat, Some(def.tag)));
    }
    if def.values.is_empty() {
        return Ok(());
    }
    let listed = |v: &[u8]| def.values.iter().any(|allowed| allowed.as_bytes() == v);
    let in_range = if def.ty == FieldType::MultipleValueString {
        value.split(|&b| b == b' ').all(listed)
    } else {
        listed(value)
    };
    if in_range { Ok(()) } else { Err((SessionRejectReason::ValueIncorrect, Some(def.tag))) }
}

/// Checks `SenderCompID (49)` and `TargetCompID (56)` against the session's
/// counterparty and own CompID (9, "CompID problem"); FIX then expects a
/// Logout. `their_comp_id` is what the counterparty must send in 49,
/// `our_comp_id` what it must send in 56.
pub fn check_comp_ids<'a>(
    msg: &Message<'a>,
    their_comp_id: &[u8],
    our_comp_id: &[u8],
) -> Result<(), SessionReject<'a>> {
    let wrong = if msg.value(49) != Some(their_comp_id) {
        Some(49)
    } else if msg.value(56) != Some(our_comp_id) {
        Some(56)
    } else {
        None
    };
    match wrong {
        None => Ok(()),
        Some(tag) => Err(SessionReject {
            reason: SessionRejectReason::CompIdProblem,
            ref_tag_id: Some(tag),
            ref_msg_type: msg.msg_type(),
            ref_seq_num: msg.seq_num(),
        }),
    }
}

/// Checks that `SendingTime (52)` is within `tolerance_ns` of `now_ns` (10,
/// "SendingTime accuracy problem"); FIX then expects a Logout. A missing or
/// malformed SendingTime is the validator's business (1 or 6) and is reported
/// here as the accuracy problem only if validation was skipped.
pub fn check_sending_time<'a>(
    msg: &Message<'a>,
    now_ns: u64,
    tolerance_ns: u64,
) -> Result<(), SessionReject<'a>> {
    let accurate = msg.get_timestamp_ns(52).is_ok_and(|sent| sent.abs_diff(now_ns) <= tolerance_ns);
    if accurate {
        Ok(())
    } else {
        Err(SessionReject {
            reason: SessionRejectReason::SendingTimeAccuracyProblem,
            ref_tag_id: Some(52),
            ref_msg_type: msg.msg_type(),
            ref_seq_num: msg.seq_num(),
        })
    }
}
