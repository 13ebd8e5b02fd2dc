-- venue post-trade schema, version 1.
--
-- Every number is a BIGINT (or a smaller integer), never a float: amounts are
-- in units of the asset (10^-decimals, see `assets`), prices in ticks and
-- quantities in lots of the instrument (see `instruments` for the scales).
-- Times are nanoseconds since the Unix epoch, UTC, as the sequencer stamped
-- them. Sequence numbers, order ids and transfer ids are the engine's u64
-- values; they are stored as BIGINT and stay below 2^63 in practice.
--
-- Everything below `sink_progress` is written by the sink in one transaction
-- per batch of commands, together with `sink_progress.last_seq`, so the
-- tables always hold exactly the commands 1..=last_seq.

-- The engine configuration the rows were written under: the sink refuses a
-- database written under another configuration fingerprint.
CREATE TABLE venue_config (
    singleton    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    fingerprint  BYTEA   NOT NULL,
    fee_account  BIGINT  NOT NULL
);

CREATE TABLE assets (
    asset     BIGINT   PRIMARY KEY,
    name      TEXT     NOT NULL UNIQUE,
    decimals  SMALLINT NOT NULL
);

CREATE TABLE instruments (
    instrument      BIGINT   PRIMARY KEY,
    symbol          TEXT     NOT NULL UNIQUE,
    base_asset      BIGINT   NOT NULL REFERENCES assets (asset),
    quote_asset     BIGINT   NOT NULL REFERENCES assets (asset),
    price_decimals  SMALLINT NOT NULL,
    tick_size       BIGINT   NOT NULL,
    qty_decimals    SMALLINT NOT NULL,
    lot_size        BIGINT   NOT NULL
);

-- One row: the last command whose rows are all in the database.
CREATE TABLE sink_progress (
    singleton  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    last_seq   BIGINT  NOT NULL,
    last_time  BIGINT  NOT NULL
);
INSERT INTO sink_progress (singleton, last_seq, last_time) VALUES (TRUE, 0, 0);

-- Every sequenced command and its outcome.
CREATE TABLE commands (
    seq          BIGINT  PRIMARY KEY,
    time         BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    account      BIGINT,
    instrument   BIGINT,
    transfer_id  BIGINT,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('ok', 'rejected')),
    reject_code  INTEGER,
    reason       TEXT,
    outputs      INTEGER NOT NULL
);
CREATE INDEX commands_time ON commands (time);

-- Every order the engine saw (accepted or rejected), kept at its latest
-- state: upserts guarded by updated_seq never move a row backwards.
CREATE TABLE orders (
    order_id         BIGINT  PRIMARY KEY,
    seq              BIGINT  NOT NULL,
    time             BIGINT  NOT NULL,
    account          BIGINT  NOT NULL,
    instrument       BIGINT  NOT NULL,
    client_order_id  BIGINT  NOT NULL,
    side             TEXT    NOT NULL,
    type             TEXT    NOT NULL,
    tif              TEXT    NOT NULL,
    price            BIGINT  NOT NULL,
    stop_price       BIGINT  NOT NULL,
    qty              BIGINT  NOT NULL,
    display_qty      BIGINT  NOT NULL,
    post_only        BOOLEAN NOT NULL,
    quote_budget     BIGINT  NOT NULL,
    status           TEXT    NOT NULL,
    leaves           BIGINT  NOT NULL,
    reject_code      INTEGER,
    reason           TEXT,
    updated_seq      BIGINT  NOT NULL,
    updated_time     BIGINT  NOT NULL
);
CREATE INDEX orders_account ON orders (account, order_id);

-- Every order event (the execution-report stream): one row per order touched.
CREATE TABLE executions (
    seq          BIGINT  NOT NULL,
    idx          INTEGER NOT NULL,
    order_id     BIGINT  NOT NULL,
    account      BIGINT  NOT NULL,
    instrument   BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    qty          BIGINT,
    price        BIGINT,
    leaves       BIGINT,
    trade_id     BIGINT,
    liquidity    TEXT,
    reject_code  INTEGER,
    reason       TEXT,
    PRIMARY KEY (seq, idx)
);
CREATE INDEX executions_order ON executions (order_id, seq);

-- Trade ids are per instrument.
CREATE TABLE trades (
    instrument   BIGINT NOT NULL,
    trade_id     BIGINT NOT NULL,
    seq          BIGINT NOT NULL,
    time         BIGINT NOT NULL,
    price        BIGINT NOT NULL,
    qty          BIGINT NOT NULL,
    base         BIGINT NOT NULL,
    quote        BIGINT NOT NULL,
    buyer        BIGINT NOT NULL,
    seller       BIGINT NOT NULL,
    buy_order    BIGINT NOT NULL,
    sell_order   BIGINT NOT NULL,
    buyer_fee    BIGINT NOT NULL,
    seller_fee   BIGINT NOT NULL,
    aggressor    TEXT   NOT NULL,
    maker_order  BIGINT NOT NULL,
    PRIMARY KEY (instrument, trade_id)
);
CREATE INDEX trades_time ON trades (time);
CREATE INDEX trades_seq ON trades (seq);

-- Double-entry movements of total balances (available + held). The sum of
-- `amount` over postings with seq <= S, per (account, asset), is the
-- engine's total balance after command S. Holds (orders, pending
-- withdrawals) move money between available and held inside one account and
-- are not postings.
CREATE TABLE postings (
    seq          BIGINT  NOT NULL,
    idx          INTEGER NOT NULL,
    time         BIGINT  NOT NULL,
    account      BIGINT  NOT NULL,
    asset        BIGINT  NOT NULL,
    amount       BIGINT  NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN
                   ('deposit', 'withdrawal', 'trade_base', 'trade_quote', 'fee', 'fee_income')),
    instrument   BIGINT,
    trade_id     BIGINT,
    transfer_id  BIGINT,
    PRIMARY KEY (seq, idx)
);
CREATE INDEX postings_account_asset ON postings (account, asset, seq);
CREATE INDEX postings_time ON postings (time);

-- Deposits and withdrawals at their latest state.
CREATE TABLE transfers (
    transfer_id  BIGINT PRIMARY KEY,
    account      BIGINT NOT NULL,
    asset        BIGINT NOT NULL,
    amount       BIGINT NOT NULL,
    state        TEXT   NOT NULL CHECK (state IN ('deposited', 'pending', 'posted', 'voided')),
    created_seq  BIGINT NOT NULL,
    updated_seq  BIGINT NOT NULL,
    updated_time BIGINT NOT NULL
);

-- Every step of every transfer (deposit; withdrawal pending, posted, voided).
CREATE TABLE transfer_events (
    seq          BIGINT NOT NULL PRIMARY KEY,
    time         BIGINT NOT NULL,
    transfer_id  BIGINT NOT NULL,
    account      BIGINT NOT NULL,
    asset        BIGINT NOT NULL,
    amount       BIGINT NOT NULL,
    state        TEXT   NOT NULL
);

-- End-of-day clearing (see the crate documentation). A re-run of a day
-- replaces that day's rows in one transaction.
CREATE TABLE clearing_runs (
    business_date  DATE    PRIMARY KEY,
    day_start      BIGINT  NOT NULL,
    day_end        BIGINT  NOT NULL,
    first_seq      BIGINT,
    last_seq       BIGINT,
    commands       BIGINT  NOT NULL,
    trades         BIGINT  NOT NULL,
    complete       BOOLEAN NOT NULL
);

CREATE TABLE statements (
    business_date  DATE   NOT NULL REFERENCES clearing_runs (business_date) ON DELETE CASCADE,
    account        BIGINT NOT NULL,
    asset          BIGINT NOT NULL,
    opening        BIGINT NOT NULL,
    deposits       BIGINT NOT NULL,
    withdrawals    BIGINT NOT NULL,
    bought         BIGINT NOT NULL,
    sold           BIGINT NOT NULL,
    fees           BIGINT NOT NULL,
    fee_income     BIGINT NOT NULL,
    closing        BIGINT NOT NULL,
    trades         BIGINT NOT NULL,
    PRIMARY KEY (business_date, account, asset),
    CHECK (closing = opening + deposits + withdrawals + bought + sold + fees + fee_income)
);

CREATE TABLE obligations (
    business_date  DATE   NOT NULL REFERENCES clearing_runs (business_date) ON DELETE CASCADE,
    asset          BIGINT NOT NULL,
    account        BIGINT NOT NULL,
    amount         BIGINT NOT NULL,
    PRIMARY KEY (business_date, asset, account)
);

CREATE TABLE fee_income (
    business_date  DATE   NOT NULL REFERENCES clearing_runs (business_date) ON DELETE CASCADE,
    asset          BIGINT NOT NULL,
    amount         BIGINT NOT NULL,
    fees           BIGINT NOT NULL,
    PRIMARY KEY (business_date, asset)
);
