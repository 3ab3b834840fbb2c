//! EIP-191 personal-message hashing and secp256k1 public-key recovery of 65-byte signatures,
//! with the format rules (length, `v` ∈ {0,1,27,28}, low-S) each reported distinctly.

use std::sync::LazyLock;

use alloy_primitives::keccak256;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId, Signature};
use secp256k1::{Message, Secp256k1, VerifyOnly};

static SECP: LazyLock<Secp256k1<VerifyOnly>> = LazyLock::new(Secp256k1::verification_only);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature is not 0x-prefixed hex")]
    NotHex,
    #[error("the signature is not 65 bytes")]
    BadLength,
    #[error("the signature's recovery byte v must be 0, 1, 27 or 28")]
    BadRecoveryByte,
    #[error("the signature's s value is in the upper half of the curve order")]
    HighS,
    #[error("no public key can be recovered from the signature")]
    Unrecoverable,
}

/// `keccak256("\x19Ethereum Signed Message:\n" ++ len(message) ++ message)`.
pub fn eip191_hash(message: &[u8]) -> [u8; 32] {
    let mut data = Vec::with_capacity(message.len() + 32);
    data.extend_from_slice(b"\x19Ethereum Signed Message:\n");
    data.extend_from_slice(message.len().to_string().as_bytes());
    data.extend_from_slice(message);
    keccak256(&data).0
}

/// Decodes `0x…` hex signature bytes (any length; ERC-1271 wallets use other lengths).
pub fn decode_signature(text: &str) -> Result<Vec<u8>, SignatureError> {
    let hex_part = text.strip_prefix("0x").ok_or(SignatureError::NotHex)?;
    hex::decode(hex_part).map_err(|_| SignatureError::NotHex)
}

/// Recovers the address that produced `signature` (r ‖ s ‖ v) over `hash`.
pub fn recover_address(hash: &[u8; 32], signature: &[u8]) -> Result<[u8; 20], SignatureError> {
    let bytes: &[u8; 65] = signature
        .try_into()
        .map_err(|_| SignatureError::BadLength)?;
    let v = match bytes[64] {
        0 | 27 => 0,
        1 | 28 => 1,
        _ => return Err(SignatureError::BadRecoveryByte),
    };
    let compact = &bytes[..64];
    // Reject the malleable twin (s > n/2), as Ethereum does since EIP-2.
    let plain = Signature::from_compact(compact).map_err(|_| SignatureError::Unrecoverable)?;
    let mut normalized = plain;
    normalized.normalize_s();
    if normalized != plain {
        return Err(SignatureError::HighS);
    }
    let recovery_id = RecoveryId::try_from(v).map_err(|_| SignatureError::BadRecoveryByte)?;
    let recoverable = RecoverableSignature::from_compact(compact, recovery_id)
        .map_err(|_| SignatureError::Unrecoverable)?;
    let public = SECP
        .recover_ecdsa(Message::from_digest(*hash), &recoverable)
        .map_err(|_| SignatureError::Unrecoverable)?;
    let uncompressed = public.serialize_uncompressed();
    let digest = keccak256(&uncompressed[1..]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&digest[12..]);
    Ok(address)
}
