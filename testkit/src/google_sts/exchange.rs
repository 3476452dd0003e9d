//! The Google STS service logic: routing, the order of the checks of a token exchange, subject
//! token verification per provider kind, and the §5.3 success body.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::aws4::SignedRequest;
use super::error::OAuthError;
use super::params::{self, ACCESS_TOKEN_TYPE, ExchangeCall};
use super::provider::{AwsKey, ProviderKind, ProviderSpec, SubjectTokenType};
use super::registry::{IssuedFederatedToken, TokenRegistry};
use crate::jwt::{JwtError, decode_header, decode_payload};
use crate::random::{BASE64_URL, derived_string, random_string};
use crate::request::RecordedRequest;
use crate::server::{Handler, Response, lock};
use federated_credentials::context::Clock;

/// Deviations of the success body from Google's, for lenient-parsing tests.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ResponseStyle {
    pub(super) expires_in_as_string: bool,
    pub(super) omit_issued_token_type: bool,
    pub(super) omit_token_type: bool,
}

/// The Google STS service logic.
#[derive(Debug)]
pub(super) struct StsHandler {
    pub(super) clock: Arc<dyn Clock>,
    pub(super) providers: Mutex<Vec<ProviderSpec>>,
    /// Registered OAuth clients: `(client_id, client_secret)`.
    pub(super) clients: Mutex<Vec<(String, String)>>,
    pub(super) aws_keys: Mutex<Vec<AwsKey>>,
    pub(super) registry: TokenRegistry,
    pub(super) expires_in: Mutex<Duration>,
    pub(super) style: ResponseStyle,
    /// Derive access tokens from the exchange's meaning (see
    /// `GoogleStsEmulatorBuilder::deterministic_tokens`).
    pub(super) deterministic_tokens: bool,
    pub(super) rng: Mutex<fastrand::Rng>,
}

impl Handler for StsHandler {
    type Fault = OAuthError;
    const BODY_CONTENT_TYPE: &'static str = "application/json";

    fn handle(&self, request: &RecordedRequest) -> Response {
        if !request.path.ends_with("/token") {
            return Response::text(404, "Not Found");
        }
        if request.method != "POST" {
            return Response::text(405, "Method Not Allowed").with_header("allow", "POST");
        }
        match self.exchange(request) {
            Ok(issued) => self.success(&issued),
            Err(error) => error.response(),
        }
    }

    fn handle_fault(&self, _: &RecordedRequest, error: OAuthError) -> Response {
        error.response()
    }
}

impl StsHandler {
    fn exchange(&self, request: &RecordedRequest) -> Result<IssuedFederatedToken, OAuthError> {
        let client_id = params::client_id(request, &lock(&self.clients))?;
        let call = params::parse(request)?;
        let provider = lock(&self.providers)
            .iter()
            .find(|provider| provider.audience() == call.audience)
            .cloned()
            .ok_or_else(|| OAuthError::invalid_request("Invalid value for \"audience\". This value should be the full resource name of the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats."))?;
        if provider.requires_client_auth() && client_id.is_none() {
            return Err(OAuthError::invalid_client(
                "Client authentication is required for this provider.",
            ));
        }
        if provider.is_workforce_pool() && client_id.is_none() && call.user_project.is_none() {
            return Err(OAuthError::invalid_request(
                "A workforce pool token exchange without client authentication requires options.userProject.",
            ));
        }
        if !provider.accepts(call.subject_token_type) {
            return Err(OAuthError::invalid_request(format!(
                "Invalid value for \"subject_token_type\": the provider does not accept {} tokens.",
                call.subject_token_type.urn()
            )));
        }
        let now = self.clock.now();
        let subject = self.verify_subject(&provider, &call, now)?;
        let expires_in = *lock(&self.expires_in);
        let access_token = format!(
            "ya29.emulated-{}",
            self.token_body(&call.audience, &subject, &call.scopes)
        );
        let issued = IssuedFederatedToken {
            access_token,
            audience: call.audience,
            scopes: call.scopes,
            subject_token_type: call.subject_token_type.urn().to_owned(),
            subject,
            user_project: call.user_project,
            client_id,
            issued_at: now,
            expires_at: now + expires_in,
        };
        self.registry.record(issued.clone());
        Ok(issued)
    }

    /// The random part of a new access token: random, or derived from the exchange's meaning.
    fn token_body(&self, audience: &str, subject: &str, scopes: &[String]) -> String {
        if !self.deterministic_tokens {
            return random_string(&mut lock(&self.rng), BASE64_URL, 64);
        }
        let mut scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        scopes.sort_unstable();
        scopes.dedup();
        let mut parts = vec!["google-sts", audience, subject];
        parts.extend(scopes);
        derived_string(&parts, BASE64_URL, 64)
    }

    /// Verifies the subject token; returns the subject to record.
    fn verify_subject(
        &self,
        provider: &ProviderSpec,
        call: &ExchangeCall,
        now: SystemTime,
    ) -> Result<String, OAuthError> {
        match call.subject_token_type {
            SubjectTokenType::Aws4Request => {
                let request = SignedRequest::decode(&call.subject_token)?;
                let keys = lock(&self.aws_keys).clone();
                let key = request.verify(provider.audience(), &keys, now)?;
                match provider.kind() {
                    ProviderKind::Aws { account_id } if *account_id != key.account_id => {
                        Err(OAuthError::unauthorized_client(format!(
                            "The AWS account {} of the caller does not match the account {account_id} of the provider.",
                            key.account_id
                        )))
                    }
                    _ => Ok(key.access_key_id.clone()),
                }
            }
            SubjectTokenType::Jwt | SubjectTokenType::IdToken => {
                verify_jwt(provider, &call.subject_token, now)
            }
            SubjectTokenType::Saml2 => match STANDARD.decode(&call.subject_token) {
                Ok(_) => Ok(String::new()),
                Err(_) => Err(OAuthError::invalid_grant(
                    "The SAML subject token is not base64-encoded.",
                )),
            },
        }
    }

    fn success(&self, issued: &IssuedFederatedToken) -> Response {
        let style = self.style;
        let expires_in = issued
            .expires_at
            .duration_since(issued.issued_at)
            .unwrap_or_default()
            .as_secs();
        let mut body = Map::new();
        body.insert("access_token".into(), issued.access_token.clone().into());
        if !style.omit_issued_token_type {
            body.insert("issued_token_type".into(), ACCESS_TOKEN_TYPE.into());
        }
        if !style.omit_token_type {
            body.insert("token_type".into(), "Bearer".into());
        }
        let expires_in = if style.expires_in_as_string {
            Value::from(expires_in.to_string())
        } else {
            Value::from(expires_in)
        };
        body.insert("expires_in".into(), expires_in);
        Response::json(200, &Value::Object(body))
    }
}

/// Checks a JWT subject token: decodable, signed by a trusted identity when the provider has
/// any, and not expired. Returns its `sub`.
fn verify_jwt(provider: &ProviderSpec, token: &str, now: SystemTime) -> Result<String, OAuthError> {
    let invalid =
        |error: JwtError| OAuthError::invalid_grant(format!("Invalid subject token: {error}."));
    let claims = if provider.trusted().is_empty() {
        decode_payload(token).map_err(invalid)?
    } else {
        let header = decode_header(token).map_err(invalid)?;
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let identity = provider
            .trusted()
            .iter()
            .find(|identity| identity.kid() == kid)
            .ok_or_else(|| invalid(JwtError::UnknownKey(kid.to_owned())))?;
        identity.verify(token).map_err(invalid)?
    };
    if let Some(issuer) = provider.issuer() {
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if iss != issuer {
            return Err(OAuthError::invalid_grant(format!(
                "The issuer in ID Token {iss} does not match the expected ID token issuer {issuer}."
            )));
        }
        let allowed = provider.allowed_audiences();
        let auds: Vec<&str> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !auds.iter().any(|a| allowed.iter().any(|b| b == a)) {
            return Err(OAuthError::invalid_grant(format!(
                "The audience in ID Token [{}] does not match the expected audience.",
                auds.join(", ")
            )));
        }
    }
    let exp = claims.get("exp").and_then(Value::as_u64).ok_or_else(|| {
        OAuthError::invalid_grant("Invalid subject token: it has no numeric exp claim.")
    })?;
    let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if exp <= now_secs {
        return Err(OAuthError::invalid_grant(format!(
            "The subject token has expired: exp {exp} is not after the current time {now_secs}."
        )));
    }
    Ok(claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned())
}
