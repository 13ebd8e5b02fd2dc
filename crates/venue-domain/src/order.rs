//! Order attributes shared by every protocol: the engine's meaning of FIX
//! `Side`, `OrdType`, `TimeInForce`, `ExecInst`, and of the REST equivalents.

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Bid: buys base, pays quote.
    Buy,
    /// Ask: sells base, receives quote.
    Sell,
}

impl Side {
    /// Its stable snake_case name in records (the audit log, the
    /// post-trade database): part of their format, so never renamed.
    pub const fn name(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }

    /// The side this one trades against.
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// How the order's price is determined and when it becomes active.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderKind {
    /// Trades at its limit price or better; the remainder may rest.
    Limit,
    /// Trades at any price against the opposite side; never rests. The
    /// remainder is cancelled with `CancelReason::NoLiquidity`.
    Market,
    /// Dormant until the last trade price reaches the stop price, then a
    /// market order.
    Stop,
    /// Dormant until the last trade price reaches the stop price, then a
    /// limit order at its limit price.
    StopLimit,
}

impl OrderKind {
    /// Its stable snake_case name in records (the audit log, the
    /// post-trade database): part of their format, so never renamed.
    pub const fn name(self) -> &'static str {
        match self {
            OrderKind::Limit => "limit",
            OrderKind::Market => "market",
            OrderKind::Stop => "stop",
            OrderKind::StopLimit => "stop_limit",
        }
    }

    /// Whether the order waits for a trigger before it can trade.
    pub const fn is_stop(self) -> bool {
        matches!(self, OrderKind::Stop | OrderKind::StopLimit)
    }
}

/// How long an order stays active.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel: trades what it can at once, cancels the rest.
    Ioc,
    /// Fill or kill: trades its whole quantity at once or nothing at all.
    Fok,
    /// Good till date: expires at the order's expiry time, by a time command.
    Gtd,
    /// Expires at the end-of-session command.
    Day,
}

impl TimeInForce {
    /// Its stable snake_case name in records (the audit log, the
    /// post-trade database): part of their format, so never renamed.
    pub const fn name(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "gtc",
            TimeInForce::Ioc => "ioc",
            TimeInForce::Fok => "fok",
            TimeInForce::Gtd => "gtd",
            TimeInForce::Day => "day",
        }
    }

    /// Whether an unfilled remainder may rest on the book.
    pub const fn may_rest(self) -> bool {
        matches!(self, TimeInForce::Gtc | TimeInForce::Gtd | TimeInForce::Day)
    }
}

/// What happens when an incoming order would trade against a resting order of
/// the same self-trade-prevention group. The incoming (taker) order's mode
/// decides; no trade is ever printed between the two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StpMode {
    /// Self-trades are allowed and print as ordinary trades.
    Allow,
    /// Cancel the resting order and keep matching the incoming one.
    #[default]
    CancelResting,
    /// Cancel the remainder of the incoming order; the resting one stays.
    CancelIncoming,
    /// Cancel the resting order and the remainder of the incoming one.
    CancelBoth,
    /// Reduce both by the smaller remaining quantity without a trade; the one
    /// that reaches zero is cancelled, the larger keeps its remainder. The
    /// reduction consumes the resting order exactly as a fill would.
    DecrementAndCancel,
}

impl StpMode {
    /// Its stable snake_case name in records (the audit log, the
    /// post-trade database): part of their format, so never renamed.
    pub const fn name(self) -> &'static str {
        match self {
            StpMode::Allow => "allow",
            StpMode::CancelResting => "cancel_resting",
            StpMode::CancelIncoming => "cancel_incoming",
            StpMode::CancelBoth => "cancel_both",
            StpMode::DecrementAndCancel => "decrement_and_cancel",
        }
    }
}

/// Why an order that was once live stopped being live other than by a fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// The owner asked (cancel request).
    Requested,
    /// A mass cancel by account and/or instrument.
    MassCancel,
    /// The remainder of an IOC order after matching.
    IocRemainder,
    /// A FOK order that could not be filled entirely; nothing traded.
    FokNotFillable,
    /// A market order found no (more) liquidity; it never rests.
    NoLiquidity,
    /// A market buy reached its quote budget.
    BudgetExhausted,
    /// Self-trade prevention removed the order.
    SelfTradePrevention,
    /// A GTD or DAY order reached its expiry.
    Expired,
    /// The owning session disconnected with cancel-on-disconnect set.
    Disconnect,
    /// The account's kill switch was turned on.
    KillSwitch,
    /// An operator removed the order.
    Operator,
}

impl CancelReason {
    /// Its stable snake_case name in records (the audit log, the
    /// post-trade database): part of their format, so never renamed.
    pub const fn name(self) -> &'static str {
        match self {
            CancelReason::Requested => "requested",
            CancelReason::MassCancel => "mass_cancel",
            CancelReason::IocRemainder => "ioc_remainder",
            CancelReason::FokNotFillable => "fok_not_fillable",
            CancelReason::NoLiquidity => "no_liquidity",
            CancelReason::BudgetExhausted => "budget_exhausted",
            CancelReason::SelfTradePrevention => "self_trade_prevention",
            CancelReason::Expired => "expired",
            CancelReason::Disconnect => "disconnect",
            CancelReason::KillSwitch => "kill_switch",
            CancelReason::Operator => "operator",
        }
    }

    /// The text a client reads, e.g. in FIX `Text (58)`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CancelReason::Requested => "cancelled on request",
            CancelReason::MassCancel => "cancelled by mass cancel",
            CancelReason::IocRemainder => "IOC remainder cancelled",
            CancelReason::FokNotFillable => "FOK order could not be filled entirely",
            CancelReason::NoLiquidity => "market order found no liquidity",
            CancelReason::BudgetExhausted => "market order reached its quote budget",
            CancelReason::SelfTradePrevention => "cancelled by self-trade prevention",
            CancelReason::Expired => "order expired",
            CancelReason::Disconnect => "cancelled on disconnect",
            CancelReason::KillSwitch => "cancelled by kill switch",
            CancelReason::Operator => "cancelled by operator",
        }
    }
}
