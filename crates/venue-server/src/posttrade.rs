//! The operator's side of the post-trade database: `venue clearing run`,
//! `venue reconcile`, and the daily clearing schedule of `venue serve`.
//! The sink itself (`venue_posttrade::sink`) is started by `serve`.

use crate::config::{PostTradeSettings, Settings};
use std::time::Duration;

fn section(settings: &Settings) -> Result<&PostTradeSettings, String> {
    settings.posttrade.as_ref().ok_or_else(|| "the configuration has no [posttrade] section".to_owned())
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<(i32, u32, u32), String> {
    let bad = || format!("{text:?} is not a date YYYY-MM-DD");
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    Ok((y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?))
}

/// Clears one UTC day: tables in the database, CSV files under the
/// configured clearing directory. Returns a summary for the operator.
pub fn clearing_run(settings: &Settings, date: (i32, u32, u32)) -> Result<String, String> {
    let posttrade = section(settings)?;
    let mut client =
        venue_posttrade::writer::connect(posttrade.url.expose()).map_err(|e| format!("database: {e}"))?;
    let report = venue_posttrade::clearing::run(&mut client, date, &posttrade.clearing_dir)
        .map_err(|e| format!("clearing: {e}"))?;
    let mut text = format!(
        "clearing {}: {} commands (seq {}..={}), {} trades, {} statements, {} obligations{}\n",
        report.date,
        report.commands,
        report.first_seq.map_or("-".into(), |s| s.to_string()),
        report.last_seq.map_or("-".into(), |s| s.to_string()),
        report.trades,
        report.statements.len(),
        report.obligations.len(),
        if report.complete {
            ""
        } else {
            " (INCOMPLETE: the database holds nothing after this day yet; a re-run may differ)"
        }
    );
    for file in &report.files {
        text.push_str(&format!("  {}\n", file.display()));
    }
    Ok(text)
}

/// Compares the engine's ledger, rebuilt from the snapshots and journal at
/// the database's last sequence number, with the database's balances.
/// An `Err` lists every difference.
pub fn reconcile(settings: &Settings) -> Result<String, String> {
    let posttrade = section(settings)?;
    let mut client =
        venue_posttrade::writer::connect(posttrade.url.expose()).map_err(|e| format!("database: {e}"))?;
    let seq = venue_posttrade::writer::last_seq(&mut client).map_err(|e| format!("database: {e}"))?;
    let engine = venue_posttrade::engine_at(&settings.pipeline, &settings.engine, seq)
        .map_err(|e| format!("the engine at command {seq}: {e}"))?;
    match venue_posttrade::reconcile(&mut client, &engine) {
        Ok(recon) => Ok(format!(
            "reconciled at command {}: {} accounts, {} balances, no difference\n",
            recon.seq, recon.accounts, recon.balances
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// The UTC day before `now` (seconds since the epoch), as (y, m, d).
fn previous_day(now_secs: u64) -> (i32, u32, u32) {
    let (year, month, day) = venue_domain::calendar::civil_from_days(now_secs as i64 / 86_400 - 1);
    (year as i32, month, day)
}

/// Seconds from `now_secs` to the next `hh:mm` UTC.
fn until_next(now_secs: u64, (hour, minute): (u8, u8)) -> u64 {
    let at = u64::from(hour) * 3600 + u64::from(minute) * 60;
    let today = now_secs % 86_400;
    if today < at { at - today } else { 86_400 - today + at }
}

/// The daily clearing task: at `at` UTC, clears the previous UTC day on a
/// blocking thread; a failure is logged and retried the next day (the
/// operator can run `venue clearing run` by hand).
pub async fn schedule(settings: Settings, at: (u8, u8), mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let now = crate::clock::now_secs();
        let wait = Duration::from_secs(until_next(now, at));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let day = previous_day(crate::clock::now_secs());
        let settings = settings.clone();
        match tokio::task::spawn_blocking(move || clearing_run(&settings, day)).await {
            Ok(Ok(summary)) => tracing::info!(summary = summary.trim_end(), "scheduled clearing done"),
            Ok(Err(error)) => tracing::error!(error, "scheduled clearing failed"),
            Err(_) => tracing::error!("scheduled clearing panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_schedule() {
        assert_eq!(parse_date("2026-11-21"), Ok((2026, 11, 21)));
        assert!(parse_date("2026-1-21").is_err());
        assert!(parse_date("yesterday").is_err());
        // 2026-11-21T00:04:00Z: the previous day is the 20th.
        let now = 1_795_219_440;
        assert_eq!(previous_day(now), (2026, 11, 20));
        assert_eq!(until_next(now, (0, 5)), 60);
        assert_eq!(until_next(now, (0, 4)), 86_400);
        assert_eq!(until_next(now, (0, 3)), 86_340);
    }
}
