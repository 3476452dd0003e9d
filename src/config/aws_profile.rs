//! AWS shared-config profiles (`~/.aws/config`, `AWS_CONFIG_FILE`, `AWS_PROFILE`) for the
//! GCP → AWS direction.
//!
//! A token file is the AWS SDKs' own web identity form, which every AWS tool reads too:
//!
//! ```ini
//! [profile eks]
//! role_arn = arn:aws:iam::123456789012:role/gcp-workload
//! web_identity_token_file = /var/run/secrets/tokens/aws-token
//! role_session_name = billing-worker
//! duration_seconds = 3600
//! region = us-east-1
//! ```
//!
//! The GCE/GKE metadata server's token needs keys of our own. They are prefixed so that the AWS
//! tools reading the same profile ignore them and use its `credential_process` line (our CLI):
//!
//! ```ini
//! [profile gcp]
//! credential_process = /usr/local/bin/federated-credentials aws credential-process --profile gcp
//! federated_credentials_role_arn = arn:aws:iam::123456789012:role/gcp-workload
//! federated_credentials_gcp_audience = sts.amazonaws.com
//! region = us-east-1
//! ```
//!
//! The library reads the `federated_credentials_*` keys directly (no process is started); the
//! AWS CLI, boto3 and the SDKs run the `credential_process`. A plain `role_arn` next to
//! `federated_credentials_gcp_audience` (this crate's earlier form) still works here, with a
//! deprecation warning, but makes botocore fail on the profile (`PartialCredentialsError`: a
//! `role_arn` without `source_profile` or `credential_source`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::context::Context;
use crate::error::Error;

/// The profile key that selects the GCE metadata server's identity token.
pub const GCP_AUDIENCE_KEY: &str = "federated_credentials_gcp_audience";

/// The profile key naming the role to assume with the metadata server's token. Not
/// `role_arn`: the AWS tools would try to assume that role themselves, from a source profile
/// the profile does not have, and fail.
pub const ROLE_ARN_KEY: &str = "federated_credentials_role_arn";

/// The web identity settings of one profile. Keys it does not read are ignored; empty
/// values count as unset.
///
/// Turn it into a provider with
/// [`default_chain::from_profile`](crate::default_chain::from_profile).
///
/// ```no_run
/// use federated_credentials::config::AwsProfile;
/// use federated_credentials::context::Context;
/// use federated_credentials::default_chain;
///
/// let ctx = Context::default();
/// let profile = AwsProfile::load(&ctx)?; // `AWS_PROFILE` from `AWS_CONFIG_FILE`
/// let provider = default_chain::from_profile(&ctx, profile)?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwsProfile {
    /// The profile's name.
    pub name: String,
    /// `federated_credentials_role_arn`, else `role_arn`.
    pub role_arn: Option<String>,
    /// `web_identity_token_file`.
    pub web_identity_token_file: Option<PathBuf>,
    /// `federated_credentials_gcp_audience`.
    pub gcp_audience: Option<String>,
    /// `role_session_name`.
    pub role_session_name: Option<String>,
    /// `duration_seconds`.
    pub duration: Option<Duration>,
    /// `region`.
    pub region: Option<String>,
    /// `endpoint_url` (or the `sts` service's `endpoint_url`, not parsed here).
    pub endpoint_url: Option<String>,
}

impl AwsProfile {
    /// Loads the profile named by `AWS_PROFILE` (default `default`) from `AWS_CONFIG_FILE`
    /// (default `~/.aws/config`), both read from the context's environment.
    pub fn load(ctx: &Context) -> Result<Self, Error> {
        let name = ctx
            .env()
            .get_non_empty("AWS_PROFILE")
            .unwrap_or_else(|| "default".to_string());
        Self::load_named(ctx, name.trim())
    }

    /// Loads the named profile from `AWS_CONFIG_FILE` (default `~/.aws/config`), whatever
    /// `AWS_PROFILE` says.
    pub fn load_named(ctx: &Context, name: &str) -> Result<Self, Error> {
        let path = match ctx.env().get_non_empty("AWS_CONFIG_FILE") {
            Some(p) => expand_home(ctx, p.trim()),
            None => expand_home(ctx, "~/.aws/config"),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::config(
                "AWS_CONFIG_FILE",
                format!("cannot read {} ({e})", path.display()),
            )
        })?;
        Self::parse(&text, name, &path)
    }

    /// Parses `text` (the config file's contents) and returns the profile `name`; `path`
    /// only names the file in errors. The `default` profile may be written `[default]` or
    /// `[profile default]`, any other only `[profile NAME]`.
    pub fn parse(text: &str, name: &str, path: &Path) -> Result<Self, Error> {
        let sections = parse_ini(text);
        let wanted = if name == "default" {
            vec!["default".to_string(), "profile default".to_string()]
        } else {
            vec![format!("profile {name}")]
        };
        let Some(keys) = wanted.iter().find_map(|w| sections.get(w)) else {
            return Err(Error::config(
                "AWS_PROFILE",
                format!("profile `{name}` not found in {}", path.display()),
            ));
        };
        let get = |k: &str| keys.get(k).filter(|v| !v.is_empty()).cloned();
        let field = |k: &str| format!("profile {name}.{k}");
        let duration = match get("duration_seconds") {
            None => None,
            Some(v) => Some(Duration::from_secs(v.parse::<u64>().map_err(|_| {
                Error::config(
                    &field("duration_seconds"),
                    format!("`{v}` is not a whole number of seconds"),
                )
            })?)),
        };
        if get("source_profile").is_some() && get("web_identity_token_file").is_some() {
            return Err(Error::config(
                &field("source_profile"),
                "cannot be combined with web_identity_token_file; chained roles are not supported here",
            ));
        }
        let role_arn = match (get(ROLE_ARN_KEY), get("role_arn")) {
            (Some(ours), Some(theirs)) if ours != theirs => {
                return Err(Error::config(
                    &field(ROLE_ARN_KEY),
                    format!(
                        "differs from role_arn in the same profile; remove role_arn (the AWS tools would try to assume it themselves) and keep {ROLE_ARN_KEY}"
                    ),
                ));
            }
            (Some(ours), _) => Some(ours),
            (None, theirs) => theirs,
        };
        if get("role_arn").is_some()
            && get(GCP_AUDIENCE_KEY).is_some()
            && get("web_identity_token_file").is_none()
        {
            tracing::warn!(
                profile = %name,
                "profile {name}: role_arn with {GCP_AUDIENCE_KEY} is deprecated: the AWS CLI and boto3 fail on such a profile (PartialCredentialsError); rename role_arn to {ROLE_ARN_KEY} and add `credential_process = /ABSOLUTE/PATH/federated-credentials aws credential-process --profile {name}`"
            );
        }
        Ok(Self {
            name: name.to_string(),
            role_arn,
            web_identity_token_file: get("web_identity_token_file").map(PathBuf::from),
            gcp_audience: get(GCP_AUDIENCE_KEY),
            role_session_name: get("role_session_name"),
            duration,
            region: get("region"),
            endpoint_url: get("endpoint_url"),
        })
    }
}

/// `~/...` under `HOME` from the context's environment; other paths as they are.
pub(crate) fn expand_home(ctx: &Context, path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => match ctx.env().get_non_empty("HOME") {
            Some(home) => Path::new(&home).join(rest),
            None => PathBuf::from(path),
        },
        None => PathBuf::from(path),
    }
}

/// Sections → lower-cased keys → values. Comments (`#`, `;`) and nested sub-sections
/// (indented lines under `s3 =`) are skipped.
fn parse_ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        if raw.starts_with([' ', '\t']) {
            continue; // a nested setting or a continuation line
        }
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            current = Some(name.clone());
            sections.entry(name).or_default();
            continue;
        }
        if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            sections
                .entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    sections
}

fn strip_comment(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with(';') {
        return "";
    }
    // inline comments need whitespace before them (`a = b ; note`)
    for marker in [" ;", " #", "\t;", "\t#"] {
        if let Some(i) = line.find(marker) {
            return &line[..i];
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::StaticEnv;

    const CONFIG: &str = "
# comment
[default]
region = eu-west-1

[profile ci]
role_arn = arn:aws:iam::123456789012:role/RoleA
web_identity_token_file = /var/run/token.jwt
role_session_name = ci-session        ; optional
duration_seconds = 7200
region = us-west-2
s3 =
  max_concurrent_requests = 20

[profile  gcp ]
role_arn=arn:aws:iam::123456789012:role/RoleB
federated_credentials_gcp_audience = sts.amazonaws.com

[profile ours]
credential_process = /usr/local/bin/federated-credentials aws credential-process --profile ours
federated_credentials_role_arn = arn:aws:iam::123456789012:role/RoleD
federated_credentials_gcp_audience = sts.amazonaws.com

[profile conflicting]
role_arn = arn:aws:iam::123456789012:role/RoleE
federated_credentials_role_arn = arn:aws:iam::123456789012:role/RoleF

[profile chained]
role_arn = arn:aws:iam::123456789012:role/RoleC
source_profile = ci
web_identity_token_file = /t
";

    #[test]
    fn reads_web_identity_profiles() {
        let p = AwsProfile::parse(CONFIG, "ci", Path::new("c")).unwrap();
        assert_eq!(
            p.web_identity_token_file,
            Some(PathBuf::from("/var/run/token.jwt"))
        );
        assert_eq!(p.role_session_name.as_deref(), Some("ci-session"));
        assert_eq!(p.duration, Some(Duration::from_secs(7200)));
        assert_eq!(p.region.as_deref(), Some("us-west-2"));
        let g = AwsProfile::parse(CONFIG, "gcp", Path::new("c")).unwrap();
        assert_eq!(g.gcp_audience.as_deref(), Some("sts.amazonaws.com"));
        let ours = AwsProfile::parse(CONFIG, "ours", Path::new("c")).unwrap();
        assert_eq!(
            ours.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/RoleD")
        );
        assert_eq!(ours.gcp_audience.as_deref(), Some("sts.amazonaws.com"));
        assert_eq!(
            AwsProfile::parse(CONFIG, "default", Path::new("c"))
                .unwrap()
                .region
                .as_deref(),
            Some("eu-west-1")
        );
    }

    #[test]
    fn errors_name_the_profile_and_key() {
        let err = AwsProfile::parse(CONFIG, "nope", Path::new("/home/u/.aws/config")).unwrap_err();
        assert!(
            err.message()
                .contains("profile `nope` not found in /home/u/.aws/config"),
            "{err}"
        );
        let err = AwsProfile::parse(CONFIG, "conflicting", Path::new("c")).unwrap_err();
        assert!(
            err.message().starts_with(
                "profile conflicting.federated_credentials_role_arn: differs from role_arn"
            ),
            "{err}"
        );
        let err = AwsProfile::parse(CONFIG, "chained", Path::new("c")).unwrap_err();
        assert!(
            err.message().starts_with("profile chained.source_profile"),
            "{err}"
        );
        let err = AwsProfile::parse("[profile x]\nduration_seconds = 1h\n", "x", Path::new("c"))
            .unwrap_err();
        assert!(
            err.message().starts_with("profile x.duration_seconds"),
            "{err}"
        );
    }

    #[test]
    fn documented_keys_and_fields() {
        let ini = format!(
            "[default]\nrole_arn = arn:aws:iam::123456789012:role/gcp-workload\n{GCP_AUDIENCE_KEY} = sts.amazonaws.com\n"
        );
        let profile = AwsProfile::parse(&ini, "default", Path::new("config")).unwrap();
        assert_eq!(profile.gcp_audience.as_deref(), Some("sts.amazonaws.com"));
        let ini = format!("[profile gcp]\n{ROLE_ARN_KEY} = arn:aws:iam::123456789012:role/gcp\n");
        let profile = AwsProfile::parse(&ini, "gcp", Path::new("config")).unwrap();
        assert_eq!(
            profile.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/gcp")
        );
        let ini = "\
[profile billing]
role_arn = arn:aws:iam::123456789012:role/billing
web_identity_token_file = /var/run/secrets/tokens/aws-token
role_session_name = billing-worker
duration_seconds = 7200
region = eu-west-1
";
        let p = AwsProfile::parse(ini, "billing", Path::new("config")).unwrap();
        assert_eq!(p.role_session_name.as_deref(), Some("billing-worker"));
        assert_eq!(p.duration, Some(Duration::from_secs(7200)));
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));
        assert_eq!(p.gcp_audience, None);
        let p = AwsProfile::parse(
            "[profile ci]\nrole_arn = arn:aws:iam::123456789012:role/RoleA\nweb_identity_token_file = /t\n",
            "ci",
            Path::new("config"),
        )
        .unwrap();
        assert_eq!(
            p.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/RoleA")
        );
    }

    #[test]
    fn load_and_load_named_read_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let path = path.to_str().unwrap();
        std::fs::write(
            path,
            "[profile ci]\nrole_arn = arn:aws:iam::123456789012:role/ci\n",
        )
        .unwrap();
        let env = StaticEnv::from_pairs([("AWS_CONFIG_FILE", path), ("AWS_PROFILE", "ci")]);
        let profile = AwsProfile::load(&Context::builder().env(env).build()).unwrap();
        assert_eq!(profile.name, "ci");
        assert_eq!(
            profile.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/ci")
        );
        let ctx = Context::builder()
            .env(StaticEnv::from_pairs([("AWS_CONFIG_FILE", path)]))
            .build();
        assert_eq!(AwsProfile::load_named(&ctx, "ci").unwrap().name, "ci");
        let err = AwsProfile::load_named(&ctx, "prod").unwrap_err();
        assert!(
            err.message()
                .starts_with("AWS_PROFILE: profile `prod` not found")
        );
    }

    #[test]
    fn loads_from_env_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        std::fs::write(dir.path().join(".aws/config"), CONFIG).unwrap();
        let home = dir.path().display().to_string();
        let ctx = Context::builder()
            .env(StaticEnv::from_pairs([
                ("HOME", home.as_str()),
                ("AWS_PROFILE", "gcp"),
            ]))
            .build();
        assert_eq!(AwsProfile::load(&ctx).unwrap().name, "gcp");
        let other = dir.path().join("other");
        std::fs::write(
            &other,
            "[default]\nrole_arn = arn:aws:iam::123456789012:role/D\n",
        )
        .unwrap();
        let ctx = Context::builder()
            .env(StaticEnv::from_pairs([(
                "AWS_CONFIG_FILE",
                other.display().to_string(),
            )]))
            .build();
        assert!(
            AwsProfile::load(&ctx)
                .unwrap()
                .role_arn
                .unwrap()
                .ends_with("role/D")
        );
        let ctx = Context::builder()
            .env(StaticEnv::from_pairs([("AWS_CONFIG_FILE", "/nonexistent")]))
            .build();
        assert!(
            AwsProfile::load(&ctx)
                .unwrap_err()
                .message()
                .starts_with("AWS_CONFIG_FILE")
        );
    }
}
