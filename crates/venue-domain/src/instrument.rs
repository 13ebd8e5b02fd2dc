//! Instruments and the fixed-point grid their prices and quantities live on.
//!
//! A [`Price`] counts ticks and a [`Qty`] counts lots of one instrument. The
//! instrument says what a tick and a lot are worth in decimal terms:
//! `tick_size` is an integer number of `10^-price_decimals` units, `lot_size`
//! an integer number of `10^-qty_decimals` units. BTC-USDT with
//! `price_decimals = 2, tick_size = 1` has a tick of 0.01 USDT; 27123.50 is
//! `Price(2_712_350)`. Keeping both as plain `i64` lets the matching engine
//! compare and add them in one instruction each, and keeps floating point out
//! of everything that decides a fill (design rule 2).

use crate::{InstrumentId, Reject, format_scaled, parse_scaled, write_scaled};

/// A price in ticks of its instrument. Ordered like the price it stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(pub i64);

/// A quantity in lots of its instrument. Order quantities are positive; the
/// type is signed so that a negative value arriving from an edge can be seen
/// and refused instead of wrapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Qty(pub i64);

impl Qty {
    /// No quantity: the value of a filled order's leaves.
    pub const ZERO: Qty = Qty(0);
}

/// Whether an instrument accepts orders. Cancels are accepted in every state,
/// so that a trader can always take risk off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TradingStatus {
    /// Continuous trading: every command is accepted.
    #[default]
    Open,
    /// Trading paused (by an operator or a circuit breaker): new orders and
    /// amends are refused, cancels are accepted, resting orders stay.
    Halted,
    /// Outside the trading session: as halted, and expected to be empty of
    /// day orders after the end-of-session command.
    Closed,
}

impl TradingStatus {
    /// Its stable snake_case name in records (the audit log, the
    /// post-trade database): part of their format, so never renamed.
    pub const fn name(self) -> &'static str {
        match self {
            TradingStatus::Open => "open",
            TradingStatus::Halted => "halted",
            TradingStatus::Closed => "closed",
        }
    }
}

/// Static description of an instrument: what it trades and on which grid.
///
/// Quantities in lots and prices in ticks are bounded by `min_qty..=max_qty`
/// and `min_price..=max_price`; these bounds also keep `price * qty` within
/// `i64`/`i128` arithmetic everywhere downstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentSpec {
    /// Dense index of the instrument; its book lives at this index.
    pub id: InstrumentId,
    /// Symbol as clients name it, e.g. `BTC-USDT`.
    pub symbol: String,
    /// The asset bought and sold (BTC in BTC-USDT).
    pub base_asset: String,
    /// The asset prices are quoted in (USDT in BTC-USDT).
    pub quote_asset: String,
    /// Decimal places of the price unit; the tick is `tick_size` such units.
    pub price_decimals: u8,
    /// Size of one tick in `10^-price_decimals` units.
    pub tick_size: i64,
    /// Decimal places of the quantity unit; the lot is `lot_size` such units.
    pub qty_decimals: u8,
    /// Size of one lot in `10^-qty_decimals` units.
    pub lot_size: i64,
    /// Smallest order quantity, in lots.
    pub min_qty: Qty,
    /// Largest order quantity, in lots.
    pub max_qty: Qty,
    /// Lowest acceptable limit or stop price, in ticks.
    pub min_price: Price,
    /// Highest acceptable limit or stop price, in ticks.
    pub max_price: Price,
    /// Price band around the reference price, in basis points (0 = none).
    /// Enforced by pre-trade risk, not by the book.
    pub price_band_bps: u32,
    /// Status at start-up.
    pub status: TradingStatus,
}

/// Why an instrument specification is unusable. Found at configuration time,
/// never on the order path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecError {
    /// Tick or lot size is zero or negative.
    NonPositiveIncrement,
    /// More than 18 decimals: `10^decimals` would not fit in `i64`.
    TooManyDecimals,
    /// `min_qty` below one lot, or above `max_qty`.
    BadQtyBounds,
    /// `min_price` below one tick, or above `max_price`.
    BadPriceBounds,
    /// `max_price * max_qty` does not fit in `i64`: notional arithmetic
    /// downstream could overflow.
    NotionalOverflow,
    /// The symbol is empty or not printable ASCII without spaces.
    BadSymbol,
}

impl InstrumentSpec {
    /// A spot instrument with the given grid and generous bounds, for tests,
    /// benchmarks and the demo configuration.
    pub fn spot(id: u32, symbol: &str, price_decimals: u8, qty_decimals: u8) -> InstrumentSpec {
        let (base, quote) = symbol.split_once('-').unwrap_or((symbol, "USD"));
        InstrumentSpec {
            id: InstrumentId(id),
            symbol: symbol.to_owned(),
            base_asset: base.to_owned(),
            quote_asset: quote.to_owned(),
            price_decimals,
            tick_size: 1,
            qty_decimals,
            lot_size: 1,
            min_qty: Qty(1),
            max_qty: Qty(1_000_000_000),
            min_price: Price(1),
            max_price: Price(1_000_000_000),
            price_band_bps: 0,
            status: TradingStatus::Open,
        }
    }

    /// Checks the invariants the engine relies on; run once when the
    /// instrument is loaded.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.symbol.is_empty() || !self.symbol.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SpecError::BadSymbol);
        }
        if self.tick_size <= 0 || self.lot_size <= 0 {
            return Err(SpecError::NonPositiveIncrement);
        }
        if self.price_decimals > 18 || self.qty_decimals > 18 {
            return Err(SpecError::TooManyDecimals);
        }
        if self.min_qty.0 < 1 || self.min_qty > self.max_qty {
            return Err(SpecError::BadQtyBounds);
        }
        if self.min_price.0 < 1 || self.min_price > self.max_price {
            return Err(SpecError::BadPriceBounds);
        }
        if self.max_price.0.checked_mul(self.max_qty.0).is_none() {
            return Err(SpecError::NotionalOverflow);
        }
        Ok(())
    }

    /// Converts a decimal price string to ticks, refusing values off the tick
    /// grid or outside the price bounds.
    ///
    /// ```
    /// use venue_domain::{InstrumentSpec, Price, Reject};
    /// let mut spec = InstrumentSpec::spot(0, "BTC-USDT", 2, 6);
    /// spec.tick_size = 5; // 0.05
    /// assert_eq!(spec.parse_price("100.15"), Ok(Price(2003)));
    /// assert_eq!(spec.parse_price("100.17"), Err(Reject::PriceOffTick));
    /// ```
    pub fn parse_price(&self, text: &str) -> Result<Price, Reject> {
        let units = parse_scaled(text, self.price_decimals).map_err(|reject| match reject {
            Reject::OffGrid => Reject::PriceOffTick,
            other => other,
        })?;
        if units % self.tick_size != 0 {
            return Err(Reject::PriceOffTick);
        }
        let price = Price(units / self.tick_size);
        if price < self.min_price || price > self.max_price {
            return Err(Reject::PriceOutOfRange);
        }
        Ok(price)
    }

    /// Converts a decimal quantity string to lots, refusing zero, negative,
    /// off-lot and out-of-bounds values.
    pub fn parse_qty(&self, text: &str) -> Result<Qty, Reject> {
        let units = parse_scaled(text, self.qty_decimals).map_err(|reject| match reject {
            Reject::OffGrid => Reject::QtyOffLot,
            other => other,
        })?;
        if units <= 0 {
            return Err(Reject::QtyNotPositive);
        }
        if units % self.lot_size != 0 {
            return Err(Reject::QtyOffLot);
        }
        self.check_qty(Qty(units / self.lot_size))
    }

    /// Converts a quote-asset amount (a market or stop-market buy's budget:
    /// REST `quoteOrderQty`, FIX CashOrderQty, gRPC `quote_quantity`) to
    /// the engine's tick × lot units, rounded down: every gateway must hold
    /// and spend the same budget for the same text.
    pub fn parse_quote_budget(&self, text: &str) -> Result<i64, Reject> {
        let units = parse_scaled(text, self.price_decimals + self.qty_decimals)?;
        let budget = units / self.tick_size.saturating_mul(self.lot_size).max(1);
        if budget <= 0 {
            return Err(Reject::InvalidBudget);
        }
        Ok(budget)
    }

    /// Checks an order quantity already in lots against the instrument bounds.
    pub fn check_qty(&self, qty: Qty) -> Result<Qty, Reject> {
        if qty.0 <= 0 {
            Err(Reject::QtyNotPositive)
        } else if qty < self.min_qty {
            Err(Reject::QtyBelowMin)
        } else if qty > self.max_qty {
            Err(Reject::QtyAboveMax)
        } else {
            Ok(qty)
        }
    }

    /// Checks a limit or stop price already in ticks against the bounds.
    pub fn check_price(&self, price: Price) -> Result<Price, Reject> {
        if price < self.min_price || price > self.max_price {
            Err(Reject::PriceOutOfRange)
        } else {
            Ok(price)
        }
    }

    /// Formats a price in ticks as the decimal string clients expect.
    pub fn format_price(&self, price: Price) -> String {
        format_scaled(price.0.saturating_mul(self.tick_size), self.price_decimals)
    }

    /// Formats a quantity in lots as the decimal string clients expect.
    pub fn format_qty(&self, qty: Qty) -> String {
        format_scaled(qty.0.saturating_mul(self.lot_size), self.qty_decimals)
    }

    /// [`format_price`](Self::format_price) appended to a message being
    /// built, without a string of its own.
    pub fn write_price(&self, out: &mut String, price: Price) {
        write_scaled(out, price.0.saturating_mul(self.tick_size), self.price_decimals);
    }

    /// [`format_qty`](Self::format_qty) appended to a message being built.
    pub fn write_qty(&self, out: &mut String, qty: Qty) {
        write_scaled(out, qty.0.saturating_mul(self.lot_size), self.qty_decimals);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> InstrumentSpec {
        let mut spec = InstrumentSpec::spot(0, "BTC-USDT", 2, 4);
        spec.tick_size = 5;
        spec.lot_size = 10;
        spec.min_qty = Qty(2);
        spec.max_qty = Qty(1000);
        spec
    }

    #[test]
    fn prices_convert_exactly_on_the_tick_grid() {
        let spec = spec();
        assert_eq!(spec.parse_price("0.05"), Ok(Price(1)));
        assert_eq!(spec.parse_price("27123.50"), Ok(Price(542_470)));
        assert_eq!(spec.format_price(Price(542_470)), "27123.50");
        assert_eq!(spec.parse_price("27123.51"), Err(Reject::PriceOffTick));
        assert_eq!(spec.parse_price("27123.505"), Err(Reject::PriceOffTick));
        assert_eq!(spec.parse_price("0"), Err(Reject::PriceOutOfRange));
        assert_eq!(spec.parse_price("-1.00"), Err(Reject::PriceOutOfRange));
        assert_eq!(spec.parse_price("abc"), Err(Reject::MalformedNumber));
    }

    #[test]
    fn quantities_convert_exactly_on_the_lot_grid() {
        let spec = spec();
        assert_eq!(spec.parse_qty("0.0020"), Ok(Qty(2)));
        assert_eq!(spec.format_qty(Qty(2)), "0.0020");
        assert_eq!(spec.parse_qty("0.0025"), Err(Reject::QtyOffLot));
        assert_eq!(spec.parse_qty("0.00201"), Err(Reject::QtyOffLot));
        assert_eq!(spec.parse_qty("0.0010"), Err(Reject::QtyBelowMin));
        assert_eq!(spec.parse_qty("1.0010"), Err(Reject::QtyAboveMax));
        assert_eq!(spec.parse_qty("0"), Err(Reject::QtyNotPositive));
        assert_eq!(spec.parse_qty("-0.0020"), Err(Reject::QtyNotPositive));
    }

    #[test]
    fn validation_refuses_unusable_specs() {
        assert_eq!(spec().validate(), Ok(()));
        let mut bad = spec();
        bad.tick_size = 0;
        assert_eq!(bad.validate(), Err(SpecError::NonPositiveIncrement));
        let mut bad = spec();
        bad.min_qty = Qty(2000);
        assert_eq!(bad.validate(), Err(SpecError::BadQtyBounds));
        let mut bad = spec();
        bad.max_price = Price(i64::MAX);
        assert_eq!(bad.validate(), Err(SpecError::NotionalOverflow));
        let mut bad = spec();
        bad.symbol = "BTC USDT".into();
        assert_eq!(bad.validate(), Err(SpecError::BadSymbol));
    }
}
