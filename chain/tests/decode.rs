//! The checkpoint formats, on a real checkpoint: the fixture shipped in the
//! sui-sdk-types crate (checkpoint 1137, stored as bare BCS of `CheckpointData`).

mod common;

use prost::Message;
use walrus_chain::checkpoint::{Checkpoint, CheckpointSequence, DecodeError, MAX_CHECKPOINT_BYTES};
use walrus_chain::source::{Source, SourceError};
use walrus_chain::testing;

#[test]
fn a_real_checkpoint_decodes_from_chk() {
    let mut file = vec![0x01];
    file.extend(common::checkpoint_1137());
    let checkpoint = Checkpoint::from_chk(&file).unwrap();
    assert_eq!(checkpoint.sequence_number, CheckpointSequence(1137));
    assert!(checkpoint.previous_digest.is_some_and(|previous| previous != checkpoint.digest));
    assert_eq!(checkpoint.transactions.len(), 9);
    assert!(checkpoint.timestamp_ms > 1_600_000_000_000);
    assert!(checkpoint.transactions.iter().all(|tx| tx.digest.len() >= 43));
}

/// Defect: a `.chk` file's transactions and events were taken on trust, whatever its summary
/// committed to. Each change to checkpoint 1137 below is refused.
#[test]
fn a_chk_file_must_hold_the_transactions_and_events_its_summary_commits_to() {
    let real: sui_sdk_types::CheckpointData = bcs::from_bytes(&common::checkpoint_1137()).unwrap();
    let decode = |data: &sui_sdk_types::CheckpointData| {
        let mut file = vec![0x01];
        file.extend(bcs::to_bytes(data).unwrap());
        Checkpoint::from_chk(&file)
    };
    assert!(decode(&real).is_ok());
    let refused = |data: &sui_sdk_types::CheckpointData| match decode(data) {
        Err(DecodeError::Invalid { what: "checkpoint contents", error }) => error,
        other => panic!("expected the contents refused, got {other:?}"),
    };
    let mut dropped = real.clone();
    dropped.transactions.pop();
    assert!(refused(&dropped).contains("transactions, the contents list"));
    let mut swapped = real.clone();
    swapped.transactions.swap(0, 1);
    assert!(refused(&swapped).contains("transaction 0"));
    // Events added where the effects name none, or taken away where they name some.
    let mut events = real.clone();
    let last = events.transactions.len() - 1;
    let tx = &mut events.transactions[last];
    tx.events = match tx.events.take() {
        Some(_) => None,
        None => Some(sui_sdk_types::TransactionEvents(vec![])),
    };
    assert!(refused(&events).contains(&format!("events of transaction {last}")));
    let mut contents = real.clone();
    contents.checkpoint_contents = sui_sdk_types::CheckpointContents::new_v1(vec![]);
    assert!(refused(&contents).contains("the summary commits to"));
}

#[test]
fn chk_errors_are_named() {
    assert!(matches!(Checkpoint::from_chk(&[]), Err(DecodeError::Empty)));
    assert!(matches!(Checkpoint::from_chk(&[0x02, 0]), Err(DecodeError::UnknownEncoding(2))));
    assert!(matches!(Checkpoint::from_chk(&[0x01, 0xFF]), Err(DecodeError::Bcs(_))));
    // The fixture itself is bare BCS: without the encoding byte it is refused, not misread.
    assert!(Checkpoint::from_chk(&common::checkpoint_1137()).is_err());
}

#[test]
fn binpb_zst_round_trip_and_errors() {
    let message =
        testing::checkpoint(7, vec![vec![testing::ours(&walrus_chain::events::EpochChangeStart { epoch: 3 })]]);
    let file = zstd::encode_all(message.encode_to_vec().as_slice(), 3).unwrap();
    let checkpoint = Checkpoint::from_binpb_zst(&file).unwrap();
    assert_eq!((checkpoint.sequence_number, checkpoint.timestamp_ms), (CheckpointSequence(7), 7000));
    assert_eq!(checkpoint.digest, testing::checkpoint_digest(7));
    assert_eq!(checkpoint.previous_digest, Some(testing::checkpoint_digest(6)));
    assert_eq!(checkpoint.transactions[0].events.len(), 1);
    assert_eq!(checkpoint.transactions[0].events[0].type_.name().as_str(), "EpochChangeStart");
    assert!(matches!(Checkpoint::from_binpb_zst(b"not zstd"), Err(DecodeError::Zstd(_))));
    let garbage = zstd::encode_all(&[0xFFu8; 8][..], 1).unwrap();
    assert!(matches!(Checkpoint::from_binpb_zst(&garbage), Err(DecodeError::Protobuf(_))));
    let mut no_summary = message.clone();
    no_summary.summary = None;
    let file = zstd::encode_all(no_summary.encode_to_vec().as_slice(), 1).unwrap();
    assert!(matches!(Checkpoint::from_binpb_zst(&file), Err(DecodeError::Missing("summary.timestamp"))));
    let mut no_digest = message.clone();
    no_digest.digest = None;
    let file = zstd::encode_all(no_digest.encode_to_vec().as_slice(), 1).unwrap();
    assert!(matches!(Checkpoint::from_binpb_zst(&file), Err(DecodeError::Missing("digest"))));
    let mut bad_digest = message.clone();
    bad_digest.digest = Some("not base58!".into());
    let file = zstd::encode_all(bad_digest.encode_to_vec().as_slice(), 1).unwrap();
    assert!(matches!(Checkpoint::from_binpb_zst(&file), Err(DecodeError::Invalid { what: "digest", .. })));
    // Genesis has no previous checkpoint.
    let genesis = zstd::encode_all(testing::checkpoint(0, vec![]).encode_to_vec().as_slice(), 1).unwrap();
    assert_eq!(Checkpoint::from_binpb_zst(&genesis).unwrap().previous_digest, None);
}

fn decode_message(message: &sui_rpc::proto::sui::rpc::v2::Checkpoint) -> Result<Checkpoint, DecodeError> {
    Checkpoint::from_binpb_zst(&zstd::encode_all(message.encode_to_vec().as_slice(), 1).unwrap())
}

/// Defect: a checkpoint's digest was taken on trust, so a file could claim any place in the
/// chain. A summary sent with its BCS must hash to the digest and agree with the fields.
#[test]
fn a_summary_with_its_bcs_must_hash_to_the_digest_and_agree_with_the_fields() {
    let message = common::real_message();
    let checkpoint = decode_message(&message).unwrap();
    assert_eq!(checkpoint.sequence_number, CheckpointSequence(1137));
    assert_eq!(checkpoint.digest.to_string(), message.digest.clone().unwrap());

    let refused = |message: &sui_rpc::proto::sui::rpc::v2::Checkpoint| match decode_message(message) {
        Err(DecodeError::Invalid { what: "summary.bcs", error }) => error,
        other => panic!("expected the summary refused, got {other:?}"),
    };
    // Another checkpoint's digest (the previous one's, say).
    let mut claimed = message.clone();
    claimed.digest = message.summary.as_ref().unwrap().previous_digest.clone();
    assert!(refused(&claimed).contains("hashes to"));
    // A previous digest, sequence number or time that the summary does not say.
    let mut relinked = message.clone();
    relinked.summary.as_mut().unwrap().previous_digest = Some(testing::checkpoint_digest(1136).to_string());
    assert!(refused(&relinked).contains("previous digest"));
    let mut renumbered = message.clone();
    renumbered.sequence_number = Some(1138);
    assert!(refused(&renumbered).contains("checkpoint 1137"));
    let mut retimed = message.clone();
    retimed.summary.as_mut().unwrap().timestamp = Some(prost_types::Timestamp { seconds: 1, nanos: 0 });
    assert!(refused(&retimed).contains("time"));
    // Bytes that are not a summary at all.
    let mut garbage = message.clone();
    garbage.summary.as_mut().unwrap().bcs.as_mut().unwrap().value = Some(vec![1, 2, 3].into());
    refused(&garbage);
}

/// Defect: a 33 KB file inflated to over 1 GiB in memory. Decompression stops at the limit.
#[test]
fn a_zstd_bomb_is_refused_at_the_limit() {
    use std::io::Write;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    for _ in 0..16 {
        encoder.write_all(&[0u8; 64 << 10]).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 1024, "1 MiB of zeros compresses to {} bytes", bomb.len());
    let error = Checkpoint::from_binpb_zst_within(&bomb, 64 << 10).unwrap_err();
    assert!(matches!(error, DecodeError::TooLarge { limit: 65536 }), "{error}");
    assert!(error.to_string().contains("larger than 65536 bytes"), "{error}");
    // Within the limit it is read (and found not to be a checkpoint).
    assert!(matches!(Checkpoint::from_binpb_zst_within(&bomb, 1 << 20), Err(DecodeError::Protobuf(_))));
}

/// Defect: a `.chk` that disagreed with the `.binpb.zst` of the same number was ignored; and a
/// file too large to be a checkpoint was read whole.
#[tokio::test]
async fn a_folder_refuses_conflicting_files_and_oversized_ones() {
    let dir = tempfile::tempdir().unwrap();
    let source = Source::Dir(dir.path().to_owned());
    let mut chk = vec![0x01];
    chk.extend(common::checkpoint_1137());
    std::fs::write(dir.path().join("1137.chk"), chk).unwrap();
    let alone = source.fetch(CheckpointSequence(1137)).await.unwrap().unwrap();
    assert_eq!(alone.sequence_number, CheckpointSequence(1137));

    // Another checkpoint under the same number in the other format.
    testing::write_binpb_zst(dir.path(), &testing::checkpoint(1137, vec![]));
    let error = source.fetch(CheckpointSequence(1137)).await.unwrap_err();
    assert!(matches!(error, SourceError::Conflict { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("1137.binpb.zst") && message.contains("1137.chk"), "{message}");

    // A sparse file: refused by its size, never read.
    let big = std::fs::File::create(dir.path().join("5.binpb.zst")).unwrap();
    big.set_len(MAX_CHECKPOINT_BYTES + 1).unwrap();
    let error = source.fetch(CheckpointSequence(5)).await.unwrap_err();
    assert!(matches!(error, SourceError::TooLarge { .. }), "{error}");
    assert!(error.to_string().contains("5.binpb.zst"), "{error}");
}
