//! Signing a transaction as a Sui client submits it: an Ed25519 signature over the Blake2b-256
//! digest of the intent message (`[0, 0, 0]` for a transaction, then the BCS of the
//! `TransactionData`), sent as `flag || signature || public key` in Base64 next to the Base64
//! transaction bytes. `sui-crypto` computes the intent digest and signs.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sui_crypto::ed25519::Ed25519Verifier;
use sui_crypto::{SuiSigner as _, SuiVerifier as _};
use sui_sdk_types::{Address, Digest, SimpleSignature, Transaction, UserSignature};

use crate::keys::SuiKey;

/// A transaction with its sender's signature, ready to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    pub transaction: Transaction,
    pub signature: UserSignature,
}

/// Why a transaction was not signed, or a signature does not hold.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the transaction is sent by {sender}, but the key is {key}'s")]
    NotSender { sender: Address, key: Address },
    #[error("the signature is by {signer}, not by the sender {sender}")]
    WrongSigner { signer: Address, sender: Address },
    #[error("only Ed25519 signatures are supported")]
    NotEd25519,
    #[error("the signature does not verify: {0}")]
    Invalid(#[from] sui_crypto::SignatureError),
    #[error("cannot decode the transaction or signature: {0}")]
    Decode(String),
}

impl SignedTransaction {
    /// Signs `transaction` with `key`, which must be the sender's: a signature by another key
    /// would only be refused by the network after the user confirmed.
    pub fn sign(transaction: Transaction, key: &SuiKey) -> Result<Self, SignError> {
        if transaction.sender != key.address() {
            return Err(SignError::NotSender { sender: transaction.sender, key: key.address() });
        }
        let signature = key.signer().sign_transaction(&transaction)?;
        Ok(Self { transaction, signature })
    }

    /// Reads the Base64 forms a client submits ([`SignedTransaction::tx_bytes`],
    /// [`SignedTransaction::signature_base64`]) and checks the signature.
    pub fn from_base64(tx_bytes: &str, signature: &str) -> Result<Self, SignError> {
        let bytes = STANDARD.decode(tx_bytes).map_err(|e| SignError::Decode(format!("transaction: {e}")))?;
        let transaction: Transaction =
            bcs::from_bytes(&bytes).map_err(|e| SignError::Decode(format!("transaction: {e}")))?;
        let signature =
            UserSignature::from_base64(signature).map_err(|e| SignError::Decode(format!("signature: {e}")))?;
        let signed = Self { transaction, signature };
        signed.verify()?;
        Ok(signed)
    }

    /// Checks that the signature is a valid Ed25519 signature of the transaction by its sender.
    pub fn verify(&self) -> Result<(), SignError> {
        let UserSignature::Simple(SimpleSignature::Ed25519 { public_key, .. }) = &self.signature else {
            return Err(SignError::NotEd25519);
        };
        let signer = public_key.derive_address();
        if signer != self.transaction.sender {
            return Err(SignError::WrongSigner { signer, sender: self.transaction.sender });
        }
        Ok(Ed25519Verifier::new().verify_transaction(&self.transaction, &self.signature)?)
    }

    /// The BCS of the `TransactionData`, in Base64: the `tx_bytes` a client submits.
    pub fn tx_bytes(&self) -> String {
        STANDARD.encode(bcs::to_bytes(&self.transaction).expect("a transaction always serialises"))
    }

    /// `flag || signature || public key`, in Base64, as a client submits it.
    pub fn signature_base64(&self) -> String {
        self.signature.to_base64()
    }

    /// The transaction digest the network will report it under.
    pub fn digest(&self) -> Digest {
        self.transaction.digest()
    }
}
