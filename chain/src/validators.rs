//! Sui's validators vouch for every checkpoint with an aggregated BLS12-381 signature over its
//! summary. Digests only link checkpoints to one another: from any trusted anchor on, a source
//! could still serve a fork of its own. A certificate checked against the epoch's committee
//! makes a checkpoint Sui's, and each epoch's last checkpoint names the next committee, so one
//! trusted committee is enough to follow every later epoch.

use sui_crypto::bls12381::ValidatorCommitteeSignatureVerifier;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{CheckpointSummary, ValidatorAggregatedSignature, ValidatorCommittee};

use crate::checkpoint::Checkpoint;

/// A checkpoint's summary and the validators' signature on it, as the source sent them.
#[derive(Clone, Debug, PartialEq)]
pub struct Certificate {
    pub summary: CheckpointSummary,
    pub signature: ValidatorAggregatedSignature,
}

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error(
        "checkpoint {sequence} comes without its signed summary (summary BCS and signature), which checking \
         certificates needs"
    )]
    Missing { sequence: u64 },
    #[error("checkpoint {sequence} is of epoch {epoch}, but the committee known is that of epoch {committee}")]
    WrongEpoch { sequence: u64, epoch: u64, committee: u64 },
    #[error(
        "the certificate of checkpoint {sequence} does not verify against the committee of epoch {epoch}: {error}"
    )]
    Invalid { sequence: u64, epoch: u64, error: String },
    #[error("the committee of epoch {epoch} is unusable: {error}")]
    Committee { epoch: u64, error: String },
}

/// The committee checkpoints are checked against, which moves on to the next one at each
/// epoch's last checkpoint.
#[derive(Debug)]
pub struct CertificateCheck {
    verifier: ValidatorCommitteeSignatureVerifier,
}

impl CertificateCheck {
    /// Checks the checkpoints of `committee.epoch` on.
    pub fn new(committee: ValidatorCommittee) -> Result<Self, CertificateError> {
        let epoch = committee.epoch;
        ValidatorCommitteeSignatureVerifier::new(committee)
            .map(|verifier| Self { verifier })
            .map_err(|e| CertificateError::Committee { epoch, error: e.to_string() })
    }

    /// The committee the next checkpoint must be signed by.
    pub fn committee(&self) -> &ValidatorCommittee {
        self.verifier.committee()
    }

    /// Accepts `checkpoint` if a quorum of the committee signed it; at the last checkpoint of an
    /// epoch, moves on to the committee it names and says so with `true`. Nothing changes when
    /// the checkpoint is refused.
    pub fn check(&mut self, checkpoint: &Checkpoint) -> Result<bool, CertificateError> {
        let sequence = checkpoint.sequence_number.0;
        let Some(Certificate { summary, signature }) = &checkpoint.certificate else {
            return Err(CertificateError::Missing { sequence });
        };
        let committee = self.committee().epoch;
        if summary.epoch != committee {
            return Err(CertificateError::WrongEpoch { sequence, epoch: summary.epoch, committee });
        }
        self.verifier.verify_checkpoint_summary(summary, signature).map_err(|e| CertificateError::Invalid {
            sequence,
            epoch: committee,
            error: e.to_string(),
        })?;
        let Some(end) = &summary.end_of_epoch_data else { return Ok(false) };
        let next = ValidatorCommittee { epoch: committee + 1, members: end.next_epoch_committee.clone() };
        *self = Self::new(next)?;
        Ok(true)
    }
}

/// A committee from the JSON a full node gives for `ValidatorCommittee` (gRPC's JSON mapping, as
/// `grpcurl` prints `LedgerService/GetEpoch`'s `epoch.committee`).
pub fn committee_from_json(text: &str) -> Result<ValidatorCommittee, String> {
    let message: proto::ValidatorCommittee =
        serde_json::from_str(text).map_err(|e| format!("not a ValidatorCommittee in JSON: {e}"))?;
    let committee = ValidatorCommittee::try_from(&message).map_err(|e| format!("invalid ValidatorCommittee: {e}"))?;
    if committee.members.is_empty() {
        return Err(format!("the committee of epoch {} has no members", committee.epoch));
    }
    Ok(committee)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{checkpoint, committee_to_json, TestValidators};

    /// Checkpoints `first..` signed in turn by `signers` of the committee of their epoch, each
    /// epoch's last one naming the next committee.
    fn chain(epochs: &[(&TestValidators, u64)], signers: usize) -> Vec<Checkpoint> {
        let mut previous = None;
        let mut sequence = 0;
        let mut out = Vec::new();
        for (i, (validators, count)) in epochs.iter().enumerate() {
            for n in 0..*count {
                let next = (n + 1 == *count).then(|| epochs.get(i + 1).map(|(v, _)| *v)).flatten();
                let mut message = checkpoint(sequence, Vec::new());
                previous = Some(validators.certify(&mut message, previous, signers, next));
                out.push(Checkpoint::from_proto(&message).unwrap());
                sequence += 1;
            }
        }
        out
    }

    #[test]
    fn a_quorum_certifies_and_each_epochs_last_checkpoint_hands_over_to_the_next_committee() {
        let (first, second) = (TestValidators::new(7, 1, 4), TestValidators::new(8, 2, 4));
        let checkpoints = chain(&[(&first, 2), (&second, 2)], 3);
        let mut check = CertificateCheck::new(first.committee()).unwrap();
        let handed_over: Vec<bool> = checkpoints.iter().map(|c| check.check(c).unwrap()).collect();
        assert_eq!(handed_over, [false, true, false, false]);
        assert_eq!(check.committee(), &second.committee());
    }

    #[test]
    fn too_few_signers_an_outsider_or_another_epoch_are_refused_and_change_nothing() {
        let (ours, outsiders) = (TestValidators::new(7, 1, 4), TestValidators::new(7, 9, 4));
        let mut check = CertificateCheck::new(ours.committee()).unwrap();
        let two_of_four = &chain(&[(&ours, 1)], 2)[0];
        assert!(
            matches!(check.check(two_of_four), Err(CertificateError::Invalid { error, .. }) if error.contains("insufficient"))
        );
        let forged = &chain(&[(&outsiders, 1)], 4)[0];
        assert!(matches!(check.check(forged), Err(CertificateError::Invalid { sequence: 0, epoch: 7, .. })));
        let later = &chain(&[(&TestValidators::new(8, 1, 4), 1)], 4)[0];
        assert!(matches!(
            check.check(later),
            Err(CertificateError::WrongEpoch { sequence: 0, epoch: 8, committee: 7 })
        ));
        // An epoch's end signed by outsiders must not hand over to the committee it names.
        let forged_end = &chain(&[(&outsiders, 1), (&outsiders, 1)], 4)[0];
        assert!(check.check(forged_end).is_err());
        assert_eq!(check.committee(), &ours.committee());
        assert!(check.check(&chain(&[(&ours, 1)], 3)[0]).is_ok());
    }

    #[test]
    fn a_checkpoint_without_its_signed_summary_cannot_be_checked() {
        let validators = TestValidators::new(7, 1, 4);
        let mut message = checkpoint(0, Vec::new());
        validators.certify(&mut message, None, 4, None);
        let mut check = CertificateCheck::new(validators.committee()).unwrap();
        for strip in [
            |m: &mut proto::Checkpoint| m.signature = None,
            |m: &mut proto::Checkpoint| m.summary.as_mut().unwrap().bcs = None,
        ] {
            let mut stripped = message.clone();
            strip(&mut stripped);
            let decoded = Checkpoint::from_proto(&stripped).unwrap();
            assert!(matches!(check.check(&decoded), Err(CertificateError::Missing { sequence: 0 })));
        }
        assert!(check.check(&Checkpoint::from_proto(&message).unwrap()).is_ok());
    }

    #[test]
    fn committees_are_read_from_a_full_nodes_json() {
        let committee = TestValidators::new(7, 1, 4).committee();
        let json = committee_to_json(&committee);
        assert!(json.contains("\"publicKey\""), "{json}");
        assert_eq!(committee_from_json(&json).unwrap(), committee);
        let empty = r#"{"epoch": "3", "members": []}"#;
        assert_eq!(committee_from_json(empty).unwrap_err(), "the committee of epoch 3 has no members");
        assert!(committee_from_json("[1, 2]").unwrap_err().starts_with("not a ValidatorCommittee"));
        let short_key = r#"{"epoch": "3", "members": [{"publicKey": "AAAA", "weight": "1"}]}"#;
        assert!(committee_from_json(short_key).unwrap_err().starts_with("invalid ValidatorCommittee"));
    }
}
