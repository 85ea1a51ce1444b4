//! Calls the contracts would abort are refused with the contracts' error names, and change
//! nothing: no checkpoint is written, the state stays as it was. Certificates are checked with
//! real BLS, so forged or misattributed signatures are caught, not only malformed ones.

mod common;

use common::*;
use fastcrypto::bls12381::min_pk::BLS12381KeyPair;
use fastcrypto::traits::{KeyPair, Signer, ToFromBytes};
use rand::SeedableRng;
use sui_sdk_types::Address;
use walrus_chain::messages::{blob_certification, invalid_blob_id, Persistence};
use walrus_localchain::{Call, ChainError, LocalChain};

struct Fixture {
    _dir: tempfile::TempDir,
    chain: LocalChain,
    network: Network,
    permanent: (Address, [u8; 32]),
    deletable: (Address, [u8; 32]),
}

/// Nodes with 1, 2, 3 and 4 WAL (so 1, 2, 3 and 4 of 10 shards) and two registered blobs.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(&[1, 2, 3, 4]);
    let (mut chain, _) = LocalChain::create(dir.path(), &network.genesis, 0).unwrap();
    let mut register = |seed, deletable| {
        let (root_hash, blob_id) = blob(seed, 1000);
        let call = Call::RegisterBlob { blob_id, root_hash, size: 1000, encoding_type: 1, deletable, epochs_ahead: 2 };
        (chain.execute(client(), call, 0).unwrap().created[1], blob_id)
    };
    let permanent = register(1, false);
    let deletable = register(2, true);
    Fixture { _dir: dir, chain, network, permanent, deletable }
}

impl Fixture {
    /// Runs `call`, expects the abort `name`, and checks that nothing changed.
    fn refused(&mut self, sender: Address, call: Call, name: &str) {
        let (state, checkpoint) = (self.chain.state().clone(), self.chain.last_checkpoint());
        match self.chain.execute(sender, call.clone(), 0) {
            Err(error) => assert_eq!(error.name(), name, "{call:?}: {error}"),
            Ok(_) => panic!("{call:?} was accepted; expected {name}"),
        }
        assert_eq!(self.chain.state(), &state);
        assert_eq!(self.chain.last_checkpoint(), checkpoint);
        let next = self.chain.checkpoints_dir().join(format!("{}.binpb.zst", checkpoint + 1));
        assert!(!next.exists(), "no checkpoint for a refused call");
    }

    fn weights(&self) -> Vec<u16> {
        self.chain.state().bls_committee.members.iter().map(|m| m.weight).collect()
    }

    /// Members (indices) in increasing weight until the sum would reach `limit`.
    fn signers_below(&self, limit: u16) -> Vec<usize> {
        let weights = self.weights();
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by_key(|&i| weights[i]);
        let mut total = 0;
        order
            .into_iter()
            .take_while(|&i| {
                total += weights[i];
                total < limit
            })
            .collect()
    }

    fn certify(&self, object_id: Address, signature: Vec<u8>, signers_bitmap: Vec<u8>, message: Vec<u8>) -> Call {
        Call::CertifyBlob { object_id, signature, signers_bitmap, message }
    }
}

#[test]
fn certify_refuses_every_bad_certificate() {
    let mut f = fixture();
    let epoch = f.chain.state().epoch;
    let (object, blob_id) = f.permanent;
    let good = blob_certification(epoch, &blob_id, Persistence::Permanent);
    let (signature, bitmap) = f.network.certify_all(f.chain.state(), &good);

    // Signed by everyone, but for the next epoch.
    let later = blob_certification(epoch + 1, &blob_id, Persistence::Permanent);
    let (sig, bm) = f.network.certify_all(f.chain.state(), &later);
    f.refused(client(), f.certify(object, sig, bm, later), "EIncorrectEpoch");

    // Bitmaps: one byte too long, and a bit past the last of the 4 members.
    f.refused(client(), f.certify(object, signature.clone(), vec![0x0F, 0x00], good.clone()), "EInvalidBitmap");
    f.refused(client(), f.certify(object, signature.clone(), vec![0x1F], good.clone()), "EInvalidBitmap");

    // Under quorum (3w >= 2n + 1 with n = 10 needs 7 shards).
    let few = f.signers_below(7);
    let (sig, bm) = f.network.certify(f.chain.state(), &few, &good);
    f.refused(client(), f.certify(object, sig, bm, good.clone()), "ENotEnoughStake");

    // A key outside the committee, and a bitmap naming a member that did not sign.
    let outsider = BLS12381KeyPair::generate(&mut rand::rngs::StdRng::seed_from_u64(999));
    f.refused(
        client(),
        f.certify(object, outsider.sign(&good).as_bytes().to_vec(), bitmap.clone(), good.clone()),
        "ESigVerification",
    );
    let all_but_one: Vec<usize> = (1..4).collect();
    let (sig, _) = f.network.certify(f.chain.state(), &all_but_one, &good);
    f.refused(client(), f.certify(object, sig, bitmap.clone(), good.clone()), "ESigVerification");
    f.refused(client(), f.certify(object, vec![0xAB; 96], bitmap.clone(), good.clone()), "ESigVerification");

    // Messages: signed for one blob, shown for another; another blob's certificate; the wrong
    // intent; the wrong persistence; another object; a header that is not Walrus's.
    let other = blob_certification(epoch, &[7; 32], Persistence::Permanent);
    f.refused(client(), f.certify(object, signature.clone(), bitmap.clone(), other.clone()), "ESigVerification");
    let (sig, bm) = f.network.certify_all(f.chain.state(), &other);
    f.refused(client(), f.certify(object, sig, bm, other), "EInvalidBlobId");
    let invalid = invalid_blob_id(epoch, &blob_id);
    let (sig, bm) = f.network.certify_all(f.chain.state(), &invalid);
    f.refused(client(), f.certify(object, sig, bm, invalid), "EInvalidMsgType");
    let as_deletable = blob_certification(epoch, &blob_id, Persistence::Deletable(object.into()));
    let (sig, bm) = f.network.certify_all(f.chain.state(), &as_deletable);
    f.refused(client(), f.certify(object, sig, bm, as_deletable), "EInvalidBlobPersistenceType");
    let (deletable, deletable_id) = f.deletable;
    let wrong_object = blob_certification(epoch, &deletable_id, Persistence::Deletable(object.into()));
    let (sig, bm) = f.network.certify_all(f.chain.state(), &wrong_object);
    f.refused(client(), f.certify(deletable, sig, bm, wrong_object), "EInvalidBlobObject");
    let mut not_walrus = good.clone();
    not_walrus[2] = 4;
    let (sig, bm) = f.network.certify_all(f.chain.state(), &not_walrus);
    f.refused(client(), f.certify(object, sig, bm, not_walrus), "EIncorrectAppId");

    // Someone else's blob, and one that does not exist.
    f.refused(address(0x77, 7), f.certify(object, signature.clone(), bitmap.clone(), good.clone()), "NotOwner");
    f.refused(client(), f.certify(address(0x77, 8), signature.clone(), bitmap.clone(), good.clone()), "ObjectNotFound");

    // The good certificate works once, with a quorum that leaves out the smallest member.
    let quorum: Vec<usize> = {
        let weights = f.weights();
        let smallest = (0..4).min_by_key(|&i| weights[i]).unwrap();
        (0..4).filter(|&i| i != smallest).collect()
    };
    let (sig, bm) = f.network.certify(f.chain.state(), &quorum, &good);
    let executed = f.chain.execute(client(), f.certify(object, sig, bm, good.clone()), 0).unwrap();
    assert_eq!(executed.events[0].name(), "BlobCertified");
    f.refused(client(), f.certify(object, signature, bitmap, good), "EAlreadyCertified");
}

#[test]
fn invalidation_needs_one_correct_node() {
    let mut f = fixture();
    let epoch = f.chain.state().epoch;
    let message = invalid_blob_id(epoch, &[5; 32]);
    // 3w >= n + 1 with n = 10 needs 4 shards.
    let few = f.signers_below(4);
    let (sig, bm) = f.network.certify(f.chain.state(), &few, &message);
    let call = Call::InvalidateBlobId { signature: sig, signers_bitmap: bm, message: message.clone() };
    f.refused(client(), call, "ENotEnoughStake");
    let weights = f.weights();
    let largest = (0..4).max_by_key(|&i| weights[i]).unwrap();
    let (sig, bm) = f.network.certify(f.chain.state(), &[largest], &message);
    let executed =
        f.chain.execute(client(), Call::InvalidateBlobId { signature: sig, signers_bitmap: bm, message }, 0).unwrap();
    assert_eq!(executed.events[0].name(), "InvalidBlobID");
}

#[test]
fn blob_calls_refuse_what_the_contracts_refuse() {
    let mut f = fixture();
    let (root_hash, blob_id) = blob(3, 500);
    let register = |blob_id, size, epochs_ahead, encoding_type| Call::RegisterBlob {
        blob_id,
        root_hash,
        size,
        encoding_type,
        deletable: false,
        epochs_ahead,
    };
    f.refused(client(), register(blob_id, 501, 1, 1), "EInvalidBlobId");
    f.refused(client(), register(blob_id, 500, 0, 1), "EInvalidEpochsAhead");
    f.refused(client(), register(blob_id, 500, 11, 1), "EInvalidEpochsAhead");
    f.refused(client(), register(blob_id, 500, 1, 2), "EInvalidEncodingType");
    f.refused(client(), register(blob_id, 10 << 20, 1, 1), "EBlobTooLarge");
    f.refused(address(0x77, 1), register(blob_id, 500, 1, 1), "EInsufficientPayment");

    let (permanent, _) = f.permanent;
    let (deletable, _) = f.deletable;
    f.refused(client(), Call::DeleteBlob { object_id: permanent }, "EBlobNotDeletable");
    f.refused(client(), Call::ExtendBlob { object_id: permanent, epochs: 1 }, "ENotCertified");
    f.refused(address(0x77, 1), Call::DeleteBlob { object_id: deletable }, "NotOwner");

    // Past its end epoch a blob can no longer be deleted.
    f.chain.advance_epoch(client(), 0).unwrap();
    f.chain.advance_epoch(client(), 0).unwrap();
    f.refused(client(), Call::DeleteBlob { object_id: deletable }, "EResourceBounds");
}

#[test]
fn genesis_checks_proofs_of_possession() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::new(&[1, 1, 1, 1]);
    // Node 1's proof was signed for node 0's sender.
    network.genesis.nodes[1].sender = network.genesis.nodes[0].sender;
    let error = LocalChain::create(dir.path(), &network.genesis, 0).err().expect("refused");
    assert!(matches!(error, ChainError::Abort(abort) if abort.name == "EInvalidProofOfPossession"), "{error}");
    assert!(!dir.path().join("state.json").exists(), "nothing is written for a refused genesis");

    let mut network = Network::new(&[1, 1, 1, 1]);
    network.genesis.nodes[2].stake = WAL - 1;
    let error = LocalChain::create(dir.path(), &network.genesis, 0).err().expect("refused");
    assert_eq!(error.name(), "EStakeBelowThreshold");
}
