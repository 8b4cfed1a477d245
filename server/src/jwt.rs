//! The `Gitlab-Workhorse-Api-Request` JWT: how the app knows a request really
//! comes from the relay (GitLab `lib/gitlab/workhorse.rb`, Workhorse
//! `internal/secret/jwt.go`).
//!
//! HS256 over a shared secret, claims `{"iss":"gitlab-workhorse","iat":<unix s>}`;
//! the app accepts a token whose `iat` is at most
//! [`shared::channel::JWT_VALIDITY_SECS`] old. The secret file holds base64 of
//! 32 random bytes, like GitLab's `.gitlab_workhorse_secret`; the HMAC key is
//! the decoded bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use shared::channel::{JWT_ISSUER, JWT_VALIDITY_SECS};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of a generated secret, in bytes (GitLab's `SECRET_LENGTH`).
pub const SECRET_LENGTH: usize = 32;

/// The shared secret between relay and app.
#[derive(Clone)]
pub struct WorkhorseSecret(Vec<u8>);

impl std::fmt::Debug for WorkhorseSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkhorseSecret(..)")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    iat: u64,
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    /// No `Gitlab-Workhorse-Api-Request` header.
    Missing,
    /// Bad signature, algorithm, issuer or shape.
    Invalid(String),
    /// `iat` older than the validity window, or in the future.
    Stale,
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::Missing => f.write_str("missing Gitlab-Workhorse-Api-Request header"),
            JwtError::Invalid(e) => write!(f, "invalid Workhorse API request token: {e}"),
            JwtError::Stale => f.write_str("stale Workhorse API request token"),
        }
    }
}

impl JwtError {
    /// Fixed words for the requester; [`Display`](std::fmt::Display) has
    /// the detail, for the log.
    pub fn public(&self) -> &'static str {
        match self {
            JwtError::Missing => "missing Gitlab-Workhorse-Api-Request header",
            JwtError::Invalid(_) => "invalid token",
            JwtError::Stale => "stale token",
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl WorkhorseSecret {
    /// A secret from raw key bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        WorkhorseSecret(bytes)
    }

    /// Reads the secret file (base64 of the key, surrounding whitespace
    /// ignored), creating it with [`SECRET_LENGTH`] random bytes, mode 0600,
    /// when it does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        let text = crate::secrets::load_or_create(path, || STANDARD.encode(rand::random::<[u8; SECRET_LENGTH]>()))?;
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| anyhow::anyhow!("{}: not base64: {e}", path.display()))?;
        anyhow::ensure!(bytes.len() >= 16, "{}: secret shorter than 16 bytes", path.display());
        Ok(WorkhorseSecret(bytes))
    }

    fn encoding_key(&self) -> EncodingKey {
        EncodingKey::from_secret(&self.0).expect("an HMAC key of any length is valid")
    }

    fn decoding_key(&self) -> Result<DecodingKey, JwtError> {
        DecodingKey::from_secret(&self.0).map_err(|e| JwtError::Invalid(e.to_string()))
    }

    /// A fresh token for one request.
    pub fn sign(&self) -> String {
        self.sign_at(now_secs())
    }

    /// A token with the given `iat` (unix seconds); for tests of staleness.
    pub fn sign_at(&self, iat: u64) -> String {
        let claims = Claims { iss: JWT_ISSUER.into(), iat };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding_key()).expect("HS256 signing cannot fail")
    }

    /// Checks a token from the header value (`None` when the header is absent).
    pub fn verify(&self, token: Option<&str>) -> Result<(), JwtError> {
        let token = token.ok_or(JwtError::Missing)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[JWT_ISSUER]);
        validation.set_required_spec_claims(&["iss"]);
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding_key()?, &validation)
            .map_err(|e| JwtError::Invalid(e.to_string()))?;
        let now = now_secs();
        // A few seconds of clock skew between relay and app hosts are normal.
        if data.claims.iat + JWT_VALIDITY_SECS < now || data.claims.iat > now + 5 {
            return Err(JwtError::Stale);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> WorkhorseSecret {
        WorkhorseSecret::from_bytes(vec![7; 32])
    }

    #[test]
    fn fresh_tokens_verify() {
        assert_eq!(secret().verify(Some(&secret().sign())), Ok(()));
    }

    #[test]
    fn refusals() {
        assert_eq!(secret().verify(None), Err(JwtError::Missing));
        assert_eq!(secret().verify(Some(&secret().sign_at(now_secs() - 91))), Err(JwtError::Stale));
        let other = WorkhorseSecret::from_bytes(vec![8; 32]);
        assert!(matches!(secret().verify(Some(&other.sign())), Err(JwtError::Invalid(_))));
        assert!(matches!(secret().verify(Some("not.a.jwt")), Err(JwtError::Invalid(_))));
        let wrong_issuer = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims { iss: "someone".into(), iat: now_secs() },
            &EncodingKey::from_secret(&[7; 32]).unwrap(),
        )
        .unwrap();
        assert!(matches!(secret().verify(Some(&wrong_issuer)), Err(JwtError::Invalid(_))));
    }

    #[test]
    fn secret_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let a = WorkhorseSecret::load_or_create(&path).unwrap();
        let b = WorkhorseSecret::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0);
        assert_eq!(a.0.len(), SECRET_LENGTH);
    }
}
