#[test_only]
module walrus::messages_tests;

use sui::bcs;
use walrus::messages;

const BLOB_ID: u256 = 0x0102030405060708091011121314151617181920212223242526272829303132;

fun header(intent: u8, epoch: u32): vector<u8> {
    let mut bytes = vector[intent, 0, 3];
    bytes.append(bcs::to_bytes(&epoch));
    bytes
}

#[test]
fun permanent_certificate_is_40_bytes_header_blob_id_and_tag() {
    let message = messages::blob_certification_message(5, BLOB_ID, messages::permanent());
    let mut expected = header(1, 5);
    let blob_id = BLOB_ID;
    expected.append(bcs::to_bytes(&blob_id));
    expected.push_back(0);
    assert!(message == expected);
    assert!(message.length() == 40);

    let parsed = messages::new_certified_message(message, 5, 7).into_certified_blob_message();
    assert!(parsed.certified_blob_id() == BLOB_ID);
    assert!(parsed.certified_epoch() == 5);
    assert!(parsed.persistence_type().deletable_object_id().is_none());
}

#[test]
fun deletable_certificate_is_72_bytes_with_the_object_id() {
    let object_id = object::id_from_address(@0xABCD);
    let message = messages::blob_certification_message(9, BLOB_ID, messages::deletable(object_id));
    assert!(message.length() == 72);
    assert!(message[39] == 1);

    let certified = messages::new_certified_message(message, 9, 11);
    assert!(certified.intent_type() == 1);
    assert!(certified.intent_version() == 0);
    assert!(certified.cert_epoch() == 9);
    assert!(certified.stake_support() == 11);
    assert!(certified.message().length() == 65);
    let parsed = certified.into_certified_blob_message();
    assert!(parsed.persistence_type().deletable_object_id() == option::some(object_id));
}

#[test]
fun trailing_bytes_are_ignored() {
    let mut message = messages::blob_certification_message(1, BLOB_ID, messages::permanent());
    message.append(b"future extension");
    let parsed = messages::new_certified_message(message, 1, 1).into_certified_blob_message();
    assert!(parsed.certified_blob_id() == BLOB_ID);
}

#[test]
fun invalid_blob_id_message_round_trips() {
    let message = messages::invalid_blob_id_message(3, BLOB_ID);
    let mut expected = header(2, 3);
    let blob_id = BLOB_ID;
    expected.append(bcs::to_bytes(&blob_id));
    assert!(message == expected);
    let parsed = messages::new_certified_message(message, 3, 1).into_certified_invalid_blob_id();
    assert!(parsed.invalid_blob_id() == BLOB_ID);
    assert!(parsed.invalid_epoch() == 3);
}

#[test]
fun proof_of_possession_message_layout() {
    let key = vector::tabulate!(48, |i| i as u8);
    let message = messages::proof_of_possession_message(0x01020304, @0xA1, key);
    let mut expected = vector[0, 0, 3, 4, 3, 2, 1];
    expected.append(@0xA1.to_bytes());
    expected.append(key);
    assert!(message == expected);
}

#[test, expected_failure(abort_code = messages::EMessageTooShort)]
fun header_too_short() {
    messages::new_certified_message(vector[1, 0, 3, 0, 0, 0], 0, 1);
}

#[test, expected_failure(abort_code = messages::EIncorrectAppId)]
fun wrong_app_id() {
    let mut message = messages::blob_certification_message(1, BLOB_ID, messages::permanent());
    *&mut message[2] = 4;
    messages::new_certified_message(message, 1, 1);
}

#[test, expected_failure(abort_code = messages::EIncorrectIntentVersion)]
fun wrong_intent_version() {
    let mut message = messages::blob_certification_message(1, BLOB_ID, messages::permanent());
    *&mut message[1] = 1;
    messages::new_certified_message(message, 1, 1);
}

#[test, expected_failure(abort_code = messages::EIncorrectEpoch)]
fun message_for_another_epoch() {
    let message = messages::blob_certification_message(2, BLOB_ID, messages::permanent());
    messages::new_certified_message(message, 1, 1);
}

#[test, expected_failure(abort_code = messages::EInvalidMsgType)]
fun invalid_blob_id_message_is_not_a_blob_certificate() {
    let message = messages::invalid_blob_id_message(1, BLOB_ID);
    messages::new_certified_message(message, 1, 1).into_certified_blob_message();
}

#[test, expected_failure(abort_code = messages::EInvalidMsgType)]
fun blob_certificate_is_not_an_invalid_blob_id_message() {
    let message = messages::blob_certification_message(1, BLOB_ID, messages::permanent());
    messages::new_certified_message(message, 1, 1).into_certified_invalid_blob_id();
}

#[test, expected_failure(abort_code = messages::EInvalidPersistenceType)]
fun unknown_persistence_tag() {
    let mut message = messages::blob_certification_message(1, BLOB_ID, messages::permanent());
    *&mut message[39] = 2;
    messages::new_certified_message(message, 1, 1).into_certified_blob_message();
}

#[test, expected_failure(abort_code = messages::EMessageTooShort)]
fun blob_certificate_without_tag() {
    let mut message = messages::blob_certification_message(1, BLOB_ID, messages::permanent());
    message.pop_back();
    messages::new_certified_message(message, 1, 1).into_certified_blob_message();
}

#[test, expected_failure(abort_code = messages::EMessageTooShort)]
fun deletable_certificate_without_object_id() {
    let mut message = messages::blob_certification_message(1, BLOB_ID, messages::deletable(object::id_from_address(@0x1)));
    message.pop_back();
    messages::new_certified_message(message, 1, 1).into_certified_blob_message();
}

#[test, expected_failure(abort_code = messages::EMessageTooShort)]
fun invalid_blob_id_message_without_blob_id() {
    let mut message = messages::invalid_blob_id_message(1, BLOB_ID);
    message.pop_back();
    messages::new_certified_message(message, 1, 1).into_certified_invalid_blob_id();
}
