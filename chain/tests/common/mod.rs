//! Real chain data that sui-sdk-types 0.4.0 ships for its own tests: checkpoint 1137 of a Sui
//! network (Mysten's OCS bring-up network, captured from its checkpoint store; bare BCS of
//! `CheckpointData`) and the committee of its epoch.

#![allow(dead_code)] // each test file uses its part

use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::ValidatorCommittee;

pub use walrus_chain::testing::checkpoint_1137;

/// The committee of checkpoint 1137's epoch, as the BCS of `ValidatorCommittee`.
pub fn committee() -> ValidatorCommittee {
    bcs::from_bytes(&walrus_chain::testing::sui_sdk_types_fixture("tests/fixtures/ocs/committee.bcs")).unwrap()
}

/// Checkpoint 1137 in a protobuf message as a full node sends it when asked for what checking
/// needs: the summary's BCS with the digest, previous digest and time beside it, the signature,
/// the contents, and each transaction's digest, effects and events as BCS.
pub fn real_message() -> proto::Checkpoint {
    let data: sui_sdk_types::CheckpointData = bcs::from_bytes(&checkpoint_1137()).unwrap();
    let summary = data.checkpoint_summary.checkpoint;
    let mut message = walrus_chain::testing::checkpoint(summary.sequence_number, vec![]);
    message.digest = Some(summary.digest().to_string());
    let fields = message.summary.as_mut().unwrap();
    fields.previous_digest = summary.previous_digest.map(|digest| digest.to_string());
    let ms = summary.timestamp_ms;
    fields.timestamp =
        Some(prost_types::Timestamp { seconds: (ms / 1000) as i64, nanos: (ms % 1000 * 1_000_000) as i32 });
    fields.bcs = Some(bcs_field(&summary));
    message.signature = Some(data.checkpoint_summary.signature.into());
    message.contents.get_or_insert_with(Default::default).bcs = Some(bcs_field(&data.checkpoint_contents));
    message.transactions = data
        .transactions
        .iter()
        .map(|tx| {
            let mut executed = proto::ExecutedTransaction::default();
            executed.digest = Some(tx.transaction.transaction.digest().to_string());
            executed.effects.get_or_insert_with(Default::default).bcs = Some(bcs_field(&tx.effects));
            if let Some(events) = &tx.events {
                executed.events.get_or_insert_with(Default::default).bcs = Some(bcs_field(events));
            }
            executed
        })
        .collect();
    message
}

fn bcs_field(value: &impl serde::Serialize) -> proto::Bcs {
    proto::Bcs::from(bcs::to_bytes(value).unwrap())
}
