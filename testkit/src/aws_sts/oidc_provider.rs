//! [`OidcProviderSpec`]: an IAM OIDC identity provider in the STS emulator's account, the way
//! AWS trusts issuers other than Google (GitHub Actions, EKS clusters, Azure, AWS's own
//! outbound tokens): an issuer URL, the client ids (audiences) it accepts, and its keys.

use serde_json::{Map, Value};

use crate::jwt::GoogleIdentity;

/// An IAM OIDC identity provider (`aws iam create-open-id-connect-provider`): STS accepts a
/// token from it only when the token's `iss` is the provider's URL, its signature verifies
/// with one of the provider's keys, and one of its `aud` values is among the provider's client
/// ids ("Incorrect token audience" otherwise). Roles trust it with
/// [`RoleSpec::oidc_principal`](crate::RoleSpec::oidc_principal).
///
/// ```
/// use federated_credentials_testkit::{GITHUB_ISSUER, GoogleIdentity, OidcProviderSpec};
///
/// let github = OidcProviderSpec::new(GITHUB_ISSUER)
///     .client_id("sts.amazonaws.com")
///     .trust(GoogleIdentity::shared());
/// assert_eq!(github.host(), "token.actions.githubusercontent.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct OidcProviderSpec {
    host: String,
    client_ids: Vec<String>,
    keys: Vec<GoogleIdentity>,
}

impl OidcProviderSpec {
    /// The provider for issuer `url` (`https://HOST[/PATH]`; IAM stores it without the
    /// scheme, which is also the prefix of its condition keys), with no client ids and no keys
    /// yet.
    pub fn new(url: impl AsRef<str>) -> Self {
        Self {
            host: issuer_host(url.as_ref()).to_owned(),
            client_ids: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// Adds an accepted audience (IAM's "client ID"; at most 100 in IAM).
    pub fn client_id(mut self, audience: impl Into<String>) -> Self {
        self.client_ids.push(audience.into());
        self
    }

    /// Adds a key of the issuer's JWKS (what IAM fetches from the issuer's discovery
    /// document).
    pub fn trust(mut self, identity: GoogleIdentity) -> Self {
        self.keys.push(identity);
        self
    }

    /// The issuer without its scheme: IAM's provider URL and the prefix of its condition keys
    /// (`HOST:aud`, `HOST:sub`).
    pub fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn keys(&self) -> &[GoogleIdentity] {
        &self.keys
    }

    /// The first of the token's `aud` values (a string or an array) that is a client id.
    pub(crate) fn accepted_audience(&self, claims: &Map<String, Value>) -> Option<String> {
        claim_values(claims, "aud")
            .into_iter()
            .find(|aud| self.client_ids.iter().any(|id| id == aud))
    }
}

/// `url` without `https://` (or `http://`); a trailing `/` stays, as tokens must match the
/// provider's URL exactly (Entra v1 tokens' `https://sts.windows.net/TENANT/` has one).
pub(crate) fn issuer_host(url: &str) -> &str {
    let url = url.trim();
    url.strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url)
}

/// The string values of `claim`: itself when a string, its string elements when an array.
pub(crate) fn claim_values(claims: &Map<String, Value>, claim: &str) -> Vec<String> {
    match claims.get(claim) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// IAM's `StringLike`: `*` matches any run of characters, `?` exactly one.
pub(crate) fn string_like(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    // The classic two-pointer match with backtracking to the last `*`.
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_like_matches_as_iam_does() {
        for (pattern, value, expected) in [
            (
                "repo:octo-org/*",
                "repo:octo-org/app:ref:refs/heads/main",
                true,
            ),
            (
                "repo:octo-org/*",
                "repo:other-org/app:ref:refs/heads/main",
                false,
            ),
            (
                "repo:octo-org/app:ref:refs/heads/main",
                "repo:octo-org/app:ref:refs/heads/main",
                true,
            ),
            (
                "repo:octo-org/app:ref:refs/heads/main",
                "repo:octo-org/app:ref:refs/heads/dev",
                false,
            ),
            ("repo:*:environment:prod", "repo:a/b:environment:prod", true),
            (
                "repo:*:environment:prod",
                "repo:a/b:environment:staging",
                false,
            ),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*", "", true),
            ("", "x", false),
            ("**a", "bba", true),
        ] {
            assert_eq!(string_like(pattern, value), expected, "{pattern} ~ {value}");
        }
    }

    #[test]
    fn host_and_audiences() {
        let spec =
            OidcProviderSpec::new("https://issuer.example/tenant/").client_id("sts.amazonaws.com");
        assert_eq!(spec.host(), "issuer.example/tenant/");
        let claims = |aud: Value| json!({ "aud": aud }).as_object().unwrap().clone();
        assert_eq!(
            spec.accepted_audience(&claims(json!(["other", "sts.amazonaws.com"]))),
            Some("sts.amazonaws.com".into())
        );
        assert_eq!(spec.accepted_audience(&claims(json!("other"))), None);
        assert_eq!(spec.accepted_audience(&claims(json!(7))), None);
    }
}
