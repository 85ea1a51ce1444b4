//! Certificates on real chain data (see `common`): checkpoint 1137's validators' signature must
//! verify against the committee of its epoch, however the checkpoint arrives, and cover nothing
//! else.

mod common;

use sui_sdk_types::CheckpointData;
use walrus_chain::checkpoint::Checkpoint;
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
    let data = checkpoint_1137();
    let mut message = common::message_with_real_summary();
    let unsigned = Checkpoint::from_proto(&message).unwrap();
    assert_eq!(unsigned.certificate, None);
    message.signature = Some(data.checkpoint_summary.signature.clone().into());
    let signed = Checkpoint::from_proto(&message).unwrap();
    assert_eq!(signed.certificate, chk(&data).certificate);
    assert!(CertificateCheck::new(common::committee()).unwrap().check(&signed).is_ok());
    let mut bad = message.clone();
    bad.signature.as_mut().unwrap().signature = Some(vec![1, 2, 3].into());
    assert!(matches!(
        Checkpoint::from_proto(&bad),
        Err(walrus_chain::checkpoint::DecodeError::Invalid { what: "signature", .. })
    ));
}
