//! The audit log: every engine command and its outcome, one hash-chained
//! JSON line each, with account ids masked.
//!
//! The journal is the venue's durable record, but it is binary and made for
//! replay. The audit log is for people: an auditor reads what each command
//! asked and what the venue answered, and can prove that no line was edited,
//! inserted, removed or reordered since it was written, with nothing but the
//! file and SHA-256. It does not sign lines (anyone who can write the file can
//! rewrite the whole chain), so the last hash must be anchored elsewhere to
//! be trusted; see [Limits](#limits).
//!
//! This crate does not decide when to write or sync: the venue calls
//! [`AuditWriter::append`] for each command in seq order and chooses when to
//! [`flush`](AuditWriter::flush) or [`sync`](AuditWriter::sync).
//!
//! # Use
//!
//! ```no_run
//! use venue_audit::{AuditWriter, MaskPolicy, verify};
//! use venue_domain::Timestamp;
//! use venue_engine::Command;
//!
//! # fn main() -> std::io::Result<()> {
//! let mut audit = AuditWriter::open("audit.jsonl", MaskPolicy::default())?;
//! // After a restart, re-audit from the journal everything after this.
//! let next_seq = audit.last_seq().map_or(1, |seq| seq + 1);
//! audit.append(next_seq, Timestamp(1_700_000_000_000_000_000), 0, &Command::Tick, &[])?;
//! audit.sync()?;
//! drop(audit);
//! match verify("audit.jsonl") {
//!     Ok(report) => println!("{report}"),
//!     Err(err) => eprintln!("audit log damaged: {err}"), // "line 17: hash does not match ..."
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Line format (version 1)
//!
//! This is a contract: auditors' tools parse it and recompute its hashes.
//!
//! The file is UTF-8 (in fact ASCII), one JSON object per line, each line
//! ended by a single `\n` (no `\r`). Every line has exactly these keys in
//! exactly this order, with no whitespace anywhere:
//!
//! ```text
//! {"seq":N,"time":T,"origin":O,"command":{...},"outcome":[...],"prev":"<64 hex>","hash":"<64 hex>"}
//! ```
//!
//! * `seq`: the command's sequence number (unsigned integer). The first line
//!   may have any seq (auditing may start after the venue did); each later
//!   line's seq is exactly the previous line's plus one.
//! * `time`: the sequencer's time of the command, in nanoseconds since the
//!   Unix epoch (unsigned integer).
//! * `origin`: the submitter's tag (connection or session; 0 for none).
//! * `command`: an object whose first key is `"type"`, then the command's
//!   fields (below).
//! * `outcome`: an array of the engine's outputs for this command, in the
//!   order it produced them; each an object whose first key is `"type"`. It
//!   may be empty (a `tick` that expired nothing).
//! * `prev`: the previous line's `hash`; 64 zeros on the first line.
//! * `hash`: lowercase hex SHA-256 of the line's bytes from its opening `{`
//!   up to, and not including, the `,"hash":` that precedes it. It covers
//!   `prev`, which is what chains each line to all lines before it.
//!
//! To recompute a hash by hand: take the line without its newline, remove its
//! last 75 bytes (`,"hash":"` + 64 hex digits + `"}`), and SHA-256 the rest:
//! `head -c -76` of a one-line file, piped into `sha256sum`.
//!
//! Values: integers are plain decimal JSON numbers (prices, quantities and
//! amounts are signed 64-bit integers, never fractions; ids and times are
//! unsigned). Names whose unit matters end in the unit: `_ticks` (prices, in
//! ticks of the instrument), `_lots` (quantities, in lots of the instrument),
//! `_units` (asset amounts, in the asset's smallest unit), `_tick_lots`
//! (quote budgets, in tick×lot units), `_ns` (times), `_bps`. Enumerations
//! are lowercase strings: `side` `"buy"`/`"sell"`; `kind` `"limit"`,
//! `"market"`, `"stop"`, `"stop_limit"`; `tif` `"gtc"`, `"ioc"`, `"fok"`,
//! `"gtd"`, `"day"`; `stp` `"allow"`, `"cancel_resting"`,
//! `"cancel_incoming"`, `"cancel_both"`, `"decrement_and_cancel"`; `status`
//! `"open"`, `"halted"`, `"closed"`. A refusal has `reason`, the snake-case
//! name of the [`Reject`](venue_domain::Reject) (`"insufficient_balance"`),
//! and `reason_code`, its stable numeric code (502); the code is the
//! identifier to rely on. Every account id is a JSON string masked by the
//! [`MaskPolicy`] (`"1042"`, `"**42"` or `"***"`); an absent one is `null`.
//! `client_order_id` 0 means none was given.
//!
//! Commands (`command.type` and the keys that follow, in order):
//!
//! * `new_order`: `instrument`, `order_id` (as submitted; the venue assigns
//!   the seq, reported by `accepted`), `client_order_id`, `account`,
//!   `stp_group`, `side`, `kind`, `tif`, `price_ticks`, `stop_price_ticks`,
//!   `qty_lots`, `display_qty_lots`, `post_only`, `stp`, `expire_time_ns`,
//!   `quote_budget_tick_lots`.
//! * `cancel`: `instrument`, `target`, `account` (the requester; `null` for
//!   an operator). `target` is `{"order_id":N}` or
//!   `{"account":"..","client_order_id":N}`.
//! * `amend`: `instrument`, `target`, `account`, `new_price_ticks`,
//!   `new_qty_lots` (`null` keeps the quantity), `new_client_order_id`.
//! * `mass_cancel`: `instrument` (or `null`), `account` (or `null`).
//! * `set_status`: `instrument`, `status`.
//! * `deposit`, `withdraw_pending`: `transfer_id`, `account`, `asset`,
//!   `amount_units`.
//! * `withdraw_post`, `withdraw_void`: `transfer_id`.
//! * `set_account`: `account`, `tier`, `limits` =
//!   `{"max_order_qty_lots","max_notional_units","max_open_orders","price_band_bps"}`
//!   (0 = no limit).
//! * `kill_switch`: `account`, `on`.
//! * `tick`, `end_of_session`: no fields.
//!
//! Outputs (`outcome[i].type` and the keys that follow, in order). Book
//! events all start with `instrument`:
//!
//! * `accepted`: `order_id`, `client_order_id`, `account`, `side`, `kind`,
//!   `price_ticks`, `qty_lots`.
//! * `rejected`: `order_id`, `client_order_id`, `account`, `request`
//!   (`"new"`, `"cancel"`, `"amend"`, `"mass_cancel"`, `"set_status"`),
//!   `reason`, `reason_code`.
//! * `trade`: `trade_id`, `price_ticks`, `qty_lots`, `maker_order_id`,
//!   `taker_order_id`, `maker_account`, `taker_account`,
//!   `maker_leaves_lots`, `taker_leaves_lots`, `aggressor`.
//! * `cancelled`: `order_id`, `account`, `qty_lots`, `reason`
//!   (`"requested"`, `"mass_cancel"`, `"ioc_remainder"`,
//!   `"fok_not_fillable"`, `"no_liquidity"`, `"budget_exhausted"`,
//!   `"self_trade_prevention"`, `"expired"`, `"disconnect"`,
//!   `"kill_switch"`, `"operator"`).
//! * `expired`: `order_id`, `account`, `qty_lots`.
//! * `triggered`: `order_id`, `account`, `last_price_ticks`.
//! * `amended`: `order_id`, `client_order_id` (after the amend),
//!   `account`, `price_ticks`, `qty_lots`, `leaves_lots`, `priority_kept`.
//! * `reduced`: `order_id`, `account`, `qty_lots`, `leaves_lots`.
//! * `mass_cancelled`: `account` (or `null`), `count`.
//! * `status_changed`: `status`.
//! * `level`: `side`, `price_ticks`, `qty_lots`, `count`.
//! * `order_added`, `order_modified`: `order_id`, `side`, `price_ticks`,
//!   `qty_lots`.
//! * `order_deleted`: `order_id`, `side`, `price_ticks`.
//!
//! Other outputs:
//!
//! * `settlement`: `instrument`, `trade_id`, `buyer`, `seller`,
//!   `buy_order_id`, `sell_order_id`, `base_units`, `quote_units`,
//!   `buyer_fee_units`, `seller_fee_units`.
//! * `transfer`: `transfer_id`, `account`, `asset`, `amount_units`, `state`
//!   (`"deposited"`, `"pending"`, `"posted"`, `"voided"`).
//! * `account_set`: `account`.
//! * `kill_switch`: `account`, `on`.
//! * `command_rejected`: `reason`, `reason_code`.
//! * `ticked`: no fields; ends the outcome of every `tick` command.
//!
//! A reader must accept keys it does not know inside `command` and
//! `outcome` (new command and output kinds add some); the seven top-level
//! keys and their order do not change within version 1.
//!
//! # What verification detects
//!
//! [`verify()`] reads the file once and stops at the first bad line, naming it
//! (1-based) and the kind of damage ([`LineProblem`]):
//!
//! * a line edited in any byte: its hash no longer matches its content (or
//!   it is no longer JSON of this format). The bytes after the hashed part
//!   (`,"hash":"…"}` and the newline) are only accepted in their one
//!   canonical spelling, so no byte of the file can change unnoticed;
//! * a line removed, inserted, duplicated or moved: the next line's `prev`
//!   does not match (and seqs no longer follow);
//! * the first lines removed: the new first line's `prev` is not 64 zeros;
//! * a torn last line (no newline at the end).
//!
//! # Limits
//!
//! * **Lines removed from the end cannot be detected from the file alone**:
//!   what remains is a valid, shorter chain. [`VerifyReport`] gives the last
//!   seq and last hash; compare the seq with the journal
//!   ([`verify_against`]) and the hash with an anchor kept elsewhere (for
//!   example [`AuditWriter::last_hash`] logged periodically).
//! * Anyone with write access can rewrite the whole chain consistently; only
//!   an anchor outside their reach catches that.
//! * The log trails the journal: lines are buffered, and a crash loses those
//!   not yet synced. [`AuditWriter::last_seq`] says where to resume, and the
//!   journal still has the commands.

mod line;
mod mask;
mod render;
mod verify;
mod writer;

pub use mask::{AccountMask, MaskPolicy, ParseMaskError};
pub use render::render;
pub use verify::{LineProblem, VerifyError, VerifyReport, verify, verify_against};
pub use writer::{AuditWriter, WriterError};
