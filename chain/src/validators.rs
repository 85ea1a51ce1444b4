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
        "checkpoint {sequence} comes without what checking its certificate needs: its summary, signature and \
         contents, and each transaction's effects and events, as BCS"
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
///
/// A certified checkpoint vouches for every checkpoint before it: its summary names the digest
/// of the one before, which names the one before that. So checkpoints that the caller has shown
/// to link by digest are [`take`](Self::take)n with their certificates checked only for presence
/// and epoch, and [`settle`](Self::settle) verifies the newest one's signature, one pairing check
/// for a whole run instead of one per checkpoint. An epoch's last checkpoint is verified at once,
/// since the committee after it depends on it.
#[derive(Debug)]
pub struct CertificateCheck {
    verifier: ValidatorCommitteeSignatureVerifier,
    /// Checkpoints taken whose certificates are not verified yet, oldest first.
    pending: Vec<(u64, Certificate)>,
}

/// Why [`CertificateCheck::settle`] could not vouch for every pending checkpoint.
#[derive(Debug)]
pub struct Unsettled {
    /// How many of the pending checkpoints, oldest first, are vouched for nonetheless.
    pub vouched: usize,
    /// Why the first of the others is refused.
    pub error: CertificateError,
}

impl CertificateCheck {
    /// Checks the checkpoints of `committee.epoch` on.
    pub fn new(committee: ValidatorCommittee) -> Result<Self, CertificateError> {
        let epoch = committee.epoch;
        ValidatorCommitteeSignatureVerifier::new(committee)
            .map(|verifier| Self { verifier, pending: Vec::new() })
            .map_err(|e| CertificateError::Committee { epoch, error: e.to_string() })
    }

    /// The committee the next checkpoint must be signed by.
    pub fn committee(&self) -> &ValidatorCommittee {
        self.verifier.committee()
    }

    /// Checks `checkpoint` at once: a quorum of the committee must have signed it. At the last
    /// checkpoint of an epoch, moves on to the committee it names and says so with `true`.
    /// Nothing changes when the checkpoint is refused.
    pub fn check(&mut self, checkpoint: &Checkpoint) -> Result<bool, CertificateError> {
        let epoch = self.committee().epoch;
        self.take(checkpoint)?;
        self.settle().map_err(|unsettled| unsettled.error)?;
        Ok(self.committee().epoch != epoch)
    }

    /// Takes `checkpoint`, which names the digest of the one taken before it (the caller checks
    /// that): it must carry a certificate of the committee's epoch, verified now if it ends the
    /// epoch (then the committee moves on, and it vouches for all pending), else by
    /// [`settle`](Self::settle). Nothing changes when the checkpoint is refused.
    pub fn take(&mut self, checkpoint: &Checkpoint) -> Result<(), CertificateError> {
        let sequence = checkpoint.sequence_number.0;
        let Some(certificate) = &checkpoint.certificate else {
            return Err(CertificateError::Missing { sequence });
        };
        let committee = self.committee().epoch;
        if certificate.summary.epoch != committee {
            return Err(CertificateError::WrongEpoch { sequence, epoch: certificate.summary.epoch, committee });
        }
        let Some(end) = &certificate.summary.end_of_epoch_data else {
            self.pending.push((sequence, certificate.clone()));
            return Ok(());
        };
        self.verify(sequence, certificate)?;
        let next = ValidatorCommittee { epoch: committee + 1, members: end.next_epoch_committee.clone() };
        *self = Self::new(next)?;
        Ok(())
    }

    /// Checkpoints taken and not yet vouched for.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Vouches for every pending checkpoint by the newest one's certificate. If it does not
    /// verify, the newest pending one whose certificate does vouches for itself and those
    /// before it; the rest are dropped.
    pub fn settle(&mut self) -> Result<(), Unsettled> {
        let pending = std::mem::take(&mut self.pending);
        let Some((sequence, newest)) = pending.last() else { return Ok(()) };
        let Err(error) = self.verify(*sequence, newest) else { return Ok(()) };
        let vouched = pending.iter().rposition(|(sequence, c)| self.verify(*sequence, c).is_ok()).map_or(0, |i| i + 1);
        let error = match pending.get(vouched) {
            Some((sequence, first_refused)) if vouched + 1 < pending.len() => {
                self.verify(*sequence, first_refused).expect_err("refused above")
            }
            _ => error,
        };
        Err(Unsettled { vouched, error })
    }

    fn verify(&self, sequence: u64, Certificate { summary, signature }: &Certificate) -> Result<(), CertificateError> {
        self.verifier.verify_checkpoint_summary(summary, signature).map_err(|e| CertificateError::Invalid {
            sequence,
            epoch: self.committee().epoch,
            error: e.to_string(),
        })
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

    /// Checkpoints 0 to 3, linked, each signed by ours if `genuine[n]`, else by outsiders.
    fn signed_by(ours: &TestValidators, genuine: [bool; 4]) -> Vec<Checkpoint> {
        let outsiders = TestValidators::new(ours.committee().epoch, 9, 4);
        let mut previous = None;
        (0..4)
            .map(|n| {
                let mut message = checkpoint(n as u64, Vec::new());
                let signers = if genuine[n] { ours } else { &outsiders };
                previous = Some(signers.certify(&mut message, previous, 3, None));
                Checkpoint::from_proto(&message).unwrap()
            })
            .collect()
    }

    #[test]
    fn the_newest_certificate_vouches_for_the_run_it_ends() {
        let ours = TestValidators::new(7, 1, 4);
        let mut check = CertificateCheck::new(ours.committee()).unwrap();
        // Its summary names the one before, whose summary names the one before: their own
        // signatures add nothing.
        for checkpoint in signed_by(&ours, [false, false, false, true]) {
            check.take(&checkpoint).unwrap();
        }
        assert_eq!(check.pending(), 4);
        check.settle().unwrap();
        assert_eq!(check.pending(), 0);

        for checkpoint in signed_by(&ours, [false, true, false, false]) {
            check.take(&checkpoint).unwrap();
        }
        let Unsettled { vouched, error } = check.settle().unwrap_err();
        assert_eq!(vouched, 2, "checkpoint 1 vouches for 0 and itself");
        assert!(matches!(error, CertificateError::Invalid { sequence: 2, .. }), "{error}");
        assert_eq!(check.pending(), 0);
        for checkpoint in signed_by(&ours, [false; 4]) {
            check.take(&checkpoint).unwrap();
        }
        let Unsettled { vouched, error } = check.settle().unwrap_err();
        assert_eq!(vouched, 0);
        assert!(matches!(error, CertificateError::Invalid { sequence: 0, .. }), "{error}");
    }

    #[test]
    fn an_epochs_end_is_verified_when_taken() {
        let (first, second) = (TestValidators::new(7, 1, 4), TestValidators::new(8, 2, 4));
        let mut check = CertificateCheck::new(first.committee()).unwrap();
        let checkpoints = chain(&[(&first, 2), (&second, 1)], 3);
        check.take(&checkpoints[0]).unwrap();
        check.take(&checkpoints[1]).unwrap();
        assert_eq!((check.pending(), check.committee().epoch), (0, 8), "the epoch's end vouched for the run");
        let forged_end = &chain(&[(&TestValidators::new(8, 9, 4), 1), (&first, 1)], 3)[0];
        assert!(matches!(check.take(forged_end), Err(CertificateError::Invalid { .. })));
        assert_eq!((check.pending(), check.committee().epoch), (0, 8));
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
