//! [`EntraTokenExchange`]: Microsoft Entra ID's client-credentials grant with a federated
//! client assertion ("workload identity federation" on an app registration or a user-assigned
//! managed identity): any OIDC token the app trusts → an Entra access token.
//!
//! Wire (as azure-identity 1.27.0's `ClientAssertionCredential` and azure_identity 1.0.0 send
//! it): `POST {authority}/{tenant}/oauth2/v2.0/token`, form `client_assertion`,
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, `client_id`,
//! `grant_type=client_credentials`, `scope` (space-separated, each `RESOURCE/.default`). The
//! answer has `expires_in` (no `expires_on`); errors carry `error`, `error_description`,
//! `error_codes` (AADSTS numbers), `trace_id`, `correlation_id`.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use url::Url;

use super::Exchange;
use super::oauth::{OAuthErrorBody, parse_token_response, token_endpoint_error};
use crate::context::{CallSettings, Context};
use crate::error::{Error, Service, sanitize_upstream_text};
use crate::http::{HttpRequest, RetryPolicy, is_loopback_host, send_with_retries};
use crate::jwt::decode_unverified;
use crate::token::{AccessToken, SubjectToken, format_rfc3339};

/// The `client_assertion_type` of a JWT client assertion.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The variable naming the authority host (azure-identity's).
pub const AUTHORITY_HOST_ENV: &str = "AZURE_AUTHORITY_HOST";

/// A Microsoft cloud: its authority host and the audience its federated credentials expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AzureCloud {
    /// Azure public cloud.
    #[default]
    Public,
    /// Azure US Government.
    UsGovernment,
    /// Azure operated by 21Vianet (China).
    China,
}

impl AzureCloud {
    /// `https://login.microsoftonline.com`, `https://login.microsoftonline.us`,
    /// `https://login.chinacloudapi.cn`.
    pub fn authority_host(self) -> &'static str {
        match self {
            Self::Public => "https://login.microsoftonline.com",
            Self::UsGovernment => "https://login.microsoftonline.us",
            Self::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The audience a federated identity credential expects by default in this cloud:
    /// `api://AzureADTokenExchange` (`…USGov`, `…China`).
    pub fn assertion_audience(self) -> &'static str {
        match self {
            Self::Public => "api://AzureADTokenExchange",
            Self::UsGovernment => "api://AzureADTokenExchangeUSGov",
            Self::China => "api://AzureADTokenExchangeChina",
        }
    }
}

/// Trades an OIDC token (the client assertion) for an Entra access token.
///
/// ```
/// use federated_credentials::exchange::{EntraTokenExchange, Exchange};
/// use federated_credentials::context::{Context, StaticEnv};
///
/// let entra = EntraTokenExchange::new(
///     "72f988bf-86f1-41af-91ab-2d7cd011db47",
///     "00000000-0000-0000-0000-00000000c11d",
/// )
/// .scope("https://storage.azure.com/.default");
/// entra.validate(&Context::builder().env(StaticEnv::empty()).build())?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EntraTokenExchange {
    tenant_id: String,
    client_id: String,
    scopes: Vec<String>,
    authority: Option<String>,
    cloud: AzureCloud,
    call: CallSettings,
}

impl EntraTokenExchange {
    /// For the app (or user-assigned managed identity) `client_id` in `tenant_id` (a GUID or
    /// a verified domain).
    pub fn new(tenant_id: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            scopes: Vec::new(),
            authority: None,
            cloud: AzureCloud::Public,
            call: CallSettings::new(),
        }
    }

    /// Adds a scope, `RESOURCE/.default` (the client-credentials grant takes no other form).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Replaces the scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The authority host (default `AZURE_AUTHORITY_HOST`, else the cloud's); https, or
    /// http on loopback for tests. A bare host gets `https://`.
    pub fn authority_host(mut self, host: impl Into<String>) -> Self {
        self.authority = Some(host.into());
        self
    }

    /// The cloud whose authority host to use when none is set (default public).
    pub fn cloud(mut self, cloud: AzureCloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// The timeout of one attempt.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.call = self.call.attempt_timeout(timeout);
        self
    }

    /// The retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.call = self.call.retry_policy(policy);
        self
    }

    /// The tenant.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The scopes.
    pub fn requested_scopes(&self) -> &[String] {
        &self.scopes
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`, from the builder, `AZURE_AUTHORITY_HOST` or
    /// the cloud.
    pub fn resolve_token_url(&self, ctx: &Context) -> Result<Url, Error> {
        let (raw, setting) = match &self.authority {
            Some(a) => (a.trim().to_string(), "authority_host"),
            None => match ctx.env().get_non_empty(AUTHORITY_HOST_ENV) {
                Some(a) => (a.trim().to_string(), AUTHORITY_HOST_ENV),
                None => (self.cloud.authority_host().to_string(), "cloud"),
            },
        };
        let with_scheme = if raw.contains("://") {
            raw.clone()
        } else {
            format!("https://{raw}")
        };
        let base = Url::parse(&with_scheme)
            .ok()
            .filter(|u| u.has_host())
            .ok_or_else(|| Error::config(setting, format!("`{raw}` is not a URL or host")))?;
        if base.scheme() != "https" && !(base.scheme() == "http" && is_loopback_host(&base)) {
            return Err(Error::config(
                setting,
                format!("`{raw}` must be an https URL (plain http only on loopback, for tests)"),
            ));
        }
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            base.as_str().trim_end_matches('/'),
            self.tenant_id.trim()
        );
        Url::parse(&url).map_err(|_| Error::config(setting, "does not form a token URL"))
    }

    fn check(&self) -> Result<(), Error> {
        let tenant = self.tenant_id.trim();
        if tenant.is_empty() {
            return Err(Error::config(
                "tenant_id",
                "is required: the directory (tenant) id, a GUID or verified domain (AZURE_TENANT_ID)",
            ));
        }
        if ["common", "organizations", "consumers"].contains(&tenant.to_ascii_lowercase().as_str())
        {
            return Err(Error::config(
                "tenant_id",
                format!(
                    "`{tenant}` names no tenant; the client-credentials grant needs the app's own tenant id"
                ),
            ));
        }
        if !(is_guid(tenant) || is_domain(tenant)) {
            return Err(Error::config(
                "tenant_id",
                format!(
                    "`{}` is neither a GUID nor a domain name",
                    sanitize_upstream_text(tenant, 80)
                ),
            ));
        }
        if !is_guid(self.client_id.trim()) {
            return Err(Error::config(
                "client_id",
                format!(
                    "`{}` is not a GUID: use the application (client) id of the app registration or user-assigned managed identity (AZURE_CLIENT_ID)",
                    sanitize_upstream_text(&self.client_id, 80)
                ),
            ));
        }
        if self.scopes.is_empty() {
            return Err(Error::config(
                "scope",
                "at least one is required, e.g. https://storage.azure.com/.default",
            ));
        }
        if let Some(bad) = self
            .scopes
            .iter()
            .find(|s| !s.trim().ends_with("/.default"))
        {
            return Err(Error::config(
                "scope",
                format!(
                    "`{}` must be RESOURCE/.default for the client-credentials grant (e.g. {}/.default)",
                    sanitize_upstream_text(bad, 120),
                    sanitize_upstream_text(bad.trim_end_matches('/'), 120)
                ),
            ));
        }
        Ok(())
    }

    /// The hint for an Entra error, naming the assertion's claims where they matter.
    fn hint(&self, body: &OAuthErrorBody, assertion: &SubjectToken) -> Option<String> {
        let codes = body.error_codes.clone().unwrap_or_default();
        let has = |c: i64| codes.contains(&c);
        let claims = decode_unverified(assertion.token().expose_secret()).unwrap_or_default();
        let show =
            |v: Option<&str>| v.map_or("(none)".to_string(), |v| sanitize_upstream_text(v, 200));
        if [70021, 700211, 700212, 700213, 7002137, 7002138]
            .iter()
            .any(|c| has(*c))
        {
            return Some(format!(
                "no federated identity credential of app {} matches the assertion; add one with exactly issuer `{}`, subject `{}`, audience `{}` (case-sensitive, at most 20 per app; new ones take a few minutes to apply)",
                self.client_id.trim(),
                show(claims.iss.as_deref()),
                show(claims.sub.as_deref()),
                show(claims.aud.first().map(String::as_str)),
            ));
        }
        if has(700024) {
            let when = |s: Option<u64>| {
                s.map_or("(none)".to_string(), |s| {
                    format_rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(s))
                })
            };
            return Some(format!(
                "the assertion (nbf {}, exp {}) is outside its valid time for Entra: check this machine's clock and the source's token lifetime",
                when(claims.nbf),
                when(claims.exp)
            ));
        }
        if has(90002) {
            return Some(format!(
                "tenant `{}` does not exist in this cloud: check AZURE_TENANT_ID and the authority host",
                self.tenant_id.trim()
            ));
        }
        if has(700016) {
            return Some(format!(
                "no application `{}` in tenant `{}`: check AZURE_CLIENT_ID (the app registration's or managed identity's client id) and AZURE_TENANT_ID",
                self.client_id.trim(),
                self.tenant_id.trim()
            ));
        }
        if has(50027) || has(700027) {
            return Some("Entra could not validate the assertion: it accepts RS256-signed JWTs from the issuer's published keys".to_string());
        }
        if has(1002012) {
            return Some("client-credentials scopes must be RESOURCE/.default".to_string());
        }
        None
    }
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A DNS name with a dot (`contoso.onmicrosoft.com`).
fn is_domain(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[async_trait]
impl Exchange<SubjectToken> for EntraTokenExchange {
    type Output = AccessToken;

    async fn exchange(
        &self,
        ctx: &Context,
        assertion: &SubjectToken,
    ) -> Result<AccessToken, Error> {
        self.check()?;
        let url = self.resolve_token_url(ctx)?;
        let call = ctx.resolve_call(Service::Entra, self.call);
        let scope = self
            .scopes
            .iter()
            .map(|s| s.trim())
            .collect::<Vec<_>>()
            .join(" ");
        let request = HttpRequest::new(
            Service::Entra,
            "the Entra token request",
            Method::POST,
            url,
            call.attempt_timeout,
        )
        .header("accept", "application/json")?
        .form_body(&[
            ("client_assertion", assertion.token().expose_secret()),
            ("client_assertion_type", JWT_BEARER_ASSERTION),
            ("client_id", self.client_id.trim()),
            ("grant_type", "client_credentials"),
            ("scope", &scope),
        ]);
        tracing::debug!(tenant = %self.tenant_id.trim(), client_id = %self.client_id.trim(), scope = %scope, "Entra token request");
        send_with_retries(ctx, &call.retry, &request, |response, requested_at| {
            if response.status != 200 {
                let err = token_endpoint_error(&response, Service::Entra, "Entra ID", |body| {
                    self.hint(body, assertion)
                });
                let body: Option<OAuthErrorBody> = serde_json::from_slice(&response.body).ok();
                return Err(
                    match body
                        .and_then(|b| b.error_codes)
                        .and_then(|c| c.first().copied())
                    {
                        Some(code) => err.with_upstream_code(format!("AADSTS{code}")),
                        None => err,
                    },
                );
            }
            parse_token_response(&response, Service::Entra, "Entra ID", requested_at)
        })
        .await
    }

    fn validate(&self, ctx: &Context) -> Result<(), Error> {
        self.check()?;
        self.resolve_token_url(ctx).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::StaticEnv;

    const TENANT: &str = "72f9a8bf-0000-4000-8000-00000000a2e1";
    const CLIENT: &str = "0000c11d-0000-4000-8000-000000000001";

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        Context::builder()
            .env(StaticEnv::from_pairs(pairs.iter().copied()))
            .build()
    }

    #[test]
    fn token_urls_follow_builder_env_then_cloud() {
        let x = EntraTokenExchange::new(TENANT, CLIENT).scope("api://x/.default");
        assert_eq!(
            x.resolve_token_url(&ctx(&[])).unwrap().as_str(),
            format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token")
        );
        assert_eq!(
            x.clone()
                .cloud(AzureCloud::China)
                .resolve_token_url(&ctx(&[]))
                .unwrap()
                .host_str(),
            Some("login.chinacloudapi.cn")
        );
        let env = ctx(&[(AUTHORITY_HOST_ENV, "login.microsoftonline.us/")]);
        assert_eq!(
            x.resolve_token_url(&env).unwrap().as_str(),
            format!("https://login.microsoftonline.us/{TENANT}/oauth2/v2.0/token")
        );
        let loopback = x.clone().authority_host("http://127.0.0.1:8080");
        assert!(loopback.resolve_token_url(&env).is_ok());
        for bad in ["http://login.example.com", "https://", "ftp://x"] {
            let err = x
                .clone()
                .authority_host(bad)
                .resolve_token_url(&ctx(&[]))
                .unwrap_err();
            assert!(err.message().starts_with("authority_host"), "{bad}: {err}");
        }
        assert_eq!(
            AzureCloud::UsGovernment.assertion_audience(),
            "api://AzureADTokenExchangeUSGov"
        );
    }

    #[test]
    fn settings_are_checked_with_a_fix() {
        let ok = EntraTokenExchange::new("contoso.onmicrosoft.com", CLIENT)
            .scope("https://vault.azure.net/.default");
        assert!(ok.check().is_ok());
        for (x, says) in [
            (
                EntraTokenExchange::new("", CLIENT).scope("a/.default"),
                "AZURE_TENANT_ID",
            ),
            (
                EntraTokenExchange::new("common", CLIENT).scope("a/.default"),
                "names no tenant",
            ),
            (
                EntraTokenExchange::new("not a tenant", CLIENT).scope("a/.default"),
                "neither a GUID",
            ),
            (
                EntraTokenExchange::new(TENANT, "my-app").scope("a/.default"),
                "AZURE_CLIENT_ID",
            ),
            (EntraTokenExchange::new(TENANT, CLIENT), "at least one"),
            (
                EntraTokenExchange::new(TENANT, CLIENT).scope("https://storage.azure.com/"),
                "https://storage.azure.com/.default",
            ),
        ] {
            let err = x.check().unwrap_err();
            assert!(err.to_string().contains(says), "{says}: {err}");
        }
    }
}
