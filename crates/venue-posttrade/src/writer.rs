//! Writes batches of rows in one transaction each, with the progress row.
//!
//! **Idempotent by sequence number.** The transaction first locks
//! `sink_progress` and reads `last_seq`. A batch that ends at or before it
//! was written already and changes nothing; a batch that does not start at
//! `last_seq + 1` would leave a hole and is refused ([`Error::Gap`]); a batch
//! that continues it is written and moves `last_seq` to its end, in the same
//! transaction. So the tables hold exactly the commands `1..=last_seq`,
//! whatever was retried, and a sink restarted anywhere knows where to go
//! on. Underneath, every insert is `ON CONFLICT DO NOTHING` and every upsert
//! is guarded by `updated_seq`, so even rows written again behind the
//! progress row's back (an operator resetting it) come out the same.
//!
//! **Batched with `INSERT … SELECT * FROM UNNEST($1::BIGINT[], …)`**: one
//! statement per table per batch, whatever its size, with every column as
//! one array parameter. Unlike `COPY`, it keeps `ON CONFLICT` (which the
//! idempotency above relies on) and needs no staging table; unlike
//! multi-row `VALUES`, its text is fixed (prepared once per connection) and
//! it has no 65,535-parameter ceiling.

use crate::Error;
use crate::rows::{Batch, Mapper};
use postgres::{Client, NoTls, Statement};
use std::time::Duration;
use venue_engine::EngineConfig;

/// The connect timeout used when the connection string sets none: a
/// database that does not answer must not hold the sink for long.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`Writer::write`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// The batch was written; the database now holds commands up to `last_seq`.
    Applied {
        /// The new `sink_progress.last_seq`.
        last_seq: u64,
    },
    /// The database already held the whole batch; nothing changed.
    AlreadyPersisted {
        /// `sink_progress.last_seq`, at or after the batch's end.
        last_seq: u64,
    },
}

impl Written {
    /// `sink_progress.last_seq` after the write.
    pub fn last_seq(self) -> u64 {
        match self {
            Written::Applied { last_seq } | Written::AlreadyPersisted { last_seq } => last_seq,
        }
    }
}

struct Statements {
    commands: Statement,
    orders: Statement,
    order_updates: Statement,
    executions: Statement,
    trades: Statement,
    postings: Statement,
    transfers: Statement,
    transfer_events: Statement,
}

const COMMANDS: &str = "INSERT INTO commands
    (seq, time, kind, account, instrument, transfer_id, outcome, reject_code, reason, outputs)
    SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[],
                         $7::TEXT[], $8::INT[], $9::TEXT[], $10::INT[])
    ON CONFLICT (seq) DO NOTHING";

const ORDERS: &str = "INSERT INTO orders
    (order_id, seq, time, account, instrument, client_order_id, side, type, tif, price, stop_price, qty,
     display_qty, post_only, quote_budget, status, leaves, reject_code, reason, updated_seq, updated_time)
    SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[],
                         $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::BIGINT[], $11::BIGINT[], $12::BIGINT[],
                         $13::BIGINT[], $14::BOOLEAN[], $15::BIGINT[], $16::TEXT[], $17::BIGINT[], $18::INT[],
                         $19::TEXT[], $20::BIGINT[], $21::BIGINT[])
    ON CONFLICT (order_id) DO UPDATE SET
        price = EXCLUDED.price, qty = EXCLUDED.qty, status = EXCLUDED.status, leaves = EXCLUDED.leaves,
        client_order_id = EXCLUDED.client_order_id, reject_code = EXCLUDED.reject_code, reason = EXCLUDED.reason,
        updated_seq = EXCLUDED.updated_seq, updated_time = EXCLUDED.updated_time
    WHERE orders.updated_seq < EXCLUDED.updated_seq";

const ORDER_UPDATES: &str = "UPDATE orders AS o SET
        status = COALESCE(u.status, o.status), leaves = COALESCE(u.leaves, o.leaves),
        price = COALESCE(u.price, o.price), qty = COALESCE(u.qty, o.qty), reason = COALESCE(u.reason, o.reason),
        client_order_id = COALESCE(u.client_order_id, o.client_order_id),
        updated_seq = u.seq, updated_time = u.time
    FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::BIGINT[], $6::BIGINT[],
                $7::BIGINT[], $8::TEXT[], $9::BIGINT[])
        AS u (order_id, seq, time, status, leaves, price, qty, reason, client_order_id)
    WHERE o.order_id = u.order_id AND o.updated_seq < u.seq";

const EXECUTIONS: &str = "INSERT INTO executions
    (seq, idx, order_id, account, instrument, kind, qty, price, leaves, trade_id, liquidity, reject_code, reason)
    SELECT * FROM UNNEST($1::BIGINT[], $2::INT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::TEXT[],
                         $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], $11::TEXT[], $12::INT[],
                         $13::TEXT[])
    ON CONFLICT (seq, idx) DO NOTHING";

const TRADES: &str = "INSERT INTO trades
    (instrument, trade_id, seq, time, price, qty, base, quote, buyer, seller, buy_order, sell_order,
     buyer_fee, seller_fee, aggressor, maker_order)
    SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[],
                         $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[], $12::BIGINT[],
                         $13::BIGINT[], $14::BIGINT[], $15::TEXT[], $16::BIGINT[])
    ON CONFLICT (instrument, trade_id) DO NOTHING";

const POSTINGS: &str = "INSERT INTO postings
    (seq, idx, time, account, asset, amount, kind, instrument, trade_id, transfer_id)
    SELECT * FROM UNNEST($1::BIGINT[], $2::INT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[],
                         $7::TEXT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[])
    ON CONFLICT (seq, idx) DO NOTHING";

const TRANSFERS: &str = "INSERT INTO transfers
    (transfer_id, account, asset, amount, state, created_seq, updated_seq, updated_time)
    SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[], $6::BIGINT[],
                         $7::BIGINT[], $8::BIGINT[])
    ON CONFLICT (transfer_id) DO UPDATE SET
        state = EXCLUDED.state, updated_seq = EXCLUDED.updated_seq, updated_time = EXCLUDED.updated_time
    WHERE transfers.updated_seq < EXCLUDED.updated_seq";

const TRANSFER_EVENTS: &str = "INSERT INTO transfer_events
    (seq, time, transfer_id, account, asset, amount, state)
    SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[],
                         $7::TEXT[])
    ON CONFLICT (seq) DO NOTHING";

/// Opens a connection; the connect timeout defaults to
/// [`DEFAULT_CONNECT_TIMEOUT`].
pub fn connect(url: &str) -> Result<Client, Error> {
    let mut config: postgres::Config = url.parse()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    Ok(config.connect(NoTls)?)
}

/// Records the engine configuration in a new database, or checks that the
/// database was written under the same one.
fn reference_data(client: &mut Client, config: &EngineConfig) -> Result<(), Error> {
    let fingerprint = config.fingerprint().to_vec();
    let mut tx = client.transaction()?;
    let found = tx.query_opt("SELECT fingerprint FROM venue_config FOR UPDATE", &[])?;
    match found {
        Some(row) => {
            let stored: Vec<u8> = row.get(0);
            if stored != fingerprint {
                return Err(Error::ConfigMismatch);
            }
        }
        None => {
            tx.execute(
                "INSERT INTO venue_config (fingerprint, fee_account) VALUES ($1, $2)",
                &[&fingerprint, &i64::from(config.fee_account.0)],
            )?;
            for (at, asset) in config.assets.iter().enumerate() {
                tx.execute(
                    "INSERT INTO assets (asset, name, decimals) VALUES ($1, $2, $3)",
                    &[&(at as i64), &asset.name, &i16::from(asset.decimals)],
                )?;
            }
            for spec in &config.instruments {
                let asset = |name: &str| config.asset(name).map_or(-1, |a| i64::from(a.0));
                tx.execute(
                    "INSERT INTO instruments (instrument, symbol, base_asset, quote_asset, price_decimals,
                         tick_size, qty_decimals, lot_size) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &i64::from(spec.id.0),
                        &spec.symbol,
                        &asset(&spec.base_asset),
                        &asset(&spec.quote_asset),
                        &i16::from(spec.price_decimals),
                        &spec.tick_size,
                        &i16::from(spec.qty_decimals),
                        &spec.lot_size,
                    ],
                )?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// `sink_progress.last_seq`: every command up to it is in the database.
pub fn last_seq(client: &mut Client) -> Result<u64, Error> {
    let last: i64 = client.query_one("SELECT last_seq FROM sink_progress", &[])?.get(0);
    Ok(last as u64)
}

/// A connection that writes batches (see the module documentation).
pub struct Writer {
    client: Client,
    config: EngineConfig,
    mapper: Mapper,
    statements: Statements,
}

impl Writer {
    /// Connects to `url`, migrates the schema, and records or checks the
    /// engine configuration.
    pub fn connect(url: &str, config: &EngineConfig) -> Result<Writer, Error> {
        Writer::new(connect(url)?, config)
    }

    /// As [`connect`](Self::connect), on an open connection.
    pub fn new(mut client: Client, config: &EngineConfig) -> Result<Writer, Error> {
        crate::schema::migrate(&mut client)?;
        reference_data(&mut client, config)?;
        let statements = Statements {
            commands: client.prepare(COMMANDS)?,
            orders: client.prepare(ORDERS)?,
            order_updates: client.prepare(ORDER_UPDATES)?,
            executions: client.prepare(EXECUTIONS)?,
            trades: client.prepare(TRADES)?,
            postings: client.prepare(POSTINGS)?,
            transfers: client.prepare(TRANSFERS)?,
            transfer_events: client.prepare(TRANSFER_EVENTS)?,
        };
        Ok(Writer { client, config: config.clone(), mapper: Mapper::new(config), statements })
    }

    /// The mapping for this configuration.
    pub fn mapper(&self) -> &Mapper {
        &self.mapper
    }

    /// The engine configuration it writes under.
    pub fn engine_config(&self) -> &EngineConfig {
        &self.config
    }

    /// The connection, for queries (clearing, reconciliation).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// `sink_progress.last_seq`.
    pub fn last_seq(&mut self) -> Result<u64, Error> {
        last_seq(&mut self.client)
    }

    /// Writes `batch` and moves the progress row to its end, in one
    /// transaction; see the module documentation for when it refuses or
    /// does nothing.
    pub fn write(&mut self, batch: &Batch) -> Result<Written, Error> {
        let mut tx = self.client.transaction()?;
        let last: i64 = tx.query_one("SELECT last_seq FROM sink_progress FOR UPDATE", &[])?.get(0);
        let last = last as u64;
        if batch.is_empty() || batch.last_seq <= last {
            return Ok(Written::AlreadyPersisted { last_seq: last });
        }
        if batch.first_seq != last + 1 {
            return Err(Error::Gap { expected: last + 1, found: batch.first_seq });
        }
        let s = &self.statements;

        let c = &batch.commands;
        tx.execute(
            &s.commands,
            &[
                &c.iter().map(|r| r.seq).collect::<Vec<_>>(),
                &c.iter().map(|r| r.time).collect::<Vec<_>>(),
                &c.iter().map(|r| r.kind).collect::<Vec<_>>(),
                &c.iter().map(|r| r.account).collect::<Vec<_>>(),
                &c.iter().map(|r| r.instrument).collect::<Vec<_>>(),
                &c.iter().map(|r| r.transfer_id).collect::<Vec<_>>(),
                &c.iter().map(|r| r.outcome).collect::<Vec<_>>(),
                &c.iter().map(|r| r.reject_code).collect::<Vec<_>>(),
                &c.iter().map(|r| r.reason).collect::<Vec<_>>(),
                &c.iter().map(|r| r.outputs).collect::<Vec<_>>(),
            ],
        )?;

        if !batch.orders.is_empty() {
            let o: Vec<_> = batch.orders.values().collect();
            tx.execute(
                &s.orders,
                &[
                    &o.iter().map(|r| r.order_id).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.seq).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.time).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.account).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.instrument).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.client_order_id).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.side).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.kind).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.tif).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.price).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.stop_price).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.qty).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.display_qty).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.post_only).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.quote_budget).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.status).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.leaves).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.reject_code).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.reason).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.updated_seq).collect::<Vec<_>>(),
                    &o.iter().map(|r| r.updated_time).collect::<Vec<_>>(),
                ],
            )?;
        }

        if !batch.updates.is_empty() {
            let u: Vec<_> = batch.updates.values().collect();
            tx.execute(
                &s.order_updates,
                &[
                    &u.iter().map(|r| r.order_id).collect::<Vec<_>>(),
                    &u.iter().map(|r| r.seq).collect::<Vec<_>>(),
                    &u.iter().map(|r| r.time).collect::<Vec<_>>(),
                    &u.iter().map(|r| r.status).collect::<Vec<_>>(),
                    &u.iter().map(|r| r.leaves).collect::<Vec<_>>(),
                    &u.iter().map(|r| r.price).collect::<Vec<_>>(),
                    &u.iter().map(|r| r.qty).collect::<Vec<_>>(),
                    &u.iter().map(|r| r.reason).collect::<Vec<_>>(),
                    &u.iter().map(|r| r.client_order_id).collect::<Vec<_>>(),
                ],
            )?;
        }

        if !batch.executions.is_empty() {
            let e = &batch.executions;
            tx.execute(
                &s.executions,
                &[
                    &e.iter().map(|r| r.seq).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.idx).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.order_id).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.account).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.instrument).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.kind).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.qty).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.price).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.leaves).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.trade_id).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.liquidity).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.reject_code).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.reason).collect::<Vec<_>>(),
                ],
            )?;
        }

        if !batch.trades.is_empty() {
            let t = &batch.trades;
            tx.execute(
                &s.trades,
                &[
                    &t.iter().map(|r| r.instrument).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.trade_id).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.seq).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.time).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.price).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.qty).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.base).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.quote).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.buyer).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.seller).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.buy_order).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.sell_order).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.buyer_fee).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.seller_fee).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.aggressor).collect::<Vec<_>>(),
                    &t.iter().map(|r| r.maker_order).collect::<Vec<_>>(),
                ],
            )?;
        }

        if !batch.postings.is_empty() {
            let p = &batch.postings;
            tx.execute(
                &s.postings,
                &[
                    &p.iter().map(|r| r.seq).collect::<Vec<_>>(),
                    &p.iter().map(|r| r.idx).collect::<Vec<_>>(),
                    &p.iter().map(|r| r.time).collect::<Vec<_>>(),
                    &p.iter().map(|r| r.account).collect::<Vec<_>>(),
                    &p.iter().map(|r| r.asset).collect::<Vec<_>>(),
                    &p.iter().map(|r| r.amount).collect::<Vec<_>>(),
                    &p.iter().map(|r| r.kind).collect::<Vec<_>>(),
                    &p.iter().map(|r| r.instrument).collect::<Vec<_>>(),
                    &p.iter().map(|r| r.trade_id).collect::<Vec<_>>(),
                    &p.iter().map(|r| r.transfer_id).collect::<Vec<_>>(),
                ],
            )?;
        }

        if !batch.transfers.is_empty() {
            let t: Vec<_> = batch.transfers.values().collect();
            tx.execute(
                &s.transfers,
                &[
                    &t.iter().map(|(_, r)| r.transfer_id).collect::<Vec<_>>(),
                    &t.iter().map(|(_, r)| r.account).collect::<Vec<_>>(),
                    &t.iter().map(|(_, r)| r.asset).collect::<Vec<_>>(),
                    &t.iter().map(|(_, r)| r.amount).collect::<Vec<_>>(),
                    &t.iter().map(|(_, r)| r.state).collect::<Vec<_>>(),
                    &t.iter().map(|(first, _)| *first).collect::<Vec<_>>(),
                    &t.iter().map(|(_, r)| r.seq).collect::<Vec<_>>(),
                    &t.iter().map(|(_, r)| r.time).collect::<Vec<_>>(),
                ],
            )?;
            let e = &batch.transfer_events;
            tx.execute(
                &s.transfer_events,
                &[
                    &e.iter().map(|r| r.seq).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.time).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.transfer_id).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.account).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.asset).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.amount).collect::<Vec<_>>(),
                    &e.iter().map(|r| r.state).collect::<Vec<_>>(),
                ],
            )?;
        }

        tx.execute(
            "UPDATE sink_progress SET last_seq = $1, last_time = $2",
            &[&(batch.last_seq as i64), &(batch.last_time as i64)],
        )?;
        tx.commit()?;
        Ok(Written::Applied { last_seq: batch.last_seq })
    }
}
