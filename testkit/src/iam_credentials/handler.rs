//! The IAM Credentials service logic: routing, bearer-token authentication against the
//! trusted Google STS registries, service-account lookup and permission, and minting access
//! and ID tokens.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::account::ServiceAccountSpec;
use super::body::{self, AccessTokenRequest, IdTokenRequest};
use super::error::RpcError;
use super::{IssuedAccessToken, IssuedIdToken};
use crate::google_sts::{IssuedFederatedToken, TokenRegistry};
use crate::jwt::GoogleIdentity;
use crate::random::{BASE64_URL, derived_string, random_string};
use crate::request::RecordedRequest;
use crate::server::{Handler, Response, lock};
use crate::timestamp;
use federated_credentials::context::Clock;

/// Scopes that let a bearer token call IAM Credentials.
const IAM_SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/iam",
];
/// The prefix of service-account resource names, in the URL and in `delegates`.
const RESOURCE_PREFIX: &str = "projects/-/serviceAccounts/";
/// The lifetime of ID tokens.
const ID_TOKEN_LIFETIME_SECS: u64 = 3600;

/// The two methods of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    GenerateAccessToken,
    GenerateIdToken,
}

impl Method {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "generateAccessToken" => Some(Self::GenerateAccessToken),
            "generateIdToken" => Some(Self::GenerateIdToken),
            _ => None,
        }
    }

    /// The IAM permission the caller needs on the service account.
    fn permission(self) -> &'static str {
        match self {
            Self::GenerateAccessToken => "iam.serviceAccounts.getAccessToken",
            Self::GenerateIdToken => "iam.serviceAccounts.getOpenIdToken",
        }
    }
}

/// The IAM Credentials service logic.
#[derive(Debug)]
pub(super) struct IamHandler {
    pub(super) clock: Arc<dyn Clock>,
    pub(super) identity: GoogleIdentity,
    pub(super) trusted: Mutex<Vec<TokenRegistry>>,
    pub(super) accounts: Mutex<Vec<ServiceAccountSpec>>,
    pub(super) expire_time_digits: u8,
    pub(super) check_scopes: bool,
    /// Derive access tokens from the request's meaning (see
    /// `IamCredentialsEmulatorBuilder::deterministic_tokens`).
    pub(super) deterministic_tokens: bool,
    pub(super) access_tokens: Mutex<Vec<IssuedAccessToken>>,
    pub(super) id_tokens: Mutex<Vec<IssuedIdToken>>,
    pub(super) rng: Mutex<fastrand::Rng>,
}

impl Handler for IamHandler {
    type Fault = RpcError;
    const BODY_CONTENT_TYPE: &'static str = "application/json; charset=UTF-8";

    fn handle(&self, request: &RecordedRequest) -> Response {
        let Some((project, account, method)) = parse_path(request) else {
            return Response::text(404, "Not Found");
        };
        if request.method != "POST" {
            return Response::text(405, "Method Not Allowed").with_header("allow", "POST");
        }
        self.call(request, &project, &account, method)
            .unwrap_or_else(|error| error.response())
    }

    fn handle_fault(&self, _: &RecordedRequest, error: RpcError) -> Response {
        error.response()
    }
}

/// `/v1/projects/{PROJECT}/serviceAccounts/{ACCOUNT}:{method}`, percent-decoded.
fn parse_path(request: &RecordedRequest) -> Option<(String, String, Method)> {
    let segments = request.path_segments();
    let [v1, projects, project, service_accounts, last] = &segments[..] else {
        return None;
    };
    let (account, method) = last.rsplit_once(':')?;
    let method = Method::parse(method)?;
    let valid = v1 == "v1" && projects == "projects" && service_accounts == "serviceAccounts";
    valid.then(|| (project.clone(), account.to_owned(), method))
}

impl IamHandler {
    fn call(
        &self,
        request: &RecordedRequest,
        project: &str,
        account_id: &str,
        method: Method,
    ) -> Result<Response, RpcError> {
        let now = self.clock.now();
        let caller = self.authenticate(request, now)?;
        if project != "-" {
            return Err(RpcError::invalid_argument(
                "The project in the resource name must be the wildcard '-'.",
            ));
        }
        let account = self.account(account_id)?;
        if !account.permits(&caller.audience) {
            let resource = format!("{RESOURCE_PREFIX}{account_id}");
            return Err(RpcError::permission_denied(method.permission(), &resource));
        }
        match method {
            Method::GenerateAccessToken => {
                let call = body::access_token_request(&request.body)?;
                self.check_delegates(&call.delegates)?;
                self.generate_access_token(call, &account, &caller, now)
            }
            Method::GenerateIdToken => {
                let call = body::id_token_request(&request.body)?;
                self.check_delegates(&call.delegates)?;
                Ok(self.generate_id_token(call, &account, &caller, now))
            }
        }
    }

    /// The federated token of `Authorization: Bearer`, if a trusted STS issued it and it is
    /// still valid with an IAM scope.
    fn authenticate(
        &self,
        request: &RecordedRequest,
        now: SystemTime,
    ) -> Result<IssuedFederatedToken, RpcError> {
        let token = match request.authorization() {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
                token
            }
            _ => return Err(RpcError::unauthenticated("CREDENTIALS_MISSING")),
        };
        let issued = lock(&self.trusted)
            .iter()
            .find_map(|registry| registry.find(token))
            .ok_or_else(|| RpcError::unauthenticated("ACCESS_TOKEN_TYPE_UNSUPPORTED"))?;
        if issued.expires_at <= now {
            return Err(RpcError::unauthenticated("ACCESS_TOKEN_EXPIRED"));
        }
        let has_scope = issued
            .scopes
            .iter()
            .any(|scope| IAM_SCOPES.contains(&scope.as_str()));
        if self.check_scopes && !has_scope {
            return Err(RpcError::insufficient_scopes());
        }
        Ok(issued)
    }

    fn account(&self, id: &str) -> Result<ServiceAccountSpec, RpcError> {
        lock(&self.accounts)
            .iter()
            .find(|account| account.is(id))
            .cloned()
            .ok_or_else(|| {
                RpcError::not_found(format!(
                    "Service account {RESOURCE_PREFIX}{id} does not exist."
                ))
            })
    }

    /// Each delegate must be `projects/-/serviceAccounts/<registered account>`.
    fn check_delegates(&self, delegates: &[String]) -> Result<(), RpcError> {
        for delegate in delegates {
            let id = delegate.strip_prefix(RESOURCE_PREFIX).ok_or_else(|| {
                RpcError::invalid_argument(format!(
                    "Invalid delegate {delegate:?}: expected {RESOURCE_PREFIX}{{ACCOUNT_EMAIL_OR_UNIQUE_ID}}."
                ))
            })?;
            self.account(id)?;
        }
        Ok(())
    }

    fn generate_access_token(
        &self,
        call: AccessTokenRequest,
        account: &ServiceAccountSpec,
        caller: &IssuedFederatedToken,
        now: SystemTime,
    ) -> Result<Response, RpcError> {
        let max = account.max_lifetime();
        if call.lifetime.is_zero() || call.lifetime > max {
            return Err(RpcError::invalid_argument(format!(
                "The lifetime must be positive and at most {}s for this service account.",
                max.as_secs()
            )));
        }
        let digits = self.expire_time_digits;
        let expire_time = timestamp::truncate(now + call.lifetime, digits);
        let access_token = format!(
            "ya29.c.emulated-{}",
            self.token_body(account.email(), &call)
        );
        let body = json!({
            "accessToken": access_token,
            "expireTime": timestamp::format_rfc3339(expire_time, digits),
        });
        lock(&self.access_tokens).push(IssuedAccessToken {
            access_token,
            service_account: account.email().to_owned(),
            scopes: call.scopes,
            lifetime: call.lifetime,
            delegates: call.delegates,
            expire_time,
            caller_audience: caller.audience.clone(),
        });
        Ok(Response::json(200, &body))
    }

    /// The random part of a new access token: random, or derived from the request's meaning.
    fn token_body(&self, account: &str, call: &AccessTokenRequest) -> String {
        if !self.deterministic_tokens {
            return random_string(&mut lock(&self.rng), BASE64_URL, 96);
        }
        let mut scopes: Vec<&str> = call.scopes.iter().map(String::as_str).collect();
        scopes.sort_unstable();
        scopes.dedup();
        let lifetime = call.lifetime.as_nanos().to_string();
        let delegates = call.delegates.len().to_string();
        let mut parts = vec!["iam-credentials", account, &lifetime, &delegates];
        parts.extend(call.delegates.iter().map(String::as_str));
        parts.extend(scopes);
        derived_string(&parts, BASE64_URL, 96)
    }

    fn generate_id_token(
        &self,
        call: IdTokenRequest,
        account: &ServiceAccountSpec,
        caller: &IssuedFederatedToken,
        now: SystemTime,
    ) -> Response {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut claims = json!({
            "iss": "https://accounts.google.com",
            "aud": call.audience,
            "azp": account.unique_id(),
            "sub": account.unique_id(),
            "iat": iat,
            "exp": iat + ID_TOKEN_LIFETIME_SECS,
        });
        if call.include_email {
            claims["email"] = account.email().into();
            claims["email_verified"] = true.into();
        }
        let token = self.identity.sign(&claims);
        lock(&self.id_tokens).push(IssuedIdToken {
            token: token.clone(),
            service_account: account.email().to_owned(),
            audience: call.audience,
            include_email: call.include_email,
            delegates: call.delegates,
            caller_audience: caller.audience.clone(),
        });
        Response::json(200, &json!({ "token": token }))
    }
}
