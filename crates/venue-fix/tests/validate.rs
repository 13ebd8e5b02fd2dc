//! Session-level validation: every SessionRejectReason the codec produces,
//! with its RefTagID, and the order in which problems are reported.

mod common;

use common::{NEW_ORDER, check, frame, header, message, rejected};
use venue_fix::SessionRejectReason as R;
use venue_fix::{Dictionary, Parser, Validator, check_comp_ids, check_sending_time};

#[test]
fn well_formed_messages_pass() {
    assert_eq!(check(&message("D", NEW_ORDER)), Ok("NewOrderSingle"));
    assert_eq!(check(&message("0", "")), Ok("Heartbeat"));
    assert_eq!(check(&message("A", "98=0|108=30|141=Y|553=user|554=secret|")), Ok("Logon"));
    assert_eq!(check(&message("5", "58=bye|")), Ok("Logout"));
    assert_eq!(check(&message("2", "7=1|16=0|")), Ok("ResendRequest"));
    assert_eq!(check(&message("4", "36=10|123=Y|")), Ok("SequenceReset"));
    assert_eq!(check(&message("3", "45=3|58=x|371=55|372=D|373=5|")), Ok("Reject"));
    assert_eq!(
        check(&message("F", "11=C-2|38=100|41=ORD-1|54=1|55=BTC-USD|60=20240102-09:30:00.120|")),
        Ok("OrderCancelRequest")
    );
    assert_eq!(check(&message("q", "11=MC-1|530=7|60=20240102-09:30:00.120|")), Ok("OrderMassCancelRequest"));
    // Groups, including a nested one, in dictionary order.
    let parties = "11=ORD-2|38=1|40=1|453=2|448=TRADER1|447=D|452=11|802=1|523=desk|803=4|448=FIRM|452=1|54=2|55=ETH-USD|60=20240102-09:30:00.120|";
    assert_eq!(check(&message("D", parties)), Ok("NewOrderSingle"));
    let md = "146=2|55=BTC-USD|386=1|336=main|55=ETH-USD|262=md-1|263=1|264=0|267=2|269=0|269=1|";
    assert_eq!(check(&message("V", md)), Ok("MarketDataRequest"));
    // DATA may contain the delimiter when its length says so.
    assert_eq!(check(&message("A", "95=3|96=a|b|98=0|108=30|")), Ok("Logon"));
}

#[test]
fn a_fix_message_type_the_venue_does_not_handle_is_left_to_business_reject() {
    assert_eq!(check(&message("E", "66=L1|")), Ok("unsupported"));
    // The header is still checked.
    assert_eq!(
        check(&frame("35=E|49=CLIENT|52=20240102-09:30:00.123|56=VENUE|")),
        rejected(R::RequiredTagMissing, Some(34))
    );
}

#[test]
fn reason_0_invalid_tag_number() {
    for bad in ["abc=1|", "055=BTC|", "0=1|", "5x=1|", "99999999999=1|", "novalue|"] {
        assert_eq!(
            check(&message("D", &format!("{NEW_ORDER}{bad}"))),
            rejected(R::InvalidTagNumber, None),
            "{bad}"
        );
    }
}

#[test]
fn reason_1_required_tag_missing() {
    let without_transact_time = NEW_ORDER.replace("60=20240102-09:30:00.120|", "");
    assert_eq!(check(&message("D", &without_transact_time)), rejected(R::RequiredTagMissing, Some(60)));
    assert_eq!(check(&message("1", "")), rejected(R::RequiredTagMissing, Some(112)));
    assert_eq!(
        check(&frame(&format!("35=D|34=2|49=CLIENT|56=VENUE|{NEW_ORDER}"))),
        rejected(R::RequiredTagMissing, Some(52))
    );
    // A required group (V needs NoMDEntryTypes).
    assert_eq!(
        check(&message("V", "146=1|55=BTC-USD|262=md-1|263=1|264=0|")),
        rejected(R::RequiredTagMissing, Some(267))
    );
}

#[test]
fn reason_2_tag_not_defined_for_this_message_type() {
    assert_eq!(check(&message("0", "44=1.5|")), rejected(R::TagNotDefinedForMessageType, Some(44)));
    // A FIX 4.4 field this dictionary does not list anywhere (AdvTransType).
    assert_eq!(
        check(&message("D", &format!("{NEW_ORDER}5=N|"))),
        rejected(R::TagNotDefinedForMessageType, Some(5))
    );
    // A group member outside its group.
    assert_eq!(
        check(&message("D", &format!("{NEW_ORDER}448=X|"))),
        rejected(R::TagNotDefinedForMessageType, Some(448))
    );
}

#[test]
fn reason_3_undefined_tag() {
    assert_eq!(check(&message("D", &format!("{NEW_ORDER}9999=x|"))), rejected(R::UndefinedTag, Some(9999)));
    assert_eq!(check(&message("D", &format!("{NEW_ORDER}101=x|"))), rejected(R::UndefinedTag, Some(101)));
}

#[test]
fn reason_4_tag_specified_without_a_value() {
    let bad = NEW_ORDER.replace("55=BTC-USD|", "55=|");
    assert_eq!(check(&message("D", &bad)), rejected(R::TagSpecifiedWithoutValue, Some(55)));
    assert_eq!(check(&message("0", "112=|")), rejected(R::TagSpecifiedWithoutValue, Some(112)));
}

#[test]
fn reason_5_value_out_of_range() {
    let bad = NEW_ORDER.replace("54=1|", "54=Z|");
    assert_eq!(check(&message("D", &bad)), rejected(R::ValueIncorrect, Some(54)));
    let bad = NEW_ORDER.replace("59=1|", "59=8|");
    assert_eq!(check(&message("D", &bad)), rejected(R::ValueIncorrect, Some(59)));
    // Each word of a multiple-value string is checked.
    assert_eq!(check(&message("D", &format!("18=6 T|{NEW_ORDER}"))), rejected(R::ValueIncorrect, Some(18)));
    assert_eq!(check(&message("D", &format!("18=6 G|{NEW_ORDER}"))), Ok("NewOrderSingle"));
    // Inside a group entry.
    assert_eq!(
        check(&message("V", "146=1|55=X|262=m|263=1|264=0|267=1|269=Z|")),
        rejected(R::ValueIncorrect, Some(269))
    );
}

#[test]
fn reason_6_incorrect_data_format() {
    for (from, to, tag) in [
        ("38=100|", "38=1e2|", 38),
        ("44=27123.50|", "44=27,123.50|", 44),
        ("60=20240102-09:30:00.120|", "60=20240230-09:30:00|", 60),
        ("60=20240102-09:30:00.120|", "60=20240102-09:30:00.12|", 60),
        ("54=1|", "54=12|", 54),
    ] {
        let bad = NEW_ORDER.replace(from, to);
        assert_eq!(check(&message("D", &bad)), rejected(R::IncorrectDataFormat, Some(tag)), "{to}");
    }
    let bad = frame("35=0|34=x|49=CLIENT|52=20240102-09:30:00.123|56=VENUE|");
    assert_eq!(check(&bad), rejected(R::IncorrectDataFormat, Some(34)));
    let bad = frame("35=0|34=1|43=yes|49=CLIENT|52=20240102-09:30:00.123|56=VENUE|");
    assert_eq!(check(&bad), rejected(R::IncorrectDataFormat, Some(43)));
}

#[test]
fn reason_9_comp_id_problem() {
    let bytes = message("0", "");
    let mut parser = Parser::new();
    let msg = parser.parse(&bytes).unwrap();
    assert!(check_comp_ids(&msg, b"CLIENT", b"VENUE").is_ok());
    let reject = check_comp_ids(&msg, b"OTHER", b"VENUE").unwrap_err();
    assert_eq!((reject.reason, reject.ref_tag_id, reject.ref_seq_num), (R::CompIdProblem, Some(49), Some(7)));
    let reject = check_comp_ids(&msg, b"CLIENT", b"VENUE2").unwrap_err();
    assert_eq!(
        (reject.reason.code(), reject.reason.text(), reject.ref_tag_id),
        (9, "CompID problem", Some(56))
    );
}

#[test]
fn reason_10_sending_time_accuracy_problem() {
    let bytes = message("0", "");
    let mut parser = Parser::new();
    let msg = parser.parse(&bytes).unwrap();
    let sent_ns = 1_704_187_800_123_000_000; // 20240102-09:30:00.123
    assert!(check_sending_time(&msg, sent_ns + 120_000_000_000, 120_000_000_000).is_ok());
    let reject = check_sending_time(&msg, sent_ns + 120_000_000_001, 120_000_000_000).unwrap_err();
    assert_eq!((reject.reason, reject.ref_tag_id), (R::SendingTimeAccuracyProblem, Some(52)));
    assert_eq!(reject.reason.text(), "SendingTime accuracy problem");
}

#[test]
fn reason_11_invalid_msg_type() {
    assert_eq!(check(&message("ZZ", "")), rejected(R::InvalidMsgType, Some(35)));
    assert_eq!(check(&message("", "")), rejected(R::InvalidMsgType, Some(35)));
}

#[test]
fn reason_13_tag_appears_more_than_once() {
    assert_eq!(
        check(&message("D", &format!("{NEW_ORDER}55=ETH-USD|"))),
        rejected(R::TagAppearsMoreThanOnce, Some(55))
    );
    let header_twice = frame(&(header("0", 1) + "34=2|"));
    assert_eq!(check(&header_twice), rejected(R::TagAppearsMoreThanOnce, Some(34)));
    let header_twice = frame("35=0|34=1|34=2|49=CLIENT|52=20240102-09:30:00.123|56=VENUE|");
    assert_eq!(check(&header_twice), rejected(R::TagAppearsMoreThanOnce, Some(34)));
}

#[test]
fn reason_14_tag_specified_out_of_required_order() {
    // A header field after a body field.
    let bytes = frame(&format!("35=D|34=2|49=CLIENT|56=VENUE|{NEW_ORDER}52=20240102-09:30:00.123|"));
    assert_eq!(check(&bytes), rejected(R::TagSpecifiedOutOfRequiredOrder, Some(52)));
    // A trailer field before a body field.
    let bytes = message("D", &format!("93=2|{NEW_ORDER}"));
    assert_eq!(check(&bytes), rejected(R::TagSpecifiedOutOfRequiredOrder, Some(11)));
}

#[test]
fn reason_15_repeating_group_fields_out_of_order() {
    // The entry does not start with the delimiter (PartyID 448).
    let bytes = message("D", &format!("453=1|447=D|448=X|452=3|{NEW_ORDER}"));
    assert_eq!(check(&bytes), rejected(R::RepeatingGroupFieldsOutOfOrder, Some(447)));
    // Members not in dictionary order (448, 447, 452).
    let bytes = message("D", &format!("453=1|448=X|452=3|447=D|{NEW_ORDER}"));
    assert_eq!(check(&bytes), rejected(R::RepeatingGroupFieldsOutOfOrder, Some(447)));
    // A nested group's member without its count tag.
    let bytes = message("D", &format!("453=1|448=X|523=desk|{NEW_ORDER}"));
    assert_eq!(check(&bytes), rejected(R::RepeatingGroupFieldsOutOfOrder, Some(523)));
}

#[test]
fn reason_16_incorrect_num_in_group_count() {
    let bytes = message("D", &format!("453=2|448=X|452=3|{NEW_ORDER}"));
    assert_eq!(check(&bytes), rejected(R::IncorrectNumInGroupCount, Some(453)));
    let bytes = message("V", "146=1|55=BTC-USD|262=md-1|263=1|264=0|267=1|269=0|269=1|");
    assert_eq!(check(&bytes), rejected(R::IncorrectNumInGroupCount, Some(267)));
    let bytes = message("D", &format!("453=1|448=X|802=3|523=a|{NEW_ORDER}"));
    assert_eq!(check(&bytes), rejected(R::IncorrectNumInGroupCount, Some(802)));
    // A count that is not a number is a format problem first.
    let bytes = message("D", &format!("453=one|448=X|{NEW_ORDER}"));
    assert_eq!(check(&bytes), rejected(R::IncorrectDataFormat, Some(453)));
}

#[test]
fn reason_99_other_for_a_data_length_mismatch() {
    assert_eq!(check(&message("A", "95=7|96=short|98=0|108=30|")), rejected(R::Other, Some(96)));
}

#[test]
fn reason_texts_are_spelled_as_in_the_fix_specification() {
    let expected = [
        (R::InvalidTagNumber, 0, "Invalid tag number"),
        (R::RequiredTagMissing, 1, "Required tag missing"),
        (R::TagNotDefinedForMessageType, 2, "Tag not defined for this message type"),
        (R::UndefinedTag, 3, "Undefined Tag"),
        (R::TagSpecifiedWithoutValue, 4, "Tag specified without a value"),
        (R::ValueIncorrect, 5, "Value is incorrect (out of range) for this tag"),
        (R::IncorrectDataFormat, 6, "Incorrect data format for value"),
        (R::CompIdProblem, 9, "CompID problem"),
        (R::SendingTimeAccuracyProblem, 10, "SendingTime accuracy problem"),
        (R::InvalidMsgType, 11, "Invalid MsgType"),
        (R::TagAppearsMoreThanOnce, 13, "Tag appears more than once"),
        (R::TagSpecifiedOutOfRequiredOrder, 14, "Tag specified out of required order"),
        (R::RepeatingGroupFieldsOutOfOrder, 15, "Repeating group fields out of order"),
        (R::IncorrectNumInGroupCount, 16, "Incorrect NumInGroup count for repeating group"),
        (R::Other, 99, "Other"),
    ];
    for (reason, code, text) in expected {
        assert_eq!((reason.code(), reason.text()), (code, text));
    }
    assert_eq!(venue_fix::BusinessRejectReason::UnsupportedMessageType.code(), 3);
    assert_eq!(venue_fix::BusinessRejectReason::UnsupportedMessageType.text(), "Unsupported Message Type");
}

#[test]
fn checks_run_in_quickfix_order() {
    // 14 (structure) before 11 (MsgType).
    let bytes = frame("35=ZZ|34=2|49=CLIENT|56=VENUE|11=x|52=20240102-09:30:00.123|");
    assert_eq!(check(&bytes), rejected(R::TagSpecifiedOutOfRequiredOrder, Some(52)));
    // 11 before 1 (required).
    assert_eq!(check(&frame("35=ZZ|49=CLIENT|")), rejected(R::InvalidMsgType, Some(35)));
    // 1 before any per-field problem.
    let bytes = message("D", "11=x|38=abc|40=9|54=1|55=|");
    assert_eq!(check(&bytes), rejected(R::RequiredTagMissing, Some(60)));
    // Header fields are checked before body fields.
    let bytes = frame(&format!(
        "35=D|34=2|43=maybe|49=CLIENT|52=20240102-09:30:00.123|56=VENUE|{}",
        NEW_ORDER.replace("38=100", "38=x")
    ));
    assert_eq!(check(&bytes), rejected(R::IncorrectDataFormat, Some(43)));
    // Per field: duplicate before empty before format before range.
    let body = NEW_ORDER.replace("38=100|", "38=|").replace("54=1|", "54=Z|");
    assert_eq!(check(&message("D", &body)), rejected(R::TagSpecifiedWithoutValue, Some(38)));
    // Within a field: format (6) is judged before the tag's place (2).
    assert_eq!(check(&message("0", "44=x|")), rejected(R::IncorrectDataFormat, Some(44)));
    // The group count (16) is reported at its count tag, before member values.
    let bytes = message("V", "146=1|55=X|262=m|263=1|264=0|267=2|269=Z|");
    assert_eq!(check(&bytes), rejected(R::IncorrectNumInGroupCount, Some(267)));
}

#[test]
fn a_reject_carries_ref_seq_num_and_ref_msg_type() {
    let bytes = frame(&format!("35=D|34=42|49=CLIENT|52=20240102-09:30:00.123|56=VENUE|{NEW_ORDER}55=X|"));
    let mut parser = Parser::new();
    let msg = parser.parse(&bytes).unwrap();
    let mut validator = Validator::new(Dictionary::fix44());
    let reject = validator.validate(&msg).unwrap_err();
    assert_eq!((reject.ref_seq_num, reject.ref_msg_type, reject.ref_tag_id), (Some(42), &b"D"[..], Some(55)));
    assert_eq!(reject.to_string(), "Tag appears more than once (13), tag 55, MsgType D");
}

#[test]
fn begin_string_body_length_and_msg_type_must_lead_even_without_the_framer() {
    let bytes = common::soh("9=5|8=FIX.4.4|35=0|34=1|49=C|52=20240102-09:30:00.123|56=V|10=000|");
    let mut parser = Parser::new();
    let msg = parser.parse(&bytes).unwrap();
    let reject = Validator::new(Dictionary::fix44()).validate(&msg).unwrap_err();
    assert_eq!((reject.reason, reject.ref_tag_id), (R::TagSpecifiedOutOfRequiredOrder, Some(8)));
}
