//! The one list of refusals.
//!
//! Every command the venue refuses is refused with exactly one of these
//! variants. Each has a stable numeric code (journals, metrics and client
//! libraries may store it) and a reason text written once, here. Gateways map
//! variants onto protocol fields (FIX `OrdRejReason`/`CxlRejReason`, Binance
//! error codes) but never invent their own wording.

/// A typed refusal of a command. The command had no effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reject {
    // --- numbers and the instrument grid (1xx) ---
    /// Not a plain decimal number.
    MalformedNumber,
    /// A number too large for the engine's integers.
    NumberOutOfRange,
    /// More significant decimals than the grid allows (generic form).
    OffGrid,
    /// Quantity is zero or negative.
    QtyNotPositive,
    /// Quantity is not a whole number of lots.
    QtyOffLot,
    /// Quantity below the instrument's minimum.
    QtyBelowMin,
    /// Quantity above the instrument's maximum.
    QtyAboveMax,
    /// Price is not a whole number of ticks.
    PriceOffTick,
    /// Price outside the instrument's price bounds.
    PriceOutOfRange,
    /// Iceberg display quantity is not positive or larger than the order.
    InvalidDisplayQty,
    /// The quote budget of a market buy is not positive.
    InvalidBudget,
    /// A stop (market) buy must say how much quote it may spend: its hold
    /// cannot be derived from a price it does not have.
    BudgetRequired,
    /// A transfer amount is zero, negative or too large.
    InvalidAmount,

    // --- order shape (2xx) ---
    /// The combination of kind, time in force and flags is not allowed
    /// (post-only market, iceberg IOC, ...).
    InvalidOrderCombination,
    /// A GTD order without an expiry time, or one already in the past.
    InvalidExpireTime,
    /// A stop order whose stop price the last trade has already reached.
    StopWouldTriggerImmediately,
    /// A post-only order that would trade on arrival.
    PostOnlyWouldTake,

    // --- identity and lifecycle (3xx) ---
    /// No instrument with this id or symbol.
    UnknownInstrument,
    /// The instrument is halted: only cancels are accepted.
    InstrumentHalted,
    /// The instrument is closed: only cancels are accepted.
    InstrumentClosed,
    /// No live order with this id (or client id) for this requester: never
    /// accepted, another account's, or already filled, cancelled or expired.
    UnknownOrder,
    /// The order existed but is filled, cancelled or expired ("too late");
    /// answered by layers that remember finished orders.
    OrderNotActive,
    /// The account already has a live order with this client order id.
    DuplicateClientOrderId,
    /// The order id is already in use (an edge or sequencer fault).
    DuplicateOrderId,
    /// Amend is only possible for limit orders resting on the book.
    NotAmendable,
    /// Amend to a quantity not above what has already been filled.
    AmendQtyTooLow,

    // --- capacity and flow control (4xx) ---
    /// The book's order pool is full (configured `max_orders`).
    BookFull,
    /// A ring towards the engine is full: retry later.
    Backpressure,
    /// The session or key exceeded its rate limit.
    RateLimited,
    /// The account id is beyond the configured number of accounts.
    TooManyAccounts,

    // --- pre-trade risk and accounts (5xx) ---
    /// No such account.
    UnknownAccount,
    /// The credentials do not allow this command.
    Unauthorized,
    /// Available balance does not cover the hold.
    InsufficientBalance,
    /// Order quantity above the account's limit.
    MaxOrderQtyExceeded,
    /// Order notional above the account's limit.
    MaxNotionalExceeded,
    /// Limit price outside the band around the reference price.
    PriceBandExceeded,
    /// The account has its maximum number of open orders.
    TooManyOpenOrders,
    /// The account's kill switch is on.
    KillSwitchActive,
    /// No such asset.
    UnknownAsset,
    /// The transfer id was used before (transfers are idempotent by id).
    DuplicateTransfer,
    /// No transfer with this id.
    UnknownTransfer,
    /// The transfer is not a pending withdrawal (already posted or voided,
    /// or a deposit).
    TransferNotPending,
    /// The deposit would take a balance or an asset's total beyond the
    /// engine's integers.
    BalanceOverflow,
    /// No fee tier with this number.
    UnknownFeeTier,
}

impl Reject {
    /// Stable numeric code; never reused for another meaning.
    pub const fn code(self) -> u16 {
        match self {
            Reject::MalformedNumber => 100,
            Reject::NumberOutOfRange => 101,
            Reject::OffGrid => 102,
            Reject::QtyNotPositive => 103,
            Reject::QtyOffLot => 104,
            Reject::QtyBelowMin => 105,
            Reject::QtyAboveMax => 106,
            Reject::PriceOffTick => 107,
            Reject::PriceOutOfRange => 108,
            Reject::InvalidDisplayQty => 109,
            Reject::InvalidBudget => 110,
            Reject::BudgetRequired => 111,
            Reject::InvalidAmount => 112,
            Reject::InvalidOrderCombination => 200,
            Reject::InvalidExpireTime => 201,
            Reject::StopWouldTriggerImmediately => 202,
            Reject::PostOnlyWouldTake => 203,
            Reject::UnknownInstrument => 300,
            Reject::InstrumentHalted => 301,
            Reject::InstrumentClosed => 302,
            Reject::UnknownOrder => 303,
            Reject::OrderNotActive => 304,
            Reject::DuplicateClientOrderId => 305,
            Reject::DuplicateOrderId => 306,
            Reject::NotAmendable => 308,
            Reject::AmendQtyTooLow => 309,
            Reject::BookFull => 400,
            Reject::Backpressure => 401,
            Reject::RateLimited => 402,
            Reject::TooManyAccounts => 403,
            Reject::UnknownAccount => 500,
            Reject::Unauthorized => 501,
            Reject::InsufficientBalance => 502,
            Reject::MaxOrderQtyExceeded => 503,
            Reject::MaxNotionalExceeded => 504,
            Reject::PriceBandExceeded => 505,
            Reject::TooManyOpenOrders => 506,
            Reject::KillSwitchActive => 507,
            Reject::UnknownAsset => 508,
            Reject::DuplicateTransfer => 509,
            Reject::UnknownTransfer => 510,
            Reject::TransferNotPending => 511,
            Reject::BalanceOverflow => 512,
            Reject::UnknownFeeTier => 513,
        }
    }

    /// The reason a client reads (FIX `Text (58)`, REST `msg`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Reject::MalformedNumber => "not a decimal number",
            Reject::NumberOutOfRange => "number out of range",
            Reject::OffGrid => "value has more decimals than allowed",
            Reject::QtyNotPositive => "quantity must be positive",
            Reject::QtyOffLot => "quantity is not a multiple of the lot size",
            Reject::QtyBelowMin => "quantity below the instrument minimum",
            Reject::QtyAboveMax => "quantity above the instrument maximum",
            Reject::PriceOffTick => "price is not a multiple of the tick size",
            Reject::PriceOutOfRange => "price outside the instrument price limits",
            Reject::InvalidDisplayQty => "display quantity must be positive and not above the order quantity",
            Reject::InvalidBudget => "quote budget must be positive",
            Reject::BudgetRequired => "a stop market buy needs a quote budget",
            Reject::InvalidAmount => "amount must be positive",
            Reject::InvalidOrderCombination => "order type, time in force and flags do not combine",
            Reject::InvalidExpireTime => "expire time missing or already passed",
            Reject::StopWouldTriggerImmediately => "stop price already reached by the last trade",
            Reject::PostOnlyWouldTake => "post-only order would immediately match",
            Reject::UnknownInstrument => "unknown instrument",
            Reject::InstrumentHalted => "instrument is halted",
            Reject::InstrumentClosed => "instrument is closed",
            Reject::UnknownOrder => "unknown order",
            Reject::OrderNotActive => "order is no longer active (too late)",
            Reject::DuplicateClientOrderId => "duplicate client order id",
            Reject::DuplicateOrderId => "duplicate order id",
            Reject::NotAmendable => "only resting limit orders can be amended",
            Reject::AmendQtyTooLow => "new quantity must exceed the filled quantity",
            Reject::BookFull => "order book is at its configured capacity",
            Reject::Backpressure => "venue is busy, retry",
            Reject::RateLimited => "rate limit exceeded",
            Reject::TooManyAccounts => "account id beyond the configured account capacity",
            Reject::UnknownAccount => "unknown account",
            Reject::Unauthorized => "not authorised",
            Reject::InsufficientBalance => "insufficient balance",
            Reject::MaxOrderQtyExceeded => "order quantity above account limit",
            Reject::MaxNotionalExceeded => "order notional above account limit",
            Reject::PriceBandExceeded => "price outside the allowed band",
            Reject::TooManyOpenOrders => "too many open orders",
            Reject::KillSwitchActive => "account kill switch is active",
            Reject::UnknownAsset => "unknown asset",
            Reject::DuplicateTransfer => "duplicate transfer id",
            Reject::UnknownTransfer => "unknown transfer",
            Reject::TransferNotPending => "transfer is not a pending withdrawal",
            Reject::BalanceOverflow => "balance would overflow",
            Reject::UnknownFeeTier => "unknown fee tier",
        }
    }
}

impl core::fmt::Display for Reject {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Reject {}
