//! What the engine is configured with: assets, instruments, fee tiers and
//! capacities. Configuration is not part of the journal or the snapshot; a
//! restart must use the same instruments and assets (checked by fingerprint).

use venue_domain::{AccountId, InstrumentSpec};
use venue_matching::BookConfig;

/// Dense index of an asset in [`EngineConfig::assets`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssetId(pub u32);

/// An asset balances are kept in. Amounts are integers of `10^-decimals`
/// units (satoshi-like), so every balance movement is exact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetSpec {
    /// Name as instruments refer to it (`BTC`, `USDT`).
    pub name: String,
    /// Decimal places of the smallest unit.
    pub decimals: u8,
}

/// Fee rates in basis points of the trade's quote notional. Rates are
/// captured on each order when it is accepted: a tier change later does not
/// change what a live order pays, so its hold always covers its fees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeeTier {
    /// Rate when the order rested (provided liquidity).
    pub maker_bps: u16,
    /// Rate when the order took liquidity.
    pub taker_bps: u16,
}

/// Everything the engine needs besides the command stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Assets, indexed by [`AssetId`].
    pub assets: Vec<AssetSpec>,
    /// Instruments, indexed by their id; base and quote assets must exist.
    pub instruments: Vec<InstrumentSpec>,
    /// Fee tiers, indexed by an account's tier number; tier 0 must exist.
    pub fee_tiers: Vec<FeeTier>,
    /// The account that receives fees. Created by the engine itself.
    pub fee_account: AccountId,
    /// Account ids must be below this (balances are a dense table).
    pub max_accounts: u32,
    /// Sizing of every book.
    pub book: BookConfig,
}

/// Why a configuration cannot run an engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Two assets share a name, or a name is empty.
    BadAsset(String),
    /// An instrument names an asset that is not configured.
    UnknownAsset {
        /// Instrument symbol.
        symbol: String,
        /// The missing asset.
        asset: String,
    },
    /// The quote asset has fewer decimals than price × quantity needs, or the
    /// base asset fewer than the quantity: amounts would not be exact.
    AssetTooCoarse {
        /// Instrument symbol.
        symbol: String,
    },
    /// `max_price × max_qty` in quote units does not fit in `i64`.
    NotionalOverflow {
        /// Instrument symbol.
        symbol: String,
    },
    /// The instrument list is unusable (ids not dense, bad spec).
    Instruments(String),
    /// No fee tier, or a rate above 100%.
    BadFeeTier,
    /// The fee account is beyond `max_accounts`.
    BadFeeAccount,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::BadAsset(name) => write!(f, "asset {name:?}: empty or duplicate name"),
            ConfigError::UnknownAsset { symbol, asset } => {
                write!(f, "instrument {symbol}: asset {asset:?} is not configured")
            }
            ConfigError::AssetTooCoarse { symbol } => write!(
                f,
                "instrument {symbol}: quote asset needs at least price_decimals + qty_decimals decimals \
                 and base asset at least qty_decimals"
            ),
            ConfigError::NotionalOverflow { symbol } => {
                write!(f, "instrument {symbol}: max_price x max_qty overflows the quote asset's integers")
            }
            ConfigError::Instruments(why) => write!(f, "instruments: {why}"),
            ConfigError::BadFeeTier => f.write_str("fee tiers: at least one, each rate at most 10000 bps"),
            ConfigError::BadFeeAccount => f.write_str("fee account id is not below max_accounts"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Per-instrument conversion factors from the book's grid to asset units,
/// computed once so the order path multiplies and never divides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scale {
    pub(crate) base: AssetId,
    pub(crate) quote: AssetId,
    /// Quote units per (tick × lot): `notional = price × qty × quote_per_tick_lot`.
    pub(crate) quote_per_tick_lot: i64,
    /// Base units per lot.
    pub(crate) base_per_lot: i64,
}

impl Scale {
    /// Quote notional of `qty` lots at `price` ticks. The instrument bounds
    /// checked at configuration keep it within `i64` for valid orders.
    #[inline]
    pub(crate) fn notional(&self, price: i64, qty: i64) -> i64 {
        // In i64 when no step overflows (every real order); otherwise wide,
        // with the same result.
        match price.checked_mul(qty).and_then(|lots| lots.checked_mul(self.quote_per_tick_lot)) {
            Some(notional) => notional,
            None => {
                let wide =
                    (i128::from(price) * i128::from(qty)).checked_mul(i128::from(self.quote_per_tick_lot));
                wide.and_then(|wide| i64::try_from(wide).ok()).unwrap_or(i64::MAX)
            }
        }
    }

    #[inline]
    pub(crate) fn base_amount(&self, qty: i64) -> i64 {
        qty.saturating_mul(self.base_per_lot)
    }
}

impl EngineConfig {
    /// A small configuration for tests, benchmarks and the demo: assets BTC,
    /// ETH, USDT (8 decimals each); `BTC-USDT` and `ETH-USDT` with a tick of
    /// 0.01 USDT and a lot of 0.0001, orders up to 100 BTC / 1,000 ETH and
    /// prices up to 10M / 1M USDT; tier 0 at 2 bps maker / 5 bps taker,
    /// tier 1 free; fee account 0.
    pub fn demo() -> EngineConfig {
        let asset = |name: &str, decimals| AssetSpec { name: name.to_owned(), decimals };
        let mut btc = InstrumentSpec::spot(0, "BTC-USDT", 2, 4);
        btc.max_qty = venue_domain::Qty(1_000_000);
        btc.max_price = venue_domain::Price(1_000_000_000);
        let mut eth = InstrumentSpec::spot(1, "ETH-USDT", 2, 4);
        eth.max_qty = venue_domain::Qty(10_000_000);
        eth.max_price = venue_domain::Price(100_000_000);
        EngineConfig {
            assets: vec![asset("BTC", 8), asset("ETH", 8), asset("USDT", 8)],
            instruments: vec![btc, eth],
            fee_tiers: vec![FeeTier { maker_bps: 2, taker_bps: 5 }, FeeTier { maker_bps: 0, taker_bps: 0 }],
            fee_account: AccountId(0),
            max_accounts: 1 << 20,
            book: BookConfig::default(),
        }
    }

    /// The asset called `name`.
    pub fn asset(&self, name: &str) -> Option<AssetId> {
        self.assets.iter().position(|a| a.name == name).map(|at| AssetId(at as u32))
    }

    /// Checks the configuration and derives the per-instrument scales.
    pub(crate) fn scales(&self) -> Result<Vec<Scale>, ConfigError> {
        for (at, asset) in self.assets.iter().enumerate() {
            if asset.name.is_empty() || self.assets[..at].iter().any(|a| a.name == asset.name) {
                return Err(ConfigError::BadAsset(asset.name.clone()));
            }
        }
        let tiers_ok = !self.fee_tiers.is_empty()
            && self.fee_tiers.iter().all(|t| t.maker_bps <= 10_000 && t.taker_bps <= 10_000);
        if !tiers_ok {
            return Err(ConfigError::BadFeeTier);
        }
        if self.fee_account.0 >= self.max_accounts {
            return Err(ConfigError::BadFeeAccount);
        }
        let mut scales = Vec::with_capacity(self.instruments.len());
        for (at, spec) in self.instruments.iter().enumerate() {
            let symbol = || spec.symbol.clone();
            if spec.id.0 as usize != at {
                return Err(ConfigError::Instruments(format!(
                    "{} has id {}, expected {at}",
                    spec.symbol, spec.id.0
                )));
            }
            spec.validate().map_err(|e| ConfigError::Instruments(format!("{}: {e:?}", spec.symbol)))?;
            let find = |name: &str| {
                self.asset(name)
                    .ok_or_else(|| ConfigError::UnknownAsset { symbol: symbol(), asset: name.to_owned() })
            };
            let (base, quote) = (find(&spec.base_asset)?, find(&spec.quote_asset)?);
            let quote_dec = i32::from(self.assets[quote.0 as usize].decimals);
            let base_dec = i32::from(self.assets[base.0 as usize].decimals);
            let quote_shift = quote_dec - i32::from(spec.price_decimals) - i32::from(spec.qty_decimals);
            let base_shift = base_dec - i32::from(spec.qty_decimals);
            if quote_shift < 0 || base_shift < 0 {
                return Err(ConfigError::AssetTooCoarse { symbol: symbol() });
            }
            let pow = |shift: i32| 10i128.checked_pow(shift as u32);
            let quote_per_tick_lot = pow(quote_shift)
                .and_then(|p| p.checked_mul(i128::from(spec.tick_size) * i128::from(spec.lot_size)))
                .and_then(|v| i64::try_from(v).ok());
            let base_per_lot = pow(base_shift)
                .and_then(|p| p.checked_mul(i128::from(spec.lot_size)))
                .and_then(|v| i64::try_from(v).ok());
            let (Some(quote_per_tick_lot), Some(base_per_lot)) = (quote_per_tick_lot, base_per_lot) else {
                return Err(ConfigError::NotionalOverflow { symbol: symbol() });
            };
            let max_notional =
                i128::from(spec.max_price.0) * i128::from(spec.max_qty.0) * i128::from(quote_per_tick_lot);
            let max_base = i128::from(spec.max_qty.0) * i128::from(base_per_lot);
            if max_notional > i128::from(i64::MAX) || max_base > i128::from(i64::MAX) {
                return Err(ConfigError::NotionalOverflow { symbol: symbol() });
            }
            scales.push(Scale { base, quote, quote_per_tick_lot, base_per_lot });
        }
        Ok(scales)
    }

    /// A fingerprint of everything in the configuration that gives meaning
    /// to journalled commands and snapshot contents (assets, instruments,
    /// tiers, account and book capacity). A snapshot taken under another
    /// fingerprint is refused.
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for asset in &self.assets {
            hash.update(asset.name.as_bytes());
            hash.update([0, asset.decimals]);
        }
        for spec in &self.instruments {
            hash.update(spec.symbol.as_bytes());
            hash.update([0]);
            hash.update(spec.base_asset.as_bytes());
            hash.update([0]);
            hash.update(spec.quote_asset.as_bytes());
            hash.update([0, spec.price_decimals, spec.qty_decimals]);
            for n in [
                spec.tick_size,
                spec.lot_size,
                spec.min_qty.0,
                spec.max_qty.0,
                spec.min_price.0,
                spec.max_price.0,
            ] {
                hash.update(n.to_le_bytes());
            }
            hash.update(spec.price_band_bps.to_le_bytes());
        }
        for tier in &self.fee_tiers {
            hash.update(tier.maker_bps.to_le_bytes());
            hash.update(tier.taker_bps.to_le_bytes());
        }
        hash.update(self.fee_account.0.to_le_bytes());
        hash.update(self.max_accounts.to_le_bytes());
        // A book's capacity decides which orders are refused as `BookFull`,
        // so a replay under another one could diverge. Hashed only when not
        // the default, so that snapshots from before it was configurable
        // keep their fingerprint. (The id tables' starting size changes no
        // outcome and is left out.)
        if self.book.max_orders != venue_matching::BookConfig::default().max_orders {
            hash.update(b"max_orders");
            hash.update(self.book.max_orders.to_le_bytes());
        }
        hash.finalize().into()
    }
}
