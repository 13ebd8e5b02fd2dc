//! The engine's input and output vocabulary.
//!
//! Every state change of the venue is one [`Command`]; the sequencer stamps
//! it with a sequence number and a time, the journal records it, and the
//! engine applies it. What the engine did is a list of [`Output`]s, each
//! tagged with the sequence number of the command that caused it.

use crate::config::AssetId;
use venue_domain::{AccountId, InstrumentId, OrderId, Reject, Timestamp, TradeId, TradingStatus};
use venue_matching::{AmendOrder, CancelOrder, Event, NewOrder};

/// Per-account risk limits. Zero means "no limit" for each field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountLimits {
    /// Largest order quantity, in lots of the order's instrument.
    pub max_order_qty: i64,
    /// Largest order notional, in units of the instrument's quote asset.
    pub max_notional: i64,
    /// Most live orders (resting and dormant stops) across instruments.
    pub max_open_orders: u32,
    /// Price band around the reference (last trade) price, in basis points;
    /// the tighter of this and the instrument's band applies.
    pub price_band_bps: u32,
}

/// One state change, before sequencing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// A new order. Its `order_id` is ignored: the engine assigns the
    /// command's sequence number, so ids are unique and monotonic across
    /// restarts.
    NewOrder(NewOrder),
    /// Cancel one order.
    Cancel(CancelOrder),
    /// Amend (cancel/replace) one resting limit order.
    Amend(AmendOrder),
    /// Cancel every order matching the filter.
    MassCancel {
        /// Only this instrument.
        instrument: Option<InstrumentId>,
        /// Only this account.
        account: Option<AccountId>,
    },
    /// Halt, resume or close an instrument.
    SetStatus {
        /// Which.
        instrument: InstrumentId,
        /// New status.
        status: TradingStatus,
    },
    /// Credit an account (funds arrived from outside the venue).
    Deposit {
        /// Idempotency key from the funding system: a repeated id is refused.
        transfer_id: u64,
        /// Credited account.
        account: AccountId,
        /// Asset.
        asset: AssetId,
        /// Amount in asset units (> 0).
        amount: i64,
    },
    /// Phase one of a withdrawal: move `amount` from available to held,
    /// pending the external payment.
    WithdrawPending {
        /// Id of the withdrawal, named again by post or void.
        transfer_id: u64,
        /// Debited account.
        account: AccountId,
        /// Asset.
        asset: AssetId,
        /// Amount in asset units (> 0).
        amount: i64,
    },
    /// Phase two: the payment went out; the held amount leaves the venue.
    WithdrawPost {
        /// The pending withdrawal.
        transfer_id: u64,
    },
    /// Phase two: the payment failed; the held amount is available again.
    WithdrawVoid {
        /// The pending withdrawal.
        transfer_id: u64,
    },
    /// Create an account or change its fee tier and limits.
    SetAccount {
        /// Account id (below the configured capacity).
        account: AccountId,
        /// Fee tier index.
        tier: u16,
        /// Risk limits.
        limits: AccountLimits,
    },
    /// Turn an account's kill switch on (cancels all its orders and refuses
    /// new ones) or off.
    KillSwitch {
        /// Account.
        account: AccountId,
        /// On or off.
        on: bool,
    },
    /// Time passes: GTD orders due at the command's time expire.
    Tick,
    /// End of the trading session: DAY orders expire, then due GTD orders.
    EndOfSession,
}

/// A command with its sequencer stamp: what the journal stores and the
/// engine applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sequenced {
    /// Sequence number, contiguous from 1.
    pub seq: u64,
    /// Sequencer time (ns since the epoch, from a monotonic clock anchored to
    /// wall time once at start-up).
    pub time: Timestamp,
    /// The command.
    pub command: Command,
}

/// What happened to a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferState {
    /// Deposit credited.
    Deposited,
    /// Withdrawal amount held, waiting for post or void.
    Pending,
    /// Withdrawal left the venue.
    Posted,
    /// Withdrawal cancelled; amount available again.
    Voided,
}

impl TransferState {
    /// Its stable snake_case name in records (the audit log, the
    /// post-trade database): part of their format, so never renamed.
    pub const fn name(self) -> &'static str {
        match self {
            TransferState::Deposited => "deposited",
            TransferState::Pending => "pending",
            TransferState::Posted => "posted",
            TransferState::Voided => "voided",
        }
    }
}

/// One thing the engine reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// An order or book event (including order rejections by risk, as
    /// `EventKind::Rejected` with the risk reason).
    Book(Event),
    /// The ledger postings of one trade (follows its `Trade` event).
    Settlement(Settlement),
    /// A deposit or withdrawal step.
    Transfer {
        /// Transfer id.
        transfer_id: u64,
        /// Account.
        account: AccountId,
        /// Asset.
        asset: AssetId,
        /// Amount.
        amount: i64,
        /// Its new state.
        state: TransferState,
    },
    /// An account was created or its tier/limits changed.
    AccountSet {
        /// Account.
        account: AccountId,
    },
    /// An account's kill switch changed.
    KillSwitch {
        /// Account.
        account: AccountId,
        /// New state.
        on: bool,
    },
    /// A non-order command was refused; nothing changed.
    CommandRejected {
        /// Why.
        reason: Reject,
    },
    /// A time tick ran (after whatever it expired). It changes no state; it
    /// is there so that consumers which keep time by the sequencer's clock
    /// see time pass on an idle venue: market data closes candles by it,
    /// deterministically, instead of reading a wall clock.
    Ticked,
}

/// Double-entry postings of one trade, in asset units. Quote moves from
/// buyer to seller, base from seller to buyer, and each side's fee from that
/// side to the fee account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// Instrument.
    pub instrument: InstrumentId,
    /// The trade settled.
    pub trade_id: TradeId,
    /// Buying account.
    pub buyer: AccountId,
    /// Selling account.
    pub seller: AccountId,
    /// Buy order.
    pub buy_order: OrderId,
    /// Sell order.
    pub sell_order: OrderId,
    /// Base units delivered to the buyer.
    pub base: i64,
    /// Quote units paid to the seller (before the seller's fee).
    pub quote: i64,
    /// Fee paid by the buyer, in quote units.
    pub buyer_fee: i64,
    /// Fee paid by the seller, in quote units.
    pub seller_fee: i64,
}
