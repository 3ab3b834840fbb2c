//! `TestWallet`: a secp256k1 key that builds and signs SIWE messages as a browser wallet would
//! (EIP-191 `personal_sign`), for sign-in tests.

use alloy_primitives::{Address, keccak256};
use secp256k1::{Message, Secp256k1, SecretKey};

#[derive(Debug, Clone)]
pub struct TestWallet {
    key: SecretKey,
    pub address: Address,
}

/// The fields of a SIWE message a test may vary; `render` writes the EIP-4361 text.
#[derive(Debug, Clone)]
pub struct SiweFields {
    pub domain: String,
    pub address: String,
    pub statement: Option<String>,
    pub uri: String,
    pub chain_id: u64,
    pub nonce: String,
    pub issued_at: String,
    pub expiration_time: Option<String>,
    pub not_before: Option<String>,
}

impl SiweFields {
    pub fn render(&self) -> String {
        let mut text = format!(
            "{} wants you to sign in with your Ethereum account:\n{}\n\n",
            self.domain, self.address
        );
        match &self.statement {
            Some(statement) => {
                text.push_str(statement);
                text.push_str("\n\n");
            }
            None => text.push('\n'),
        }
        text.push_str(&format!(
            "URI: {}\nVersion: 1\nChain ID: {}\nNonce: {}\nIssued At: {}",
            self.uri, self.chain_id, self.nonce, self.issued_at
        ));
        if let Some(expiration) = &self.expiration_time {
            text.push_str(&format!("\nExpiration Time: {expiration}"));
        }
        if let Some(not_before) = &self.not_before {
            text.push_str(&format!("\nNot Before: {not_before}"));
        }
        text
    }
}

impl TestWallet {
    /// A wallet from a fixed seed byte, so tests are reproducible.
    pub fn from_seed(seed: u8) -> TestWallet {
        TestWallet::from_key_bytes(keccak256([seed, 0x51, 0x7e]).0)
    }

    pub fn from_key_bytes(bytes: [u8; 32]) -> TestWallet {
        let key = SecretKey::from_byte_array(bytes).expect("a valid secp256k1 secret");
        let public = key
            .public_key(&Secp256k1::signing_only())
            .serialize_uncompressed();
        let address = Address::from_slice(&keccak256(&public[1..])[12..]);
        TestWallet { key, address }
    }

    pub fn key_hex(&self) -> String {
        format!("0x{}", hex::encode(self.key.secret_bytes()))
    }

    pub fn checksummed(&self) -> String {
        self.address.to_checksum(None)
    }

    /// A message from this wallet for a server at `base_url`, with `nonce`, valid now.
    pub fn siwe_fields(&self, base_url: &str, chain_id: u64, nonce: &str) -> SiweFields {
        let url = url::Url::parse(base_url).expect("base url");
        let domain = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        SiweFields {
            domain,
            address: self.checksummed(),
            statement: Some("Sign in to QuickDapp".to_owned()),
            uri: base_url.trim_end_matches('/').to_owned(),
            chain_id,
            nonce: nonce.to_owned(),
            issued_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            expiration_time: None,
            not_before: None,
        }
    }

    /// `personal_sign`: r ‖ s ‖ v with v ∈ {27, 28}, as 0x-hex.
    pub fn sign_message(&self, message: &str) -> String {
        hex_signature(&self.sign_raw(message))
    }

    /// The 65 signature bytes, for tests that tamper with them.
    pub fn sign_raw(&self, message: &str) -> [u8; 65] {
        let mut prefixed = format!("\x19Ethereum Signed Message:\n{}", message.len()).into_bytes();
        prefixed.extend_from_slice(message.as_bytes());
        self.sign_hash(keccak256(&prefixed).0)
    }

    pub fn sign_hash(&self, hash: [u8; 32]) -> [u8; 65] {
        let secp = Secp256k1::signing_only();
        let signature = secp.sign_ecdsa_recoverable(Message::from_digest(hash), &self.key);
        let (recovery_id, compact) = signature.serialize_compact();
        let mut bytes = [0u8; 65];
        bytes[..64].copy_from_slice(&compact);
        bytes[64] = 27 + u8::try_from(i32::from(recovery_id)).expect("recovery id is 0..=3");
        bytes
    }
}

pub fn hex_signature(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}
