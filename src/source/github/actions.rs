//! [`GitHubActionsToken`]: the job's OIDC token from the Actions runtime, fetched as
//! `@actions/core` `getIDToken` does: `GET $ACTIONS_ID_TOKEN_REQUEST_URL` with `audience`
//! added to its query, `Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answer
//! `{"value": "<JWT>"}`. The variables are read on every fetch and the request token is never
//! written anywhere: job tokens live minutes, so each refresh asks for a fresh one.

use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use crate::context::{CallSettings, Context};
use crate::error::{Error, ErrorKind, Service};
use crate::http::RetryPolicy;
use crate::source::{SubjectTokenSource, TokenFormat, UrlToken};
use crate::token::{SubjectToken, TokenType};

/// The variable holding the runtime's token endpoint (set when the job may request tokens).
pub(crate) const REQUEST_URL_ENV: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// The variable holding the bearer token for that endpoint.
pub(crate) const REQUEST_TOKEN_ENV: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// What to add to the workflow when the variables are missing.
const PERMISSION_HINT: &str = "add `permissions: id-token: write` to the workflow or job (GitHub sets ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN only then; pull requests from forks never get them)";

/// The OIDC token of the running GitHub Actions job, for `audience`.
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::source::{GitHubActionsToken, SubjectTokenSource};
///
/// let source = GitHubActionsToken::new("sts.amazonaws.com");
/// // Outside a job (or without `permissions: id-token: write`) the error says what to add.
/// let outside = Context::builder().env(StaticEnv::empty()).build();
/// assert!(!GitHubActionsToken::is_available(&outside));
/// # let _ = source;
/// ```
#[derive(Debug, Clone)]
pub struct GitHubActionsToken {
    audience: String,
    call: CallSettings,
}

impl GitHubActionsToken {
    /// A token whose `aud` is `audience` (e.g. `sts.amazonaws.com`, a workload identity pool
    /// provider's URL, `api://AzureADTokenExchange`). Empty means GitHub's default audience,
    /// the repository owner's URL.
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            audience: audience.into(),
            call: CallSettings::new(),
        }
    }

    /// Whether the environment lets this job request tokens (both variables set).
    pub fn is_available(ctx: &Context) -> bool {
        [REQUEST_URL_ENV, REQUEST_TOKEN_ENV]
            .iter()
            .all(|name| ctx.env().get_non_empty(name).is_some())
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

    /// The request for this fetch, from the variables as they are now.
    fn url_source(&self, ctx: &Context) -> Result<UrlToken, Error> {
        let env = ctx.env();
        let missing = |name: &str| {
            Error::new(
                ErrorKind::NotAvailable,
                Service::GitHubActions,
                format!("{name} is not set: {PERMISSION_HINT}"),
            )
        };
        let raw = env
            .get_non_empty(REQUEST_URL_ENV)
            .ok_or_else(|| missing(REQUEST_URL_ENV))?;
        let bearer = env
            .get_non_empty(REQUEST_TOKEN_ENV)
            .ok_or_else(|| missing(REQUEST_TOKEN_ENV))?;
        let mut url =
            Url::parse(raw.trim()).map_err(|_| Error::config(REQUEST_URL_ENV, "is not a URL"))?;
        if !self.audience.is_empty() {
            url.query_pairs_mut()
                .append_pair("audience", &self.audience);
        }
        Ok(UrlToken::new(url.as_str())
            .header("authorization", format!("Bearer {}", bearer.trim()))
            .format(TokenFormat::json("value"))
            .token_type(TokenType::Jwt)
            .for_service(Service::GitHubActions, self.call))
    }
}

#[async_trait]
impl SubjectTokenSource for GitHubActionsToken {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        self.url_source(ctx)?.subject_token(ctx).await
    }

    fn name(&self) -> &'static str {
        "github-actions"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::StaticEnv;

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        Context::builder()
            .env(StaticEnv::from_pairs(pairs.iter().copied()))
            .build()
    }

    #[tokio::test]
    async fn missing_variables_say_to_grant_id_token_write() {
        for env in [
            vec![],
            vec![(
                REQUEST_URL_ENV,
                "https://runtime.example/token?api-version=2.0",
            )],
            vec![(REQUEST_TOKEN_ENV, "request-token-value")],
        ] {
            let c = ctx(&env);
            assert!(!GitHubActionsToken::is_available(&c));
            let err = GitHubActionsToken::new("sts.amazonaws.com")
                .subject_token(&c)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotAvailable);
            assert_eq!(err.service(), Service::GitHubActions);
            assert!(
                err.to_string().contains("permissions: id-token: write"),
                "{err}"
            );
            assert!(!err.to_string().contains("request-token-value"), "{err}");
        }
    }

    #[test]
    fn the_audience_joins_the_runtime_query_and_the_bearer_stays_hidden() {
        let c = ctx(&[
            (
                REQUEST_URL_ENV,
                "https://runtime.example/token?api-version=2.0",
            ),
            (REQUEST_TOKEN_ENV, "request-token-value"),
        ]);
        assert!(GitHubActionsToken::is_available(&c));
        let source = GitHubActionsToken::new("//iam.googleapis.com/projects/1/x y");
        let built = format!("{:?}", source);
        assert!(!built.contains("request-token-value"), "{built}");
        let url = source.url_source(&c).unwrap();
        let shown = format!("{url:?}");
        assert!(
            shown
                .contains("api-version=2.0&audience=%2F%2Fiam.googleapis.com%2Fprojects%2F1%2Fx+y"),
            "{shown}"
        );
        let bad = ctx(&[(REQUEST_URL_ENV, "not a url"), (REQUEST_TOKEN_ENV, "t")]);
        let err = GitHubActionsToken::new("a").url_source(&bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
    }
}
