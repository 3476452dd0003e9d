//! [`RoleSpec`]: an IAM role that the STS emulator lets web identities assume, with its
//! trust policy modelled on the real ones: the `accounts.google.com` federation (the default)
//! or an IAM OIDC provider, and `StringEquals`/`StringLike` conditions on the token's claims.

use std::time::Duration;

use serde_json::{Map, Value};

use super::oidc_provider::{claim_values, issuer_host, string_like};
use crate::random::{UPPER_ALPHANUMERIC, random_string};

/// The federated principal of the trust policy of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principal {
    /// `accounts.google.com`.
    Google,
    /// `arn:aws:iam::ACCOUNT:oidc-provider/HOST`.
    Oidc(String),
}

/// An IAM role whose trust policy allows `sts:AssumeRoleWithWebIdentity` for the federated
/// principal `accounts.google.com`, optionally restricted by `StringEquals` conditions.
///
/// The condition keys map to Google ID-token claims the non-obvious way AWS does it:
///
/// | Condition key | Compared with the token's |
/// |---|---|
/// | `accounts.google.com:aud` ([`google_aud`](Self::google_aud)) | **`azp`**, the service account's numeric id |
/// | `accounts.google.com:oaud` ([`google_oaud`](Self::google_oaud)) | **`aud`**, the audience the token was requested for |
/// | `accounts.google.com:sub` ([`google_sub`](Self::google_sub)) | `sub` |
///
/// Each condition key may list several values (any one matches); a role without conditions
/// trusts every Google-signed token.
///
/// A role can instead trust an IAM OIDC provider ([`oidc_principal`](Self::oidc_principal),
/// with the provider added to the emulator as an
/// [`OidcProviderSpec`](crate::OidcProviderSpec)), with conditions on its claims
/// ([`condition`](Self::condition), `HOST:CLAIM` compared `StringLike`), as a GitHub Actions
/// role does:
///
/// ```
/// use federated_credentials_testkit::RoleSpec;
///
/// let role = RoleSpec::new("arn:aws:iam::123456789012:role/deploy")
///     .oidc_principal("https://token.actions.githubusercontent.com")
///     .condition("token.actions.githubusercontent.com:aud", "sts.amazonaws.com")
///     .condition("token.actions.githubusercontent.com:sub", "repo:octo-org/octo-repo:*");
/// ```
///
/// ```
/// use federated_credentials_testkit::RoleSpec;
/// use std::time::Duration;
///
/// let role = RoleSpec::new("arn:aws:iam::123456789012:role/gcp-reader")
///     .max_session_duration(Duration::from_secs(2 * 3600))
///     .google_aud("104729384756102938475")
///     .google_oaud("sts.amazonaws.com");
/// assert_eq!(role.name(), "gcp-reader");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    arn: String,
    max_session_duration: Duration,
    aud: Vec<String>,
    oaud: Vec<String>,
    sub: Vec<String>,
    principal: Principal,
    conditions: Vec<(String, String)>,
}

impl RoleSpec {
    /// A role with this ARN (`arn:aws:iam::ACCOUNT:role/[PATH/]NAME`), a one-hour maximum
    /// session duration and no trust conditions.
    pub fn new(arn: impl Into<String>) -> Self {
        Self {
            arn: arn.into(),
            max_session_duration: Duration::from_secs(3600),
            aud: Vec::new(),
            oaud: Vec::new(),
            sub: Vec::new(),
            principal: Principal::Google,
            conditions: Vec::new(),
        }
    }

    /// Trusts the IAM OIDC provider of issuer `url` (`https://HOST[/PATH]`) instead of
    /// `accounts.google.com`: only tokens from that issuer may assume the role.
    pub fn oidc_principal(mut self, url: impl AsRef<str>) -> Self {
        self.principal = Principal::Oidc(issuer_host(url.as_ref()).to_owned());
        self
    }

    /// Adds an allowed pattern for condition key `key` (`HOST:CLAIM`, e.g.
    /// `token.actions.githubusercontent.com:sub`), compared `StringLike` (`*`, `?`) with
    /// the token's claim `CLAIM` (any element of an array). Patterns of one key are
    /// alternatives; different keys must all match. A key whose `HOST` is not the role's
    /// principal never matches, as in IAM.
    pub fn condition(mut self, key: impl Into<String>, pattern: impl Into<String>) -> Self {
        self.conditions.push((key.into(), pattern.into()));
        self
    }

    /// The role's `MaxSessionDuration` (IAM allows 1 to 12 hours); a `DurationSeconds` above it
    /// is a `ValidationError`.
    pub fn max_session_duration(mut self, max: Duration) -> Self {
        self.max_session_duration = max;
        self
    }

    /// Adds an allowed value of condition key `accounts.google.com:aud`, which AWS compares
    /// with the token's **`azp`** claim (the numeric service-account id).
    pub fn google_aud(mut self, azp: impl Into<String>) -> Self {
        self.aud.push(azp.into());
        self
    }

    /// Adds an allowed value of condition key `accounts.google.com:oaud`, which AWS compares
    /// with the token's **`aud`** claim (the requested audience).
    pub fn google_oaud(mut self, aud: impl Into<String>) -> Self {
        self.oaud.push(aud.into());
        self
    }

    /// Adds an allowed value of condition key `accounts.google.com:sub`, compared with `sub`.
    pub fn google_sub(mut self, sub: impl Into<String>) -> Self {
        self.sub.push(sub.into());
        self
    }

    /// The role ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The role name: the ARN's last `/`-separated part.
    pub fn name(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or_default()
    }

    /// The maximum session duration.
    pub fn session_duration_limit(&self) -> Duration {
        self.max_session_duration
    }

    /// Whether the trust policy lets a token with these (verified) claims, from the provider
    /// `host` (`accounts.google.com` or an IAM OIDC provider's), assume the role.
    pub(crate) fn trusts(&self, host: &str, claims: &Map<String, Value>) -> bool {
        let principal_host = match &self.principal {
            Principal::Google => super::GOOGLE_PROVIDER,
            Principal::Oidc(h) => h.as_str(),
        };
        if principal_host != host {
            return false;
        }
        let matches = |allowed: &[String], claim: &str| {
            allowed.is_empty()
                || claims
                    .get(claim)
                    .and_then(Value::as_str)
                    .is_some_and(|value| allowed.iter().any(|a| a == value))
        };
        let google =
            matches(&self.aud, "azp") && matches(&self.oaud, "aud") && matches(&self.sub, "sub");
        google
            && self.conditions.iter().all(|(key, _)| {
                let Some((prefix, claim)) = key.rsplit_once(':') else {
                    return false;
                };
                let values = claim_values(claims, claim);
                prefix == principal_host
                    && self
                        .conditions
                        .iter()
                        .filter(|(k, _)| k == key)
                        .any(|(_, pattern)| values.iter().any(|v| string_like(pattern, v)))
            })
    }

    /// The role's unique id, `AROA` and 17 characters, stable for a given ARN (IAM assigns a
    /// random one at creation; deriving it keeps the emulator deterministic).
    pub(crate) fn unique_id(&self) -> String {
        // FNV-1a, to seed a generator from the ARN.
        let seed = self
            .arn
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
        let mut rng = fastrand::Rng::with_seed(seed);
        format!("AROA{}", random_string(&mut rng, UPPER_ALPHANUMERIC, 17))
    }
}

/// The parts of a role ARN: partition and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleArn<'a> {
    pub(crate) partition: &'a str,
    pub(crate) account: &'a str,
}

/// Parses `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
pub(crate) fn parse_role_arn(arn: &str) -> Option<RoleArn<'_>> {
    let mut fields = arn.splitn(6, ':');
    let (prefix, partition, service, region, account, resource) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    let valid = prefix == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty();
    valid.then_some(RoleArn { partition, account })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(aud: &str, azp: &str, sub: &str) -> Map<String, Value> {
        match json!({"aud": aud, "azp": azp, "sub": sub}) {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn conditions_use_the_google_claim_mapping() {
        let role = RoleSpec::new("arn:aws:iam::123456789012:role/r")
            .google_aud("111")
            .google_oaud("my-audience");
        assert!(role.trusts("accounts.google.com", &claims("my-audience", "111", "111")));
        // aud and azp swapped: what a naive implementation would accept.
        assert!(!role.trusts("accounts.google.com", &claims("111", "my-audience", "111")));
        assert!(!role.trusts("accounts.google.com", &claims("my-audience", "222", "222")));
        let by_sub = RoleSpec::new("arn:aws:iam::123456789012:role/r")
            .google_sub("1")
            .google_sub("2");
        assert!(by_sub.trusts("accounts.google.com", &claims("x", "y", "2")));
        assert!(!by_sub.trusts("accounts.google.com", &claims("x", "y", "3")));
        assert!(RoleSpec::new("arn").trusts("accounts.google.com", &Map::new()));
    }

    #[test]
    fn an_oidc_principal_trusts_only_its_provider_and_conditions() {
        const GH: &str = "token.actions.githubusercontent.com";
        let role = RoleSpec::new("arn:aws:iam::123456789012:role/deploy")
            .oidc_principal("https://token.actions.githubusercontent.com")
            .condition(format!("{GH}:aud"), "sts.amazonaws.com")
            .condition(format!("{GH}:sub"), "repo:octo-org/app:*")
            .condition(format!("{GH}:sub"), "repo:octo-org/lib:ref:refs/heads/main");
        let token = |sub: &str| claims("sts.amazonaws.com", "", sub);
        assert!(role.trusts(GH, &token("repo:octo-org/app:ref:refs/heads/dev")));
        assert!(role.trusts(GH, &token("repo:octo-org/lib:ref:refs/heads/main")));
        assert!(!role.trusts(GH, &token("repo:octo-org/lib:ref:refs/heads/dev")));
        assert!(!role.trusts(GH, &token("repo:evil-org/app:ref:refs/heads/main")));
        assert!(!role.trusts(GH, &claims("other", "", "repo:octo-org/app:x")));
        // Another provider, even with matching claims, is not the principal.
        assert!(!role.trusts("accounts.google.com", &token("repo:octo-org/app:x")));
        // And a Google role does not trust an OIDC provider.
        assert!(!RoleSpec::new("arn").trusts(GH, &Map::new()));
        // A condition key of another provider never matches.
        let foreign = RoleSpec::new("arn")
            .oidc_principal(GH)
            .condition("accounts.google.com:sub", "*");
        assert!(!foreign.trusts(GH, &token("x")));
    }

    #[test]
    fn role_arns_and_ids() {
        let arn = parse_role_arn("arn:aws:iam::123456789012:role/path/to/r").unwrap();
        assert_eq!((arn.partition, arn.account), ("aws", "123456789012"));
        for bad in [
            "arn:aws:iam::123456789012:user/u",
            "arn:aws:iam::1234:role/r",
            "arn:aws:sts::123456789012:role/r",
            "arn:aws:iam::123456789012:role/",
            "not an arn at all, really",
        ] {
            assert_eq!(parse_role_arn(bad), None, "{bad}");
        }
        let role = RoleSpec::new("arn:aws:iam::123456789012:role/path/to/r");
        assert_eq!(role.name(), "r");
        let id = role.unique_id();
        assert_eq!((id.len(), &id[..4]), (21, "AROA"));
        assert_eq!(id, role.unique_id());
    }
}
