//! Why a call was refused: a Move abort (named as the contract names it, so callers see what
//! Sui would have told them), or something only this stand-in can get wrong.

use serde::Serialize;

/// A Move `#[error]` constant: module, name and message, as `move/walrus` declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Abort {
    pub module: &'static str,
    pub name: &'static str,
    pub message: &'static str,
}

macro_rules! aborts {
    ($($module:ident :: $name:ident = $message:literal;)*) => {
        $(
            #[allow(non_upper_case_globals)]
            pub const $name: Abort = Abort { module: stringify!($module), name: stringify!($name), message: $message };
        )*

        /// Every abort above, for the test that finds each in the Move sources.
        pub const ALL: &[Abort] = &[$($name,)* ETooFewShardsForStaking];
    };
}

/// The aborts the calls here can raise, with the contracts' own messages.
pub mod aborts {
    use super::Abort;

    aborts! {
        system_state_inner::EStorageExceeded = "Not enough capacity left in one of the epochs";
        system_state_inner::EInvalidEpochsAhead = "The period must be non-empty and end within max_epochs_ahead of the current epoch";
        system_state_inner::EInvalidResourceSize = "The storage size must be greater than zero";
        system_state_inner::EInsufficientPayment = "The coin does not cover the cost";
        system_state_inner::ECostOverflow = "The cost does not fit in a u64";
        blob::ENotCertified = "The blob is not certified";
        blob::EBlobNotDeletable = "The blob is not deletable";
        blob::EResourceBounds = "The storage does not cover the current epoch";
        blob::EResourceSize = "The storage is smaller than the blob's encoded size";
        blob::EAlreadyCertified = "The blob is already certified";
        blob::EInvalidBlobId = "The blob ID does not match";
        blob::EInvalidBlobPersistenceType = "The certificate is for the other persistence type (permanent or deletable)";
        blob::EInvalidBlobObject = "The certificate is for another blob object";
        encoding::EInvalidEncodingType = "Only encoding type 1 (RS2) is supported";
        encoding::EBlobTooLarge = "The blob is too large for this number of shards (symbols exceed 65534 bytes)";
        encoding::ETooFewShards = "Encoding needs at least 4 shards";
        bls_aggregate::EInvalidBitmap = "The signer bitmap is longer than the committee or names a member that does not exist";
        bls_aggregate::ESigVerification = "The aggregated signature does not verify";
        bls_aggregate::ENotEnoughStake = "The signers do not hold enough shards";
        messages::EMessageTooShort = "The message is shorter than its header and body";
        messages::EIncorrectAppId = "The message is not for Walrus (app ID must be 3)";
        messages::EIncorrectIntentVersion = "Unknown intent version (must be 0)";
        messages::EIncorrectEpoch = "The message was signed for another epoch";
        messages::EInvalidMsgType = "The message has the wrong intent type for this operation";
        messages::EInvalidPersistenceType = "Unknown blob persistence type (must be 0 or 1)";
        staking_inner::EWrongEpochState = "The epoch change is not at this step";
        staking_inner::ETooEarly = "This step of the epoch change is not due yet";
        staking_inner::ETooSoonAfterLastChange = "At most one epoch change per epoch duration: the previous one started less than that ago";
        staking_inner::EInvalidProofOfPossession = "The proof of possession does not verify for this key, sender and epoch";
        staking_inner::ENoStake = "No node has stake: no committee can be selected";
        staking_inner::EInvalidParameters = "Epoch duration and committee size must be positive";
        staking_pool::EIncorrectCommissionRate = "The commission rate must be at most 10000 basis points";
        staked_wal::EStakeBelowThreshold = "A stake must hold at least 1 WAL";
        storage_node::EInvalidNameLength = "The node name must be 1 to 100 bytes";
        storage_node::EInvalidNetworkAddressLength = "The network address must be 1 to 259 bytes";
        storage_node::EInvalidNetworkPublicKey = "The network public key must be 33 bytes (compressed secp256r1)";
        storage_node::EInvalidPublicKey = "The BLS public key must be 48 bytes (compressed G1)";
        system_state_inner::EInvalidMaxEpochsAhead = "max_epochs_ahead must be between 1 and 1000";
        staking_inner::EInvalidSyncEpoch = "The sync report is for another epoch";
        staking_inner::EDuplicateSyncDone = "The node already reported for this epoch";
        staking_inner::ENotInCommittee = "The node is not in the current committee";
    }

    /// `staking_inner::ETooFewShards` (`encoding` has a constant of the same name).
    #[allow(non_upper_case_globals)]
    pub const ETooFewShardsForStaking: Abort = Abort {
        module: "staking_inner",
        name: "ETooFewShards",
        message: "At least 4 shards are needed: with fewer, no blob can ever be encoded",
    };
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The contract would abort the transaction.
    #[error("{}::{} ({})", .0.module, .0.name, .0.message)]
    Abort(Abort),
    /// The call names an object that does not exist (or no longer does).
    #[error("no {what} {id}")]
    NotFound { what: &'static str, id: String },
    /// The object is owned by someone else: Sui would not let the sender use it.
    #[error("object {id} is owned by {owner}, not by the sender {sender}")]
    NotOwner { id: String, owner: String, sender: String },
    /// The request itself is malformed (wrong lengths, unparsable values, bad genesis file).
    #[error("{0}")]
    BadInput(String),
    /// The folder could not be written or read: nothing was committed.
    #[error("storage: {0}")]
    Storage(String),
}

impl From<Abort> for ChainError {
    fn from(abort: Abort) -> Self {
        Self::Abort(abort)
    }
}

impl ChainError {
    /// The name callers match on: the Move constant's name, or one of ours.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Abort(abort) => abort.name,
            Self::NotFound { .. } => "ObjectNotFound",
            Self::NotOwner { .. } => "NotOwner",
            Self::BadInput(_) => "BadInput",
            Self::Storage(_) => "Storage",
        }
    }

    /// The Move module that aborted, for aborts.
    pub fn module(&self) -> Option<&'static str> {
        match self {
            Self::Abort(abort) => Some(abort.module),
            _ => None,
        }
    }
}
