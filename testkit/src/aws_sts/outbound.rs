//! `GetWebIdentityToken` ("IAM outbound identity federation"): the caller authenticated by
//! its SigV4 signature, the token signed RS256 or ES384 by the account's issuer, and the
//! issuer's discovery document and JWKS, as the STS emulator serves them.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_FIXED, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use url::Url;

use super::error::{StsError, StsErrorCode};
use super::params::WebIdentityTokenCall;
use crate::jwt::{GoogleIdentity, JwtError, decode_header};
use crate::request::RecordedRequest;
use crate::sigv4::{Authorization, TERMINATOR, canonical_request};
use crate::timestamp;

/// How far `x-amz-date` may be from the emulator's clock.
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// The emulator's limit on the token's claims (AWS does not publish one): larger requests get
/// `JWTPayloadSizeExceededException`.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 16 * 1024;
/// The namespace of AWS's own claims in the token.
pub(crate) const AWS_CLAIMS: &str = "https://sts.amazonaws.com/";

/// AWS credentials that may call `GetWebIdentityToken`, and whose they are.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallerCredentials {
    /// The access key id the request is signed with.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token the request must carry (`x-amz-security-token`), for temporary
    /// credentials.
    pub session_token: Option<String>,
    /// The principal: the role ARN for a role session (the token's `sub`).
    pub principal_arn: String,
    /// When the session ends; a token may not outlive it.
    pub expiration: Option<SystemTime>,
}

impl CallerCredentials {
    /// Temporary credentials of a role session.
    pub fn role_session(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: impl Into<String>,
        role_arn: impl Into<String>,
        expiration: SystemTime,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: Some(session_token.into()),
            principal_arn: role_arn.into(),
            expiration: Some(expiration),
        }
    }
}

/// A token the emulator issued through `GetWebIdentityToken`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedWebIdentityToken {
    /// The JWT.
    pub token: String,
    /// `RS256` or `ES384`.
    pub signing_algorithm: String,
    /// The `Audience` values, in order.
    pub audiences: Vec<String>,
    /// The `sub`: the caller's principal ARN.
    pub subject: String,
    /// The access key id that signed the request.
    pub access_key_id: String,
    /// The token's lifetime (`DurationSeconds`, default 300 s).
    pub duration: Duration,
    /// `exp` (and `Expiration`).
    pub expiration: SystemTime,
    /// The request's tags.
    pub tags: Vec<(String, String)>,
}

/// The account's outbound issuer: its keys and URL.
#[derive(Debug)]
pub(crate) struct OutboundIssuer {
    pub(crate) rsa: GoogleIdentity,
    ec: OnceLock<Arc<EcKey>>,
    /// The issuer URL, set once the server has its address.
    pub(crate) url: OnceLock<String>,
}

struct EcKey {
    pair: EcdsaKeyPair,
    kid: String,
}

impl std::fmt::Debug for EcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcKey").field("kid", &self.kid).finish()
    }
}

impl OutboundIssuer {
    pub(crate) fn new(rsa: GoogleIdentity) -> Self {
        Self {
            rsa,
            ec: OnceLock::new(),
            url: OnceLock::new(),
        }
    }

    fn ec(&self) -> Arc<EcKey> {
        Arc::clone(self.ec.get_or_init(|| {
            let pair = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING)
                .expect("P-384 key generation (needs a working system random source)");
            let digest =
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pair.public_key().as_ref());
            let kid = digest.as_ref()[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Arc::new(EcKey { pair, kid })
        }))
    }

    pub(crate) fn issuer(&self) -> String {
        self.url.get().cloned().unwrap_or_default()
    }

    /// The issuer's JWKS: the RSA key and the P-384 key.
    pub(crate) fn jwks(&self) -> Value {
        let ec = self.ec();
        let point = ec.pair.public_key().as_ref();
        // Uncompressed point: 0x04 || X (48 bytes) || Y (48 bytes).
        let (x, y) = point[1..].split_at(48);
        let mut rsa = self.rsa.jwk();
        rsa["alg"] = json!("RS256");
        json!({"keys": [rsa, {
            "kty": "EC", "crv": "P-384", "use": "sig", "alg": "ES384", "kid": ec.kid,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }]})
    }

    /// The OpenID discovery document.
    pub(crate) fn discovery(&self) -> Value {
        let issuer = self.issuer();
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES384"],
        })
    }

    fn sign(&self, algorithm: &str, claims: &Value) -> String {
        if algorithm == "RS256" {
            return self.rsa.sign(claims);
        }
        let ec = self.ec();
        let header = json!({"alg": "ES384", "typ": "JWT", "kid": ec.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = ec
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("ECDSA signing");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    /// Verifies a token this issuer signed (either algorithm); returns its claims.
    pub(crate) fn verify(&self, token: &str) -> Result<Map<String, Value>, JwtError> {
        let header = decode_header(token)?;
        match header.get("alg").and_then(Value::as_str) {
            Some("RS256") => self.rsa.verify(token),
            Some("ES384") => {
                let ec = self.ec();
                if header.get("kid").and_then(Value::as_str) != Some(ec.kid.as_str()) {
                    return Err(JwtError::UnknownKey(
                        header
                            .get("kid")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    ));
                }
                let (input, signature) = token
                    .rsplit_once('.')
                    .ok_or_else(|| JwtError::Malformed("no signature".into()))?;
                let signature = URL_SAFE_NO_PAD
                    .decode(signature)
                    .map_err(|_| JwtError::Malformed("signature is not base64url".into()))?;
                UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, ec.pair.public_key().as_ref())
                    .verify(input.as_bytes(), &signature)
                    .map_err(|_| JwtError::BadSignature)?;
                crate::jwt::decode_payload(token)
            }
            other => Err(JwtError::UnsupportedAlgorithm(
                other.unwrap_or_default().to_owned(),
            )),
        }
    }

    /// Issues the token for `call` to `caller`, checking the session's remaining lifetime.
    pub(crate) fn issue(
        &self,
        call: WebIdentityTokenCall,
        caller: &CallerCredentials,
        account: &str,
        region: &str,
        now: SystemTime,
    ) -> Result<IssuedWebIdentityToken, StsError> {
        let duration = Duration::from_secs(call.duration_secs);
        let expiration = now + duration;
        if caller.expiration.is_some_and(|end| expiration > end) {
            let code = StsErrorCode::SessionDurationEscalation;
            return Err(StsError::new(code, code.default_message()));
        }
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let aud = if call.audiences.len() == 1 {
            json!(call.audiences[0])
        } else {
            json!(call.audiences)
        };
        let mut aws = json!({
            "aws_account": account,
            "principal_id": caller.principal_arn,
            "source_region": region,
        });
        if !call.tags.is_empty() {
            let tags: Map<String, Value> = call
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            aws["request_tags"] = Value::Object(tags);
        }
        let claims = json!({
            "iss": self.issuer(),
            "sub": caller.principal_arn,
            "aud": aud,
            "iat": now_secs,
            "nbf": now_secs,
            "exp": now_secs + call.duration_secs,
            "jti": format!("{:032x}", fastrand::u128(..)),
            AWS_CLAIMS: aws,
        });
        if claims.to_string().len() > MAX_PAYLOAD_BYTES {
            let code = StsErrorCode::JwtPayloadSizeExceeded;
            return Err(StsError::new(code, code.default_message()));
        }
        Ok(IssuedWebIdentityToken {
            token: self.sign(&call.signing_algorithm, &claims),
            signing_algorithm: call.signing_algorithm,
            audiences: call.audiences,
            subject: caller.principal_arn.clone(),
            access_key_id: caller.access_key_id.clone(),
            duration,
            expiration: UNIX_EPOCH + Duration::from_secs(now_secs + call.duration_secs),
            tags: call.tags,
        })
    }
}

/// Authenticates a signed STS request as AWS does: the `Authorization` header, the key and
/// its session token, the clock skew, the scope (service `sts`) and the signature over the
/// body. Returns the caller and the region of the signing scope.
pub(crate) fn authenticate<'c>(
    request: &RecordedRequest,
    callers: &'c [CallerCredentials],
    now: SystemTime,
    max_skew: Duration,
) -> Result<(&'c CallerCredentials, String), StsError> {
    let deny = |code: StsErrorCode, message: String| StsError::new(code, message);
    let Some(value) = request.header("authorization") else {
        let code = StsErrorCode::MissingAuthenticationToken;
        return Err(StsError::new(code, code.default_message()));
    };
    let auth = Authorization::parse(value).ok_or_else(|| {
        deny(
            StsErrorCode::SignatureDoesNotMatch,
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.".into(),
        )
    })?;
    let caller = callers
        .iter()
        .find(|c| c.access_key_id == auth.access_key_id)
        .ok_or_else(|| {
            let code = StsErrorCode::InvalidClientTokenId;
            StsError::new(code, code.default_message())
        })?;
    if let Some(token) = &caller.session_token
        && request.header("x-amz-security-token") != Some(token.as_str())
    {
        let code = StsErrorCode::InvalidClientTokenId;
        return Err(StsError::new(code, code.default_message()));
    }
    if caller.expiration.is_some_and(|end| end <= now) {
        return Err(StsError::new(
            StsErrorCode::ExpiredToken,
            "The security token included in the request is expired",
        ));
    }
    let amz_date = request.header("x-amz-date").unwrap_or_default();
    let signed_at = timestamp::parse_amz_date(amz_date).ok_or_else(|| {
        deny(
            StsErrorCode::SignatureDoesNotMatch,
            format!("Invalid X-Amz-Date {amz_date:?}"),
        )
    })?;
    let skew = signed_at
        .duration_since(now)
        .or_else(|_| now.duration_since(signed_at))
        .unwrap_or_default();
    if skew > max_skew {
        return Err(deny(
            StsErrorCode::SignatureDoesNotMatch,
            format!(
                "Signature expired: the request time is more than {} s from the server's time.",
                max_skew.as_secs()
            ),
        ));
    }
    if auth.service != "sts" || auth.terminator != TERMINATOR || !amz_date.starts_with(&auth.date) {
        return Err(deny(
            StsErrorCode::SignatureDoesNotMatch,
            format!(
                "Credential should be scoped to a valid date, region and service sts, not {}.",
                auth.scope()
            ),
        ));
    }
    let mut url = Url::parse(&format!("http://emulator{}", request.path))
        .map_err(|_| deny(StsErrorCode::SignatureDoesNotMatch, "bad path".into()))?;
    if !request.query.is_empty() {
        url.query_pairs_mut().extend_pairs(&request.query);
    }
    let canonical = canonical_request(
        "POST",
        &url,
        &auth.signed_headers,
        |name| request.header(name).map(str::to_owned),
        &request.body,
    )
    .map_err(|missing| {
        deny(
            StsErrorCode::SignatureDoesNotMatch,
            format!("Signed header '{missing}' is missing from the request."),
        )
    })?;
    if request.method != "POST"
        || auth.expected_signature(&caller.secret_access_key, amz_date, &canonical)
            != auth.signature
    {
        let code = StsErrorCode::SignatureDoesNotMatch;
        return Err(StsError::new(code, code.default_message()));
    }
    Ok((caller, auth.region.clone()))
}
