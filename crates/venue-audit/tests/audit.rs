//! The audit log end to end: a real session written, verified, tampered
//! with in each way an auditor cares about, reopened, and masked.

mod common;

use std::collections::BTreeSet;
use std::io::Write;

use common::{ACCOUNT_KEYS, ALICE, BOB, CAROL, Entry, TempFile, append_all, session, split_lines, write_log};
use venue_audit::{
    AccountMask, AuditWriter, LineProblem, MaskPolicy, VerifyError, WriterError, render, verify,
    verify_against,
};
use venue_domain::Timestamp;
use venue_engine::Command;

fn line_error(result: Result<venue_audit::VerifyReport, VerifyError>) -> (u64, LineProblem) {
    match result {
        Err(VerifyError::Line { line, problem }) => (line, problem),
        other => panic!("expected a line error, got {other:?}"),
    }
}

fn writer_error(err: &std::io::Error) -> WriterError {
    *err.get_ref().and_then(|e| e.downcast_ref::<WriterError>()).expect("a WriterError inside")
}

fn json(line: &[u8]) -> serde_json::Value {
    serde_json::from_slice(line).expect("valid JSON")
}

fn written(name: &str) -> (TempFile, Vec<Entry>) {
    let file = TempFile::new(name);
    let entries = session();
    write_log(file.path(), &entries, MaskPolicy::default());
    (file, entries)
}

#[test]
fn a_session_verifies_and_each_line_is_its_rendering_plus_the_chain() {
    let (file, entries) = written("session");
    let report = verify(file.path()).expect("intact log verifies");
    let n = entries.len() as u64;
    assert!(n >= 36, "a few dozen commands, got {n}");
    assert_eq!((report.lines, report.first_seq, report.last_seq), (n, Some(1), Some(n)));
    assert_eq!(verify_against(file.path(), n).expect("ends where expected"), report);
    assert_eq!(
        report.to_string(),
        format!("{n} lines, seq 1 to {n}, chain intact, last hash {}", report.last_hash)
    );

    let lines = file.lines();
    let mut prev = "0".repeat(64);
    let mut types = BTreeSet::new();
    for (line, entry) in lines.iter().zip(&entries) {
        let text = std::str::from_utf8(line).expect("ASCII");
        // The line is exactly the rendering, then prev, then hash.
        let rendered = render(
            entry.seq,
            entry.time,
            entry.origin,
            &entry.command,
            &entry.outcome,
            &MaskPolicy::default(),
        );
        let body = rendered.strip_suffix('}').expect("an object");
        let chain = text.strip_prefix(body).expect("line starts with its rendering");
        let value = json(line);
        let hash = value["hash"].as_str().expect("hash").to_owned();
        assert_eq!(chain, format!(r#","prev":"{prev}","hash":"{hash}"}}"#));
        // Key order is part of the contract.
        let keys = [
            "\"seq\":",
            ",\"time\":",
            ",\"origin\":",
            ",\"command\":{\"type\":",
            ",\"outcome\":[",
            ",\"prev\":",
            ",\"hash\":",
        ];
        let positions: Vec<usize> = keys.iter().map(|k| text.find(k).expect(k)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.starts_with("{\"seq\":"));
        for output in value["outcome"].as_array().expect("outcome") {
            types.insert(output["type"].as_str().expect("type").to_owned());
        }
        types.insert(format!("command:{}", value["command"]["type"].as_str().expect("type")));
        prev = hash;
    }
    assert_eq!(prev, report.last_hash);
    // The session exercises every kind of command and most kinds of output.
    for expected in [
        "accepted",
        "rejected",
        "trade",
        "settlement",
        "cancelled",
        "expired",
        "triggered",
        "amended",
        "mass_cancelled",
        "status_changed",
        "level",
        "order_added",
        "order_modified",
        "order_deleted",
        "transfer",
        "account_set",
        "kill_switch",
        "command_rejected",
        "ticked",
        "command:new_order",
        "command:cancel",
        "command:amend",
        "command:mass_cancel",
        "command:set_status",
        "command:deposit",
        "command:withdraw_pending",
        "command:withdraw_post",
        "command:withdraw_void",
        "command:set_account",
        "command:kill_switch",
        "command:tick",
        "command:end_of_session",
    ] {
        assert!(types.contains(expected), "{expected} missing from {types:?}");
    }
}

#[test]
fn rejections_are_written_by_name_and_code() {
    let (file, _) = written("rejections");
    let text = String::from_utf8(file.bytes()).expect("ASCII");
    assert!(text.contains(r#""type":"command_rejected","reason":"duplicate_transfer","reason_code":509}"#));
    assert!(text.contains(r#""request":"new","reason":"unknown_account","reason_code":500}"#));
    assert!(text.contains(r#""reason":"post_only_would_take","reason_code":203}"#));
    assert!(text.contains(r#""reason":"unknown_transfer","reason_code":510}"#));
}

#[test]
fn an_edited_digit_is_a_hash_mismatch_on_that_line() {
    let (file, _) = written("edit");
    let mut lines = file.lines();
    // Line 17: change a digit in the middle of its time.
    let line = &mut lines[16];
    let at = line.windows(7).position(|w| w == b"\"time\":").expect("time") + 7 + 5;
    line[at] = if line[at] == b'9' { b'0' } else { line[at] + 1 };
    file.write_lines(&lines);
    let err = verify(file.path()).unwrap_err();
    assert_eq!(err.to_string(), "line 17: hash does not match its content (the line was edited)");
    assert_eq!(line_error(Err(err)), (17, LineProblem::HashMismatch));
}

#[test]
fn an_edited_hash_is_detected_even_as_a_change_of_case() {
    let (file, _) = written("edit-hash");
    let mut lines = file.lines();
    let line = &mut lines[9];
    let start = line.len() - 66;
    let letter = (start..line.len() - 2).find(|&i| line[i].is_ascii_lowercase()).expect("a hex letter");
    line[letter] = line[letter].to_ascii_uppercase();
    file.write_lines(&lines);
    assert_eq!(line_error(verify(file.path())), (10, LineProblem::BadField("hash")));
}

#[test]
fn a_deleted_middle_line_breaks_the_chain_at_the_next_line() {
    let (file, _) = written("delete");
    let mut lines = file.lines();
    lines.remove(19);
    file.write_lines(&lines);
    let err = verify(file.path()).unwrap_err();
    assert!(err.to_string().starts_with("line 20: prev does not match the previous line's hash"), "{err}");
    assert_eq!(line_error(Err(err)), (20, LineProblem::PrevMismatch));
}

#[test]
fn a_deleted_first_line_is_detected() {
    let (file, _) = written("delete-first");
    let mut lines = file.lines();
    lines.remove(0);
    file.write_lines(&lines);
    assert_eq!(line_error(verify(file.path())), (1, LineProblem::PrevMismatch));
}

#[test]
fn an_inserted_copy_of_a_line_is_detected() {
    let (file, _) = written("insert");
    let mut lines = file.lines();
    let copy = lines[4].clone();
    lines.insert(11, copy);
    file.write_lines(&lines);
    assert_eq!(line_error(verify(file.path())), (12, LineProblem::PrevMismatch));

    // A line repeated right after itself, too.
    let mut lines = split_lines(&file.bytes());
    lines.remove(11);
    let copy = lines[4].clone();
    lines.insert(5, copy);
    file.write_lines(&lines);
    assert_eq!(line_error(verify(file.path())), (6, LineProblem::PrevMismatch));
}

#[test]
fn swapped_lines_are_detected() {
    let (file, _) = written("swap");
    let mut lines = file.lines();
    lines.swap(14, 15);
    file.write_lines(&lines);
    assert_eq!(line_error(verify(file.path())), (15, LineProblem::PrevMismatch));
}

#[test]
fn a_torn_last_line_is_detected() {
    let (file, entries) = written("torn");
    let bytes = file.bytes();
    let last_start = bytes[..bytes.len() - 1].iter().rposition(|&b| b == b'\n').expect("many lines") + 1;
    let mid = last_start + (bytes.len() - last_start) / 2;
    std::fs::write(file.path(), &bytes[..mid]).expect("truncate");
    let err = verify(file.path()).unwrap_err();
    let n = entries.len() as u64;
    assert!(err.to_string().starts_with(&format!("line {n}: the last line is incomplete")), "{err}");
    assert_eq!(line_error(Err(err)), (n, LineProblem::TornLastLine));
}

#[test]
fn appended_garbage_is_detected() {
    let (file, entries) = written("garbage");
    let n = entries.len() as u64;
    let clean = file.bytes();
    for (garbage, problem) in [
        (&b"garbage\n"[..], LineProblem::NotJson),
        (&b"\n"[..], LineProblem::NotJson),
        (&b"{}\n"[..], LineProblem::BadField("seq")),
        (&b"garbage"[..], LineProblem::TornLastLine),
    ] {
        let mut bytes = clean.clone();
        bytes.extend_from_slice(garbage);
        std::fs::write(file.path(), &bytes).expect("write");
        assert_eq!(
            line_error(verify(file.path())),
            (n + 1, problem),
            "{:?}",
            String::from_utf8_lossy(garbage)
        );
    }
    // A copy of the last line appended again.
    let lines = split_lines(&clean);
    let mut bytes = clean.clone();
    bytes.extend_from_slice(lines.last().expect("lines"));
    bytes.push(b'\n');
    std::fs::write(file.path(), &bytes).expect("write");
    assert_eq!(line_error(verify(file.path())), (n + 1, LineProblem::PrevMismatch));
}

#[test]
fn lines_cut_from_the_end_are_caught_only_against_the_expected_end() {
    let (file, entries) = written("cut-end");
    let n = entries.len() as u64;
    let mut lines = file.lines();
    lines.truncate(lines.len() - 3);
    file.write_lines(&lines);
    let report = verify(file.path()).expect("a shorter chain is still a valid chain");
    assert_eq!(report.last_seq, Some(n - 3));
    let err = verify_against(file.path(), n).unwrap_err();
    assert!(matches!(err, VerifyError::EndMismatch { expected_last_seq, found_last_seq: Some(found) }
        if expected_last_seq == n && found == n - 3));
    assert!(
        err.to_string()
            .starts_with(&format!("the audit log ends at seq {} but should end at seq {n}", n - 3))
    );

    std::fs::write(file.path(), b"").expect("empty");
    let report = verify(file.path()).expect("an empty log is valid");
    assert_eq!(
        (report.lines, report.last_seq, report.last_hash.as_str()),
        (0, None, "0".repeat(64).as_str())
    );
    assert!(matches!(
        verify_against(file.path(), n),
        Err(VerifyError::EndMismatch { found_last_seq: None, .. })
    ));
}

#[test]
fn reopening_continues_the_chain() {
    let file = TempFile::new("reopen");
    let entries = session();
    let (first, second) = entries.split_at(20);
    write_log(file.path(), first, MaskPolicy::default());
    let hash_after_first = verify(file.path()).expect("first session").last_hash;

    let mut writer = AuditWriter::open(file.path(), MaskPolicy::default()).expect("reopen");
    assert_eq!(writer.last_seq(), Some(20));
    assert_eq!(writer.last_hash(), hash_after_first);
    assert_eq!(writer.truncated_bytes(), 0);
    append_all(&mut writer, second);
    writer.flush().expect("flush");
    let last_hash = writer.last_hash().to_owned();
    drop(writer);

    let report = verify(file.path()).expect("both sessions verify as one chain");
    assert_eq!(
        (report.lines, report.first_seq, report.last_seq),
        (entries.len() as u64, Some(1), Some(entries.len() as u64))
    );
    assert_eq!(report.last_hash, last_hash);
    // And the bytes are the same as writing in one go.
    let once = TempFile::new("reopen-once");
    write_log(once.path(), &entries, MaskPolicy::default());
    assert_eq!(file.bytes(), once.bytes());
}

#[test]
fn started_writeback_leaves_every_line_readable_while_the_writer_goes_on() {
    // The venue calls start_writeback after each batch and syncs rarely:
    // what it wrote must be in the file for any reader at once (the pages
    // dropped from the cache are read back from the disk), and the writer
    // must go on appending to the same chain.
    let file = TempFile::new("writeback");
    let entries = session();
    let (first, second) = entries.split_at(20);
    let mut writer = AuditWriter::open(file.path(), MaskPolicy::default()).expect("open");
    append_all(&mut writer, first);
    writer.start_writeback().expect("writeback");
    let report = verify(file.path()).expect("the first batch verifies on its own");
    assert_eq!((report.lines, report.last_seq), (20, Some(20)));
    append_all(&mut writer, second);
    writer.start_writeback().expect("writeback");
    drop(writer);
    let once = TempFile::new("writeback-once");
    write_log(once.path(), &entries, MaskPolicy::default());
    assert_eq!(file.bytes(), once.bytes());
}

#[test]
fn reopening_cuts_a_torn_line_and_goes_on() {
    let file = TempFile::new("reopen-torn");
    let entries = session();
    write_log(file.path(), &entries[..10], MaskPolicy::default());
    let partial = br#"{"seq":11,"time":17000000000"#;
    std::fs::OpenOptions::new()
        .append(true)
        .open(file.path())
        .expect("open")
        .write_all(partial)
        .expect("tear");
    assert!(matches!(line_error(verify(file.path())), (11, LineProblem::TornLastLine)));

    let mut writer = AuditWriter::open(file.path(), MaskPolicy::default()).expect("reopen");
    assert_eq!(writer.truncated_bytes(), partial.len() as u64);
    assert_eq!(writer.last_seq(), Some(10));
    append_all(&mut writer, &entries[10..]);
    drop(writer);
    assert_eq!(verify(file.path()).expect("verifies").lines, entries.len() as u64);

    // A torn first line is cut too.
    let file = TempFile::new("reopen-torn-first");
    std::fs::write(file.path(), br#"{"seq":1,"ti"#).expect("write");
    let writer = AuditWriter::open(file.path(), MaskPolicy::default()).expect("open");
    assert_eq!((writer.last_seq(), writer.truncated_bytes()), (None, 12));
    drop(writer);
    assert_eq!(file.bytes(), b"");
}

#[test]
fn the_writer_refuses_what_would_break_the_chain() {
    let file = TempFile::new("refuse");
    let entries = session();
    let mut writer = AuditWriter::open(file.path(), MaskPolicy::default()).expect("open");
    // The first line may have any seq.
    writer.append(1_000, Timestamp(5), 0, &Command::Tick, &[]).expect("first line");
    for seq in [1_000, 999, 1_002, 0] {
        let err = writer.append(seq, Timestamp(6), 0, &Command::Tick, &[]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(writer_error(&err), WriterError::SeqNotNext { previous: 1_000, found: seq });
    }
    assert_eq!(
        writer.append(7, Timestamp(6), 0, &Command::Tick, &[]).unwrap_err().to_string(),
        "seq 7 does not follow the last audited seq 1000"
    );
    writer.append(1_001, Timestamp(6), 0, &Command::Tick, &[]).expect("next");
    writer.flush().expect("flush");

    // A second writer is kept out while the first is open.
    let err = AuditWriter::open(file.path(), MaskPolicy::default()).err().expect("locked");
    assert_eq!(writer_error(&err), WriterError::Locked);
    drop(writer);
    let report = verify(file.path()).expect("verifies");
    assert_eq!((report.first_seq, report.last_seq), (Some(1_000), Some(1_001)));

    // A damaged last line stops the writer instead of being built upon.
    let mut lines = file.lines();
    let last = lines.last_mut().expect("lines");
    let at = last.windows(8).position(|w| w == b"\"time\":6").expect("time 6") + 7;
    last[at] = b'7';
    file.write_lines(&lines);
    let err = AuditWriter::open(file.path(), MaskPolicy::default()).err().expect("damaged");
    assert_eq!(writer_error(&err), WriterError::LastLineDamaged(LineProblem::HashMismatch));
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);

    // A file that is not an audit log is left alone.
    let other = TempFile::new("not-audit");
    std::fs::write(other.path(), b"important notes without a newline").expect("write");
    let err = AuditWriter::open(other.path(), MaskPolicy::default()).err().expect("refused");
    assert_eq!(writer_error(&err), WriterError::NotAnAuditLog);
    assert_eq!(other.bytes(), b"important notes without a newline");
    drop(entries);
}

fn account_values(value: &serde_json::Value, found: &mut Vec<serde_json::Value>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                if ACCOUNT_KEYS.contains(&key.as_str()) {
                    found.push(inner.clone());
                } else {
                    account_values(inner, found);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| account_values(item, found)),
        _ => {}
    }
}

fn accounts_in(file: &TempFile) -> BTreeSet<String> {
    let mut found = Vec::new();
    for line in file.lines() {
        account_values(&json(&line), &mut found);
    }
    found
        .into_iter()
        .filter(|v| !v.is_null())
        .map(|v| v.as_str().expect("accounts are JSON strings").to_owned())
        .collect()
}

#[test]
fn accounts_are_masked_by_policy_everywhere() {
    let entries = session();
    let write = |name: &str, accounts: AccountMask| {
        let file = TempFile::new(name);
        write_log(file.path(), &entries, MaskPolicy { accounts });
        verify(file.path()).expect("masked logs verify");
        file
    };
    let none = write("mask-none", AccountMask::None);
    let partial = write("mask-partial", AccountMask::Partial);
    let full = write("mask-full", AccountMask::Full);

    // Account 0 is the venue's fee account; 4444 is refused as unknown.
    let raw: BTreeSet<String> = [ALICE, BOB, CAROL, 4_444].iter().map(u32::to_string).collect();
    assert_eq!(accounts_in(&none), raw);
    let masked: BTreeSet<String> = ["**42", "*7", "****73", "**44"].map(str::to_owned).into();
    assert_eq!(accounts_in(&partial), masked);
    assert_eq!(accounts_in(&full), BTreeSet::from(["***".to_owned()]));

    // No raw account id anywhere in the file under Full, where it would
    // otherwise appear (the distinctive six-digit one is checked bytewise).
    let needle = format!("\"{CAROL}\"");
    assert!(String::from_utf8(none.bytes()).expect("ASCII").contains(&needle));
    let full_text = String::from_utf8(full.bytes()).expect("ASCII");
    assert!(!full_text.contains(&CAROL.to_string()));
    assert!(!full_text.contains(&format!("\"{ALICE}\"")) && !full_text.contains(&format!("\"{BOB}\"")));
    // Masking changes only account fields: the files differ only there.
    let strip = |file: &TempFile| {
        file.lines()
            .iter()
            .map(|line| {
                let mut value = json(line);
                strip_accounts(&mut value);
                value["command"].to_string() + &value["outcome"].to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&none), strip(&full));
    assert_eq!(strip(&partial), strip(&full));
}

fn strip_accounts(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if ACCOUNT_KEYS.contains(&key.as_str()) {
                    *inner = serde_json::Value::Null;
                } else {
                    strip_accounts(inner);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_accounts),
        _ => {}
    }
}

#[test]
#[ignore = "prints a sample log for reading"]
fn print_sample() {
    let (file, _) = written("sample");
    print!("{}", String::from_utf8(file.bytes()).expect("ASCII"));
}
