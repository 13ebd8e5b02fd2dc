//! `venue journal verify|dump`: read a journal without changing it.

use std::path::Path;
use std::process::ExitCode;
use venue_engine::Command;

/// Checks every record's length, CRC and sequence; reports a torn tail or
/// corruption with its offset. Exit status 0 only for a clean journal.
pub fn verify(dir: &Path) -> ExitCode {
    match venue_journal::verify(dir) {
        Ok(report) => {
            println!("{report:#?}");
            if report.is_clean() {
                println!("journal {}: clean", dir.display());
                ExitCode::SUCCESS
            } else {
                println!(
                    "journal {}: NOT clean (a writer opening it would truncate the torn tail)",
                    dir.display()
                );
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("venue: journal {}: {error}", dir.display());
            ExitCode::FAILURE
        }
    }
}

/// Prints records from `from` on, one line each: sequence number, time,
/// and the decoded command (or why it does not decode).
pub fn dump(dir: &Path, from: u64, limit: Option<u64>) -> ExitCode {
    let mut reader = match venue_journal::read(dir, from) {
        Ok(reader) => reader,
        Err(error) => {
            eprintln!("venue: journal {}: {error}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    let mut printed = 0u64;
    loop {
        if limit.is_some_and(|limit| printed >= limit) {
            break;
        }
        match reader.next() {
            Ok(Some(record)) => {
                match Command::decode(record.kind, record.seq, record.payload) {
                    Ok(command) => println!("{} t={} {:?}", record.seq, record.time, command),
                    Err(error) => {
                        println!("{} t={} kind={} undecodable: {error}", record.seq, record.time, record.kind)
                    }
                }
                printed += 1;
            }
            Ok(None) => break,
            Err(error) => {
                eprintln!("venue: journal {}: {error}", dir.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(torn) = reader.torn_tail() {
        println!("torn tail: {torn:?}");
    }
    ExitCode::SUCCESS
}
