//! The state machine: risk, then the book, then the ledger, per command.

use crate::command::{AccountLimits, Command, Output, Sequenced, Settlement, TransferState};
use crate::config::{AssetId, ConfigError, EngineConfig, Scale};
use venue_domain::{
    AccountId, CancelReason, InstrumentId, OrderId, OrderKind, Price, Qty, Reject, Side, Timestamp,
};
use venue_matching::{
    AmendOrder, Books, CancelOrder, Command as BookCommand, Event, EventKind, IdMap, NewOrder, OrderRef,
    OrderTable, RequestKind, id_map,
};

/// One account's balance in one asset, in asset units. Both parts are never
/// negative; `held` backs live orders and pending withdrawals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    /// Free to trade or withdraw.
    pub available: i64,
    /// Reserved by live orders and pending withdrawals.
    pub held: i64,
}

/// An account's settings and risk state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Fee tier index.
    pub tier: u16,
    /// Risk limits.
    pub limits: AccountLimits,
    /// Whether new orders are refused.
    pub kill_switch: bool,
    /// Live orders (resting and dormant stops).
    pub open_orders: u32,
}

/// The risk record of one live order: what it holds and what it may still
/// need. A buy holds quote, a sell holds base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderHold {
    /// Owner.
    pub account: AccountId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Kind as entered (a triggered stop keeps its kind here).
    pub kind: OrderKind,
    /// Limit price (0 for market and stop-market).
    pub price: Price,
    /// Remaining quantity.
    pub leaves: Qty,
    /// Amount held for it, in the hold asset.
    pub hold: i64,
    /// Maker fee rate captured at acceptance.
    pub maker_bps: u16,
    /// Taker fee rate captured at acceptance.
    pub taker_bps: u16,
}

/// The filler of a free slot in the engine's order table; never a live
/// order's record.
impl Default for OrderHold {
    fn default() -> Self {
        OrderHold {
            account: AccountId(0),
            instrument: InstrumentId(0),
            side: Side::Buy,
            kind: OrderKind::Limit,
            price: Price(0),
            leaves: Qty::ZERO,
            hold: 0,
            maker_bps: 0,
            taker_bps: 0,
        }
    }
}

/// A deposit or withdrawal, remembered by id forever (idempotency).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Account.
    pub account: AccountId,
    /// Asset.
    pub asset: AssetId,
    /// Amount.
    pub amount: i64,
    /// State.
    pub state: TransferState,
}

/// A broken ledger invariant, found by [`Engine::check_ledger`]. Any of
/// these is a bug: the venue should stop and page someone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerError {
    /// The sum of balances of an asset differs from deposits − withdrawals.
    SupplyMismatch {
        /// Asset.
        asset: AssetId,
        /// Sum of all balances.
        balances: i128,
        /// Deposits minus posted withdrawals.
        supply: i128,
    },
    /// A balance part is negative.
    Negative {
        /// Account.
        account: AccountId,
        /// Asset.
        asset: AssetId,
    },
    /// An account's held balance differs from what its orders and pending
    /// withdrawals hold.
    HeldMismatch {
        /// Account.
        account: AccountId,
        /// Asset.
        asset: AssetId,
        /// Held on the balance.
        held: i64,
        /// Sum of the holds.
        holds: i64,
    },
    /// A live order holds other than exactly what its leaves require at its
    /// price and fee rates (a snapshot that contradicts itself, or a bug).
    OrderHold {
        /// Order.
        order_id: OrderId,
        /// What it holds.
        hold: i64,
    },
    /// An account's open-order count differs from its live orders.
    OpenOrders {
        /// Account.
        account: AccountId,
    },
    /// The risk layer and the books disagree about which orders are live.
    OrphanOrder {
        /// Order.
        order_id: OrderId,
    },
}

impl core::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for LedgerError {}

/// The venue's whole deterministic state and the function that advances it.
/// See the crate documentation for the rules.
#[derive(Debug)]
pub struct Engine {
    pub(crate) config: EngineConfig,
    pub(crate) scales: Vec<Scale>,
    pub(crate) books: Books,
    pub(crate) accounts: Vec<Option<Account>>,
    /// `account * assets + asset`.
    pub(crate) balances: Vec<Balance>,
    pub(crate) orders: OrderTable<OrderHold>,
    pub(crate) transfers: IdMap<u64, Transfer>,
    /// Per asset: deposits − posted withdrawals (= sum of balances).
    pub(crate) supply: Vec<i64>,
    pub(crate) seq: u64,
    pub(crate) time: Timestamp,
    scratch: Vec<Event>,
}

/// A snapshot is a clone of the engine taken on the engine thread, so its
/// cost is a pause. `clone_from` keeps the target's allocations: the
/// pipeline clones the engine into the copy its previous snapshot wrote,
/// so the pause is a copy of memory the process already has rather than
/// page faults on fresh memory (most of it, with a hundred books).
impl Clone for Engine {
    fn clone(&self) -> Self {
        Engine {
            config: self.config.clone(),
            scales: self.scales.clone(),
            books: self.books.clone(),
            accounts: self.accounts.clone(),
            balances: self.balances.clone(),
            orders: self.orders.clone(),
            transfers: self.transfers.clone(),
            supply: self.supply.clone(),
            seq: self.seq,
            time: self.time,
            // Working space, empty between commands: not state, but a clone
            // that goes on applying commands should not have to grow it.
            scratch: Vec::with_capacity(self.scratch.capacity()),
        }
    }

    fn clone_from(&mut self, source: &Self) {
        // Every field named: a new one must be added here too.
        let Engine {
            config,
            scales,
            books,
            accounts,
            balances,
            orders,
            transfers,
            supply,
            seq,
            time,
            scratch,
        } = self;
        config.clone_from(&source.config);
        scales.clone_from(&source.scales);
        books.clone_from(&source.books);
        accounts.clone_from(&source.accounts);
        balances.clone_from(&source.balances);
        orders.clone_from(&source.orders);
        transfers.clone_from(&source.transfers);
        supply.clone_from(&source.supply);
        *seq = source.seq;
        *time = source.time;
        scratch.clear();
    }
}

const BPS: i64 = 10_000;

#[inline]
fn fee(notional: i64, bps: u16) -> i64 {
    // Floor: a member never pays more than the rate, and per-fill fees of a
    // split order never sum above the fee its hold was sized for.
    // Saturating: valid orders never come near i64::MAX (configuration
    // bounds price × quantity), but a damaged snapshot's record must be
    // refused by the ledger check, not overflow in it.
    // Exact in i64 whenever the product fits (every real order): an i128
    // division is a library call of about 60 instructions, an i64 division
    // by a constant a multiply and a shift. Both truncate toward zero, so
    // the wide path gives the same result where both apply.
    match notional.checked_mul(i64::from(bps)) {
        Some(product) => product / BPS,
        None => i64::try_from((i128::from(notional) * i128::from(bps)) / i128::from(BPS)).unwrap_or(i64::MAX),
    }
}

/// The price band: the tighter of the instrument's and the account's (0 =
/// none), in basis points around the reference (last trade) price; no band
/// before the first trade.
fn check_band(instrument_bps: u32, account_bps: u32, reference: i64, price: Price) -> Result<(), Reject> {
    let band = match (instrument_bps, account_bps) {
        (0, b) | (b, 0) => b,
        (a, b) => a.min(b),
    };
    if band > 0 && reference > 0 {
        let distance = i128::from((price.0 - reference).abs()) * i128::from(BPS);
        if distance > i128::from(reference) * i128::from(band) {
            return Err(Reject::PriceBandExceeded);
        }
    }
    Ok(())
}

/// The output of a non-order command: what it did, or why it was refused.
fn outcome(result: Result<(), Reject>, done: Output) -> Output {
    match result {
        Ok(()) => done,
        Err(reason) => Output::CommandRejected { reason },
    }
}

fn reject(out: &mut Vec<Output>, order: &NewOrder, request: RequestKind, reason: Reject) {
    out.push(Output::Book(Event {
        instrument: order.instrument,
        kind: EventKind::Rejected {
            order_id: order.order_id,
            client_order_id: order.client_order_id,
            account: order.account,
            request,
            reason,
        },
    }));
}

fn reject_ref(
    out: &mut Vec<Output>,
    instrument: InstrumentId,
    target: venue_matching::OrderRef,
    account: Option<AccountId>,
    request: RequestKind,
    reason: Reject,
) {
    let (order_id, client_order_id) = match target {
        venue_matching::OrderRef::Id(id) => (id, venue_domain::ClientOrderId::NONE),
        venue_matching::OrderRef::Client(_, client) => (OrderId(0), client),
    };
    out.push(Output::Book(Event {
        instrument,
        kind: EventKind::Rejected {
            order_id,
            client_order_id,
            account: account.unwrap_or_default(),
            request,
            reason,
        },
    }));
}

impl Engine {
    /// An engine with empty books and no money, but for the fee account.
    pub fn new(config: EngineConfig) -> Result<Engine, ConfigError> {
        let scales = config.scales()?;
        let books = Books::new(config.instruments.clone(), config.book)
            .map_err(|e| ConfigError::Instruments(format!("{e:?}")))?;
        let reserve = (config.book.max_orders as usize).saturating_mul(config.instruments.len().max(1));
        let mut engine = Engine {
            scales,
            books,
            accounts: Vec::new(),
            balances: Vec::new(),
            // Sized for the working set, not the sum of every book's
            // capacity: a table is copied whole by a snapshot clone and its
            // entries spread over all its cache lines, so an oversized one
            // costs misses and pause time. It grows (rarely) beyond this.
            orders: OrderTable::with_capacity(reserve.min(1 << 14)),
            transfers: id_map(1024),
            supply: vec![0; config.assets.len()],
            seq: 0,
            time: Timestamp(0),
            scratch: Vec::with_capacity(1024),
            config,
        };
        let fee_account = engine.config.fee_account;
        engine.ensure_account(fee_account);
        engine.accounts[fee_account.0 as usize] = Some(Account::default());
        Ok(engine)
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Sequence number of the last command applied (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Time of the last command applied.
    pub fn time(&self) -> Timestamp {
        self.time
    }

    /// The books, for queries.
    pub fn books(&self) -> &Books {
        &self.books
    }

    /// An account, if it exists.
    pub fn account(&self, account: AccountId) -> Option<&Account> {
        self.accounts.get(account.0 as usize).and_then(Option::as_ref)
    }

    /// A balance (zero if the account or asset is unknown).
    pub fn balance(&self, account: AccountId, asset: AssetId) -> Balance {
        self.balance_index(account, asset).map(|at| self.balances[at]).unwrap_or_default()
    }

    /// The risk record of a live order.
    pub fn order_hold(&self, order_id: OrderId) -> Option<&OrderHold> {
        self.orders.get(order_id)
    }

    /// Deposits minus posted withdrawals of an asset.
    pub fn supply(&self, asset: AssetId) -> i64 {
        self.supply.get(asset.0 as usize).copied().unwrap_or(0)
    }

    /// A transfer by id.
    pub fn transfer(&self, transfer_id: u64) -> Option<&Transfer> {
        self.transfers.get(&transfer_id)
    }

    fn balance_index(&self, account: AccountId, asset: AssetId) -> Option<usize> {
        let assets = self.config.assets.len();
        let at = account.0 as usize * assets + asset.0 as usize;
        ((asset.0 as usize) < assets && at < self.balances.len()).then_some(at)
    }

    #[inline]
    fn bal(&mut self, account: AccountId, asset: AssetId) -> &mut Balance {
        let at = account.0 as usize * self.config.assets.len() + asset.0 as usize;
        &mut self.balances[at]
    }

    pub(crate) fn ensure_account(&mut self, account: AccountId) {
        let need = account.0 as usize + 1;
        if self.accounts.len() < need {
            self.accounts.resize(need, None);
            self.balances.resize(need * self.config.assets.len(), Balance::default());
        }
    }

    /// Starts loading what `command` will look up first (its order in its
    /// book's id table and in the engine's table of holds) without waiting
    /// for it. The engine loop calls it for the command three ahead of the
    /// one it applies, then [`prefetch_node`](Self::prefetch_node) and
    /// [`prefetch_neighbours`](Self::prefetch_neighbours) as that command
    /// comes nearer: with many books these tables and nodes do not stay in
    /// cache, and their loads then overlap other commands' work instead of
    /// stalling their own. Changes nothing.
    #[inline]
    pub fn prefetch(&self, command: &Command) {
        if let Some((book, id, _)) = self.order_target(command) {
            book.prefetch_order(id);
            self.orders.prefetch(id);
        }
    }

    /// The second stage of [`prefetch`](Self::prefetch), a command later:
    /// the id table's slot has arrived, so the order's node can be asked
    /// for.
    #[inline]
    pub fn prefetch_node(&self, command: &Command) {
        if let Some((book, id, new_price)) = self.order_target(command) {
            book.prefetch_node(id, new_price);
        }
    }

    /// The third stage, a command after [`prefetch_node`](Self::prefetch_node):
    /// the node's level and queue neighbours, and an amend's new level.
    #[inline]
    pub fn prefetch_neighbours(&self, command: &Command) {
        if let Some((book, id, new_price)) = self.order_target(command) {
            book.prefetch_neighbours(id, new_price);
        }
    }

    /// The book and order a cancel or amend by order id names, with an
    /// amend's new price.
    #[inline]
    fn order_target(
        &self,
        command: &Command,
    ) -> Option<(&venue_matching::OrderBook, OrderId, Option<Price>)> {
        let (instrument, id, new_price) = match *command {
            Command::Cancel(CancelOrder { instrument, target: OrderRef::Id(id), .. }) => {
                (instrument, id, None)
            }
            Command::Amend(AmendOrder { instrument, target: OrderRef::Id(id), new_price, .. }) => {
                (instrument, id, Some(new_price))
            }
            _ => return None,
        };
        Some((self.books.book(instrument)?, id, new_price))
    }

    /// Applies one sequenced command, appending what happened to `out`.
    /// Never fails: a refused command yields one rejection output and
    /// changes nothing but the engine's sequence number and time.
    ///
    /// # Panics
    ///
    /// If `command.seq` does not follow the last applied sequence number:
    /// that is a sequencer or recovery bug, never client input.
    pub fn apply(&mut self, command: &Sequenced, out: &mut Vec<Output>) {
        assert_eq!(command.seq, self.seq + 1, "commands must be applied in sequence");
        self.seq = command.seq;
        self.time = command.time;
        let now = command.time;
        match command.command {
            Command::NewOrder(order) => self.new_order(order, now, out),
            Command::Cancel(cancel) => self.cancel(&cancel, out),
            Command::Amend(amend) => self.amend(&amend, out),
            Command::MassCancel { instrument, account } => {
                self.book_command(&BookCommand::MassCancel { instrument, account }, now, out)
            }
            Command::SetStatus { instrument, status } => {
                self.book_command(&BookCommand::SetStatus { instrument, status }, now, out)
            }
            Command::Tick => {
                self.book_command(&BookCommand::Expire, now, out);
                out.push(Output::Ticked);
            }
            Command::EndOfSession => self.book_command(&BookCommand::EndOfSession, now, out),
            Command::Deposit { transfer_id, account, asset, amount } => {
                let done =
                    Output::Transfer { transfer_id, account, asset, amount, state: TransferState::Deposited };
                out.push(outcome(self.deposit(transfer_id, account, asset, amount), done));
            }
            Command::WithdrawPending { transfer_id, account, asset, amount } => {
                let done =
                    Output::Transfer { transfer_id, account, asset, amount, state: TransferState::Pending };
                out.push(outcome(self.withdraw_pending(transfer_id, account, asset, amount), done));
            }
            Command::WithdrawPost { transfer_id } => {
                self.withdraw_finish(transfer_id, TransferState::Posted, out)
            }
            Command::WithdrawVoid { transfer_id } => {
                self.withdraw_finish(transfer_id, TransferState::Voided, out)
            }
            Command::SetAccount { account, tier, limits } => {
                out.push(outcome(self.set_account(account, tier, limits), Output::AccountSet { account }));
            }
            Command::KillSwitch { account, on } => self.kill_switch(account, on, out),
        }
    }

    // ------------------------------------------------------------------
    // Orders
    // ------------------------------------------------------------------

    fn new_order(&mut self, mut order: NewOrder, now: Timestamp, out: &mut Vec<Output>) {
        order.order_id = OrderId(self.seq);
        let hold = match self.admit(&mut order) {
            Ok(hold) => hold,
            Err(reason) => return reject(out, &order, RequestKind::New, reason),
        };
        let scale = self.scales[order.instrument.0 as usize];
        let asset = if order.side == Side::Buy { scale.quote } else { scale.base };
        let tier =
            self.config.fee_tiers[self.accounts[order.account.0 as usize].unwrap_or_default().tier as usize];
        self.move_to_held(order.account, asset, hold);
        self.scratch.clear();
        let book = self.books.book_mut(order.instrument).expect("admitted instrument exists");
        if let Err(reason) = book.new_order(&order, now, &mut self.scratch) {
            self.release_held(order.account, asset, hold);
            return reject(out, &order, RequestKind::New, reason);
        }
        let price = if matches!(order.kind, OrderKind::Limit | OrderKind::StopLimit) {
            order.price
        } else {
            Price(0)
        };
        self.orders.insert(
            order.order_id,
            OrderHold {
                account: order.account,
                instrument: order.instrument,
                side: order.side,
                kind: order.kind,
                price,
                leaves: order.qty,
                hold,
                maker_bps: tier.maker_bps,
                taker_bps: tier.taker_bps,
            },
        );
        self.process(out);
    }

    /// Pre-trade risk for a new order; on success returns the amount to
    /// hold (and may set a market buy's budget). Checks run in the order
    /// documented in the crate docs; nothing is changed here.
    fn admit(&self, order: &mut NewOrder) -> Result<i64, Reject> {
        let account = self.account(order.account).copied().ok_or(Reject::UnknownAccount)?;
        if account.kill_switch {
            return Err(Reject::KillSwitchActive);
        }
        let book = self.books.book(order.instrument).ok_or(Reject::UnknownInstrument)?;
        match book.status() {
            venue_domain::TradingStatus::Open => {}
            venue_domain::TradingStatus::Halted => return Err(Reject::InstrumentHalted),
            venue_domain::TradingStatus::Closed => return Err(Reject::InstrumentClosed),
        }
        let spec = book.spec();
        spec.check_qty(order.qty)?;
        let has_limit = matches!(order.kind, OrderKind::Limit | OrderKind::StopLimit);
        if has_limit {
            spec.check_price(order.price)?;
        }
        if order.kind.is_stop() {
            spec.check_price(order.stop_price)?;
        }
        if order.quote_budget < 0 {
            return Err(Reject::InvalidBudget);
        }
        let scale = self.scales[order.instrument.0 as usize];
        let limits = account.limits;
        if limits.max_order_qty > 0 && order.qty.0 > limits.max_order_qty {
            return Err(Reject::MaxOrderQtyExceeded);
        }
        let reference = book.last_price().map_or(0, |p| p.0);
        let notional_price = match order.kind {
            OrderKind::Limit | OrderKind::StopLimit => order.price.0,
            OrderKind::Stop => order.stop_price.0,
            OrderKind::Market => reference,
        };
        let budget_notional = i128::from(order.quote_budget) * i128::from(scale.quote_per_tick_lot);
        if limits.max_notional > 0 {
            let notional = i128::from(scale.notional(notional_price, order.qty.0)).max(budget_notional);
            if notional > i128::from(limits.max_notional) {
                return Err(Reject::MaxNotionalExceeded);
            }
        }
        if has_limit {
            check_band(spec.price_band_bps, limits.price_band_bps, reference, order.price)?;
        }
        if limits.max_open_orders > 0 && account.open_orders >= limits.max_open_orders {
            return Err(Reject::TooManyOpenOrders);
        }
        let tier = self.config.fee_tiers[account.tier as usize];
        let max_bps = tier.maker_bps.max(tier.taker_bps);
        let (asset, hold) = match order.side {
            Side::Sell => (scale.base, scale.base_amount(order.qty.0)),
            Side::Buy => {
                let available = self.balance(order.account, scale.quote).available;
                let budget = match order.kind {
                    OrderKind::Limit | OrderKind::StopLimit => None,
                    OrderKind::Stop if order.quote_budget == 0 => return Err(Reject::BudgetRequired),
                    _ if order.quote_budget > 0 => Some(order.quote_budget),
                    _ => {
                        // A market buy without a budget may spend what the
                        // account has: the largest notional that, with its
                        // fee, fits the available balance.
                        let room =
                            i128::from(available) * i128::from(BPS) / (i128::from(BPS) + i128::from(max_bps));
                        let mut lots_of_ticks = (room / i128::from(scale.quote_per_tick_lot)) as i64;
                        if limits.max_notional > 0 {
                            // This budget is the order's notional: keep it
                            // within the account's limit.
                            lots_of_ticks = lots_of_ticks.min(limits.max_notional / scale.quote_per_tick_lot);
                        }
                        if lots_of_ticks == 0 {
                            return Err(Reject::InsufficientBalance);
                        }
                        order.quote_budget = lots_of_ticks;
                        Some(lots_of_ticks)
                    }
                };
                let notional = match budget {
                    Some(budget) => {
                        let wide = i128::from(budget) * i128::from(scale.quote_per_tick_lot);
                        i64::try_from(wide).map_err(|_| Reject::InsufficientBalance)?
                    }
                    None => scale.notional(order.price.0, order.qty.0),
                };
                (scale.quote, notional.saturating_add(fee(notional, max_bps)))
            }
        };
        if self.balance(order.account, asset).available < hold {
            return Err(Reject::InsufficientBalance);
        }
        Ok(hold)
    }

    fn cancel(&mut self, cancel: &CancelOrder, out: &mut Vec<Output>) {
        self.scratch.clear();
        let result = match self.books.book_mut(cancel.instrument) {
            Some(book) => book.cancel(cancel, &mut self.scratch),
            None => Err(Reject::UnknownInstrument),
        };
        match result {
            Ok(()) => self.process(out),
            Err(reason) => {
                reject_ref(out, cancel.instrument, cancel.target, cancel.account, RequestKind::Cancel, reason)
            }
        }
    }

    fn amend(&mut self, amend: &AmendOrder, out: &mut Vec<Output>) {
        let checked = self.admit_amend(amend);
        if let Err(reason) = checked {
            return reject_ref(
                out,
                amend.instrument,
                amend.target,
                amend.account,
                RequestKind::Amend,
                reason,
            );
        }
        self.scratch.clear();
        let book = self.books.book_mut(amend.instrument).expect("checked instrument exists");
        match book.amend(amend, &mut self.scratch) {
            Ok(()) => self.process(out),
            Err(reason) => {
                reject_ref(out, amend.instrument, amend.target, amend.account, RequestKind::Amend, reason)
            }
        }
    }

    /// Risk for an amend: the new price and size pass the account's limits
    /// and band, and the available balance covers any increase of the hold.
    fn admit_amend(&self, amend: &AmendOrder) -> Result<(), Reject> {
        let book = self.books.book(amend.instrument).ok_or(Reject::UnknownInstrument)?;
        // An amend by order id reads the hold before the book finds the
        // order, not with the id the book's node gives back: the two table
        // reads (and the node's) then miss the cache at the same time
        // instead of one after another. With 100 books they were a third
        // of the engine's time, each waiting for the one before.
        let held_by_id = match amend.target {
            OrderRef::Id(id) => self.orders.get(id).copied(),
            OrderRef::Client(..) => None,
        };
        let live = book.find(amend.target, amend.account)?;
        let held = match held_by_id {
            Some(held) => held,
            None => *self.orders.get(live.order_id).ok_or(Reject::UnknownOrder)?,
        };
        let account = self.account(held.account).copied().ok_or(Reject::UnknownAccount)?;
        if account.kill_switch {
            return Err(Reject::KillSwitchActive);
        }
        let new_qty = amend.new_qty.unwrap_or(live.qty);
        if new_qty.0 <= 0 || amend.new_price.0 <= 0 {
            return Err(if new_qty.0 <= 0 { Reject::QtyNotPositive } else { Reject::PriceOutOfRange });
        }
        book.spec().check_qty(new_qty)?;
        book.spec().check_price(amend.new_price)?;
        let filled = live.qty.0 - live.leaves.0;
        if new_qty.0 <= filled {
            return Err(Reject::AmendQtyTooLow);
        }
        let limits = account.limits;
        if limits.max_order_qty > 0 && new_qty.0 > limits.max_order_qty {
            return Err(Reject::MaxOrderQtyExceeded);
        }
        let scale = self.scales[amend.instrument.0 as usize];
        if limits.max_notional > 0 && scale.notional(amend.new_price.0, new_qty.0) > limits.max_notional {
            return Err(Reject::MaxNotionalExceeded);
        }
        let reference = book.last_price().map_or(0, |p| p.0);
        check_band(book.spec().price_band_bps, limits.price_band_bps, reference, amend.new_price)?;
        let next = OrderHold { price: amend.new_price, leaves: Qty(new_qty.0 - filled), ..held };
        let need = self.required(&next) - held.hold;
        let asset = self.hold_asset(&held);
        if need > 0 && self.balance(held.account, asset).available < need {
            return Err(Reject::InsufficientBalance);
        }
        Ok(())
    }

    /// Runs a book command that needs no pre-trade risk and settles its
    /// events.
    fn book_command(&mut self, command: &BookCommand, now: Timestamp, out: &mut Vec<Output>) {
        self.scratch.clear();
        self.books.apply(command, now, &mut self.scratch);
        self.process(out);
    }

    fn kill_switch(&mut self, account: AccountId, on: bool, out: &mut Vec<Output>) {
        let Some(Some(state)) = self.accounts.get_mut(account.0 as usize) else {
            return out.push(Output::CommandRejected { reason: Reject::UnknownAccount });
        };
        state.kill_switch = on;
        out.push(Output::KillSwitch { account, on });
        if on {
            for at in 0..self.books.len() {
                self.scratch.clear();
                let book = self.books.book_mut(InstrumentId(at as u32)).expect("index in range");
                book.mass_cancel(Some(account), CancelReason::KillSwitch, &mut self.scratch);
                self.process(out);
            }
        }
    }

    // ------------------------------------------------------------------
    // Settlement of book events
    // ------------------------------------------------------------------

    /// Forwards the scratch events to `out`, keeping holds, open-order
    /// counts and balances in step with them.
    fn process(&mut self, out: &mut Vec<Output>) {
        for at in 0..self.scratch.len() {
            let event = self.scratch[at];
            out.push(Output::Book(event));
            match event.kind {
                EventKind::Accepted { account, .. } => {
                    if let Some(Some(state)) = self.accounts.get_mut(account.0 as usize) {
                        state.open_orders += 1;
                    }
                }
                EventKind::Trade { .. } => {
                    let settlement = self.settle(&event);
                    out.push(Output::Settlement(settlement));
                }
                EventKind::Cancelled { order_id, .. } | EventKind::Expired { order_id, .. } => {
                    self.finish(order_id);
                }
                EventKind::Amended { order_id, price, leaves, .. } => {
                    if let Some(&order) = self.orders.get(order_id) {
                        self.store(order_id, OrderHold { price, leaves, ..order });
                    }
                }
                EventKind::Reduced { order_id, leaves, .. } => {
                    if let Some(&order) = self.orders.get(order_id) {
                        self.store(order_id, OrderHold { leaves, ..order });
                    }
                }
                _ => {}
            }
        }
    }

    fn settle(&mut self, event: &Event) -> Settlement {
        let EventKind::Trade {
            trade_id,
            price,
            qty,
            maker_order_id,
            taker_order_id,
            maker_leaves,
            taker_leaves,
            aggressor,
            ..
        } = event.kind
        else {
            unreachable!("settle is called on trades");
        };
        let scale = self.scales[event.instrument.0 as usize];
        let notional = scale.notional(price.0, qty.0);
        let base = scale.base_amount(qty.0);
        // Work on copies and write each order back once: a trade costs two
        // lookups and two stores (or removals) in the order map.
        let mut maker = self.orders[maker_order_id];
        let mut taker = self.orders[taker_order_id];
        let maker_fee = fee(notional, maker.maker_bps);
        let taker_fee = fee(notional, taker.taker_bps);
        maker.leaves = maker_leaves;
        taker.leaves = taker_leaves;
        let (buy, sell, buy_order, sell_order, buyer_fee, seller_fee) = match aggressor {
            Side::Buy => (&mut taker, &mut maker, taker_order_id, maker_order_id, taker_fee, maker_fee),
            Side::Sell => (&mut maker, &mut taker, maker_order_id, taker_order_id, maker_fee, taker_fee),
        };
        let (buyer, seller) = (buy.account, sell.account);
        // Buyer: quote leaves its order's hold, base arrives.
        let paid = notional + buyer_fee;
        buy.hold -= paid;
        self.bal(buyer, scale.quote).held -= paid;
        self.bal(buyer, scale.base).available += base;
        // Seller: base leaves its order's hold, quote less fee arrives.
        sell.hold -= base;
        self.bal(seller, scale.base).held -= base;
        self.bal(seller, scale.quote).available += notional - seller_fee;
        let fee_account = self.config.fee_account;
        self.bal(fee_account, scale.quote).available += buyer_fee + seller_fee;
        debug_assert!(buy.hold >= 0 && sell.hold >= 0, "a hold went negative");

        for (order_id, order) in [(maker_order_id, maker), (taker_order_id, taker)] {
            if order.leaves.0 == 0 {
                self.orders.remove(order_id);
                self.release_ended(&order);
            } else {
                self.store(order_id, order);
            }
        }
        Settlement {
            instrument: event.instrument,
            trade_id,
            buyer,
            seller,
            buy_order,
            sell_order,
            base,
            quote: notional,
            buyer_fee,
            seller_fee,
        }
    }

    fn hold_asset(&self, order: &OrderHold) -> AssetId {
        let scale = &self.scales[order.instrument.0 as usize];
        if order.side == Side::Buy { scale.quote } else { scale.base }
    }

    /// What a live order must hold for its leaves: base for a sell; price ×
    /// leaves plus the larger fee for a limit buy; a market or stop buy
    /// keeps its whole remaining budget until it ends.
    fn required(&self, order: &OrderHold) -> i64 {
        let scale = &self.scales[order.instrument.0 as usize];
        match (order.side, order.kind) {
            (Side::Sell, _) => scale.base_amount(order.leaves.0),
            (Side::Buy, OrderKind::Limit | OrderKind::StopLimit) => {
                let notional = scale.notional(order.price.0, order.leaves.0);
                notional.saturating_add(fee(notional, order.maker_bps.max(order.taker_bps)))
            }
            (Side::Buy, OrderKind::Market | OrderKind::Stop) => order.hold,
        }
    }

    /// Stores a live order's new state with its hold brought to exactly
    /// what it requires: releases the excess (a fill at a better price, a
    /// decrement) or takes an increase (an amend, already checked against
    /// the available balance).
    fn store(&mut self, order_id: OrderId, order: OrderHold) {
        let target = self.required(&order);
        let asset = self.hold_asset(&order);
        let delta = order.hold - target;
        if delta > 0 {
            self.release_held(order.account, asset, delta);
        } else if delta < 0 {
            self.move_to_held(order.account, asset, -delta);
        }
        if let Some(slot) = self.orders.get_mut(order_id) {
            *slot = OrderHold { hold: target, ..order };
        }
    }

    /// An order ended (filled, cancelled, expired): its remaining hold is
    /// released and it stops counting as open.
    fn finish(&mut self, order_id: OrderId) {
        if let Some(order) = self.orders.remove(order_id) {
            self.release_ended(&order);
        }
    }

    fn release_ended(&mut self, order: &OrderHold) {
        let asset = self.hold_asset(order);
        self.release_held(order.account, asset, order.hold);
        if let Some(Some(state)) = self.accounts.get_mut(order.account.0 as usize) {
            state.open_orders -= 1;
        }
    }

    fn move_to_held(&mut self, account: AccountId, asset: AssetId, amount: i64) {
        let balance = self.bal(account, asset);
        balance.available -= amount;
        balance.held += amount;
        debug_assert!(balance.available >= 0, "hold above available for {account:?}");
    }

    fn release_held(&mut self, account: AccountId, asset: AssetId, amount: i64) {
        let balance = self.bal(account, asset);
        balance.held -= amount;
        balance.available += amount;
        debug_assert!(balance.held >= 0, "released more than held for {account:?}");
    }

    // ------------------------------------------------------------------
    // Accounts and transfers
    // ------------------------------------------------------------------

    fn set_account(&mut self, account: AccountId, tier: u16, limits: AccountLimits) -> Result<(), Reject> {
        if account.0 >= self.config.max_accounts {
            return Err(Reject::TooManyAccounts);
        }
        if tier as usize >= self.config.fee_tiers.len() {
            return Err(Reject::UnknownFeeTier);
        }
        if limits.max_order_qty < 0 || limits.max_notional < 0 {
            return Err(Reject::InvalidAmount);
        }
        self.ensure_account(account);
        let slot = &mut self.accounts[account.0 as usize];
        let previous = slot.unwrap_or_default();
        *slot = Some(Account { tier, limits, ..previous });
        Ok(())
    }

    fn check_transfer(
        &self,
        transfer_id: u64,
        account: AccountId,
        asset: AssetId,
        amount: i64,
    ) -> Result<(), Reject> {
        self.account(account).ok_or(Reject::UnknownAccount)?;
        if asset.0 as usize >= self.config.assets.len() {
            return Err(Reject::UnknownAsset);
        }
        if amount <= 0 {
            return Err(Reject::InvalidAmount);
        }
        if self.transfers.contains_key(&transfer_id) {
            return Err(Reject::DuplicateTransfer);
        }
        Ok(())
    }

    fn deposit(
        &mut self,
        transfer_id: u64,
        account: AccountId,
        asset: AssetId,
        amount: i64,
    ) -> Result<(), Reject> {
        self.check_transfer(transfer_id, account, asset, amount)?;
        // Every balance is at most the asset's supply, so bounding the
        // supply bounds every later movement too.
        let supply = self.supply[asset.0 as usize].checked_add(amount).ok_or(Reject::BalanceOverflow)?;
        self.supply[asset.0 as usize] = supply;
        self.bal(account, asset).available += amount;
        self.transfers
            .insert(transfer_id, Transfer { account, asset, amount, state: TransferState::Deposited });
        Ok(())
    }

    fn withdraw_pending(
        &mut self,
        transfer_id: u64,
        account: AccountId,
        asset: AssetId,
        amount: i64,
    ) -> Result<(), Reject> {
        self.check_transfer(transfer_id, account, asset, amount)?;
        if self.balance(account, asset).available < amount {
            return Err(Reject::InsufficientBalance);
        }
        self.move_to_held(account, asset, amount);
        self.transfers
            .insert(transfer_id, Transfer { account, asset, amount, state: TransferState::Pending });
        Ok(())
    }

    fn withdraw_finish(&mut self, transfer_id: u64, state: TransferState, out: &mut Vec<Output>) {
        let transfer = match self.transfers.get(&transfer_id) {
            None => return out.push(Output::CommandRejected { reason: Reject::UnknownTransfer }),
            Some(t) if t.state != TransferState::Pending => {
                return out.push(Output::CommandRejected { reason: Reject::TransferNotPending });
            }
            Some(&t) => t,
        };
        let Transfer { account, asset, amount, .. } = transfer;
        if state == TransferState::Posted {
            self.bal(account, asset).held -= amount;
            self.supply[asset.0 as usize] -= amount;
        } else {
            self.release_held(account, asset, amount);
        }
        self.transfers.insert(transfer_id, Transfer { state, ..transfer });
        out.push(Output::Transfer { transfer_id, account, asset, amount, state });
    }

    // ------------------------------------------------------------------
    // Invariants
    // ------------------------------------------------------------------

    /// Checks the ledger: per asset, the sum of all balances equals deposits
    /// minus posted withdrawals; no balance part is negative; every held
    /// amount equals the holds of its orders and pending withdrawals; every
    /// order holds exactly what its leaves require; every open-order count
    /// is right and risk and books agree on live orders.
    /// O(accounts × assets + orders): tests run it after every command, an
    /// operator on demand (on a snapshot copy, off the engine thread).
    pub fn check_ledger(&self) -> Result<(), LedgerError> {
        let assets = self.config.assets.len();
        let mut sums = vec![0i128; assets];
        // Wide sums: a damaged snapshot's holds must be reported, not overflow.
        let mut holds = vec![0i128; self.balances.len()];
        let mut open = vec![0u32; self.accounts.len()];
        for (order_id, order) in self.orders.iter() {
            let asset = self.hold_asset(order);
            holds[order.account.0 as usize * assets + asset.0 as usize] += i128::from(order.hold);
            open[order.account.0 as usize] += 1;
            let live = self.books.book(order.instrument).and_then(|b| b.order(order_id));
            let agrees = |o: venue_matching::BookOrder| {
                o.leaves == order.leaves && o.account == order.account && o.side == order.side
            };
            if !live.is_some_and(agrees) {
                return Err(LedgerError::OrphanOrder { order_id });
            }
            if order.hold < 0 || self.required(order) != order.hold {
                return Err(LedgerError::OrderHold { order_id, hold: order.hold });
            }
        }
        for transfer in self.transfers.values() {
            if transfer.state == TransferState::Pending {
                holds[transfer.account.0 as usize * assets + transfer.asset.0 as usize] +=
                    i128::from(transfer.amount);
            }
        }
        for (at, balance) in self.balances.iter().enumerate() {
            let (account, asset) = (AccountId((at / assets) as u32), AssetId((at % assets) as u32));
            if balance.available < 0 || balance.held < 0 {
                return Err(LedgerError::Negative { account, asset });
            }
            if i128::from(balance.held) != holds[at] {
                return Err(LedgerError::HeldMismatch {
                    account,
                    asset,
                    held: balance.held,
                    holds: i64::try_from(holds[at]).unwrap_or(i64::MAX),
                });
            }
            sums[at % assets] += i128::from(balance.available) + i128::from(balance.held);
        }
        for (at, sum) in sums.into_iter().enumerate() {
            if sum != i128::from(self.supply[at]) {
                return Err(LedgerError::SupplyMismatch {
                    asset: AssetId(at as u32),
                    balances: sum,
                    supply: i128::from(self.supply[at]),
                });
            }
        }
        for (at, account) in self.accounts.iter().enumerate() {
            let count = account.map_or(0, |a| a.open_orders);
            if count != open[at] {
                return Err(LedgerError::OpenOrders { account: AccountId(at as u32) });
            }
        }
        let live: usize = self.books.iter().map(|b| b.len()).sum();
        if live != self.orders.len() {
            return Err(LedgerError::OrphanOrder { order_id: OrderId(0) });
        }
        Ok(())
    }

    pub(crate) fn from_parts(config: EngineConfig) -> Result<Engine, ConfigError> {
        let mut engine = Engine::new(config)?;
        engine.accounts.clear();
        engine.balances.clear();
        Ok(engine)
    }

    pub(crate) fn set_books(&mut self, books: Books) {
        self.books = books;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The narrow fast paths of `fee` and `Scale::notional` must give what
    /// the wide formula gives, including where a product leaves `i64`.
    #[test]
    fn fee_and_notional_agree_with_wide_arithmetic_at_every_edge() {
        let edges = [
            0,
            1,
            2,
            9_999,
            10_000,
            10_001,
            1 << 31,
            i64::MAX / 65_535,
            i64::MAX / 2,
            i64::MAX - 1,
            i64::MAX,
        ];
        for &notional in &edges {
            for bps in [0u16, 1, 7, 25, 9_999, 10_000, u16::MAX] {
                let wide = i64::try_from(i128::from(notional) * i128::from(bps) / i128::from(BPS))
                    .unwrap_or(i64::MAX);
                assert_eq!(fee(notional, bps), wide, "fee({notional}, {bps})");
            }
        }
        for &quote_per_tick_lot in &[1, 10, 1_000_000, i64::MAX] {
            let scale = Scale { base: AssetId(0), quote: AssetId(1), quote_per_tick_lot, base_per_lot: 1 };
            for &price in &edges {
                for &qty in &edges {
                    let wide =
                        (i128::from(price) * i128::from(qty)).checked_mul(i128::from(quote_per_tick_lot));
                    let expected = wide.and_then(|wide| i64::try_from(wide).ok()).unwrap_or(i64::MAX);
                    assert_eq!(
                        scale.notional(price, qty),
                        expected,
                        "notional({price}, {qty}, {quote_per_tick_lot})"
                    );
                }
            }
        }
    }
}
