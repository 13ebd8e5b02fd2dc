//! The FIX 4.4 data dictionary the venue speaks, as Rust data.
//!
//! The definitions follow the FIX 4.4 specification as QuickFIX ships it
//! (`FIX44.xml`): field numbers, names, types and enumerated values, and for
//! each message its fields in dictionary order with their required flags,
//! components flattened in place, and repeating groups (count tag, delimiter =
//! first member, members in dictionary order, nested groups).
//!
//! It is deliberately a subset: the standard header and trailer, the seven
//! session messages, and the application messages a trading venue receives or
//! sends (`D F G H q 8 9 r j V W X Y d`). Inbound order-entry messages carry
//! their full FIX 4.4 field lists, including the `Parties`, `Instrument`,
//! `OrderQtyData`, `CommissionData`, `PegInstructions`,
//! `DiscretionInstructions` and `Stipulations` components, so that what an
//! unmodified QuickFIX client sends validates. Left out (a client sending them
//! gets "Tag not defined for this message type"): the `FinancingDetails`,
//! `UnderlyingInstrument`, `InstrumentLeg`, `SpreadOrBenchmarkCurveData`,
//! `YieldData` and `InstrumentExtension` components. `ExecutionReport` lists
//! the fields an exchange sends, not the bond and allocation fields.
//!
//! Enumerated values are listed where FIX defines them and the venue cares;
//! a few very long or open-ended lists (`SecurityType`, `PartyRole`,
//! `StipulationType`, `TargetStrategy`, ...) are left unlisted, which means
//! "not range-checked" rather than "anything is wrong": a false rejection of a
//! valid client costs more than accepting a value the order mapping will refuse
//! with a business reason anyway.
//!
//! The static tables are compiled once into [`Dictionary`] (sorted lookups,
//! tag bitsets); [`Dictionary::fix44`] builds it on first use and keeps it for
//! the life of the process, so that validation never allocates.

use std::sync::OnceLock;

/// The value types of FIX 4.4, which decide the format check of a value.
/// `FLOAT` and its relatives stay decimal strings here: the venue converts
/// them to scaled integers at the edge and never to binary floating point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// Signed integer; leading zeros allowed.
    Int,
    /// Non-negative byte count (e.g. `BodyLength`, `RawDataLength`).
    Length,
    /// Non-negative message sequence number.
    SeqNum,
    /// Non-negative number of repeating group entries.
    NumInGroup,
    /// Day of month, 1–31.
    DayOfMonth,
    /// Decimal number (`FLOAT`).
    Float,
    /// Decimal quantity.
    Qty,
    /// Decimal price.
    Price,
    /// Decimal price offset.
    PriceOffset,
    /// Decimal amount.
    Amt,
    /// Decimal percentage.
    Percentage,
    /// One character.
    Char,
    /// `Y` or `N`.
    Boolean,
    /// Free text without the delimiter.
    String,
    /// Space-separated list of enumerated values.
    MultipleValueString,
    /// ISO 4217 currency code (not checked against the list).
    Currency,
    /// ISO 10383 market identifier (not checked against the list).
    Exchange,
    /// ISO 3166 country code (not checked against the list).
    Country,
    /// `YYYYMMDD-HH:MM:SS[.sss]` in UTC.
    UtcTimestamp,
    /// `HH:MM:SS[.sss]` in UTC.
    UtcTimeOnly,
    /// `YYYYMMDD` in UTC.
    UtcDateOnly,
    /// `YYYYMMDD` in the market's local time.
    LocalMktDate,
    /// `YYYYMM`, `YYYYMMDD` or `YYYYMMwN`.
    MonthYear,
    /// Raw bytes whose length is given by the preceding `LENGTH` field; the
    /// only type whose value may contain the delimiter.
    Data,
}

impl FieldType {
    /// Whether the value is a decimal string, so that callers can treat all
    /// `FLOAT` relatives alike.
    pub const fn is_decimal(self) -> bool {
        matches!(
            self,
            Self::Float | Self::Qty | Self::Price | Self::PriceOffset | Self::Amt | Self::Percentage
        )
    }
}

/// One field of the dictionary: what a tag means and what its value may be.
#[derive(Debug)]
pub struct FieldDef {
    /// The tag number.
    pub tag: u32,
    /// The FIX name, for logs and reject texts.
    pub name: &'static str,
    /// The value type, which decides the format check.
    pub ty: FieldType,
    /// The enumerated values; empty means "not range-checked".
    pub values: &'static [&'static str],
}

macro_rules! fields {
    ($( $tag:literal $name:ident $ty:ident $([$($v:literal),* $(,)?])? ;)*) => {
        &[ $( FieldDef { tag: $tag, name: stringify!($name), ty: FieldType::$ty, values: &[$($($v),*)?] }, )* ]
    };
}

/// Every field the dictionary knows, sorted by tag.
pub static FIELDS: &[FieldDef] = fields! {
    1 Account String;
    6 AvgPx Price;
    7 BeginSeqNo SeqNum;
    8 BeginString String;
    9 BodyLength Length;
    10 CheckSum String;
    11 ClOrdID String;
    12 Commission Amt;
    13 CommType Char ["1", "2", "3", "4", "5", "6"];
    14 CumQty Qty;
    15 Currency Currency;
    16 EndSeqNo SeqNum;
    17 ExecID String;
    18 ExecInst MultipleValueString ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "a", "B", "b", "c",
        "C", "d", "D", "E", "e", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "U", "V",
        "W", "X", "Y", "Z"];
    19 ExecRefID String;
    21 HandlInst Char ["1", "2", "3"];
    22 SecurityIDSource String ["1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G",
        "H", "I", "J"];
    23 IOIID String;
    29 LastCapacity Char ["1", "2", "3", "4"];
    30 LastMkt Exchange;
    31 LastPx Price;
    32 LastQty Qty;
    34 MsgSeqNum SeqNum;
    35 MsgType String;
    36 NewSeqNo SeqNum;
    37 OrderID String;
    38 OrderQty Qty;
    39 OrdStatus Char ["0", "1", "2", "3", "4", "6", "7", "8", "9", "A", "B", "C", "D", "E"];
    40 OrdType Char ["1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G", "H", "I",
        "J", "K", "L", "M", "P"];
    41 OrigClOrdID String;
    43 PossDupFlag Boolean;
    44 Price Price;
    45 RefSeqNum SeqNum;
    48 SecurityID String;
    49 SenderCompID String;
    50 SenderSubID String;
    52 SendingTime UtcTimestamp;
    54 Side Char ["1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G"];
    55 Symbol String;
    56 TargetCompID String;
    57 TargetSubID String;
    58 Text String;
    59 TimeInForce Char ["0", "1", "2", "3", "4", "5", "6", "7"];
    60 TransactTime UtcTimestamp;
    63 SettlType Char ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    64 SettlDate LocalMktDate;
    65 SymbolSfx String ["CD", "WI"];
    66 ListID String;
    70 AllocID String;
    75 TradeDate LocalMktDate;
    77 PositionEffect Char ["C", "F", "O", "R"];
    78 NoAllocs NumInGroup;
    79 AllocAccount String;
    80 AllocQty Qty;
    81 ProcessCode Char ["0", "1", "2", "3", "4", "5", "6"];
    89 Signature Data;
    90 SecureDataLen Length;
    91 SecureData Data;
    93 SignatureLength Length;
    95 RawDataLength Length;
    96 RawData Data;
    97 PossResend Boolean;
    98 EncryptMethod Int ["0", "1", "2", "3", "4", "5", "6"];
    99 StopPx Price;
    100 ExDestination Exchange;
    102 CxlRejReason Int ["0", "1", "2", "3", "4", "5", "6", "99"];
    103 OrdRejReason Int ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
        "99"];
    106 Issuer String;
    107 SecurityDesc String;
    108 HeartBtInt Int;
    110 MinQty Qty;
    111 MaxFloor Qty;
    112 TestReqID String;
    113 ReportToExch Boolean;
    114 LocateReqd Boolean;
    115 OnBehalfOfCompID String;
    116 OnBehalfOfSubID String;
    117 QuoteID String;
    118 NetMoney Amt;
    119 SettlCurrAmt Amt;
    120 SettlCurrency Currency;
    121 ForexReq Boolean;
    122 OrigSendingTime UtcTimestamp;
    123 GapFillFlag Boolean;
    126 ExpireTime UtcTimestamp;
    128 DeliverToCompID String;
    129 DeliverToSubID String;
    136 NoMiscFees NumInGroup;
    137 MiscFeeAmt Amt;
    138 MiscFeeCurr Currency;
    // Declared CHAR in FIX 4.4 but enumerates two-character values.
    139 MiscFeeType String ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"];
    140 PrevClosePx Price;
    141 ResetSeqNumFlag Boolean;
    142 SenderLocationID String;
    143 TargetLocationID String;
    144 OnBehalfOfLocationID String;
    145 DeliverToLocationID String;
    146 NoRelatedSym NumInGroup;
    150 ExecType Char ["0", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G", "H", "I"];
    151 LeavesQty Qty;
    152 CashOrderQty Qty;
    155 SettlCurrFxRate Float;
    156 SettlCurrFxRateCalc Char ["M", "D"];
    167 SecurityType String;
    168 EffectiveTime UtcTimestamp;
    192 OrderQty2 Qty;
    193 SettlDate2 LocalMktDate;
    198 SecondaryOrderID String;
    200 MaturityMonthYear MonthYear;
    202 StrikePrice Price;
    203 CoveredOrUncovered Int ["0", "1"];
    206 OptAttribute Char;
    207 SecurityExchange Exchange;
    210 MaxShow Qty;
    211 PegOffsetValue Float;
    212 XmlDataLen Length;
    213 XmlData Data;
    223 CouponRate Percentage;
    224 CouponPaymentDate LocalMktDate;
    225 IssueDate LocalMktDate;
    226 RepurchaseTerm Int;
    227 RepurchaseRate Percentage;
    228 Factor Float;
    229 TradeOriginationDate LocalMktDate;
    231 ContractMultiplier Float;
    232 NoStipulations NumInGroup;
    233 StipulationType String;
    234 StipulationValue String;
    239 RepoCollateralSecurityType Int;
    240 RedemptionDate LocalMktDate;
    255 CreditRating String;
    262 MDReqID String;
    263 SubscriptionRequestType Char ["0", "1", "2"];
    264 MarketDepth Int;
    265 MDUpdateType Int ["0", "1"];
    266 AggregatedBook Boolean;
    267 NoMDEntryTypes NumInGroup;
    268 NoMDEntries NumInGroup;
    269 MDEntryType Char ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C"];
    270 MDEntryPx Price;
    271 MDEntrySize Qty;
    272 MDEntryDate UtcDateOnly;
    273 MDEntryTime UtcTimeOnly;
    274 TickDirection Char ["0", "1", "2", "3"];
    275 MDMkt Exchange;
    276 QuoteCondition MultipleValueString ["A", "B", "C", "D", "E", "F", "G", "H", "I"];
    277 TradeCondition MultipleValueString ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M",
        "N", "P", "Q", "R"];
    278 MDEntryID String;
    279 MDUpdateAction Char ["0", "1", "2"];
    280 MDEntryRefID String;
    281 MDReqRejReason Char ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C"];
    282 MDEntryOriginator String;
    283 LocationID String;
    284 DeskID String;
    285 DeleteReason Char ["0", "1"];
    286 OpenCloseSettlFlag MultipleValueString ["0", "1", "2", "3", "4", "5"];
    287 SellerDays Int;
    288 MDEntryBuyer String;
    289 MDEntrySeller String;
    290 MDEntryPositionNo Int;
    291 FinancialStatus MultipleValueString ["1", "2"];
    292 CorporateAction MultipleValueString ["A", "B", "C", "D", "E"];
    299 QuoteEntryID String;
    320 SecurityReqID String;
    322 SecurityResponseID String;
    323 SecurityResponseType Int ["1", "2", "3", "4", "5", "6"];
    336 TradingSessionID String;
    346 NumberOfOrders Int;
    347 MessageEncoding String;
    348 EncodedIssuerLen Length;
    349 EncodedIssuer Data;
    350 EncodedSecurityDescLen Length;
    351 EncodedSecurityDesc Data;
    354 EncodedTextLen Length;
    355 EncodedText Data;
    369 LastMsgSeqNumProcessed SeqNum;
    371 RefTagID Int;
    372 RefMsgType String;
    373 SessionRejectReason Int ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
        "15", "16", "17", "99"];
    376 ComplianceID String;
    377 SolicitedFlag Boolean;
    378 ExecRestatementReason Int ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "99"];
    379 BusinessRejectRefID String;
    380 BusinessRejectReason Int ["0", "1", "2", "3", "4", "5", "6", "7"];
    381 GrossTradeAmt Amt;
    383 MaxMessageSize Length;
    384 NoMsgTypes NumInGroup;
    385 MsgDirection Char ["R", "S"];
    386 NoTradingSessions NumInGroup;
    388 DiscretionInst Char ["0", "1", "2", "3", "4", "5", "6"];
    389 DiscretionOffsetValue Float;
    423 PriceType Int ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"];
    424 DayOrderQty Qty;
    425 DayCumQty Qty;
    426 DayAvgPx Price;
    427 GTBookingInst Int ["0", "1", "2"];
    432 ExpireDate LocalMktDate;
    434 CxlRejResponseTo Char ["1", "2"];
    442 MultiLegReportingType Char ["1", "2", "3"];
    447 PartyIDSource Char ["1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G", "H",
        "I"];
    448 PartyID String;
    451 NetChgPrevDay PriceOffset;
    452 PartyRole Int;
    453 NoPartyIDs NumInGroup;
    454 NoSecurityAltID NumInGroup;
    455 SecurityAltID String;
    456 SecurityAltIDSource String;
    460 Product Int ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13"];
    461 CFICode String;
    464 TestMessageIndicator Boolean;
    467 IndividualAllocID String;
    468 RoundingDirection Char ["0", "1", "2"];
    469 RoundingModulus Float;
    470 CountryOfIssue Country;
    471 StateOrProvinceOfIssue String;
    472 LocaleOfIssue String;
    479 CommCurrency Currency;
    480 CancellationRights Char ["M", "N", "O", "Y"];
    481 MoneyLaunderingStatus Char ["1", "2", "3", "N", "Y"];
    494 Designation String;
    497 FundRenewWaiv Char ["N", "Y"];
    513 RegistID String;
    516 OrderPercent Percentage;
    523 PartySubID String;
    524 NestedPartyID String;
    525 NestedPartyIDSource Char;
    526 SecondaryClOrdID String;
    528 OrderCapacity Char ["A", "G", "I", "P", "R", "W"];
    529 OrderRestrictions MultipleValueString ["1", "2", "3", "4", "5", "6", "7", "8", "9", "A"];
    530 MassCancelRequestType Char ["1", "2", "3", "4", "5", "6", "7"];
    531 MassCancelResponse Char ["0", "1", "2", "3", "4", "5", "6", "7"];
    // Declared CHAR in FIX 4.4 but enumerates "99".
    532 MassCancelRejectReason String ["0", "1", "2", "3", "4", "5", "6", "99"];
    533 TotalAffectedOrders Int;
    534 NoAffectedOrders NumInGroup;
    535 AffectedOrderID String;
    536 AffectedSecondaryOrderID String;
    538 NestedPartyRole Int;
    539 NoNestedPartyIDs NumInGroup;
    541 MaturityDate LocalMktDate;
    543 InstrRegistry String;
    544 CashMargin Char ["1", "2", "3"];
    545 NestedPartySubID String;
    546 Scope MultipleValueString ["1", "2", "3"];
    547 MDImplicitDelete Boolean;
    553 Username String;
    554 Password String;
    561 RoundLot Qty;
    562 MinTradeVol Qty;
    581 AccountType Int ["1", "2", "3", "4", "6", "7", "8"];
    582 CustOrderCapacity Int ["1", "2", "3", "4"];
    583 ClOrdLinkID String;
    584 MassStatusReqID String;
    586 OrigOrdModTime UtcTimestamp;
    589 DayBookingInst Char ["0", "1", "2"];
    590 BookingUnit Char ["0", "1", "2"];
    591 PreallocMethod Char ["0", "1"];
    625 TradingSessionSubID String;
    627 NoHops NumInGroup;
    628 HopCompID String;
    629 HopSendingTime UtcTimestamp;
    630 HopRefID SeqNum;
    635 ClearingFeeIndicator String;
    636 WorkingIndicator Boolean;
    640 Price2 Price;
    660 AcctIDSource Int ["1", "2", "3", "4", "5", "99"];
    661 AllocAcctIDSource Int;
    667 ContractSettlMonth MonthYear;
    691 Pool String;
    736 AllocSettlCurrency Currency;
    762 SecuritySubType String;
    775 BookingType Int ["0", "1", "2"];
    789 NextExpectedMsgSeqNum SeqNum;
    790 OrdStatusReqID String;
    802 NoPartySubIDs NumInGroup;
    803 PartySubIDType Int;
    804 NoNestedPartySubIDs NumInGroup;
    805 NestedPartySubIDType Int;
    811 PriceDelta Float;
    812 ApplQueueMax Int;
    813 ApplQueueDepth Int;
    814 ApplQueueResolution Int ["0", "1", "2", "3"];
    815 ApplQueueAction Int ["0", "1", "2", "3"];
    816 NoAltMDSource NumInGroup;
    817 AltMDSourceID String;
    827 ExpirationCycle Int ["0", "1"];
    835 PegMoveType Int ["0", "1"];
    836 PegOffsetType Int ["0", "1", "2", "3"];
    837 PegLimitType Int ["0", "1", "2"];
    838 PegRoundDirection Int ["1", "2"];
    840 PegScope Int ["1", "2", "3", "4"];
    841 DiscretionMoveType Int ["0", "1"];
    842 DiscretionOffsetType Int ["0", "1", "2", "3"];
    843 DiscretionLimitType Int ["0", "1", "2"];
    844 DiscretionRoundDirection Int ["1", "2"];
    846 DiscretionScope Int ["1", "2", "3", "4"];
    847 TargetStrategy Int;
    848 TargetStrategyParameters String;
    849 ParticipationRate Percentage;
    851 LastLiquidityInd Int ["1", "2", "3"];
    854 QtyType Int ["0", "1"];
    864 NoEvents NumInGroup;
    865 EventType Int ["1", "2", "3", "4", "99"];
    866 EventDate LocalMktDate;
    867 EventPx Price;
    868 EventText String;
    873 DatedDate LocalMktDate;
    874 InterestAccrualDate LocalMktDate;
    875 CPProgram Int ["1", "2", "99"];
    876 CPRegType String;
    891 MiscFeeBasis Int ["0", "1", "2"];
    911 TotNumReports Int;
    912 LastRptRequested Boolean;
    947 StrikeCurrency Currency;
};

/// `LENGTH` fields and the `DATA` field whose byte count each one gives. The
/// parser needs this to read a data value that may contain the delimiter.
pub static DATA_FIELDS: &[(u32, u32)] = &[
    (90, 91),   // SecureDataLen -> SecureData
    (93, 89),   // SignatureLength -> Signature
    (95, 96),   // RawDataLength -> RawData
    (212, 213), // XmlDataLen -> XmlData
    (348, 349), // EncodedIssuerLen -> EncodedIssuer
    (350, 351), // EncodedSecurityDescLen -> EncodedSecurityDesc
    (354, 355), // EncodedTextLen -> EncodedText
];

/// The `LENGTH` tag that announces the byte count of a `DATA` tag.
pub fn length_tag_of(data_tag: u32) -> Option<u32> {
    DATA_FIELDS.iter().find(|&&(_, data)| data == data_tag).map(|&(length, _)| length)
}

/// Every MsgType FIX 4.4 defines. A type in this list that the dictionary does
/// not describe is a valid but unsupported message (answered with a
/// BusinessMessageReject); anything else is an invalid MsgType.
pub static FIX44_MSG_TYPES: &[&str] = &[
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L",
    "M", "N", "P", "Q", "R", "S", "T", "V", "W", "X", "Y", "Z", "a", "b", "c", "d", "e", "f", "g", "h", "i",
    "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "AA", "AB", "AC",
    "AD", "AE", "AF", "AG", "AH", "AI", "AJ", "AK", "AL", "AM", "AN", "AO", "AP", "AQ", "AR", "AS", "AT",
    "AU", "AV", "AW", "AX", "AY", "AZ", "BA", "BB", "BC", "BD", "BE", "BF", "BG", "BH",
];

/// Whether FIX 4.4 itself defines this tag number (1–956 without the
/// unassigned 101, 261 and 809). Distinguishes "Tag not defined for this
/// message type" (a FIX field this dictionary does not allow here) from
/// "Undefined Tag" (a number FIX 4.4 does not define and this dictionary does
/// not either, e.g. an unknown user-defined field).
pub const fn is_fix44_tag(tag: u32) -> bool {
    matches!(tag, 1..=956) && !matches!(tag, 101 | 261 | 809)
}

/// A node of a static message definition: a field, a repeating group or a
/// component, each with its required flag as `FIX44.xml` states it.
#[derive(Clone, Copy, Debug)]
pub enum Item {
    /// A field (tag, required).
    Field(u32, bool),
    /// A repeating group (count tag, required, members in dictionary order;
    /// the first member is the delimiter).
    Group(u32, bool, &'static [Item]),
    /// A component inlined at this place (members, required). Its required
    /// members are required only when the component is.
    Component(&'static [Item], bool),
}

use Item::{Component, Field, Group};

const fn r(tag: u32) -> Item {
    Field(tag, true)
}
const fn o(tag: u32) -> Item {
    Field(tag, false)
}

static HEADER: &[Item] = &[
    r(8),
    r(9),
    r(35),
    r(49),
    r(56),
    o(115),
    o(128),
    o(90),
    o(91),
    r(34),
    o(50),
    o(142),
    o(57),
    o(143),
    o(116),
    o(144),
    o(129),
    o(145),
    o(43),
    o(97),
    r(52),
    o(122),
    o(212),
    o(213),
    o(347),
    o(369),
    Group(627, false, &[o(628), o(629), o(630)]),
];

static TRAILER: &[Item] = &[o(93), o(89), r(10)];

static PARTIES: &[Item] =
    &[Group(453, false, &[o(448), o(447), o(452), Group(802, false, &[o(523), o(803)])])];

static NESTED_PARTIES: &[Item] =
    &[Group(539, false, &[o(524), o(525), o(538), Group(804, false, &[o(545), o(805)])])];

static INSTRUMENT: &[Item] = &[
    o(55),
    o(65),
    o(48),
    o(22),
    Group(454, false, &[o(455), o(456)]),
    o(460),
    o(461),
    o(167),
    o(762),
    o(200),
    o(541),
    o(224),
    o(225),
    o(239),
    o(226),
    o(227),
    o(228),
    o(255),
    o(543),
    o(470),
    o(471),
    o(472),
    o(240),
    o(202),
    o(947),
    o(206),
    o(231),
    o(223),
    o(207),
    o(106),
    o(348),
    o(349),
    o(107),
    o(350),
    o(351),
    o(691),
    o(667),
    o(875),
    o(876),
    Group(864, false, &[o(865), o(866), o(867), o(868)]),
    o(873),
    o(874),
];

static ORDER_QTY_DATA: &[Item] = &[o(38), o(152), o(516), o(468), o(469)];
static COMMISSION_DATA: &[Item] = &[o(12), o(13), o(479), o(497)];
static PEG_INSTRUCTIONS: &[Item] = &[o(211), o(835), o(836), o(837), o(838), o(840)];
static DISCRETION_INSTRUCTIONS: &[Item] = &[o(388), o(389), o(841), o(842), o(843), o(844), o(846)];
static STIPULATIONS: &[Item] = &[Group(232, false, &[o(233), o(234)])];
static ALLOCS: Item =
    Group(78, false, &[o(79), o(661), o(736), o(467), Component(NESTED_PARTIES, false), o(80)]);
static TRADING_SESSIONS: Item = Group(386, false, &[o(336), o(625)]);
static TEXT: &[Item] = &[o(58), o(354), o(355)];

static LOGON: &[Item] = &[
    r(98),
    r(108),
    o(95),
    o(96),
    o(141),
    o(789),
    o(383),
    Group(384, false, &[o(372), o(385)]),
    o(464),
    o(553),
    o(554),
];

static NEW_ORDER_SINGLE: &[Item] = &[
    r(11),
    o(526),
    o(583),
    Component(PARTIES, false),
    o(229),
    o(75),
    o(1),
    o(660),
    o(581),
    o(589),
    o(590),
    o(591),
    o(70),
    ALLOCS,
    o(63),
    o(64),
    o(544),
    o(635),
    o(21),
    o(18),
    o(110),
    o(111),
    o(100),
    TRADING_SESSIONS,
    o(81),
    Component(INSTRUMENT, true),
    o(140),
    r(54),
    o(114),
    r(60),
    Component(STIPULATIONS, false),
    o(854),
    Component(ORDER_QTY_DATA, true),
    r(40),
    o(423),
    o(44),
    o(99),
    o(15),
    o(376),
    o(377),
    o(23),
    o(117),
    o(59),
    o(168),
    o(432),
    o(126),
    o(427),
    Component(COMMISSION_DATA, false),
    o(528),
    o(529),
    o(582),
    o(121),
    o(120),
    o(775),
    Component(TEXT, false),
    o(193),
    o(192),
    o(640),
    o(77),
    o(203),
    o(210),
    Component(PEG_INSTRUCTIONS, false),
    Component(DISCRETION_INSTRUCTIONS, false),
    o(847),
    o(848),
    o(849),
    o(480),
    o(481),
    o(513),
    o(494),
];

static ORDER_CANCEL_REQUEST: &[Item] = &[
    r(41),
    o(37),
    r(11),
    o(526),
    o(583),
    o(66),
    o(586),
    o(1),
    o(660),
    o(581),
    Component(PARTIES, false),
    Component(INSTRUMENT, true),
    r(54),
    r(60),
    Component(ORDER_QTY_DATA, true),
    o(376),
    Component(TEXT, false),
];

static ORDER_CANCEL_REPLACE_REQUEST: &[Item] = &[
    o(37),
    Component(PARTIES, false),
    o(229),
    o(75),
    r(41),
    r(11),
    o(526),
    o(583),
    o(66),
    o(586),
    o(1),
    o(660),
    o(581),
    o(589),
    o(590),
    o(591),
    o(70),
    ALLOCS,
    o(63),
    o(64),
    o(544),
    o(635),
    o(21),
    o(18),
    o(110),
    o(111),
    o(100),
    TRADING_SESSIONS,
    Component(INSTRUMENT, true),
    r(54),
    r(60),
    o(854),
    Component(ORDER_QTY_DATA, true),
    r(40),
    o(423),
    o(44),
    o(99),
    Component(PEG_INSTRUCTIONS, false),
    Component(DISCRETION_INSTRUCTIONS, false),
    o(847),
    o(848),
    o(849),
    o(376),
    o(377),
    o(15),
    o(59),
    o(168),
    o(432),
    o(126),
    o(427),
    Component(COMMISSION_DATA, false),
    o(528),
    o(529),
    o(582),
    o(121),
    o(120),
    o(775),
    Component(TEXT, false),
    o(193),
    o(192),
    o(640),
    o(77),
    o(203),
    o(210),
    o(114),
    o(480),
    o(481),
    o(513),
    o(494),
];

static ORDER_STATUS_REQUEST: &[Item] = &[
    o(37),
    r(11),
    o(526),
    o(583),
    Component(PARTIES, false),
    o(790),
    o(1),
    o(660),
    Component(INSTRUMENT, true),
    r(54),
];

static ORDER_MASS_CANCEL_REQUEST: &[Item] = &[
    r(11),
    o(526),
    r(530),
    o(336),
    o(625),
    Component(INSTRUMENT, false),
    o(54),
    r(60),
    Component(TEXT, false),
];

static EXECUTION_REPORT: &[Item] = &[
    r(37),
    o(198),
    o(526),
    o(11),
    o(41),
    o(583),
    o(790),
    o(584),
    o(911),
    o(912),
    Component(PARTIES, false),
    o(66),
    r(17),
    o(19),
    r(150),
    r(39),
    o(636),
    o(103),
    o(378),
    o(1),
    o(660),
    o(581),
    o(63),
    o(64),
    o(544),
    Component(INSTRUMENT, true),
    r(54),
    o(854),
    Component(ORDER_QTY_DATA, false),
    o(40),
    o(423),
    o(44),
    o(99),
    Component(PEG_INSTRUCTIONS, false),
    o(15),
    o(59),
    o(168),
    o(432),
    o(126),
    o(18),
    o(528),
    o(529),
    o(582),
    o(32),
    o(31),
    o(30),
    o(336),
    o(625),
    o(29),
    r(151),
    r(14),
    r(6),
    o(424),
    o(425),
    o(426),
    o(75),
    o(60),
    Component(COMMISSION_DATA, false),
    o(381),
    o(118),
    o(119),
    o(120),
    o(155),
    o(156),
    o(21),
    o(110),
    o(111),
    o(77),
    o(210),
    Component(TEXT, false),
    o(442),
    o(851),
    Group(136, false, &[o(137), o(138), o(139), o(891)]),
];

static ORDER_CANCEL_REJECT: &[Item] = &[
    r(37),
    o(198),
    o(526),
    r(11),
    o(583),
    r(41),
    r(39),
    o(636),
    o(586),
    o(66),
    o(1),
    o(660),
    o(581),
    o(229),
    o(75),
    o(60),
    r(434),
    o(102),
    Component(TEXT, false),
];

static ORDER_MASS_CANCEL_REPORT: &[Item] = &[
    o(11),
    o(526),
    r(37),
    o(198),
    r(530),
    r(531),
    o(532),
    o(533),
    Group(534, false, &[o(41), o(535), o(536)]),
    o(336),
    o(625),
    Component(INSTRUMENT, false),
    o(54),
    o(60),
    Component(TEXT, false),
];

static BUSINESS_MESSAGE_REJECT: &[Item] = &[o(45), r(372), o(379), r(380), Component(TEXT, false)];

static MARKET_DATA_REQUEST: &[Item] = &[
    r(262),
    r(263),
    r(264),
    o(265),
    o(266),
    o(286),
    o(546),
    o(547),
    Group(267, true, &[r(269)]),
    Group(146, true, &[Component(INSTRUMENT, true), TRADING_SESSIONS, o(815), o(812)]),
];

static MD_ENTRY_TAIL: &[Item] = &[
    o(270),
    o(15),
    o(271),
    o(272),
    o(273),
    o(274),
    o(275),
    o(336),
    o(625),
    o(276),
    o(277),
    o(282),
    o(283),
    o(284),
    o(286),
    o(59),
    o(432),
    o(126),
    o(110),
    o(18),
    o(287),
    o(37),
    o(299),
    o(288),
    o(289),
    o(346),
    o(290),
    o(546),
    o(811),
];

static MARKET_DATA_SNAPSHOT: &[Item] = &[
    o(262),
    Component(INSTRUMENT, true),
    o(291),
    o(292),
    o(451),
    Group(268, true, &[r(269), Component(MD_ENTRY_TAIL, false), Component(TEXT, false)]),
    o(813),
    o(814),
];

static MARKET_DATA_INCREMENTAL: &[Item] = &[
    o(262),
    Group(
        268,
        true,
        &[
            r(279),
            o(285),
            o(269),
            o(278),
            o(280),
            Component(INSTRUMENT, false),
            o(291),
            o(292),
            Component(MD_ENTRY_TAIL, false),
            o(451),
            Component(TEXT, false),
        ],
    ),
    o(813),
    o(814),
];

static MARKET_DATA_REQUEST_REJECT: &[Item] =
    &[r(262), o(281), Group(816, false, &[o(817)]), Component(TEXT, false)];

static SECURITY_DEFINITION: &[Item] = &[
    r(320),
    r(322),
    r(323),
    Component(INSTRUMENT, false),
    o(15),
    o(336),
    o(625),
    Component(TEXT, false),
    o(827),
    o(561),
    o(562),
];

/// A static message definition before compilation.
struct MessageDef {
    msg_type: &'static str,
    name: &'static str,
    admin: bool,
    items: &'static [Item],
}

static MESSAGES: &[MessageDef] = &[
    MessageDef { msg_type: "0", name: "Heartbeat", admin: true, items: &[o(112)] },
    MessageDef { msg_type: "1", name: "TestRequest", admin: true, items: &[r(112)] },
    MessageDef { msg_type: "2", name: "ResendRequest", admin: true, items: &[r(7), r(16)] },
    MessageDef {
        msg_type: "3",
        name: "Reject",
        admin: true,
        items: &[r(45), o(371), o(372), o(373), Component(TEXT, false)],
    },
    MessageDef { msg_type: "4", name: "SequenceReset", admin: true, items: &[o(123), r(36)] },
    MessageDef { msg_type: "5", name: "Logout", admin: true, items: TEXT },
    MessageDef { msg_type: "A", name: "Logon", admin: true, items: LOGON },
    MessageDef { msg_type: "D", name: "NewOrderSingle", admin: false, items: NEW_ORDER_SINGLE },
    MessageDef { msg_type: "F", name: "OrderCancelRequest", admin: false, items: ORDER_CANCEL_REQUEST },
    MessageDef {
        msg_type: "G",
        name: "OrderCancelReplaceRequest",
        admin: false,
        items: ORDER_CANCEL_REPLACE_REQUEST,
    },
    MessageDef { msg_type: "H", name: "OrderStatusRequest", admin: false, items: ORDER_STATUS_REQUEST },
    MessageDef {
        msg_type: "q",
        name: "OrderMassCancelRequest",
        admin: false,
        items: ORDER_MASS_CANCEL_REQUEST,
    },
    MessageDef { msg_type: "8", name: "ExecutionReport", admin: false, items: EXECUTION_REPORT },
    MessageDef { msg_type: "9", name: "OrderCancelReject", admin: false, items: ORDER_CANCEL_REJECT },
    MessageDef {
        msg_type: "r",
        name: "OrderMassCancelReport",
        admin: false,
        items: ORDER_MASS_CANCEL_REPORT,
    },
    MessageDef { msg_type: "j", name: "BusinessMessageReject", admin: false, items: BUSINESS_MESSAGE_REJECT },
    MessageDef { msg_type: "V", name: "MarketDataRequest", admin: false, items: MARKET_DATA_REQUEST },
    MessageDef {
        msg_type: "W",
        name: "MarketDataSnapshotFullRefresh",
        admin: false,
        items: MARKET_DATA_SNAPSHOT,
    },
    MessageDef {
        msg_type: "X",
        name: "MarketDataIncrementalRefresh",
        admin: false,
        items: MARKET_DATA_INCREMENTAL,
    },
    MessageDef {
        msg_type: "Y",
        name: "MarketDataRequestReject",
        admin: false,
        items: MARKET_DATA_REQUEST_REJECT,
    },
    MessageDef { msg_type: "d", name: "SecurityDefinition", admin: false, items: SECURITY_DEFINITION },
];

/// Tags below this bound fit the dictionary's bitsets; every FIX 4.4 tag does.
pub const MAX_DICTIONARY_TAG: u32 = 1023;

/// A set of tag numbers up to [`MAX_DICTIONARY_TAG`], as a bitset: membership
/// in O(1) with no hashing and no allocation.
#[derive(Clone, Default, Debug)]
pub struct TagSet([u64; 16]);

impl TagSet {
    /// Adds a tag; tags beyond [`MAX_DICTIONARY_TAG`] are a dictionary bug.
    pub fn insert(&mut self, tag: u32) {
        assert!(tag <= MAX_DICTIONARY_TAG, "dictionary tag {tag} beyond the bitset");
        self.0[(tag / 64) as usize] |= 1 << (tag % 64);
    }

    /// Whether the tag is in the set; false for any tag beyond the bound.
    pub fn contains(&self, tag: u32) -> bool {
        tag <= MAX_DICTIONARY_TAG && self.0[(tag / 64) as usize] & (1 << (tag % 64)) != 0
    }

    /// Empties the set, keeping it for reuse.
    pub fn clear(&mut self) {
        self.0 = [0; 16];
    }
}

/// A field as a member of a scope (header, trailer, message body or group
/// entry): its place in dictionary order, whether it is required, and the
/// group it opens if it is a count tag.
#[derive(Debug)]
pub struct Member {
    /// The tag number.
    pub tag: u32,
    /// Position in dictionary order within the scope (the delimiter of a group
    /// is 0); the encoder orders group members by it and the validator checks
    /// it.
    pub position: u16,
    /// Whether every instance of the scope must carry this field.
    pub required: bool,
    /// The repeating group this count tag opens.
    pub group: Option<Box<GroupSpec>>,
}

/// The fields allowed in one place, compiled for lookups.
#[derive(Debug, Default)]
pub struct Scope {
    members: Vec<Member>,
    required: Vec<u32>,
    deep: TagSet,
    /// The tags of `members`, and for each 64-tag word of that set the
    /// number of members below it: a member's index in `members` (sorted by
    /// tag) is that count plus the members set below it in its word. The
    /// validator asks for up to three scopes per field of every message;
    /// this answers in a few instructions where a binary search took the
    /// validator's largest share of the gateway's time.
    direct: TagSet,
    ranks: [u16; 16],
}

impl Scope {
    /// The member with this tag, directly in this scope (not inside one of its
    /// groups).
    pub fn member(&self, tag: u32) -> Option<&Member> {
        if !self.direct.contains(tag) {
            return None;
        }
        let word = (tag / 64) as usize;
        let below = self.direct.0[word] & ((1u64 << (tag % 64)) - 1);
        self.members.get(usize::from(self.ranks[word]) + below.count_ones() as usize)
    }

    /// The tags every instance of this scope must carry, ascending.
    pub fn required(&self) -> &[u32] {
        &self.required
    }

    /// Whether the tag belongs to this scope at any depth (inside its groups
    /// too); a repeating group ends at the first field for which this is false.
    pub fn contains_deep(&self, tag: u32) -> bool {
        self.deep.contains(tag)
    }

    /// The members, sorted by tag.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

/// A repeating group: its count tag, its delimiter and the scope of one entry.
#[derive(Debug)]
pub struct GroupSpec {
    /// The `NumInGroup` tag announcing the number of entries.
    pub count_tag: u32,
    /// The first member, which must open every entry.
    pub delimiter: u32,
    /// The members of one entry.
    pub entry: Scope,
}

/// A message type the dictionary describes.
#[derive(Debug)]
pub struct MessageSpec {
    /// The MsgType (35) value.
    pub msg_type: &'static str,
    /// The FIX name, for logs.
    pub name: &'static str,
    /// Session-level (admin) or application message.
    pub admin: bool,
    /// The body fields.
    pub body: Scope,
}

/// What a MsgType value is to this dictionary; the caller answers each kind
/// differently (validate, BusinessMessageReject, session Reject).
#[derive(Clone, Copy, Debug)]
pub enum MsgTypeClass<'d> {
    /// Described here: validate it.
    Supported(&'d MessageSpec),
    /// A FIX 4.4 message type the venue does not handle: answer with
    /// BusinessMessageReject (380 = 3, "Unsupported Message Type").
    Unsupported,
    /// Not a FIX 4.4 message type at all: session Reject "Invalid MsgType".
    Invalid,
}

/// The compiled FIX 4.4 dictionary.
#[derive(Debug)]
pub struct Dictionary {
    header: Scope,
    trailer: Scope,
    messages: Vec<MessageSpec>,
    /// Position in `FIELDS` + 1 of every tag up to [`MAX_DICTIONARY_TAG`]
    /// (0: unknown): the parser's validator and the encoder look a field
    /// up for every field of every message, and a direct index is one
    /// load where a binary search over the field table was ten.
    field_index: Vec<u16>,
}

impl Dictionary {
    /// The process-wide FIX 4.4 dictionary, compiled on first use.
    pub fn fix44() -> &'static Dictionary {
        static DICT: OnceLock<Dictionary> = OnceLock::new();
        DICT.get_or_init(Dictionary::build)
    }

    fn build() -> Dictionary {
        for pair in FIELDS.windows(2) {
            assert!(pair[0].tag < pair[1].tag, "FIELDS not sorted at tag {}", pair[1].tag);
        }
        let header = compile_scope(HEADER);
        let trailer = compile_scope(TRAILER);
        let messages = MESSAGES
            .iter()
            .map(|def| {
                assert!(FIX44_MSG_TYPES.contains(&def.msg_type), "{} is not a FIX 4.4 type", def.msg_type);
                let body = compile_scope(def.items);
                for member in &body.members {
                    assert!(
                        !header.contains_deep(member.tag) && !trailer.contains_deep(member.tag),
                        "{}: body tag {} is a header or trailer tag",
                        def.name,
                        member.tag
                    );
                }
                MessageSpec { msg_type: def.msg_type, name: def.name, admin: def.admin, body }
            })
            .collect();
        let mut field_index = vec![0u16; MAX_DICTIONARY_TAG as usize + 1];
        for (at, def) in FIELDS.iter().enumerate() {
            field_index[def.tag as usize] = u16::try_from(at + 1).expect("fewer than 65535 fields");
        }
        Dictionary { header, trailer, messages, field_index }
    }

    /// The definition of a field, or `None` if this dictionary does not know
    /// the tag.
    pub fn field(&self, tag: u32) -> Option<&'static FieldDef> {
        match self.field_index.get(tag as usize) {
            Some(&0) => None,
            Some(&at) => Some(&FIELDS[usize::from(at) - 1]),
            None => field_def(tag),
        }
    }

    /// The standard header.
    pub fn header(&self) -> &Scope {
        &self.header
    }

    /// The standard trailer.
    pub fn trailer(&self) -> &Scope {
        &self.trailer
    }

    /// The message with this MsgType, if the dictionary describes it.
    pub fn message(&self, msg_type: &[u8]) -> Option<&MessageSpec> {
        self.messages.iter().find(|m| m.msg_type.as_bytes() == msg_type)
    }

    /// All described messages.
    pub fn messages(&self) -> &[MessageSpec] {
        &self.messages
    }

    /// Classifies a MsgType value: described here, a FIX 4.4 type the venue
    /// does not support, or not a FIX 4.4 type.
    pub fn classify(&self, msg_type: &[u8]) -> MsgTypeClass<'_> {
        match self.message(msg_type) {
            Some(spec) => MsgTypeClass::Supported(spec),
            None if FIX44_MSG_TYPES.iter().any(|t| t.as_bytes() == msg_type) => MsgTypeClass::Unsupported,
            None => MsgTypeClass::Invalid,
        }
    }

    /// The repeating group opened by `count_tag` in the body of `msg_type` (or
    /// in the header), for iterating its entries.
    pub fn group(&self, msg_type: &[u8], count_tag: u32) -> Option<&GroupSpec> {
        let in_header = self.header.member(count_tag).and_then(|m| m.group.as_deref());
        in_header.or_else(|| self.message(msg_type)?.body.member(count_tag)?.group.as_deref())
    }
}

/// Flattens static items into a scope: components inlined, positions in
/// dictionary order, required flags combined with the enclosing component's.
fn compile_scope(items: &'static [Item]) -> Scope {
    let mut scope = Scope::default();
    let mut position = 0u16;
    flatten(items, true, &mut scope, &mut position);
    scope.members.sort_by_key(|m| m.tag);
    for pair in scope.members.windows(2) {
        assert!(pair[0].tag != pair[1].tag, "tag {} twice in one scope", pair[0].tag);
    }
    scope.required = scope.members.iter().filter(|m| m.required).map(|m| m.tag).collect();
    for member in &scope.members {
        scope.direct.insert(member.tag);
    }
    let mut below = 0u16;
    for word in 0..16 {
        scope.ranks[word] = below;
        below += scope.direct.0[word].count_ones() as u16;
    }
    scope
}

fn flatten(items: &'static [Item], enclosing_required: bool, scope: &mut Scope, position: &mut u16) {
    for item in items {
        match *item {
            Field(tag, required) => {
                assert!(field_def(tag).is_some(), "tag {tag} used but not in FIELDS");
                scope.deep.insert(tag);
                scope.members.push(Member {
                    tag,
                    position: *position,
                    required: required && enclosing_required,
                    group: None,
                });
                *position += 1;
            }
            Group(count_tag, required, members) => {
                let entry = compile_scope(members);
                let delimiter = first_tag(members).expect("a group has members");
                scope.deep.insert(count_tag);
                for word in 0..16 {
                    scope.deep.0[word] |= entry.deep.0[word];
                }
                scope.members.push(Member {
                    tag: count_tag,
                    position: *position,
                    required: required && enclosing_required,
                    group: Some(Box::new(GroupSpec { count_tag, delimiter, entry })),
                });
                *position += 1;
            }
            Component(members, required) => flatten(members, required && enclosing_required, scope, position),
        }
    }
}

/// The first field of a list of items in dictionary order: a group's
/// delimiter, even when the group starts with a component.
fn first_tag(items: &[Item]) -> Option<u32> {
    items.iter().find_map(|item| match *item {
        Field(tag, _) | Group(tag, _, _) => Some(tag),
        Component(members, _) => first_tag(members),
    })
}

fn field_def(tag: u32) -> Option<&'static FieldDef> {
    FIELDS.binary_search_by_key(&tag, |f| f.tag).ok().map(|i| &FIELDS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_is_consistent() {
        let dict = Dictionary::fix44();
        assert_eq!(dict.messages().len(), MESSAGES.len());
        for def in FIELDS {
            assert!(def.tag <= MAX_DICTIONARY_TAG && is_fix44_tag(def.tag), "{}", def.tag);
            if def.ty == FieldType::Char {
                assert!(def.values.iter().all(|v| v.len() == 1), "{} enumerates multi-char values", def.name);
            }
        }
        for &(length, data) in DATA_FIELDS {
            assert_eq!(dict.field(length).map(|f| f.ty), Some(FieldType::Length));
            assert_eq!(dict.field(data).map(|f| f.ty), Some(FieldType::Data));
        }
    }

    #[test]
    fn the_field_index_answers_as_the_field_table_does() {
        let dict = Dictionary::fix44();
        for tag in 0..=2 * MAX_DICTIONARY_TAG {
            assert_eq!(dict.field(tag).map(|f| f.tag), field_def(tag).map(|f| f.tag), "tag {tag}");
        }
    }

    #[test]
    fn every_scope_finds_its_members_as_a_binary_search_does() {
        fn check(scope: &Scope, name: &str, checked: &mut usize) {
            for tag in 0..=2 * MAX_DICTIONARY_TAG {
                let searched = scope.members.binary_search_by_key(&tag, |m| m.tag).ok();
                let found = scope.member(tag).map(|m| m as *const Member);
                assert_eq!(found, searched.map(|i| &scope.members[i] as *const Member), "{name}: tag {tag}");
            }
            *checked += 1;
            for member in &scope.members {
                if let Some(group) = &member.group {
                    check(&group.entry, &format!("{name}/{}", group.count_tag), checked);
                }
            }
        }
        let dict = Dictionary::fix44();
        let mut checked = 0;
        check(dict.header(), "header", &mut checked);
        check(dict.trailer(), "trailer", &mut checked);
        for message in dict.messages() {
            check(&message.body, message.name, &mut checked);
        }
        assert!(checked > dict.messages().len() + 2, "nested groups checked too");
    }

    #[test]
    fn brief_facts_hold() {
        let dict = Dictionary::fix44();
        assert_eq!(dict.field(38).map(|f| f.ty), Some(FieldType::Qty));
        assert_eq!(dict.field(44).map(|f| f.ty), Some(FieldType::Price));
        assert_eq!(dict.field(11).map(|f| f.ty), Some(FieldType::String));
        let d = dict.message(b"D").unwrap();
        assert_eq!(d.body.required(), &[11, 40, 54, 60]);
        assert_eq!(dict.header().required(), &[8, 9, 34, 35, 49, 52, 56]);
        let v = dict.message(b"V").unwrap();
        assert_eq!(v.body.required(), &[146, 262, 263, 264, 267]);
        let g = dict.group(b"V", 146).unwrap();
        assert_eq!(g.delimiter, 55);
        assert!(g.entry.contains_deep(455) && g.entry.contains_deep(336));
        let w = dict.group(b"W", 268).unwrap();
        assert_eq!(w.delimiter, 269);
        assert!(matches!(dict.classify(b"E"), MsgTypeClass::Unsupported));
        assert!(matches!(dict.classify(b"ZZ"), MsgTypeClass::Invalid));
        assert!(matches!(dict.classify(b"A"), MsgTypeClass::Supported(_)));
    }
}
