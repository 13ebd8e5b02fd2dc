//! The engine's whole state as plain data: what a snapshot stores and what
//! the state hash is computed over.
//!
//! Everything is listed in a canonical order (instruments by id, accounts by
//! id, orders in book priority, risk records and transfers by id), never in
//! hash-map order, so two engines in the same logical state encode to the
//! same bytes and hash equal, however they got there (live, replayed, or
//! restored from a snapshot and replayed).
//!
//! Snapshot encoding (version 1), little-endian: magic `b"VENUESNP"`, version
//! u32, configuration fingerprint (32 bytes), seq u64, time u64, then the
//! sections below, each a u32 count followed by its items.

use crate::codec::{
    DecodeError, Reader, Writer, kind_of, kind_tag, side_of, side_tag, status_of, status_tag, stp_of,
    stp_tag, tif_of, tif_tag, transfer_of, transfer_tag,
};
use crate::command::AccountLimits;
use crate::config::{AssetId, ConfigError, EngineConfig};
use crate::engine::{Account, Balance, Engine, OrderHold, Transfer};
use sha2::{Digest, Sha256};
use venue_domain::{AccountId, ClientOrderId, InstrumentId, OrderId, Price, Qty, Timestamp};
use venue_matching::{BookState, Books, OrderState};

const MAGIC: &[u8; 8] = b"VENUESNP";
const VERSION: u32 = 1;

/// The engine's state as data. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineState {
    /// Fingerprint of the configuration it was taken under.
    pub fingerprint: [u8; 32],
    /// Last applied sequence number.
    pub seq: u64,
    /// Time of the last applied command.
    pub time: Timestamp,
    /// Every book, by instrument id.
    pub books: Vec<BookState>,
    /// Existing accounts, by id.
    pub accounts: Vec<(AccountId, Account)>,
    /// Non-zero balances, by (account, asset).
    pub balances: Vec<(AccountId, AssetId, Balance)>,
    /// Risk records of live orders, by order id.
    pub orders: Vec<(OrderId, OrderHold)>,
    /// Every transfer ever made, by id.
    pub transfers: Vec<(u64, Transfer)>,
    /// Per asset: deposits minus posted withdrawals.
    pub supply: Vec<i64>,
}

/// Why a snapshot cannot become an engine.
#[derive(Debug)]
pub enum RestoreError {
    /// The bytes are not a valid snapshot.
    Decode(DecodeError),
    /// The configuration itself is unusable.
    Config(ConfigError),
    /// The snapshot's content contradicts the configuration or itself.
    Inconsistent(String),
}

impl core::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RestoreError::Decode(e) => write!(f, "snapshot encoding: {e}"),
            RestoreError::Config(e) => write!(f, "configuration: {e}"),
            RestoreError::Inconsistent(why) => write!(f, "snapshot inconsistent: {why}"),
        }
    }
}

impl std::error::Error for RestoreError {}

impl From<DecodeError> for RestoreError {
    fn from(e: DecodeError) -> Self {
        RestoreError::Decode(e)
    }
}

impl Engine {
    /// The state as data. O(state); the pipeline calls it on a clone taken
    /// on the engine thread (the pause), and encodes off the thread.
    pub fn export(&self) -> EngineState {
        let assets = self.config.assets.len();
        let mut orders: Vec<(OrderId, OrderHold)> = self.orders.iter().map(|(id, o)| (id, *o)).collect();
        orders.sort_unstable_by_key(|(id, _)| *id);
        let mut transfers: Vec<(u64, Transfer)> = self.transfers.iter().map(|(id, t)| (*id, *t)).collect();
        transfers.sort_unstable_by_key(|(id, _)| *id);
        EngineState {
            fingerprint: self.config.fingerprint(),
            seq: self.seq,
            time: self.time,
            books: self.books.export(),
            accounts: (self.accounts.iter().enumerate())
                .filter_map(|(at, a)| a.map(|a| (AccountId(at as u32), a)))
                .collect(),
            balances: (self.balances.iter().enumerate())
                .filter(|(_, b)| **b != Balance::default())
                .map(|(at, b)| (AccountId((at / assets) as u32), AssetId((at % assets) as u32), *b))
                .collect(),
            orders,
            transfers,
            supply: self.supply.clone(),
        }
    }

    /// Rebuilds an engine from a state taken under the same configuration.
    pub fn restore(config: EngineConfig, state: &EngineState) -> Result<Engine, RestoreError> {
        if state.fingerprint != config.fingerprint() {
            return Err(RestoreError::Decode(DecodeError::ConfigMismatch));
        }
        let bad = |why: &str| RestoreError::Inconsistent(why.to_owned());
        let mut engine = Engine::from_parts(config).map_err(RestoreError::Config)?;
        let books = Books::import(engine.config.instruments.clone(), engine.config.book, &state.books)
            .map_err(|e| RestoreError::Inconsistent(format!("{e:?}")))?;
        engine.set_books(books);
        engine.seq = state.seq;
        engine.time = state.time;
        for &(id, account) in &state.accounts {
            if id.0 >= engine.config.max_accounts || account.tier as usize >= engine.config.fee_tiers.len() {
                return Err(bad("account out of range"));
            }
            engine.ensure_account(id);
            engine.accounts[id.0 as usize] = Some(account);
        }
        let assets = engine.config.assets.len();
        for &(account, asset, balance) in &state.balances {
            let at = account.0 as usize * assets + asset.0 as usize;
            if asset.0 as usize >= assets || at >= engine.balances.len() {
                return Err(bad("balance of an unknown account or asset"));
            }
            engine.balances[at] = balance;
        }
        for &(id, order) in &state.orders {
            if id == venue_matching::OrderTable::<OrderHold>::EMPTY {
                return Err(bad("order id out of range"));
            }
            if order.instrument.0 as usize >= engine.scales.len() {
                return Err(bad("order on an unknown instrument"));
            }
            if engine.account(order.account).is_none() {
                return Err(bad("order of an unknown account"));
            }
            engine.orders.insert(id, order);
        }
        for &(id, transfer) in &state.transfers {
            if engine.account(transfer.account).is_none() || transfer.asset.0 as usize >= assets {
                return Err(bad("transfer of an unknown account or asset"));
            }
            engine.transfers.insert(id, transfer);
        }
        if state.supply.len() != assets {
            return Err(bad("supply per asset"));
        }
        engine.supply.clone_from(&state.supply);
        engine.check_ledger().map_err(|e| RestoreError::Inconsistent(e.to_string()))?;
        Ok(engine)
    }

    /// SHA-256 of the state but for its sequence number and time (see
    /// [`EngineState::hash`]): equal hashes mean equal states. Used to prove
    /// that live, replayed and restored engines agree.
    pub fn state_hash(&self) -> [u8; 32] {
        self.export().hash()
    }
}

fn put_order(w: &mut Writer<'_>, o: &OrderState) {
    w.u64(o.order_id.0);
    w.u64(o.client_order_id.0);
    w.u32(o.account.0);
    w.u64(o.stp_key);
    w.u8(side_tag(o.side));
    w.u8(kind_tag(o.kind));
    w.u8(tif_tag(o.tif));
    w.u8(stp_tag(o.stp));
    w.bool(o.post_only);
    for v in [o.price.0, o.stop_price.0, o.qty.0, o.leaves.0, o.shown.0, o.display.0, o.budget] {
        w.i64(v);
    }
    w.u64(o.expire_time.0);
}

fn get_order(r: &mut Reader<'_>) -> Result<OrderState, DecodeError> {
    Ok(OrderState {
        order_id: OrderId(r.u64()?),
        client_order_id: ClientOrderId(r.u64()?),
        account: AccountId(r.u32()?),
        stp_key: r.u64()?,
        side: side_of(r.u8()?)?,
        kind: kind_of(r.u8()?)?,
        tif: tif_of(r.u8()?)?,
        stp: stp_of(r.u8()?)?,
        post_only: r.bool()?,
        price: Price(r.i64()?),
        stop_price: Price(r.i64()?),
        qty: Qty(r.i64()?),
        leaves: Qty(r.i64()?),
        shown: Qty(r.i64()?),
        display: Qty(r.i64()?),
        budget: r.i64()?,
        expire_time: Timestamp(r.u64()?),
    })
}

/// Reads a section count, refusing counts the remaining bytes cannot hold
/// (so a damaged count cannot make us reserve gigabytes).
fn count(r: &mut Reader<'_>, min_item: usize) -> Result<usize, DecodeError> {
    let n = r.u32()? as usize;
    if n.saturating_mul(min_item) > r.remaining() {
        return Err(DecodeError::Truncated);
    }
    Ok(n)
}

fn list<T>(
    r: &mut Reader<'_>,
    min_item: usize,
    mut item: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let n = count(r, min_item)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(item(r)?);
    }
    Ok(out)
}

impl EngineState {
    /// Appends the versioned encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        let w = &mut Writer(out);
        w.u32(VERSION);
        w.0.extend_from_slice(&self.fingerprint);
        w.u64(self.seq);
        w.u64(self.time.0);
        self.encode_body(out);
    }

    /// Everything but the header: the business state.
    fn encode_body(&self, out: &mut Vec<u8>) {
        let w = &mut Writer(out);
        w.u32(self.books.len() as u32);
        for book in &self.books {
            w.u8(status_tag(book.status));
            w.i64(book.last_price.0);
            w.u64(book.next_trade_id);
            for orders in [&book.bids, &book.asks, &book.buy_stops, &book.sell_stops] {
                w.u32(orders.len() as u32);
                for o in orders {
                    put_order(w, o);
                }
            }
        }
        w.u32(self.accounts.len() as u32);
        for (id, a) in &self.accounts {
            w.u32(id.0);
            w.u16(a.tier);
            w.i64(a.limits.max_order_qty);
            w.i64(a.limits.max_notional);
            w.u32(a.limits.max_open_orders);
            w.u32(a.limits.price_band_bps);
            w.bool(a.kill_switch);
            w.u32(a.open_orders);
        }
        w.u32(self.balances.len() as u32);
        for (account, asset, b) in &self.balances {
            w.u32(account.0);
            w.u32(asset.0);
            w.i64(b.available);
            w.i64(b.held);
        }
        w.u32(self.orders.len() as u32);
        for (id, o) in &self.orders {
            w.u64(id.0);
            w.u32(o.account.0);
            w.u32(o.instrument.0);
            w.u8(side_tag(o.side));
            w.u8(kind_tag(o.kind));
            w.i64(o.price.0);
            w.i64(o.leaves.0);
            w.i64(o.hold);
            w.u16(o.maker_bps);
            w.u16(o.taker_bps);
        }
        w.u32(self.transfers.len() as u32);
        for (id, t) in &self.transfers {
            w.u64(*id);
            w.u32(t.account.0);
            w.u32(t.asset.0);
            w.i64(t.amount);
            w.u8(transfer_tag(t.state));
        }
        w.u32(self.supply.len() as u32);
        for s in &self.supply {
            w.i64(*s);
        }
    }

    /// Decodes bytes written by [`encode`](Self::encode).
    pub fn decode(bytes: &[u8]) -> Result<EngineState, DecodeError> {
        let r = &mut Reader::new(bytes);
        if r.bytes(8)? != MAGIC {
            return Err(DecodeError::BadTag("snapshot magic"));
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(r.bytes(32)?);
        let seq = r.u64()?;
        let time = Timestamp(r.u64()?);
        let books = list(r, 17 + 16, |r| {
            let status = status_of(r.u8()?)?;
            let last_price = Price(r.i64()?);
            let next_trade_id = r.u64()?;
            let mut sides: [Vec<OrderState>; 4] = Default::default();
            for side in &mut sides {
                *side = list(r, 97, get_order)?;
            }
            let [bids, asks, buy_stops, sell_stops] = sides;
            Ok(BookState { status, last_price, next_trade_id, bids, asks, buy_stops, sell_stops })
        })?;
        let accounts = list(r, 35, |r| {
            let id = AccountId(r.u32()?);
            let tier = r.u16()?;
            let limits = AccountLimits {
                max_order_qty: r.i64()?,
                max_notional: r.i64()?,
                max_open_orders: r.u32()?,
                price_band_bps: r.u32()?,
            };
            Ok((id, Account { tier, limits, kill_switch: r.bool()?, open_orders: r.u32()? }))
        })?;
        let balances = list(r, 24, |r| {
            Ok((AccountId(r.u32()?), AssetId(r.u32()?), Balance { available: r.i64()?, held: r.i64()? }))
        })?;
        let orders = list(r, 46, |r| {
            let id = OrderId(r.u64()?);
            Ok((
                id,
                OrderHold {
                    account: AccountId(r.u32()?),
                    instrument: InstrumentId(r.u32()?),
                    side: side_of(r.u8()?)?,
                    kind: kind_of(r.u8()?)?,
                    price: Price(r.i64()?),
                    leaves: Qty(r.i64()?),
                    hold: r.i64()?,
                    maker_bps: r.u16()?,
                    taker_bps: r.u16()?,
                },
            ))
        })?;
        let transfers = list(r, 25, |r| {
            let id = r.u64()?;
            Ok((
                id,
                Transfer {
                    account: AccountId(r.u32()?),
                    asset: AssetId(r.u32()?),
                    amount: r.i64()?,
                    state: transfer_of(r.u8()?)?,
                },
            ))
        })?;
        let supply = list(r, 8, |r| r.i64())?;
        r.finish()?;
        Ok(EngineState { fingerprint, seq, time, books, accounts, balances, orders, transfers, supply })
    }

    /// SHA-256 of the configuration fingerprint and the business state,
    /// leaving out the sequence number and time: a refused command advances
    /// those but must leave the hash unchanged. Compare `seq` separately
    /// where it matters.
    pub fn hash(&self) -> [u8; 32] {
        let mut bytes = self.fingerprint.to_vec();
        self.encode_body(&mut bytes);
        Sha256::digest(&bytes).into()
    }
}
