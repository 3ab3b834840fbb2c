//! Decryption of values written by the `dotenvx encrypt` CLI (`encrypted:<base64 ECIES>`).
//!
//! dotenvx encrypts each value with ECIES over secp256k1 (the `eciesjs` layout: uncompressed
//! ephemeral key, AES-256-GCM) and names the private key after the file it belongs to:
//! `.env` → `DOTENV_PRIVATE_KEY`, `.env.production` → `DOTENV_PRIVATE_KEY_PRODUCTION`.

use base64::Engine;

const PREFIX: &str = "encrypted:";

pub fn is_encrypted(value: &str) -> bool {
    value.starts_with(PREFIX)
}

/// The private-key variable dotenvx pairs with `file` (`.env.production` →
/// `DOTENV_PRIVATE_KEY_PRODUCTION`).
pub fn private_key_name(file: &str) -> String {
    let suffix = file.trim_start_matches(".env").trim_start_matches('.');
    if suffix.is_empty() {
        "DOTENV_PRIVATE_KEY".to_owned()
    } else {
        let suffix: String = suffix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("DOTENV_PRIVATE_KEY_{suffix}")
    }
}

/// Decrypts one `encrypted:` value with the first of `keys` (hex secp256k1 secrets) that opens it.
pub fn decrypt_value(value: &str, keys: &[String]) -> Result<String, String> {
    let encoded = value.strip_prefix(PREFIX).unwrap_or(value);
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "the encrypted value is not valid base64".to_owned())?;
    if keys.is_empty() {
        return Err(
            "no private key was given (set DOTENV_PRIVATE_KEY or provide .env.keys)".to_owned(),
        );
    }
    for key in keys {
        let Ok(secret) = hex::decode(key) else {
            continue;
        };
        if let Ok(plain) = ecies::decrypt(&secret, &ciphertext) {
            return String::from_utf8(plain)
                .map_err(|_| "the decrypted value is not UTF-8".to_owned());
        }
    }
    Err("no given private key decrypts it (wrong DOTENV_PRIVATE_KEY?)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_follow_the_file_suffix() {
        assert_eq!(private_key_name(".env"), "DOTENV_PRIVATE_KEY");
        assert_eq!(
            private_key_name(".env.production"),
            "DOTENV_PRIVATE_KEY_PRODUCTION"
        );
        assert_eq!(
            private_key_name(".env.development.local"),
            "DOTENV_PRIVATE_KEY_DEVELOPMENT_LOCAL"
        );
    }

    #[test]
    fn a_value_encrypted_to_our_key_round_trips() {
        let (secret, public) = ecies::utils::generate_keypair();
        let ciphertext = ecies::encrypt(&public.serialize(), b"s3cret value").expect("encrypts");
        let value = format!(
            "encrypted:{}",
            base64::engine::general_purpose::STANDARD.encode(ciphertext)
        );
        let key = hex::encode(secret.serialize());
        assert_eq!(decrypt_value(&value, &[key]).as_deref(), Ok("s3cret value"));
        let other = hex::encode(ecies::utils::generate_keypair().0.serialize());
        assert!(decrypt_value(&value, &[other]).is_err());
        assert!(decrypt_value(&value, &[]).is_err());
    }
}
