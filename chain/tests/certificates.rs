//! Certificates on real chain data (see `common`): checkpoint 1137's validators' signature must
//! verify against the committee of its epoch, however the checkpoint arrives, and cover nothing
//! else.

mod common;

use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::CheckpointData;
use walrus_chain::checkpoint::{Checkpoint, DecodeError};
use walrus_chain::validators::{CertificateCheck, CertificateError};

fn checkpoint_1137() -> CheckpointData {
    bcs::from_bytes(&common::checkpoint_1137()).unwrap()
}

fn chk(data: &CheckpointData) -> Checkpoint {
    let mut file = vec![0x01];
    file.extend(bcs::to_bytes(data).unwrap());
    Checkpoint::from_chk(&file).unwrap()
}

#[test]
fn checkpoint_1137_is_certified_by_its_committee() {
    let committee = common::committee();
    assert_eq!((committee.epoch, committee.members.len()), (0, 4));
    let mut check = CertificateCheck::new(committee.clone()).unwrap();
    assert!(!check.check(&chk(&checkpoint_1137())).unwrap());
    assert_eq!(check.committee(), &committee);
}

#[test]
fn a_certificate_does_not_cover_a_changed_summary_or_another_committee() {
    let committee = common::committee();
    let mut check = CertificateCheck::new(committee.clone()).unwrap();
    let mut changed = checkpoint_1137();
    changed.checkpoint_summary.checkpoint.timestamp_ms += 1;
    assert!(matches!(check.check(&chk(&changed)), Err(CertificateError::Invalid { sequence: 1137, epoch: 0, .. })));

    // Three of the four signed. With another key in the place of one of them, the signature
    // does not verify; with more weight on the one who did not sign, it is short of a quorum.
    let mut replaced = committee.clone();
    replaced.members[1].public_key = committee.members[0].public_key;
    let mut check = CertificateCheck::new(replaced).unwrap();
    assert!(
        matches!(check.check(&chk(&checkpoint_1137())), Err(CertificateError::Invalid { error, .. }) if error.contains("BLST"))
    );
    let mut outweighed = committee.clone();
    outweighed.members[0].stake = committee.members.iter().map(|m| m.stake).sum();
    let mut check = CertificateCheck::new(outweighed).unwrap();
    assert!(
        matches!(check.check(&chk(&checkpoint_1137())), Err(CertificateError::Invalid { error, .. }) if error.contains("insufficient"))
    );

    let mut later = committee;
    later.epoch = 1;
    let mut check = CertificateCheck::new(later).unwrap();
    assert!(matches!(
        check.check(&chk(&checkpoint_1137())),
        Err(CertificateError::WrongEpoch { sequence: 1137, epoch: 0, committee: 1 })
    ));
}

#[test]
fn a_protobuf_message_carries_the_same_certificate_as_the_chk() {
    let message = common::real_message();
    let decoded = Checkpoint::from_proto(&message).unwrap();
    assert_eq!(decoded.certificate, chk(&checkpoint_1137()).certificate);
    assert!(CertificateCheck::new(common::committee()).unwrap().check(&decoded).is_ok());
    assert_eq!(
        decoded.transactions,
        chk(&checkpoint_1137())
            .transactions
            .iter()
            .map(|tx| { walrus_chain::checkpoint::Transaction { packages: Vec::new(), ..tx.clone() } })
            .collect::<Vec<_>>()
    );

    // Without the signature or the contents, nothing vouches for the checkpoint.
    let mut unsigned = message.clone();
    unsigned.signature = None;
    assert_eq!(Checkpoint::from_proto(&unsigned).unwrap().certificate, None);
    let mut unlisted = message.clone();
    unlisted.contents = None;
    assert_eq!(Checkpoint::from_proto(&unlisted).unwrap().certificate, None);
    let mut bad = message.clone();
    bad.signature.as_mut().unwrap().signature = Some(vec![1, 2, 3].into());
    assert!(matches!(Checkpoint::from_proto(&bad), Err(DecodeError::Invalid { what: "signature", .. })));
}

/// A certified summary must not lend its authority to transactions and events beside it that
/// it does not commit to.
#[test]
fn a_protobuf_messages_transactions_must_be_those_its_contents_list() {
    let message = common::real_message();
    let refused = |message: &proto::Checkpoint| match Checkpoint::from_proto(message) {
        Err(DecodeError::Invalid { what: "checkpoint contents", error }) => error,
        other => panic!("expected the contents refused, got {other:?}"),
    };
    let mut dropped = message.clone();
    dropped.transactions.pop();
    assert!(refused(&dropped).contains("transactions, the contents list"));
    let mut swapped = message.clone();
    swapped.transactions.swap(0, 1);
    assert!(refused(&swapped).contains("transaction 0"));
    // Events where the effects name none (this checkpoint emitted none): as BCS, they do not
    // hash to what the effects name; as messages, nothing hashes them.
    let event = walrus_chain::testing::raw_event(walrus_chain::testing::package(), "events", "Forged", vec![1]);
    let mut added = message.clone();
    let bcs = bcs::to_bytes(&vec![sui_sdk_types::Event::try_from(&event).unwrap()]).unwrap();
    added.transactions[0].events.get_or_insert_with(Default::default).bcs = Some(proto::Bcs::from(bcs));
    assert!(refused(&added).contains("the events of transaction 0"));
    let mut unhashed = message.clone();
    unhashed.transactions[0].events.get_or_insert_with(Default::default).events = vec![event];
    assert!(refused(&unhashed).contains("the events of transaction 0"));
    let mut other_contents = message.clone();
    other_contents.contents.as_mut().unwrap().bcs =
        Some(proto::Bcs::from(bcs::to_bytes(&sui_sdk_types::CheckpointContents::new_v1(Vec::new())).unwrap()));
    assert!(refused(&other_contents).contains("the summary commits to"));
    // Without a transaction's effects, nothing can be told: no certificate.
    let mut no_effects = message.clone();
    no_effects.transactions[0].effects = None;
    assert_eq!(Checkpoint::from_proto(&no_effects).unwrap().certificate, None);
}

/// Defect: package objects, which decide which events are ours after an upgrade, were taken
/// on trust beside a certified summary. Only those a listed transaction wrote count, and they must
/// be what it wrote.
#[test]
fn a_certified_checkpoints_packages_must_be_what_its_transactions_wrote() {
    use walrus_chain::testing;

    let validators = testing::TestValidators::new(1, 1, 4);
    let upgraded = testing::address(0xA1);
    let mut message =
        testing::checkpoint(10, vec![vec![testing::raw_event(testing::package(), "events", "X", vec![])]]);
    testing::publish_upgrade(&mut message, upgraded, "Upgraded");
    validators.certify(&mut message, None, 4, None);
    let checkpoint = Checkpoint::from_proto(&message).unwrap();
    assert!(checkpoint.certificate.is_some());
    assert_eq!(checkpoint.transactions[0].packages.len(), 1);

    // Another package in its place, naming a transaction outside the checkpoint (as its inputs
    // do): left out, so the upgrade it claims is not followed.
    let mut forged = message.clone();
    forged.objects = None;
    testing::publish_upgrade(&mut forged, upgraded, "Forged");
    let decoded = Checkpoint::from_proto(&forged).unwrap();
    assert!(decoded.certificate.is_some());
    assert!(decoded.transactions.iter().all(|tx| tx.packages.is_empty()));
    // The written package, changed after the fact: it names its writer, which wrote other bytes.
    let mut changed = message.clone();
    let object = &mut changed.objects.as_mut().unwrap().objects[0];
    let mut package: sui_sdk_types::Object =
        bcs::from_bytes(object.bcs.as_ref().unwrap().value.as_deref().unwrap()).unwrap();
    package = sui_sdk_types::Object::new(package.data().clone(), *package.owner(), package.previous_transaction(), 7);
    object.bcs = Some(proto::Bcs::from(bcs::to_bytes(&package).unwrap()));
    match Checkpoint::from_proto(&changed) {
        Err(DecodeError::Invalid { what: "checkpoint objects", error }) => {
            assert!(error.contains("is not what transaction"), "{error}")
        }
        other => panic!("expected the objects refused, got {other:?}"),
    }
    // Without the summary's BCS nothing is certified, and nothing can be checked: every package
    // sent counts, as before.
    let mut uncertified = forged.clone();
    uncertified.summary.as_mut().unwrap().bcs = None;
    let decoded = Checkpoint::from_proto(&uncertified).unwrap();
    assert_eq!(decoded.certificate, None);
    assert_eq!(decoded.transactions[0].packages.len(), 1);
}
