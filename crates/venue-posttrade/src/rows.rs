//! The pure mapping from one sequenced command and its outputs to database
//! rows, and the batch that merges many commands' rows for one transaction.
//!
//! Nothing here touches the database: the same command gives the same rows
//! whether it arrives live from the pipeline or again from the journal,
//! which is what makes catching up produce exactly the rows a live run
//! would have written. Column meanings are in the crate documentation.

use std::collections::BTreeMap;
use venue_domain::{AccountId, InstrumentId, OrderKind, Timestamp};
use venue_engine::{AssetId, Command, EngineConfig, Output, Settlement, TransferState};
use venue_matching::{EventKind, RequestKind};

/// A `commands` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRow {
    /// Sequence number.
    pub seq: i64,
    /// Sequencer time, ns since the epoch.
    pub time: i64,
    /// `new_order`, `cancel`, `amend`, `mass_cancel`, `set_status`,
    /// `deposit`, `withdraw_pending`, `withdraw_post`, `withdraw_void`,
    /// `set_account`, `kill_switch`, `tick` or `end_of_session`.
    pub kind: &'static str,
    /// The account the command names, if any.
    pub account: Option<i64>,
    /// The instrument the command names, if any.
    pub instrument: Option<i64>,
    /// The transfer the command names, if any.
    pub transfer_id: Option<i64>,
    /// `ok` or `rejected`.
    pub outcome: &'static str,
    /// The reject code when refused.
    pub reject_code: Option<i32>,
    /// The reject text when refused.
    pub reason: Option<&'static str>,
    /// Number of outputs the engine produced.
    pub outputs: i32,
}

/// An `orders` row: the order as entered, at its state after the command
/// (or batch) that produced the row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRow {
    /// Venue order id (the sequence number of its `NewOrder`).
    pub order_id: i64,
    /// Sequence number of the `NewOrder`.
    pub seq: i64,
    /// Its time.
    pub time: i64,
    /// Owner.
    pub account: i64,
    /// Instrument.
    pub instrument: i64,
    /// The client's id (0: none).
    pub client_order_id: i64,
    /// `buy` or `sell`.
    pub side: &'static str,
    /// `limit`, `market`, `stop` or `stop_limit`.
    pub kind: &'static str,
    /// `gtc`, `ioc`, `fok`, `gtd` or `day`.
    pub tif: &'static str,
    /// Limit price in ticks (0 for market and stop orders).
    pub price: i64,
    /// Stop price in ticks (0 for non-stop orders).
    pub stop_price: i64,
    /// Total quantity in lots.
    pub qty: i64,
    /// Iceberg slice in lots (0: fully shown).
    pub display_qty: i64,
    /// Post-only.
    pub post_only: bool,
    /// Quote budget of a market buy, in tick×lot units, as entered.
    pub quote_budget: i64,
    /// See [`OrderStatus`].
    pub status: &'static str,
    /// Remaining quantity in lots.
    pub leaves: i64,
    /// Reject code of a refused order.
    pub reject_code: Option<i32>,
    /// Why it was refused, cancelled or expired.
    pub reason: Option<&'static str>,
    /// Sequence number of the last command that changed the row.
    pub updated_seq: i64,
    /// Its time.
    pub updated_time: i64,
}

/// An order's state as the `orders.status` column spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    /// Accepted and live (resting, or a dormant stop).
    New,
    /// A stop whose trigger was met.
    Triggered,
    /// Traded, with quantity left.
    PartiallyFilled,
    /// Traded entirely.
    Filled,
    /// Ended without trading entirely (requested, IOC remainder, STP…).
    Cancelled,
    /// A GTD or DAY order reached its expiry.
    Expired,
    /// Refused by risk or by the book; never live.
    Rejected,
}

impl OrderStatus {
    /// The column value.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "new",
            OrderStatus::Triggered => "triggered",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
            OrderStatus::Rejected => "rejected",
        }
    }
}

/// A change to an existing order: every field is an absolute value (never
/// an increment), so applying an update twice, or an older one after a
/// newer one (refused by the `updated_seq` guard), cannot corrupt the row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderUpdate {
    /// Order.
    pub order_id: i64,
    /// Sequence number of the (latest) command that changed it.
    pub seq: i64,
    /// Its time.
    pub time: i64,
    /// New status, if it changed.
    pub status: Option<&'static str>,
    /// New leaves, if they changed.
    pub leaves: Option<i64>,
    /// New limit price (amend).
    pub price: Option<i64>,
    /// New total quantity (amend).
    pub qty: Option<i64>,
    /// Why it ended (cancel reason).
    pub reason: Option<&'static str>,
    /// New client order id (a cancel/replace that gave one).
    pub client_order_id: Option<i64>,
}

impl OrderUpdate {
    fn new(order_id: i64, seq: i64, time: i64) -> OrderUpdate {
        OrderUpdate {
            order_id,
            seq,
            time,
            status: None,
            leaves: None,
            price: None,
            qty: None,
            reason: None,
            client_order_id: None,
        }
    }

    /// Folds a later update into this one: later values win.
    fn merge(&mut self, later: &OrderUpdate) {
        self.seq = later.seq;
        self.time = later.time;
        self.status = later.status.or(self.status);
        self.leaves = later.leaves.or(self.leaves);
        self.price = later.price.or(self.price);
        self.qty = later.qty.or(self.qty);
        self.reason = later.reason.or(self.reason);
        self.client_order_id = later.client_order_id.or(self.client_order_id);
    }

    fn apply(&self, row: &mut OrderRow) {
        row.updated_seq = self.seq;
        row.updated_time = self.time;
        row.status = self.status.unwrap_or(row.status);
        row.leaves = self.leaves.unwrap_or(row.leaves);
        row.price = self.price.unwrap_or(row.price);
        row.qty = self.qty.unwrap_or(row.qty);
        row.reason = self.reason.or(row.reason);
        row.client_order_id = self.client_order_id.unwrap_or(row.client_order_id);
    }
}

/// An `executions` row: one order event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionRow {
    /// Sequence number of the command.
    pub seq: i64,
    /// Position among the command's executions, from 0.
    pub idx: i32,
    /// Order (0 when a cancel or amend named an unknown client id).
    pub order_id: i64,
    /// Owner (or requester of a refused request).
    pub account: i64,
    /// Instrument.
    pub instrument: i64,
    /// `accepted`, `rejected`, `trade`, `cancelled`, `expired`, `triggered`,
    /// `amended` or `reduced`.
    pub kind: &'static str,
    /// Traded, cancelled, expired or reduced quantity; the new total of an
    /// amend; the quantity of an accepted order.
    pub qty: Option<i64>,
    /// Trade price, new limit price, accepted limit price, or the last
    /// price that triggered a stop.
    pub price: Option<i64>,
    /// Leaves after the event.
    pub leaves: Option<i64>,
    /// Trade id of a trade.
    pub trade_id: Option<i64>,
    /// `maker` or `taker` for a trade.
    pub liquidity: Option<&'static str>,
    /// Reject code of a rejection.
    pub reject_code: Option<i32>,
    /// Reject or cancel reason text.
    pub reason: Option<&'static str>,
}

/// A `trades` row: the trade event and its settlement together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeRow {
    /// Instrument (trade ids are per instrument).
    pub instrument: i64,
    /// Trade id.
    pub trade_id: i64,
    /// Sequence number of the command that traded.
    pub seq: i64,
    /// Its time.
    pub time: i64,
    /// Price in ticks (the maker's).
    pub price: i64,
    /// Quantity in lots.
    pub qty: i64,
    /// Base units delivered to the buyer.
    pub base: i64,
    /// Quote units (notional) paid by the buyer before fees.
    pub quote: i64,
    /// Buying account.
    pub buyer: i64,
    /// Selling account.
    pub seller: i64,
    /// Buy order.
    pub buy_order: i64,
    /// Sell order.
    pub sell_order: i64,
    /// Buyer's fee in quote units.
    pub buyer_fee: i64,
    /// Seller's fee in quote units.
    pub seller_fee: i64,
    /// Side of the taker: `buy` or `sell`.
    pub aggressor: &'static str,
    /// The resting order.
    pub maker_order: i64,
}

/// What a posting records, as the `postings.kind` column spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostingKind {
    /// Funds arrived (credit).
    Deposit,
    /// A posted withdrawal left the venue (debit).
    Withdrawal,
    /// Base delivered by a trade (seller −, buyer +).
    TradeBase,
    /// Quote paid by a trade (buyer −, seller +), before fees.
    TradeQuote,
    /// A trading fee paid (debit of the payer).
    Fee,
    /// A trading fee received (credit of the fee account).
    FeeIncome,
}

impl PostingKind {
    /// The column value.
    pub const fn as_str(self) -> &'static str {
        match self {
            PostingKind::Deposit => "deposit",
            PostingKind::Withdrawal => "withdrawal",
            PostingKind::TradeBase => "trade_base",
            PostingKind::TradeQuote => "trade_quote",
            PostingKind::Fee => "fee",
            PostingKind::FeeIncome => "fee_income",
        }
    }
}

/// A `postings` row: one signed movement of one account's total balance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostingRow {
    /// Sequence number of the command.
    pub seq: i64,
    /// Position among the command's postings, from 0.
    pub idx: i32,
    /// Its time.
    pub time: i64,
    /// Account.
    pub account: i64,
    /// Asset.
    pub asset: i64,
    /// Signed amount in asset units (credit > 0).
    pub amount: i64,
    /// See [`PostingKind`].
    pub kind: &'static str,
    /// Instrument of a trade posting.
    pub instrument: Option<i64>,
    /// Trade id of a trade posting.
    pub trade_id: Option<i64>,
    /// Transfer id of a deposit or withdrawal.
    pub transfer_id: Option<i64>,
}

/// A `transfer_events` row (and, latest per id, the `transfers` row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRow {
    /// Sequence number of the command.
    pub seq: i64,
    /// Its time.
    pub time: i64,
    /// Transfer id.
    pub transfer_id: i64,
    /// Account.
    pub account: i64,
    /// Asset.
    pub asset: i64,
    /// Amount (positive).
    pub amount: i64,
    /// `deposited`, `pending`, `posted` or `voided`.
    pub state: &'static str,
}

/// Everything one command writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rows {
    /// The command.
    pub command: CommandRow,
    /// The order it created, at its state after the command.
    pub orders: Vec<OrderRow>,
    /// Changes to orders created by earlier commands, one per order, by id.
    pub order_updates: Vec<OrderUpdate>,
    /// Order events.
    pub executions: Vec<ExecutionRow>,
    /// Trades.
    pub trades: Vec<TradeRow>,
    /// Balance movements.
    pub postings: Vec<PostingRow>,
    /// Transfer steps.
    pub transfers: Vec<TransferRow>,
}

fn id(account: AccountId) -> i64 {
    i64::from(account.0)
}

fn inst(instrument: InstrumentId) -> i64 {
    i64::from(instrument.0)
}

/// The command's kind, account, instrument and transfer id columns.
fn describe(command: &Command) -> (&'static str, Option<i64>, Option<i64>, Option<i64>) {
    use venue_matching::OrderRef;
    let referenced = |target: OrderRef, account: Option<AccountId>| match (target, account) {
        (_, Some(account)) => Some(id(account)),
        (OrderRef::Client(account, _), None) => Some(id(account)),
        (OrderRef::Id(_), None) => None,
    };
    match *command {
        Command::NewOrder(o) => ("new_order", Some(id(o.account)), Some(inst(o.instrument)), None),
        Command::Cancel(c) => ("cancel", referenced(c.target, c.account), Some(inst(c.instrument)), None),
        Command::Amend(a) => ("amend", referenced(a.target, a.account), Some(inst(a.instrument)), None),
        Command::MassCancel { instrument, account } => {
            ("mass_cancel", account.map(id), instrument.map(inst), None)
        }
        Command::SetStatus { instrument, .. } => ("set_status", None, Some(inst(instrument)), None),
        Command::Deposit { transfer_id, account, .. } => {
            ("deposit", Some(id(account)), None, Some(transfer_id as i64))
        }
        Command::WithdrawPending { transfer_id, account, .. } => {
            ("withdraw_pending", Some(id(account)), None, Some(transfer_id as i64))
        }
        Command::WithdrawPost { transfer_id } => ("withdraw_post", None, None, Some(transfer_id as i64)),
        Command::WithdrawVoid { transfer_id } => ("withdraw_void", None, None, Some(transfer_id as i64)),
        Command::SetAccount { account, .. } => ("set_account", Some(id(account)), None, None),
        Command::KillSwitch { account, .. } => ("kill_switch", Some(id(account)), None, None),
        Command::Tick => ("tick", None, None, None),
        Command::EndOfSession => ("end_of_session", None, None, None),
    }
}

/// Maps commands to rows under one engine configuration (it needs each
/// instrument's assets and the fee account to write postings).
#[derive(Clone, Debug)]
pub struct Mapper {
    /// Per instrument: (base, quote).
    assets: Vec<(AssetId, AssetId)>,
    fee_account: AccountId,
}

/// The rows of one command while they are being built.
struct Builder<'a> {
    mapper: &'a Mapper,
    seq: i64,
    time: i64,
    rows: Rows,
    updates: BTreeMap<i64, OrderUpdate>,
    /// The last trade event, waiting for its settlement.
    trade: Option<(InstrumentId, EventKind)>,
}

impl Builder<'_> {
    fn execution(
        &mut self,
        order_id: i64,
        account: AccountId,
        instrument: InstrumentId,
        kind: &'static str,
    ) -> &mut ExecutionRow {
        let idx = self.rows.executions.len() as i32;
        self.rows.executions.push(ExecutionRow {
            seq: self.seq,
            idx,
            order_id,
            account: id(account),
            instrument: inst(instrument),
            kind,
            qty: None,
            price: None,
            leaves: None,
            trade_id: None,
            liquidity: None,
            reject_code: None,
            reason: None,
        });
        self.rows.executions.last_mut().expect("just pushed")
    }

    /// Records a change of an order: into its row if this command created
    /// it, else into the (merged) update of an earlier order.
    fn update(&mut self, order_id: i64, change: impl FnOnce(&mut OrderUpdate)) {
        let mut update = OrderUpdate::new(order_id, self.seq, self.time);
        change(&mut update);
        if let Some(row) = self.rows.orders.iter_mut().find(|o| o.order_id == order_id) {
            update.apply(row);
        } else {
            self.updates.entry(order_id).and_modify(|u| u.merge(&update)).or_insert(update);
        }
    }

    fn posting(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: i64,
        kind: PostingKind,
        reference: (Option<i64>, Option<i64>, Option<i64>),
    ) {
        if amount == 0 {
            return;
        }
        let idx = self.rows.postings.len() as i32;
        self.rows.postings.push(PostingRow {
            seq: self.seq,
            idx,
            time: self.time,
            account: id(account),
            asset: i64::from(asset.0),
            amount,
            kind: kind.as_str(),
            instrument: reference.0,
            trade_id: reference.1,
            transfer_id: reference.2,
        });
    }

    fn reject(&mut self, code: u16, reason: &'static str) {
        self.rows.command.outcome = "rejected";
        self.rows.command.reject_code = Some(i32::from(code));
        self.rows.command.reason = Some(reason);
    }

    fn settle(&mut self, s: &Settlement) {
        let Some((instrument, EventKind::Trade { trade_id, price, qty, maker_order_id, aggressor, .. })) =
            self.trade.take()
        else {
            debug_assert!(false, "a settlement without its trade event");
            return;
        };
        debug_assert_eq!((instrument, trade_id), (s.instrument, s.trade_id));
        self.rows.trades.push(TradeRow {
            instrument: inst(s.instrument),
            trade_id: s.trade_id.0 as i64,
            seq: self.seq,
            time: self.time,
            price: price.0,
            qty: qty.0,
            base: s.base,
            quote: s.quote,
            buyer: id(s.buyer),
            seller: id(s.seller),
            buy_order: s.buy_order.0 as i64,
            sell_order: s.sell_order.0 as i64,
            buyer_fee: s.buyer_fee,
            seller_fee: s.seller_fee,
            aggressor: aggressor.name(),
            maker_order: maker_order_id.0 as i64,
        });
        let (base, quote) = self.mapper.assets[s.instrument.0 as usize];
        let reference = (Some(inst(s.instrument)), Some(s.trade_id.0 as i64), None);
        let fees = self.mapper.fee_account;
        self.posting(s.seller, base, -s.base, PostingKind::TradeBase, reference);
        self.posting(s.buyer, base, s.base, PostingKind::TradeBase, reference);
        self.posting(s.buyer, quote, -s.quote, PostingKind::TradeQuote, reference);
        self.posting(s.seller, quote, s.quote, PostingKind::TradeQuote, reference);
        self.posting(s.buyer, quote, -s.buyer_fee, PostingKind::Fee, reference);
        self.posting(fees, quote, s.buyer_fee, PostingKind::FeeIncome, reference);
        self.posting(s.seller, quote, -s.seller_fee, PostingKind::Fee, reference);
        self.posting(fees, quote, s.seller_fee, PostingKind::FeeIncome, reference);
    }

    fn new_order_row(&mut self, command: &Command, status: OrderStatus) {
        let Command::NewOrder(o) = command else { return };
        let price = if matches!(o.kind, OrderKind::Limit | OrderKind::StopLimit) { o.price.0 } else { 0 };
        let stop_price = if o.kind.is_stop() { o.stop_price.0 } else { 0 };
        self.rows.orders.push(OrderRow {
            order_id: self.seq,
            seq: self.seq,
            time: self.time,
            account: id(o.account),
            instrument: inst(o.instrument),
            client_order_id: o.client_order_id.0 as i64,
            side: o.side.name(),
            kind: o.kind.name(),
            tif: o.tif.name(),
            price,
            stop_price,
            qty: o.qty.0,
            display_qty: o.display_qty.0,
            post_only: o.post_only,
            quote_budget: o.quote_budget,
            status: status.as_str(),
            leaves: if status == OrderStatus::Rejected { 0 } else { o.qty.0 },
            reject_code: None,
            reason: None,
            updated_seq: self.seq,
            updated_time: self.time,
        });
    }

    fn book(&mut self, command: &Command, instrument: InstrumentId, kind: EventKind) {
        match kind {
            EventKind::Accepted { order_id, account, price, qty, .. } => {
                let e = self.execution(order_id.0 as i64, account, instrument, "accepted");
                (e.qty, e.price, e.leaves) = (Some(qty.0), Some(price.0), Some(qty.0));
                if order_id.0 as i64 == self.seq {
                    self.new_order_row(command, OrderStatus::New);
                }
            }
            EventKind::Rejected { order_id, account, request, reason, .. } => {
                let e = self.execution(order_id.0 as i64, account, instrument, "rejected");
                (e.reject_code, e.reason) = (Some(i32::from(reason.code())), Some(reason.as_str()));
                self.reject(reason.code(), reason.as_str());
                if request == RequestKind::New && order_id.0 as i64 == self.seq {
                    self.new_order_row(command, OrderStatus::Rejected);
                    if let Some(row) = self.rows.orders.last_mut() {
                        row.reject_code = Some(i32::from(reason.code()));
                        row.reason = Some(reason.as_str());
                    }
                }
            }
            EventKind::Trade {
                trade_id,
                price,
                qty,
                maker_order_id,
                taker_order_id,
                maker_account,
                taker_account,
                maker_leaves,
                taker_leaves,
                ..
            } => {
                for (order_id, account, leaves, liquidity) in [
                    (maker_order_id, maker_account, maker_leaves, "maker"),
                    (taker_order_id, taker_account, taker_leaves, "taker"),
                ] {
                    let e = self.execution(order_id.0 as i64, account, instrument, "trade");
                    (e.qty, e.price, e.leaves) = (Some(qty.0), Some(price.0), Some(leaves.0));
                    (e.trade_id, e.liquidity) = (Some(trade_id.0 as i64), Some(liquidity));
                    let status =
                        if leaves.0 == 0 { OrderStatus::Filled } else { OrderStatus::PartiallyFilled };
                    self.update(order_id.0 as i64, |u| {
                        (u.status, u.leaves) = (Some(status.as_str()), Some(leaves.0));
                    });
                }
                self.trade = Some((instrument, kind));
            }
            EventKind::Cancelled { order_id, account, qty, reason } => {
                let e = self.execution(order_id.0 as i64, account, instrument, "cancelled");
                (e.qty, e.leaves, e.reason) = (Some(qty.0), Some(0), Some(reason.as_str()));
                self.update(order_id.0 as i64, |u| {
                    (u.status, u.leaves) = (Some(OrderStatus::Cancelled.as_str()), Some(0));
                    u.reason = Some(reason.as_str());
                });
            }
            EventKind::Expired { order_id, account, qty } => {
                let e = self.execution(order_id.0 as i64, account, instrument, "expired");
                (e.qty, e.leaves) = (Some(qty.0), Some(0));
                self.update(order_id.0 as i64, |u| {
                    (u.status, u.leaves) = (Some(OrderStatus::Expired.as_str()), Some(0));
                    u.reason = Some(venue_domain::CancelReason::Expired.as_str());
                });
            }
            EventKind::Triggered { order_id, account, last_price } => {
                let e = self.execution(order_id.0 as i64, account, instrument, "triggered");
                e.price = Some(last_price.0);
                self.update(order_id.0 as i64, |u| u.status = Some(OrderStatus::Triggered.as_str()));
            }
            EventKind::Amended { order_id, account, price, qty, leaves, client_order_id, .. } => {
                let e = self.execution(order_id.0 as i64, account, instrument, "amended");
                (e.qty, e.price, e.leaves) = (Some(qty.0), Some(price.0), Some(leaves.0));
                self.update(order_id.0 as i64, |u| {
                    (u.price, u.qty, u.leaves) = (Some(price.0), Some(qty.0), Some(leaves.0));
                    u.client_order_id = Some(client_order_id.0 as i64);
                });
            }
            EventKind::Reduced { order_id, account, qty, leaves } => {
                let e = self.execution(order_id.0 as i64, account, instrument, "reduced");
                (e.qty, e.leaves) = (Some(qty.0), Some(leaves.0));
                self.update(order_id.0 as i64, |u| u.leaves = Some(leaves.0));
            }
            EventKind::MassCancelled { .. }
            | EventKind::StatusChanged { .. }
            | EventKind::Level { .. }
            | EventKind::OrderAdded { .. }
            | EventKind::OrderModified { .. }
            | EventKind::OrderDeleted { .. } => {}
        }
    }
}

impl Mapper {
    /// A mapper for `config`'s instruments, assets and fee account.
    pub fn new(config: &EngineConfig) -> Mapper {
        let asset = |name: &str| config.asset(name).unwrap_or_default();
        let assets = config
            .instruments
            .iter()
            .map(|spec| (asset(&spec.base_asset), asset(&spec.quote_asset)))
            .collect();
        Mapper { assets, fee_account: config.fee_account }
    }

    /// The fee account.
    pub fn fee_account(&self) -> AccountId {
        self.fee_account
    }

    /// The rows of command `seq` (stamped `time`) that produced `outputs`.
    pub fn rows(&self, seq: u64, time: Timestamp, command: &Command, outputs: &[Output]) -> Rows {
        let (kind, account, instrument, transfer_id) = describe(command);
        let (seq, time) = (seq as i64, time.0 as i64);
        let mut b = Builder {
            mapper: self,
            seq,
            time,
            rows: Rows {
                command: CommandRow {
                    seq,
                    time,
                    kind,
                    account,
                    instrument,
                    transfer_id,
                    outcome: "ok",
                    reject_code: None,
                    reason: None,
                    outputs: outputs.len() as i32,
                },
                orders: Vec::new(),
                order_updates: Vec::new(),
                executions: Vec::new(),
                trades: Vec::new(),
                postings: Vec::new(),
                transfers: Vec::new(),
            },
            updates: BTreeMap::new(),
            trade: None,
        };
        for output in outputs {
            match *output {
                Output::Book(event) => b.book(command, event.instrument, event.kind),
                Output::Settlement(settlement) => b.settle(&settlement),
                Output::Transfer { transfer_id, account, asset, amount, state } => {
                    b.rows.command.account = Some(id(account));
                    b.rows.transfers.push(TransferRow {
                        seq,
                        time,
                        transfer_id: transfer_id as i64,
                        account: id(account),
                        asset: i64::from(asset.0),
                        amount,
                        state: state.name(),
                    });
                    let reference = (None, None, Some(transfer_id as i64));
                    match state {
                        TransferState::Deposited => {
                            b.posting(account, asset, amount, PostingKind::Deposit, reference)
                        }
                        TransferState::Posted => {
                            b.posting(account, asset, -amount, PostingKind::Withdrawal, reference)
                        }
                        TransferState::Pending | TransferState::Voided => {}
                    }
                }
                Output::CommandRejected { reason } => b.reject(reason.code(), reason.as_str()),
                Output::AccountSet { .. } | Output::KillSwitch { .. } | Output::Ticked => {}
            }
        }
        b.rows.order_updates = b.updates.into_values().collect();
        b.rows
    }
}

/// The merged rows of consecutive commands, written in one transaction.
///
/// Order rows and order updates are folded per order (an order created and
/// filled in the same batch is inserted once, at its final state), and
/// transfers per id, so each table gets at most one row per key.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub(crate) first_seq: u64,
    pub(crate) last_seq: u64,
    pub(crate) last_time: u64,
    pub(crate) commands: Vec<CommandRow>,
    pub(crate) orders: BTreeMap<i64, OrderRow>,
    pub(crate) updates: BTreeMap<i64, OrderUpdate>,
    pub(crate) executions: Vec<ExecutionRow>,
    pub(crate) trades: Vec<TradeRow>,
    pub(crate) postings: Vec<PostingRow>,
    /// Latest step per transfer id, with the sequence number of its first
    /// step in the batch.
    pub(crate) transfers: BTreeMap<i64, (i64, TransferRow)>,
    pub(crate) transfer_events: Vec<TransferRow>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds the next command's rows.
    ///
    /// # Panics
    ///
    /// If `rows` does not follow the batch's last command: a batch is a
    /// contiguous range of sequence numbers, which is what lets the writer
    /// check it against the database's progress.
    pub fn push(&mut self, rows: Rows) {
        let seq = rows.command.seq as u64;
        if self.commands.is_empty() {
            self.first_seq = seq;
        } else {
            assert_eq!(seq, self.last_seq + 1, "a batch holds consecutive commands");
        }
        self.last_seq = seq;
        self.last_time = rows.command.time as u64;
        self.commands.push(rows.command);
        for row in rows.orders {
            self.orders.insert(row.order_id, row);
        }
        for update in rows.order_updates {
            if let Some(row) = self.orders.get_mut(&update.order_id) {
                update.apply(row);
            } else {
                self.updates.entry(update.order_id).and_modify(|u| u.merge(&update)).or_insert(update);
            }
        }
        self.executions.extend(rows.executions);
        self.trades.extend(rows.trades);
        self.postings.extend(rows.postings);
        for event in rows.transfers {
            self.transfers
                .entry(event.transfer_id)
                .and_modify(|(_, latest)| *latest = event.clone())
                .or_insert_with(|| (event.seq, event.clone()));
            self.transfer_events.push(event);
        }
    }

    /// Number of commands.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether it holds no command.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Sequence number of the first command (meaningless when empty).
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Sequence number of the last command (meaningless when empty).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Empties it, keeping its allocations.
    pub fn clear(&mut self) {
        self.commands.clear();
        self.orders.clear();
        self.updates.clear();
        self.executions.clear();
        self.trades.clear();
        self.postings.clear();
        self.transfers.clear();
        self.transfer_events.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use venue_domain::Side;
    use venue_engine::{AccountLimits, Engine, Sequenced};
    use venue_matching::NewOrder;

    fn run(commands: &[Command]) -> Vec<Rows> {
        let config = EngineConfig::demo();
        let mapper = Mapper::new(&config);
        let mut engine = Engine::new(config).unwrap();
        commands
            .iter()
            .enumerate()
            .map(|(at, &command)| {
                let sequenced = Sequenced { seq: at as u64 + 1, time: Timestamp(1_000 + at as u64), command };
                let mut outputs = Vec::new();
                engine.apply(&sequenced, &mut outputs);
                mapper.rows(sequenced.seq, sequenced.time, &command, &outputs)
            })
            .collect()
    }

    /// A resting sell filled by a buy: the trade, both orders and the eight
    /// postings (amounts worked out by hand from the demo configuration).
    #[test]
    fn a_crossing_pair_maps_to_its_trade_orders_and_postings() {
        let (btc, usdt) = (AssetId(0), AssetId(2));
        let rows = run(&[
            Command::SetAccount { account: AccountId(1), tier: 0, limits: AccountLimits::default() },
            Command::SetAccount { account: AccountId(2), tier: 0, limits: AccountLimits::default() },
            Command::Deposit { transfer_id: 1, account: AccountId(1), asset: usdt, amount: 1_000_000_000 },
            Command::Deposit { transfer_id: 2, account: AccountId(2), asset: btc, amount: 1_000_000 },
            Command::NewOrder(NewOrder::limit(0, 2, Side::Sell, 10_000, 10)),
            Command::NewOrder(NewOrder::limit(0, 1, Side::Buy, 10_000, 10)),
            Command::WithdrawPending { transfer_id: 9, account: AccountId(1), asset: btc, amount: 7 },
            Command::WithdrawPost { transfer_id: 9 },
            Command::WithdrawPost { transfer_id: 9 },
        ]);
        assert_eq!(rows[2].postings.len(), 1);
        assert_eq!((rows[2].postings[0].amount, rows[2].postings[0].kind), (1_000_000_000, "deposit"));
        assert_eq!(rows[4].orders[0].status, "new");

        let trade = &rows[5];
        // 10 ticks of 0.01 x 10 lots of 0.0001 BTC: notional 10,000,000 units
        // of USDT (8 decimals), base 100,000 units of BTC; maker 2 bps, taker 5.
        assert_eq!(trade.trades.len(), 1);
        let t = &trade.trades[0];
        assert_eq!((t.price, t.qty, t.base, t.quote), (10_000, 10, 100_000, 10_000_000));
        assert_eq!((t.buyer, t.seller, t.buyer_fee, t.seller_fee), (1, 2, 5_000, 2_000));
        assert_eq!((t.aggressor, t.maker_order, t.buy_order, t.sell_order), ("buy", 5, 6, 5));
        let postings: Vec<(i64, i64, i64, &str)> =
            trade.postings.iter().map(|p| (p.account, p.asset, p.amount, p.kind)).collect();
        assert_eq!(
            postings,
            [
                (2, 0, -100_000, "trade_base"),
                (1, 0, 100_000, "trade_base"),
                (1, 2, -10_000_000, "trade_quote"),
                (2, 2, 10_000_000, "trade_quote"),
                (1, 2, -5_000, "fee"),
                (0, 2, 5_000, "fee_income"),
                (2, 2, -2_000, "fee"),
                (0, 2, 2_000, "fee_income"),
            ]
        );
        for asset in [0, 2] {
            let net: i64 = trade.postings.iter().filter(|p| p.asset == asset).map(|p| p.amount).sum();
            assert_eq!(net, 0, "double entry: asset {asset} only changes hands");
        }
        // The new order is inserted filled; the resting one is updated.
        assert_eq!(
            (trade.orders[0].order_id, trade.orders[0].status, trade.orders[0].leaves),
            (6, "filled", 0)
        );
        assert_eq!(trade.order_updates.len(), 1);
        let u = &trade.order_updates[0];
        assert_eq!((u.order_id, u.status, u.leaves, u.seq), (5, Some("filled"), Some(0), 6));
        let kinds: Vec<(&str, Option<&str>)> =
            trade.executions.iter().map(|e| (e.kind, e.liquidity)).collect();
        assert_eq!(kinds, [("accepted", None), ("trade", Some("maker")), ("trade", Some("taker"))]);

        // Pending moves nothing in total; post debits; a second post is refused.
        assert!(rows[6].postings.is_empty());
        assert_eq!(rows[6].transfers[0].state, "pending");
        assert_eq!((rows[7].postings[0].account, rows[7].postings[0].amount), (1, -7));
        assert_eq!((rows[8].command.outcome, rows[8].command.kind), ("rejected", "withdraw_post"));
        assert!(rows[8].command.reject_code.is_some() && rows[8].postings.is_empty());
    }
}
