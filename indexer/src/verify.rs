//! Chain verification: every checkpoint ingested is the one asked for and follows the one
//! before it by digest, so a misnamed file or another chain's checkpoint is refused instead of
//! being indexed. The first checkpoint is anchored by the stored watermark's digest or by
//! `--first-checkpoint-digest`; without either it is taken as it comes. Where a validator
//! committee is trusted (`--validator-committee`, then the one stored with the watermark), each
//! checkpoint must also carry a certificate, and the newest of a run a quorum's signature, which
//! no source can forge and which vouches, by the digests, for the run it ends.

use sui_sdk_types::{Digest, ValidatorCommittee};
use walrus_chain::checkpoint::Checkpoint;
use walrus_chain::validators::{CertificateCheck, CertificateError, Unsettled};

/// What the next checkpoint must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Nothing is known about the chain yet.
    Anything,
    /// Its `previous_digest` is this (the digest of the checkpoint before it).
    Previous(Digest),
    /// Its own digest is this (the configured first checkpoint).
    Digest(Digest),
}

/// The position reached in the chain: the next sequence number, what it must link to, and the
/// committee that must have signed it if certificates are checked.
#[derive(Debug)]
pub struct ChainLink {
    next: u64,
    expect: Expect,
    certificates: Option<CertificateCheck>,
    /// `next` and `expect` after the last checkpoint vouched for, to go back to if the
    /// checkpoints accepted since are not.
    settled: (u64, Expect),
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("checkpoint {wanted} is not what was fetched for it: it says it is checkpoint {got}")]
    WrongSequence { wanted: u64, got: u64 },
    #[error(
        "checkpoint {sequence} does not follow the one before it: its previous digest is {found}, the digest of \
         checkpoint {} is {expected} (another chain's checkpoint?)", sequence - 1
    )]
    BrokenLink { sequence: u64, expected: Digest, found: String },
    #[error("checkpoint {sequence} has digest {found}, not {expected} as --first-checkpoint-digest says")]
    WrongAnchor { sequence: u64, expected: Digest, found: Digest },
    #[error(transparent)]
    Certificate(#[from] CertificateError),
}

impl ChainLink {
    /// Resuming after a committed checkpoint whose digest is known (databases written before
    /// digests were stored have none: then the next checkpoint is taken as it comes).
    pub fn after(checkpoint: u64, digest: Option<Digest>) -> Self {
        Self::at(checkpoint + 1, digest.map_or(Expect::Anything, Expect::Previous))
    }

    /// Starting at `first`, whose digest is `digest` if given.
    pub fn starting_at(first: u64, digest: Option<Digest>) -> Self {
        Self::at(first, digest.map_or(Expect::Anything, Expect::Digest))
    }

    fn at(next: u64, expect: Expect) -> Self {
        Self { next, expect, certificates: None, settled: (next, expect) }
    }

    /// From here on, checkpoints must be certified by `committee` (and, after its epoch, by the
    /// committees the chain hands over to).
    pub fn certified_by(self, committee: ValidatorCommittee) -> Result<Self, CertificateError> {
        Ok(Self { certificates: Some(CertificateCheck::new(committee)?), ..self })
    }

    /// The committee that must sign the next checkpoint, if certificates are checked.
    pub fn committee(&self) -> Option<&ValidatorCommittee> {
        self.certificates.as_ref().map(CertificateCheck::committee)
    }

    /// The sequence number the next checkpoint must have.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Accepts `checkpoint` as the next one, or says why it is not. With certificates checked,
    /// it is vouched for only by [`settle`](Self::settle) (or by ending its epoch).
    pub fn accept(&mut self, checkpoint: &Checkpoint) -> Result<(), ChainError> {
        let sequence = checkpoint.sequence_number.0;
        if sequence != self.next {
            return Err(ChainError::WrongSequence { wanted: self.next, got: sequence });
        }
        match self.expect {
            Expect::Anything => {}
            Expect::Previous(expected) if checkpoint.previous_digest != Some(expected) => {
                let found = checkpoint.previous_digest.map_or_else(|| "absent".to_owned(), |d| d.to_string());
                return Err(ChainError::BrokenLink { sequence, expected, found });
            }
            Expect::Previous(_) => {}
            Expect::Digest(expected) if checkpoint.digest != expected => {
                return Err(ChainError::WrongAnchor { sequence, expected, found: checkpoint.digest });
            }
            Expect::Digest(_) => {}
        }
        if let Some(certificates) = &mut self.certificates {
            certificates.take(checkpoint)?;
        }
        self.next += 1;
        self.expect = Expect::Previous(checkpoint.digest);
        if self.certificates.as_ref().is_none_or(|c| c.pending() == 0) {
            self.settled = (self.next, self.expect);
        }
        Ok(())
    }

    /// Vouches for the checkpoints accepted since the last settlement, the tail of `accepted`,
    /// by the newest one's certificate. Those it cannot vouch for are removed from `accepted`
    /// and the link goes back to before them.
    pub fn settle(&mut self, accepted: &mut Vec<Checkpoint>) -> Result<(), ChainError> {
        let Some(certificates) = &mut self.certificates else { return Ok(()) };
        let pending = certificates.pending();
        debug_assert!(pending <= accepted.len(), "every pending checkpoint is in the batch");
        let result = certificates.settle();
        if let Err(Unsettled { vouched, .. }) = &result {
            accepted.truncate(accepted.len() - pending + vouched);
            (self.next, self.expect) = match accepted.last() {
                Some(last) => (last.sequence_number.0 + 1, Expect::Previous(last.digest)),
                None => self.settled,
            };
        }
        self.settled = (self.next, self.expect);
        result.map_err(|unsettled| unsettled.error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use walrus_chain::checkpoint::CheckpointSequence;

    fn digest(n: u8) -> Digest {
        Digest::new([n; 32])
    }

    fn checkpoint(sequence: u64, digest_byte: u8, previous: Option<u8>) -> Checkpoint {
        Checkpoint {
            sequence_number: CheckpointSequence(sequence),
            digest: digest(digest_byte),
            previous_digest: previous.map(digest),
            timestamp_ms: 0,
            transactions: vec![],
            certificate: None,
        }
    }

    #[test]
    fn a_chain_is_accepted_in_order_and_nothing_else() {
        let mut link = ChainLink::starting_at(5, Some(digest(5)));
        assert!(matches!(
            link.accept(&checkpoint(5, 9, Some(4))),
            Err(ChainError::WrongAnchor { sequence: 5, expected, found }) if expected == digest(5) && found == digest(9)
        ));
        link.accept(&checkpoint(5, 5, Some(4))).unwrap();
        assert!(matches!(
            link.accept(&checkpoint(7, 7, Some(6))),
            Err(ChainError::WrongSequence { wanted: 6, got: 7 })
        ));
        let foreign = link.accept(&checkpoint(6, 6, Some(0xF5))).unwrap_err();
        assert!(matches!(foreign, ChainError::BrokenLink { sequence: 6, .. }), "{foreign}");
        assert!(foreign.to_string().contains("checkpoint 5 is"), "{foreign}");
        // A refused checkpoint leaves the link where it was.
        assert_eq!(link.next(), 6);
        link.accept(&checkpoint(6, 6, Some(5))).unwrap();
        assert_eq!(link.next(), 7);
    }

    #[test]
    fn resuming_links_to_the_stored_digest_or_takes_what_comes() {
        let mut link = ChainLink::after(9, Some(digest(9)));
        assert!(link.accept(&checkpoint(10, 10, None)).is_err());
        link.accept(&checkpoint(10, 10, Some(9))).unwrap();
        let mut unanchored = ChainLink::after(9, None);
        unanchored.accept(&checkpoint(10, 10, Some(0x77))).unwrap();
        assert!(unanchored.accept(&checkpoint(11, 11, Some(0x77))).is_err());
    }
}
