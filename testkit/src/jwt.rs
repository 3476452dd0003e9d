//! RS256 JSON Web Tokens for the emulated Google identity: [`GoogleIdentity`] signs the ID
//! tokens the metadata emulator issues and verifies them for the AWS STS emulator, and
//! [`decode_payload`] reads a token's claims without verifying it, as clients do.

use std::fmt;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{
    KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

/// Why a JWT was rejected by [`GoogleIdentity::verify`] or could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three base64url parts, or a part is not the JSON object it should be.
    Malformed(String),
    /// The header's `alg` is not `RS256`.
    UnsupportedAlgorithm(String),
    /// The header's `kid` (shown, or empty when absent) is not the key of this identity.
    UnknownKey(String),
    /// The signature does not match the header and payload.
    BadSignature,
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed JWT: {why}"),
            Self::UnsupportedAlgorithm(alg) => write!(f, "unsupported JWT algorithm {alg:?}"),
            Self::UnknownKey(kid) => write!(f, "unknown JWT signing key id {kid:?}"),
            Self::BadSignature => f.write_str("JWT signature verification failed"),
        }
    }
}

impl std::error::Error for JwtError {}

/// An RSA-2048 signing key standing for Google's ID-token signing key, with its key id.
///
/// Cloning is cheap and shares the key. [`GoogleIdentity::shared`] is the process-wide key that
/// every emulator uses by default, so a metadata emulator and an STS emulator work together
/// with no configuration; [`GoogleIdentity::generate`] makes an independent key, for example to
/// sign tokens that an STS emulator must reject.
///
/// ```
/// use federated_credentials_testkit::GoogleIdentity;
/// use serde_json::json;
///
/// let google = GoogleIdentity::shared();
/// let jwt = google.sign(&json!({"iss": "https://accounts.google.com", "sub": "42"}));
/// assert_eq!(google.verify(&jwt).unwrap()["sub"], "42");
/// ```
#[derive(Clone)]
pub struct GoogleIdentity {
    inner: Arc<Inner>,
}

struct Inner {
    kid: String,
    key: KeyPair,
}

impl fmt::Debug for GoogleIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleIdentity")
            .field("kid", &self.inner.kid)
            .finish_non_exhaustive()
    }
}

impl PartialEq for GoogleIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.inner.kid == other.inner.kid
    }
}

impl Eq for GoogleIdentity {}

impl GoogleIdentity {
    /// The process-wide identity, generated on first use.
    pub fn shared() -> Self {
        static SHARED: OnceLock<GoogleIdentity> = OnceLock::new();
        SHARED.get_or_init(Self::generate).clone()
    }

    /// A new, independent identity with a fresh key (this takes some milliseconds).
    ///
    /// # Panics
    /// If the platform's RSA key generation fails, which only happens when the system has no
    /// working source of randomness.
    pub fn generate() -> Self {
        let key = KeyPair::generate(KeySize::Rsa2048)
            .expect("RSA-2048 key generation (needs a working system random source)");
        // Like Google's key ids: 40 hex digits derived from the public key.
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.public_key().as_ref());
        let kid = digest.as_ref()[..20]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            inner: Arc::new(Inner { kid, key }),
        }
    }

    /// The key id, sent as `kid` in every token header.
    pub fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// The public key as DER `RSAPublicKey` (PKCS#1).
    pub fn public_key_der(&self) -> &[u8] {
        self.inner.key.public_key().as_ref()
    }

    /// The public key as a JSON Web Key (`kty`, `alg`, `use`, `kid`, `n`, `e`), the shape of one
    /// entry of Google's JWKS document, for verifying tokens with another JWT library.
    ///
    /// ```
    /// use federated_credentials_testkit::GoogleIdentity;
    /// use serde_json::json;
    ///
    /// // A JWKS document, as https://www.googleapis.com/oauth2/v3/certs serves it:
    /// let jwks = json!({ "keys": [GoogleIdentity::shared().jwk()] });
    /// ```
    pub fn jwk(&self) -> Value {
        let (n, e) = rsa_public_components(self.public_key_der())
            .expect("aws-lc-rs encodes public keys as DER RSAPublicKey");
        json!({
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid(),
            "n": URL_SAFE_NO_PAD.encode(n),
            "e": URL_SAFE_NO_PAD.encode(e),
        })
    }

    /// Signs `claims` (a JSON object) into a compact JWT with header
    /// `{"alg":"RS256","kid":KID,"typ":"JWT"}`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": self.kid(), "typ": "JWT"});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = &self.inner.key;
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .expect("RSA signing into a modulus-sized buffer");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Checks that `jwt` is an RS256 token signed by this identity and returns its claims.
    /// Claims such as `exp` and `iss` are not checked here.
    pub fn verify(&self, jwt: &str) -> Result<Map<String, Value>, JwtError> {
        let parts = split(jwt)?;
        let header = decode_object(parts.header, "header")?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if alg != "RS256" {
            return Err(JwtError::UnsupportedAlgorithm(alg.to_owned()));
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kid != self.kid() {
            return Err(JwtError::UnknownKey(kid.to_owned()));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(parts.signature)
            .map_err(|_| JwtError::Malformed("signature is not base64url".to_owned()))?;
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, self.public_key_der())
            .verify(parts.signing_input.as_bytes(), &signature)
            .map_err(|_| JwtError::BadSignature)?;
        decode_object(parts.payload, "payload")
    }
}

/// The header of a compact JWT, decoded but not verified.
pub fn decode_header(jwt: &str) -> Result<Map<String, Value>, JwtError> {
    decode_object(split(jwt)?.header, "header")
}

/// The claims of a compact JWT, decoded but not verified (what clients do to read `exp`).
///
/// ```
/// use federated_credentials_testkit::{decode_payload, GoogleIdentity};
/// let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"exp": 1700003600}));
/// assert_eq!(decode_payload(&jwt).unwrap()["exp"], 1700003600);
/// ```
pub fn decode_payload(jwt: &str) -> Result<Map<String, Value>, JwtError> {
    decode_object(split(jwt)?.payload, "payload")
}

struct Parts<'a> {
    signing_input: &'a str,
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
}

fn split(jwt: &str) -> Result<Parts<'_>, JwtError> {
    let malformed = || JwtError::Malformed("expected three dot-separated parts".to_owned());
    let (signing_input, signature) = jwt.rsplit_once('.').ok_or_else(malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or_else(malformed)?;
    if payload.contains('.') {
        return Err(malformed());
    }
    Ok(Parts {
        signing_input,
        header,
        payload,
        signature,
    })
}

fn decode_object(part: &str, what: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed(format!("{what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(JwtError::Malformed(format!("{what} is not a JSON object"))),
    }
}

/// Reads `n` and `e` (big-endian, no leading zero) from a DER `RSAPublicKey`
/// (`SEQUENCE { INTEGER n, INTEGER e }`).
fn rsa_public_components(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (sequence, rest) = der_element(der, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let (n, rest) = der_element(sequence, 0x02)?;
    let (e, rest) = der_element(rest, 0x02)?;
    rest.is_empty()
        .then(|| (strip_leading_zeros(n), strip_leading_zeros(e)))
}

fn strip_leading_zeros(int: &[u8]) -> &[u8] {
    let first = int.iter().position(|&b| b != 0).unwrap_or(int.len());
    &int[first..]
}

/// Splits one DER element with tag `tag` off the front of `input`: (contents, rest).
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&actual_tag, input) = input.split_first()?;
    let (&first_len, input) = input.split_first()?;
    if actual_tag != tag {
        return None;
    }
    let (len, input) = if first_len < 0x80 {
        (usize::from(first_len), input)
    } else {
        let count = usize::from(first_len & 0x7f);
        if count == 0 || count > std::mem::size_of::<usize>() || input.len() < count {
            return None;
        }
        let (len_bytes, input) = input.split_at(count);
        let len = len_bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, input)
    };
    (input.len() >= len).then(|| input.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rsa::PublicKeyComponents;

    #[test]
    fn sign_then_verify_round_trips_with_rs256_header() {
        let google = GoogleIdentity::shared();
        let jwt = google.sign(&json!({"sub": "1", "aud": "a"}));
        let header = decode_header(&jwt).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], google.kid());
        assert_eq!(google.kid().len(), 40);
        let claims = google.verify(&jwt).unwrap();
        assert_eq!(claims, decode_payload(&jwt).unwrap());
        assert_eq!(claims["aud"], "a");
        assert_eq!(GoogleIdentity::shared(), google);
    }

    #[test]
    fn verify_rejects_tampering_other_keys_and_garbage() {
        let google = GoogleIdentity::shared();
        let jwt = google.sign(&json!({"sub": "1"}));
        let (input, _) = jwt.rsplit_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(json!({"sub": "2"}).to_string());
        let header = input.split('.').next().unwrap();
        let signature = jwt.rsplit('.').next().unwrap();
        let tampered = format!("{header}.{forged_payload}.{signature}");
        assert_eq!(google.verify(&tampered), Err(JwtError::BadSignature));

        let other = GoogleIdentity::generate();
        assert_ne!(other, google);
        let foreign = other.sign(&json!({"sub": "1"}));
        assert_eq!(
            google.verify(&foreign),
            Err(JwtError::UnknownKey(other.kid().to_owned()))
        );

        let none_alg = format!(
            "{}.{forged_payload}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#)
        );
        assert_eq!(
            google.verify(&none_alg),
            Err(JwtError::UnsupportedAlgorithm("none".to_owned()))
        );
        for garbage in ["", "a.b", "a.b.c.d", "!!.e30.sig", "W10.e30.sig"] {
            assert!(
                matches!(google.verify(garbage), Err(JwtError::Malformed(_))),
                "{garbage}"
            );
        }
        assert!(matches!(
            decode_payload("e30.W10.sig"),
            Err(JwtError::Malformed(_))
        ));
    }

    #[test]
    fn errors_keys_and_headers() {
        let google = GoogleIdentity::shared();
        let jwt = google.sign(&json!({"sub": "42"}));
        let (signed, _signature) = jwt.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{}", "A".repeat(342));
        assert_eq!(google.verify(&forged), Err(JwtError::BadSignature));
        let foreign = GoogleIdentity::generate().sign(&json!({"sub": "42"}));
        assert!(matches!(
            google.verify(&foreign),
            Err(JwtError::UnknownKey(_))
        ));
        let err = google.verify("not-a-jwt").unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed JWT: expected three dot-separated parts"
        );

        assert!(google.kid().bytes().all(|b| b.is_ascii_hexdigit()));
        let header = decode_header(&jwt).unwrap();
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], google.kid());
        assert!(decode_header("e30").is_err(), "one part is not a JWT");

        // Long expired, but verify() checks only the signature: expiry is the caller's business.
        let expired = google.sign(&json!({"sub": "42", "exp": 1_000_000_000}));
        assert_eq!(google.verify(&expired).unwrap()["exp"], 1_000_000_000);
    }

    #[test]
    fn the_public_key_verifies_with_another_library() {
        let google = GoogleIdentity::shared();
        let jwt = google.sign(&json!({"sub": "42"}));
        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, google.public_key_der());
        assert!(key.verify(signed.as_bytes(), &signature).is_ok());

        let jwk = google.jwk();
        assert_eq!(
            (jwk["kty"].as_str(), jwk["alg"].as_str()),
            (Some("RSA"), Some("RS256"))
        );
        assert_eq!(jwk["kid"], google.kid());
        assert_eq!(jwk["e"], "AQAB", "65537");
        let jwks = json!({ "keys": [jwk] });
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn jwk_components_verify_the_signature() {
        let google = GoogleIdentity::shared();
        let jwk = google.jwk();
        assert_eq!(jwk["kid"], google.kid());
        let decode = |field: &str| {
            URL_SAFE_NO_PAD
                .decode(jwk[field].as_str().unwrap())
                .unwrap()
        };
        let components = PublicKeyComponents {
            n: decode("n"),
            e: decode("e"),
        };
        assert_eq!(components.n.len(), 256);
        assert_eq!(components.e, [1, 0, 1]);
        let jwt = google.sign(&json!({}));
        let (input, signature) = jwt.rsplit_once('.').unwrap();
        components
            .verify(
                &RSA_PKCS1_2048_8192_SHA256,
                input.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .unwrap();
    }
}
