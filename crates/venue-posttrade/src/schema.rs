//! The schema and its migrations.
//!
//! Migrations are SQL files in `migrations/`, embedded in the binary in
//! order. [`migrate`] applies each one not yet recorded in
//! `schema_migrations`, in its own transaction together with its record, so
//! a failure leaves the database at the previous version. Concurrent
//! migrators (two sinks starting at once) are serialised by a transaction
//! advisory lock. A database at a version this build does not know is
//! refused rather than written with the wrong meaning.

use crate::Error;
use postgres::Client;

/// The migrations, in order: (version, name, SQL). Versions are dense from 1.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[(1, "init", include_str!("../migrations/0001_init.sql"))];

/// Key of the advisory lock that serialises migrators ("venuept" in ASCII).
const LOCK_KEY: i64 = 0x0076_656e_7565_7074;

/// Brings the database to the newest schema; returns the migrations applied
/// now (empty when it was already current).
pub fn migrate(client: &mut Client) -> Result<Vec<i32>, Error> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version     INTEGER PRIMARY KEY,
             name        TEXT    NOT NULL,
             applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let mut applied = Vec::new();
    for &(version, name, sql) in MIGRATIONS {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
        let present = tx.query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[&version])?;
        if present.is_none() {
            tx.batch_execute(sql)?;
            tx.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", &[&version, &name])?;
            applied.push(version);
        }
        tx.commit()?;
    }
    let newest: Option<i32> = client.query_one("SELECT MAX(version) FROM schema_migrations", &[])?.get(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if newest.unwrap_or(0) > known {
        return Err(Error::Schema(format!(
            "the database is at schema version {}, this build knows up to {known}",
            newest.unwrap_or(0)
        )));
    }
    Ok(applied)
}
