//! Binary encoding of commands (journal payloads) and of the engine state
//! (snapshots, state hash).
//!
//! Hand-written, little-endian, fixed-width integers, no padding: the layout
//! is the documentation and needs no schema compiler. Every enum has an
//! explicit one-byte tag that is never reused. Decoding checks every tag and
//! length and returns a [`DecodeError`] rather than trusting the bytes.
//!
//! Command payloads (journal record `kind` = [`Command`] tag, payload as
//! below; `opt` = 1 byte presence then the value):
//!
//! | tag | command | payload |
//! |---|---|---|
//! | 1 | NewOrder | instrument u32, client_order_id u64, account u32, stp_group u32, side u8, kind u8, tif u8, stp u8, post_only u8, price i64, stop_price i64, qty i64, display_qty i64, expire_time u64, quote_budget i64 |
//! | 2 | Cancel | instrument u32, target, opt account u32 |
//! | 3 | Amend | instrument u32, target, opt account u32, new_price i64, opt new_qty i64, new_client_order_id u64 |
//! | 4 | MassCancel | opt instrument u32, opt account u32 |
//! | 5 | SetStatus | instrument u32, status u8 |
//! | 6 | Deposit | transfer_id u64, account u32, asset u32, amount i64 |
//! | 7 | WithdrawPending | as Deposit |
//! | 8 | WithdrawPost | transfer_id u64 |
//! | 9 | WithdrawVoid | transfer_id u64 |
//! | 10 | SetAccount | account u32, tier u16, max_order_qty i64, max_notional i64, max_open_orders u32, price_band_bps u32 |
//! | 11 | KillSwitch | account u32, on u8 |
//! | 12 | Tick | — |
//! | 13 | EndOfSession | — |
//!
//! `target` is tag 0 + order id u64, or tag 1 + account u32 + client id u64.
//! The order id of a new order is not stored: it is the record's sequence
//! number.

use crate::command::{AccountLimits, Command, TransferState};
use crate::config::AssetId;
use venue_domain::{
    AccountId, ClientOrderId, InstrumentId, OrderId, OrderKind, Price, Qty, Side, StpGroup, StpMode,
    TimeInForce, Timestamp, TradingStatus,
};
use venue_matching::{AmendOrder, CancelOrder, NewOrder, OrderRef};

/// Why bytes are not a valid command or state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end before the value does.
    Truncated,
    /// Bytes remain after the value.
    TrailingBytes,
    /// An enum tag (named) has no meaning.
    BadTag(&'static str),
    /// A snapshot of another format version.
    Version(u32),
    /// A snapshot made under another configuration.
    ConfigMismatch,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated"),
            DecodeError::TrailingBytes => f.write_str("trailing bytes"),
            DecodeError::BadTag(what) => write!(f, "invalid {what} tag"),
            DecodeError::Version(v) => write!(f, "unsupported format version {v}"),
            DecodeError::ConfigMismatch => f.write_str("made under a different configuration"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Appends little-endian values to a byte vector.
pub(crate) struct Writer<'a>(pub(crate) &'a mut Vec<u8>);

impl Writer<'_> {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.u32(v);
            }
            None => self.u8(0),
        }
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.i64(v);
            }
            None => self.u8(0),
        }
    }
}

/// Reads little-endian values, failing on truncation.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, tail) = self.bytes.split_first_chunk::<N>().ok_or(DecodeError::Truncated)?;
        self.bytes = tail;
        Ok(*head)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    pub(crate) fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::BadTag("bool")),
        }
    }
    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < len {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.bytes.split_at(len);
        self.bytes = tail;
        Ok(head)
    }
    fn opt_u32(&mut self) -> Result<Option<u32>, DecodeError> {
        Ok(if self.bool()? { Some(self.u32()?) } else { None })
    }
    fn opt_i64(&mut self) -> Result<Option<i64>, DecodeError> {
        Ok(if self.bool()? { Some(self.i64()?) } else { None })
    }
    /// Bytes not read yet (for a length check at the end).
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.bytes.is_empty() { Ok(()) } else { Err(DecodeError::TrailingBytes) }
    }
}

macro_rules! tags {
    ($enc:ident, $dec:ident, $ty:ty, $name:literal, { $($variant:path = $tag:literal),+ $(,)? }) => {
        pub(crate) fn $enc(v: $ty) -> u8 {
            match v { $($variant => $tag),+ }
        }
        pub(crate) fn $dec(v: u8) -> Result<$ty, DecodeError> {
            match v { $($tag => Ok($variant),)+ _ => Err(DecodeError::BadTag($name)) }
        }
    };
}

tags!(side_tag, side_of, Side, "side", { Side::Buy = 1, Side::Sell = 2 });
tags!(kind_tag, kind_of, OrderKind, "order kind", {
    OrderKind::Limit = 1, OrderKind::Market = 2, OrderKind::Stop = 3, OrderKind::StopLimit = 4,
});
tags!(tif_tag, tif_of, TimeInForce, "time in force", {
    TimeInForce::Gtc = 1, TimeInForce::Ioc = 2, TimeInForce::Fok = 3, TimeInForce::Gtd = 4, TimeInForce::Day = 5,
});
tags!(stp_tag, stp_of, StpMode, "stp mode", {
    StpMode::Allow = 1, StpMode::CancelResting = 2, StpMode::CancelIncoming = 3, StpMode::CancelBoth = 4,
    StpMode::DecrementAndCancel = 5,
});
tags!(status_tag, status_of, TradingStatus, "trading status", {
    TradingStatus::Open = 1, TradingStatus::Halted = 2, TradingStatus::Closed = 3,
});
tags!(transfer_tag, transfer_of, TransferState, "transfer state", {
    TransferState::Deposited = 1, TransferState::Pending = 2, TransferState::Posted = 3, TransferState::Voided = 4,
});

fn put_target(w: &mut Writer<'_>, target: OrderRef) {
    match target {
        OrderRef::Id(id) => {
            w.u8(0);
            w.u64(id.0);
        }
        OrderRef::Client(account, client) => {
            w.u8(1);
            w.u32(account.0);
            w.u64(client.0);
        }
    }
}

fn get_target(r: &mut Reader<'_>) -> Result<OrderRef, DecodeError> {
    match r.u8()? {
        0 => Ok(OrderRef::Id(OrderId(r.u64()?))),
        1 => Ok(OrderRef::Client(AccountId(r.u32()?), ClientOrderId(r.u64()?))),
        _ => Err(DecodeError::BadTag("order ref")),
    }
}

impl Command {
    /// The command's tag: the journal record kind.
    pub fn tag(&self) -> u16 {
        match self {
            Command::NewOrder(_) => 1,
            Command::Cancel(_) => 2,
            Command::Amend(_) => 3,
            Command::MassCancel { .. } => 4,
            Command::SetStatus { .. } => 5,
            Command::Deposit { .. } => 6,
            Command::WithdrawPending { .. } => 7,
            Command::WithdrawPost { .. } => 8,
            Command::WithdrawVoid { .. } => 9,
            Command::SetAccount { .. } => 10,
            Command::KillSwitch { .. } => 11,
            Command::Tick => 12,
            Command::EndOfSession => 13,
        }
    }

    /// Appends the payload (see the module table) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let w = &mut Writer(out);
        match *self {
            Command::NewOrder(o) => {
                w.u32(o.instrument.0);
                w.u64(o.client_order_id.0);
                w.u32(o.account.0);
                w.u32(o.stp_group.0);
                w.u8(side_tag(o.side));
                w.u8(kind_tag(o.kind));
                w.u8(tif_tag(o.tif));
                w.u8(stp_tag(o.stp));
                w.bool(o.post_only);
                w.i64(o.price.0);
                w.i64(o.stop_price.0);
                w.i64(o.qty.0);
                w.i64(o.display_qty.0);
                w.u64(o.expire_time.0);
                w.i64(o.quote_budget);
            }
            Command::Cancel(c) => {
                w.u32(c.instrument.0);
                put_target(w, c.target);
                w.opt_u32(c.account.map(|a| a.0));
            }
            Command::Amend(a) => {
                w.u32(a.instrument.0);
                put_target(w, a.target);
                w.opt_u32(a.account.map(|a| a.0));
                w.i64(a.new_price.0);
                w.opt_i64(a.new_qty.map(|q| q.0));
                w.u64(a.new_client_order_id.0);
            }
            Command::MassCancel { instrument, account } => {
                w.opt_u32(instrument.map(|i| i.0));
                w.opt_u32(account.map(|a| a.0));
            }
            Command::SetStatus { instrument, status } => {
                w.u32(instrument.0);
                w.u8(status_tag(status));
            }
            Command::Deposit { transfer_id, account, asset, amount }
            | Command::WithdrawPending { transfer_id, account, asset, amount } => {
                w.u64(transfer_id);
                w.u32(account.0);
                w.u32(asset.0);
                w.i64(amount);
            }
            Command::WithdrawPost { transfer_id } | Command::WithdrawVoid { transfer_id } => {
                w.u64(transfer_id)
            }
            Command::SetAccount { account, tier, limits } => {
                w.u32(account.0);
                w.u16(tier);
                w.i64(limits.max_order_qty);
                w.i64(limits.max_notional);
                w.u32(limits.max_open_orders);
                w.u32(limits.price_band_bps);
            }
            Command::KillSwitch { account, on } => {
                w.u32(account.0);
                w.bool(on);
            }
            Command::Tick | Command::EndOfSession => {}
        }
    }

    /// Decodes a payload written by [`encode`](Self::encode) under `tag`.
    /// A new order's id is `seq`.
    pub fn decode(tag: u16, seq: u64, payload: &[u8]) -> Result<Command, DecodeError> {
        let r = &mut Reader::new(payload);
        let command = match tag {
            1 => Command::NewOrder(NewOrder {
                order_id: OrderId(seq),
                instrument: InstrumentId(r.u32()?),
                client_order_id: ClientOrderId(r.u64()?),
                account: AccountId(r.u32()?),
                stp_group: StpGroup(r.u32()?),
                side: side_of(r.u8()?)?,
                kind: kind_of(r.u8()?)?,
                tif: tif_of(r.u8()?)?,
                stp: stp_of(r.u8()?)?,
                post_only: r.bool()?,
                price: Price(r.i64()?),
                stop_price: Price(r.i64()?),
                qty: Qty(r.i64()?),
                display_qty: Qty(r.i64()?),
                expire_time: Timestamp(r.u64()?),
                quote_budget: r.i64()?,
            }),
            2 => Command::Cancel(CancelOrder {
                instrument: InstrumentId(r.u32()?),
                target: get_target(r)?,
                account: r.opt_u32()?.map(AccountId),
            }),
            3 => Command::Amend(AmendOrder {
                instrument: InstrumentId(r.u32()?),
                target: get_target(r)?,
                account: r.opt_u32()?.map(AccountId),
                new_price: Price(r.i64()?),
                new_qty: r.opt_i64()?.map(Qty),
                new_client_order_id: ClientOrderId(r.u64()?),
            }),
            4 => Command::MassCancel {
                instrument: r.opt_u32()?.map(InstrumentId),
                account: r.opt_u32()?.map(AccountId),
            },
            5 => Command::SetStatus { instrument: InstrumentId(r.u32()?), status: status_of(r.u8()?)? },
            6 | 7 => {
                let (transfer_id, account, asset, amount) =
                    (r.u64()?, AccountId(r.u32()?), AssetId(r.u32()?), r.i64()?);
                if tag == 6 {
                    Command::Deposit { transfer_id, account, asset, amount }
                } else {
                    Command::WithdrawPending { transfer_id, account, asset, amount }
                }
            }
            8 => Command::WithdrawPost { transfer_id: r.u64()? },
            9 => Command::WithdrawVoid { transfer_id: r.u64()? },
            10 => Command::SetAccount {
                account: AccountId(r.u32()?),
                tier: r.u16()?,
                limits: AccountLimits {
                    max_order_qty: r.i64()?,
                    max_notional: r.i64()?,
                    max_open_orders: r.u32()?,
                    price_band_bps: r.u32()?,
                },
            },
            11 => Command::KillSwitch { account: AccountId(r.u32()?), on: r.bool()? },
            12 => Command::Tick,
            13 => Command::EndOfSession,
            _ => return Err(DecodeError::BadTag("command")),
        };
        r.finish()?;
        Ok(command)
    }
}
