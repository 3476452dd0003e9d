//! [`ExternalAccountConfig`]: the `external_account` credential configuration (AIP-4117), as
//! `gcloud iam workload-identity-pools create-cred-config` writes it. Parsed and validated at
//! load time; every error names the field and says what is wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::json::Fields;
use crate::context::Context;
use crate::error::{Error, ErrorKind, Service};
use crate::exchange::{is_workforce_audience, service_account_from_url};
use crate::secret::SecretString;
use crate::source::TokenFormat;
use crate::token::TokenType;

const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

// The keys of each object, as gcloud 578.0.0 writes them (`create-cred-config`, every variant:
// file, URL, executable, AWS, Azure, X.509, workforce) and google-auth 2.63.0 reads them,
// whether or not we use them. A key within two edits of one of these is a typo and an error;
// any other unknown key is ignored with a DEBUG event, for keys newer than this list.
const TOP_LEVEL_KEYS: &[&str] = &[
    "type",
    "audience",
    "subject_token_type",
    "token_url",
    "service_account_impersonation_url",
    "service_account_impersonation",
    "credential_source",
    "quota_project_id",
    "workforce_pool_user_project",
    "client_id",
    "client_secret",
    "token_info_url",
    "universe_domain",
    "scopes",
    "trust_boundary",
];
const CREDENTIAL_SOURCE_KEYS: &[&str] = &[
    "file",
    "url",
    "headers",
    "format",
    "executable",
    "certificate",
    "environment_id",
    "region_url",
    "regional_cred_verification_url",
    "imdsv2_session_token_url",
];
const FORMAT_KEYS: &[&str] = &["type", "subject_token_field_name"];
const EXECUTABLE_KEYS: &[&str] = &[
    "command",
    "timeout_millis",
    "output_file",
    "interactive_timeout_millis",
];
const IMPERSONATION_KEYS: &[&str] = &["token_lifetime_seconds"];

/// The default `regional_cred_verification_url` of AWS sources.
pub(crate) const DEFAULT_REGIONAL_CRED_VERIFICATION_URL: &str =
    "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";

/// The `credential_source` of an AWS (`environment_id: aws1`) configuration.
///
/// ```
/// use federated_credentials::config::{CredentialSource, ExternalAccountConfig};
///
/// let config = ExternalAccountConfig::from_file("/etc/gcp/credentials.json");
/// # let config = ExternalAccountConfig::from_json(r#"{"type": "external_account",
/// #   "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws",
/// #   "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
/// #   "credential_source": {"environment_id": "aws1"}}"#);
/// if let CredentialSource::Aws(aws) = &config?.credential_source {
///     let v2 = aws.imdsv2_session_token_url.is_some();
///     println!("IMDS{} at {:?}", if v2 { "v2" } else { "v1" }, aws.url);
/// }
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwsSourceConfig {
    /// `region_url` (availability zone or region).
    pub region_url: Option<String>,
    /// `url`: the role-credentials base URL.
    pub url: Option<String>,
    /// `regional_cred_verification_url`, with `{region}` still in it.
    pub regional_cred_verification_url: String,
    /// `imdsv2_session_token_url`, present when IMDSv2 is to be used.
    pub imdsv2_session_token_url: Option<String>,
}

/// Where the subject token comes from.
///
/// ```
/// use federated_credentials::config::{CredentialSource, ExternalAccountConfig};
///
/// fn describe(config: &ExternalAccountConfig) -> String {
///     match &config.credential_source {
///         CredentialSource::File { path, .. } => format!("token file {}", path.display()),
///         CredentialSource::Url { url, .. } => format!("token from {url}"),
///         CredentialSource::Aws(_) => "signed AWS request".to_string(),
///         CredentialSource::Executable { command, .. } => format!("output of `{command}`"),
///         _ => "another source".to_string(), // the enum is non-exhaustive
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialSource {
    /// `credential_source.file`.
    File {
        /// The token file.
        path: PathBuf,
        /// How the file holds the token.
        format: TokenFormat,
    },
    /// `credential_source.url`.
    Url {
        /// The URL.
        url: String,
        /// Headers sent with the request.
        headers: Vec<(String, String)>,
        /// How the response holds the token.
        format: TokenFormat,
    },
    /// `credential_source.environment_id: aws1`.
    Aws(AwsSourceConfig),
    /// `credential_source.executable`.
    Executable {
        /// The command line.
        command: String,
        /// `timeout_millis` (5–120 s, default 30 s).
        timeout: Duration,
        /// `output_file`.
        output_file: Option<PathBuf>,
    },
}

/// A parsed and validated `external_account` configuration.
///
/// ```
/// use federated_credentials::config::{CredentialSource, ExternalAccountConfig};
/// let config = ExternalAccountConfig::from_json(r#"{
///   "type": "external_account",
///   "audience": "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/k8s/providers/k8s",
///   "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
///   "token_url": "https://sts.googleapis.com/v1/token",
///   "credential_source": { "file": "/var/run/secrets/tokens/gcp-token" }
/// }"#)?;
/// if let CredentialSource::File { path, .. } = &config.credential_source {
///     println!("the subject token comes from {}", path.display());
/// }
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExternalAccountConfig {
    /// The workload or workforce identity pool provider.
    pub audience: String,
    /// `subject_token_type`.
    pub subject_token_type: TokenType,
    /// `token_url` (defaulted from `universe_domain`).
    pub token_url: String,
    /// `service_account_impersonation_url`.
    pub service_account_impersonation_url: Option<String>,
    /// `service_account_impersonation.token_lifetime_seconds`.
    pub token_lifetime: Option<Duration>,
    /// `credential_source`.
    pub credential_source: CredentialSource,
    /// `quota_project_id`: sent as `x-goog-user-project` on API calls.
    pub quota_project_id: Option<String>,
    /// `workforce_pool_user_project`.
    pub workforce_pool_user_project: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `client_secret`.
    pub client_secret: Option<SecretString>,
    /// `universe_domain` (default `googleapis.com`).
    pub universe_domain: String,
    /// `scopes` (a non-standard key some tools write).
    pub scopes: Vec<String>,
    /// Allow AWS metadata URLs on hosts other than the IMDS addresses and loopback.
    pub allow_any_aws_metadata_host: bool,
}

/// Loads an [`ExternalAccountConfig`] with options that change what is accepted. The plain
/// [`ExternalAccountConfig::from_file`] (and `from_json`, `from_value`, `from_env`) are this
/// loader with its defaults.
///
/// The one option today: an `aws1` configuration whose metadata URLs point at an IMDS proxy
/// (any host other than `169.254.169.254`, `[fd00:ec2::254]` or loopback) is refused at load,
/// as a guard against a configuration that sends the instance's requests elsewhere. Where
/// such a proxy is intended, allow it when loading:
///
/// ```
/// use federated_credentials::config::ExternalAccountConfig;
/// let json = r#"{
///   "type": "external_account",
///   "audience": "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/aws",
///   "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
///   "credential_source": {
///     "environment_id": "aws1",
///     "region_url": "http://imds-proxy.internal/latest/meta-data/placement/availability-zone",
///     "url": "http://imds-proxy.internal/latest/meta-data/iam/security-credentials",
///     "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
///   }
/// }"#;
/// assert!(ExternalAccountConfig::from_json(json).is_err()); // refused by default
/// let config = ExternalAccountConfig::loader()
///     .allow_any_aws_metadata_host(true)
///     .from_json(json)?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ExternalAccountConfigLoader {
    allow_any_aws_metadata_host: bool,
}

impl ExternalAccountConfigLoader {
    /// Accepts `aws1` metadata URLs on any host (an IMDS proxy). Default `false`.
    pub fn allow_any_aws_metadata_host(mut self, allow: bool) -> Self {
        self.allow_any_aws_metadata_host = allow;
        self
    }

    /// Parses configuration JSON text; see [`ExternalAccountConfig::from_json`].
    pub fn from_json(&self, json: &str) -> Result<ExternalAccountConfig, Error> {
        ExternalAccountConfig::from_json_with(json, self)
    }

    /// Reads a configuration file (at most 1 MiB); see [`ExternalAccountConfig::from_file`].
    pub fn from_file(&self, path: impl AsRef<Path>) -> Result<ExternalAccountConfig, Error> {
        ExternalAccountConfig::from_file_with(path.as_ref(), self)
    }

    /// Reads the file named by `GOOGLE_APPLICATION_CREDENTIALS`; see
    /// [`ExternalAccountConfig::from_env`].
    pub fn from_env(&self, ctx: &Context) -> Result<ExternalAccountConfig, Error> {
        ExternalAccountConfig::from_env_with(ctx, self)
    }

    /// Parses an already-decoded JSON value; see [`ExternalAccountConfig::from_value`].
    pub fn from_value(&self, value: &Value) -> Result<ExternalAccountConfig, Error> {
        ExternalAccountConfig::from_value_with(value, self)
    }
}

impl ExternalAccountConfig {
    /// A loader with options (today: accepting an IMDS proxy for `aws1`); see
    /// [`ExternalAccountConfigLoader`].
    pub fn loader() -> ExternalAccountConfigLoader {
        ExternalAccountConfigLoader::default()
    }

    /// Parses and validates a configuration. Errors name the field and say what is wrong.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        Self::loader().from_json(json)
    }

    fn from_json_with(json: &str, options: &ExternalAccountConfigLoader) -> Result<Self, Error> {
        let value: Value = serde_json::from_str(json).map_err(|e| {
            Error::config(
                "(file)",
                format!(
                    "is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        Self::from_value_with(&value, options)
    }

    /// Reads a configuration file (at most 1 MiB). Errors name the path.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::loader().from_file(path)
    }

    fn from_file_with(path: &Path, options: &ExternalAccountConfigLoader) -> Result<Self, Error> {
        let read_err = |problem: String| {
            Error::new(
                ErrorKind::Configuration,
                Service::Config,
                format!("credential configuration {}: {problem}", path.display()),
            )
        };
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => read_err("no such file".into()),
            _ => read_err(format!("cannot read ({e})")),
        })?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(read_err(format!(
                "is {} bytes; a credential configuration is a small JSON file",
                meta.len()
            )));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| read_err(format!("cannot read ({e})")))?;
        Self::from_json_with(&text, options)
            .map_err(|e| e.context(format!("credential configuration {}", path.display())))
    }

    /// Reads the file named by `GOOGLE_APPLICATION_CREDENTIALS` in the context's environment.
    ///
    /// ```no_run
    /// use federated_credentials::config::ExternalAccountConfig;
    /// use federated_credentials::context::Context;
    ///
    /// let config = ExternalAccountConfig::from_env(&Context::default())?;
    /// println!("federating into {}", config.audience);
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn from_env(ctx: &Context) -> Result<Self, Error> {
        Self::loader().from_env(ctx)
    }

    fn from_env_with(ctx: &Context, options: &ExternalAccountConfigLoader) -> Result<Self, Error> {
        let path = ctx
            .env()
            .get_non_empty("GOOGLE_APPLICATION_CREDENTIALS")
            .ok_or_else(|| {
                Error::config(
                    "GOOGLE_APPLICATION_CREDENTIALS",
                    "is not set: point it at the external_account JSON from `gcloud iam workload-identity-pools create-cred-config`",
                )
            })?;
        Self::from_file_with(Path::new(path.trim()), options)
    }

    /// Parses an already-decoded JSON value, e.g. one embedded in a larger configuration:
    ///
    /// ```
    /// use federated_credentials::config::ExternalAccountConfig;
    ///
    /// let app_config: serde_json::Value = serde_json::from_str(r#"{
    ///   "service": "billing",
    ///   "gcp": {
    ///     "type": "external_account",
    ///     "audience": "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/k8s/providers/k8s",
    ///     "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    ///     "credential_source": { "file": "/var/run/secrets/tokens/gcp-token" }
    ///   }
    /// }"#).unwrap();
    /// let config = ExternalAccountConfig::from_value(&app_config["gcp"])?;
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn from_value(value: &Value) -> Result<Self, Error> {
        Self::loader().from_value(value)
    }

    fn from_value_with(
        value: &Value,
        options: &ExternalAccountConfigLoader,
    ) -> Result<Self, Error> {
        let top = Fields::new(value, "")?;
        top.check_keys(TOP_LEVEL_KEYS)?;
        match top.str("type")? {
            Some(t) if t == "external_account" => {}
            Some(t) => {
                return Err(Error::config(
                    "type",
                    format!(
                        "`{t}` is not supported here: this is for `external_account` (workload/workforce identity federation) configurations"
                    ),
                ));
            }
            None => return Err(Error::config("type", "is required (`external_account`)")),
        }
        let audience = top.required_str("audience")?.trim().to_string();
        let subject_token_type = {
            let urn = top.required_str("subject_token_type")?;
            match TokenType::from_urn(urn.trim()) {
                Some(
                    t @ (TokenType::Jwt
                    | TokenType::IdToken
                    | TokenType::Saml2
                    | TokenType::Aws4Request),
                ) => t,
                _ => {
                    return Err(Error::config(
                        "subject_token_type",
                        format!(
                            "`{urn}` is not one of urn:ietf:params:oauth:token-type:jwt, …:id_token, …:saml2, urn:ietf:params:aws:token-type:aws4_request"
                        ),
                    ));
                }
            }
        };
        let universe_domain = match top.str("universe_domain")? {
            Some(u) if u.trim().is_empty() || u.contains(['/', ':', ' ']) => {
                return Err(Error::config(
                    "universe_domain",
                    format!("`{u}` is not a domain like googleapis.com"),
                ));
            }
            Some(u) => u.trim().to_string(),
            None => "googleapis.com".to_string(),
        };
        let token_url = match top.str("token_url")? {
            Some(u) => u.trim().to_string(),
            None => format!("https://sts.{universe_domain}/v1/token"),
        };
        crate::exchange::validate_google_url("token_url", &token_url)?;
        let service_account_impersonation_url = top
            .str("service_account_impersonation_url")?
            .map(|u| u.trim().to_string());
        if let Some(url) = &service_account_impersonation_url {
            crate::exchange::validate_google_url("service_account_impersonation_url", url)?;
            if service_account_from_url(url).is_none() {
                return Err(Error::config(
                    "service_account_impersonation_url",
                    "must end in /serviceAccounts/EMAIL:generateAccessToken",
                ));
            }
        }
        let token_lifetime = match top.object("service_account_impersonation")? {
            None => None,
            Some(imp) => match imp
                .check_keys(IMPERSONATION_KEYS)?
                .int("token_lifetime_seconds")?
            {
                None => None,
                Some(secs) if (600..=43200).contains(&secs) => {
                    Some(Duration::from_secs(secs as u64))
                }
                Some(secs) => {
                    return Err(Error::config(
                        "service_account_impersonation.token_lifetime_seconds",
                        format!("{secs} is out of range: 600 to 43200 seconds"),
                    ));
                }
            },
        };
        if token_lifetime.is_some() && service_account_impersonation_url.is_none() {
            return Err(Error::config(
                "service_account_impersonation.token_lifetime_seconds",
                "only applies with service_account_impersonation_url, which is not set",
            ));
        }
        let workforce_pool_user_project = top
            .str("workforce_pool_user_project")?
            .filter(|p| !p.trim().is_empty());
        if workforce_pool_user_project.is_some() && !is_workforce_audience(&audience) {
            return Err(Error::config(
                "workforce_pool_user_project",
                "is only allowed with a workforce pool audience (//iam.googleapis.com/locations/LOCATION/workforcePools/...)",
            ));
        }
        let client_id = top.str("client_id")?.filter(|c| !c.is_empty());
        let client_secret = top
            .str("client_secret")?
            .filter(|c| !c.is_empty())
            .map(SecretString::from);
        if client_secret.is_some() && client_id.is_none() {
            return Err(Error::config(
                "client_secret",
                "is set but client_id is not",
            ));
        }
        let scopes = top.strings("scopes")?.unwrap_or_default();
        let source_fields = top
            .object("credential_source")?
            .ok_or_else(|| Error::config("credential_source", "is required"))?;
        source_fields.check_keys(CREDENTIAL_SOURCE_KEYS)?;
        let credential_source = parse_source(&source_fields)?;
        match (&credential_source, subject_token_type) {
            (CredentialSource::Aws(_), TokenType::Aws4Request) => {}
            (CredentialSource::Aws(_), t) => {
                return Err(Error::config(
                    "subject_token_type",
                    format!(
                        "must be urn:ietf:params:aws:token-type:aws4_request for an AWS credential_source, not {t}"
                    ),
                ));
            }
            (_, TokenType::Aws4Request) => {
                return Err(Error::config(
                    "subject_token_type",
                    "aws4_request needs an AWS credential_source (environment_id: aws1)",
                ));
            }
            (
                CredentialSource::Executable { .. },
                TokenType::Jwt | TokenType::IdToken | TokenType::Saml2,
            ) => {}
            _ => {}
        }
        let quota_project_id = top
            .str("quota_project_id")?
            .filter(|p| !p.trim().is_empty());
        if quota_project_id
            .as_deref()
            .is_some_and(|p| reqwest::header::HeaderValue::from_str(p).is_err())
        {
            return Err(Error::config(
                "quota_project_id",
                "is not a valid HTTP header value (it is sent as x-goog-user-project); a \
                 project ID is lowercase letters, digits and hyphens",
            ));
        }
        let config = Self {
            audience,
            subject_token_type,
            token_url,
            service_account_impersonation_url,
            token_lifetime,
            credential_source,
            quota_project_id,
            workforce_pool_user_project,
            client_id,
            client_secret,
            universe_domain,
            scopes,
            allow_any_aws_metadata_host: options.allow_any_aws_metadata_host,
        };
        config.check_aws_hosts()?;
        Ok(config)
    }

    /// Allows AWS metadata URLs on any host (by default only `169.254.169.254`,
    /// `fd00:ec2::254` and loopback are accepted, an SSRF guard AIP-4117 asks for).
    ///
    /// The hosts are checked again, so `false` fails on a configuration whose AWS URLs are
    /// elsewhere. [`from_json`](Self::from_json) and [`from_file`](Self::from_file) reject
    /// such URLs before this can be called: to load a file that points at an IMDS proxy, use
    /// [`ExternalAccountConfig::loader`]`().allow_any_aws_metadata_host(true)`. This method
    /// is for a configuration whose URLs were changed after loading.
    pub fn allow_any_aws_metadata_host(mut self, allow: bool) -> Result<Self, Error> {
        self.allow_any_aws_metadata_host = allow;
        self.check_aws_hosts()?;
        Ok(self)
    }

    fn check_aws_hosts(&self) -> Result<(), Error> {
        let CredentialSource::Aws(aws) = &self.credential_source else {
            return Ok(());
        };
        for (field, url) in [
            ("credential_source.region_url", &aws.region_url),
            ("credential_source.url", &aws.url),
            (
                "credential_source.imdsv2_session_token_url",
                &aws.imdsv2_session_token_url,
            ),
        ] {
            let Some(raw) = url else { continue };
            let parsed = url::Url::parse(raw)
                .map_err(|e| Error::config(field, format!("`{raw}` is not a valid URL ({e})")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(Error::config(field, format!("`{raw}` must be an http URL")));
            }
            let imds_host = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::new(169, 254, 169, 254),
                Some(url::Host::Ipv6(ip)) => {
                    ip == "fd00:ec2::254"
                        .parse::<std::net::Ipv6Addr>()
                        .expect("valid")
                }
                _ => false,
            };
            if !imds_host
                && !crate::http::is_loopback_host(&parsed)
                && !self.allow_any_aws_metadata_host
            {
                return Err(Error::config(
                    field,
                    format!(
                        "`{raw}` is not the EC2 metadata service (169.254.169.254 or [fd00:ec2::254]); if this is an intended IMDS proxy, load the file with ExternalAccountConfig::loader().allow_any_aws_metadata_host(true)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The impersonated service account's email, if any (from
    /// `service_account_impersonation_url`).
    pub fn impersonated_service_account(&self) -> Option<String> {
        self.service_account_impersonation_url
            .as_deref()
            .and_then(service_account_from_url)
    }
}

fn parse_format(src: &Fields<'_>) -> Result<TokenFormat, Error> {
    let Some(format) = src.object("format")? else {
        return Ok(TokenFormat::Text);
    };
    format.check_keys(FORMAT_KEYS)?;
    match format.str("type")?.as_deref().map(str::trim) {
        None | Some("text") | Some("") => Ok(TokenFormat::Text),
        Some("json") => {
            let field = format
                .str("subject_token_field_name")?
                .filter(|f| !f.is_empty())
                .ok_or_else(|| {
                    Error::config(
                        &format.field("subject_token_field_name"),
                        "is required when the format type is json",
                    )
                })?;
            Ok(TokenFormat::json(field))
        }
        Some(other) => Err(Error::config(
            &format.field("type"),
            format!("`{other}` is not `text` or `json`"),
        )),
    }
}

fn parse_source(src: &Fields<'_>) -> Result<CredentialSource, Error> {
    // An AWS source has a `url` key of its own; any other source next to it is a conflict.
    let candidates: &[&str] = if src.has("environment_id") {
        &["environment_id", "file", "executable", "certificate"]
    } else {
        &["file", "url", "executable", "certificate"]
    };
    let present: Vec<&str> = candidates.iter().copied().filter(|k| src.has(k)).collect();
    match present.as_slice() {
        [] => Err(Error::config(
            "credential_source",
            "names no source: set one of file, url, executable, or environment_id (aws1)",
        )),
        [one] => match *one {
            "environment_id" => parse_aws(src),
            "file" => {
                let path = src.required_str("file")?;
                Ok(CredentialSource::File {
                    path: PathBuf::from(path.trim()),
                    format: parse_format(src)?,
                })
            }
            "url" => {
                let url = src.required_str("url")?.trim().to_string();
                let parsed = url::Url::parse(&url).map_err(|e| {
                    Error::config(
                        "credential_source.url",
                        format!("`{url}` is not a valid URL ({e})"),
                    )
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(Error::config(
                        "credential_source.url",
                        format!("`{url}` must be an http(s) URL"),
                    ));
                }
                Ok(CredentialSource::Url {
                    url,
                    headers: src.string_map("headers")?,
                    format: parse_format(src)?,
                })
            }
            "executable" => {
                let exe = src
                    .object("executable")?
                    .ok_or_else(|| Error::config("credential_source.executable", "is required"))?;
                exe.check_keys(EXECUTABLE_KEYS)?;
                let command = exe.required_str("command")?;
                let timeout = match exe.int("timeout_millis")? {
                    None => Duration::from_millis(30_000),
                    Some(ms) if (5_000..=120_000).contains(&ms) => Duration::from_millis(ms as u64),
                    Some(ms) => {
                        return Err(Error::config(
                            &exe.field("timeout_millis"),
                            format!("{ms} is out of range: 5000 to 120000"),
                        ));
                    }
                };
                let output_file = exe
                    .str("output_file")?
                    .filter(|f| !f.trim().is_empty())
                    .map(|f| PathBuf::from(f.trim()));
                Ok(CredentialSource::Executable {
                    command,
                    timeout,
                    output_file,
                })
            }
            _ => Err(Error::config(
                "credential_source.certificate",
                "X.509 (mTLS) credential sources are not supported",
            )),
        },
        many => Err(Error::config(
            "credential_source",
            format!("sets {}; exactly one source may be set", many.join(" and ")),
        )),
    }
}

fn parse_aws(src: &Fields<'_>) -> Result<CredentialSource, Error> {
    let id = src.required_str("environment_id")?;
    let version = id
        .strip_prefix("aws")
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            Error::config(
                "credential_source.environment_id",
                format!("`{id}` is not supported; the only environment is aws1"),
            )
        })?;
    if version != "1" {
        return Err(Error::config(
            "credential_source.environment_id",
            format!("aws version '{version}' is not supported; only aws1 is"),
        ));
    }
    let regional = src
        .str("regional_cred_verification_url")?
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_REGIONAL_CRED_VERIFICATION_URL.to_string());
    Ok(CredentialSource::Aws(AwsSourceConfig {
        region_url: src.str("region_url")?.filter(|u| !u.trim().is_empty()),
        url: src
            .str("url")?
            .filter(|u| !u.trim().is_empty())
            .map(|u| u.trim_end_matches('/').to_string()),
        regional_cred_verification_url: regional,
        imdsv2_session_token_url: src
            .str("imdsv2_session_token_url")?
            .filter(|u| !u.trim().is_empty()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool/providers/aws-prov";

    fn aws_config() -> Value {
        serde_json::json!({
          "type": "external_account",
          "audience": AUD,
          "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
          "token_url": "https://sts.googleapis.com/v1/token",
          "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/app@my-proj.iam.gserviceaccount.com:generateAccessToken",
          "service_account_impersonation": { "token_lifetime_seconds": 3600 },
          "credential_source": {
            "environment_id": "aws1",
            "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
            "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            "imdsv2_session_token_url": "http://169.254.169.254/latest/api/token"
          }
        })
    }

    fn err(mut v: Value, edit: impl FnOnce(&mut Value)) -> String {
        edit(&mut v);
        ExternalAccountConfig::from_value(&v)
            .unwrap_err()
            .message()
            .to_string()
    }

    /// The checks the documentation's examples used to make.
    #[test]
    fn documented_loading_paths() {
        let aws_imds = r#"{
          "type": "external_account",
          "audience": "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/aws",
          "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
          "credential_source": {
            "environment_id": "aws1",
            "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
            "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
            "imdsv2_session_token_url": "http://169.254.169.254/latest/api/token"
          }
        }"#;
        let config = ExternalAccountConfig::from_json(aws_imds).unwrap();
        let CredentialSource::Aws(aws) = &config.credential_source else {
            panic!("an aws source")
        };
        assert!(aws.imdsv2_session_token_url.is_some());
        assert_eq!(
            aws.regional_cred_verification_url,
            "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
        );
        let mut moved = config.clone();
        if let CredentialSource::Aws(aws) = &mut moved.credential_source {
            aws.url =
                Some("http://imds-proxy.internal/latest/meta-data/iam/security-credentials".into());
        }
        assert!(moved.clone().allow_any_aws_metadata_host(false).is_err());
        assert!(
            moved
                .allow_any_aws_metadata_host(true)
                .unwrap()
                .allow_any_aws_metadata_host
        );

        let file_source = r#"{
          "type": "external_account",
          "audience": "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/k8s/providers/k8s",
          "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
          "credential_source": { "file": "/var/run/secrets/tokens/gcp-token" }
        }"#;
        let config = ExternalAccountConfig::from_json(file_source).unwrap();
        assert!(matches!(
            config.credential_source,
            CredentialSource::File { .. }
        ));
        assert_eq!(config.universe_domain, "googleapis.com");
        let err = ExternalAccountConfig::from_json(r#"{"type": "external_account"}"#).unwrap_err();
        assert_eq!(err.to_string(), "configuration: audience: is required");

        let proxy = r#"{
          "type": "external_account",
          "audience": "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/aws",
          "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
          "credential_source": {
            "environment_id": "aws1",
            "region_url": "http://imds-proxy.internal/latest/meta-data/placement/availability-zone",
            "url": "http://imds-proxy.internal/latest/meta-data/iam/security-credentials",
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
          }
        }"#;
        let refused = ExternalAccountConfig::from_json(proxy).unwrap_err();
        assert!(
            refused
                .message()
                .starts_with("credential_source.region_url")
        );
        let allowed = ExternalAccountConfig::loader()
            .allow_any_aws_metadata_host(true)
            .from_json(proxy)
            .unwrap();
        assert!(allowed.allow_any_aws_metadata_host);

        let dir = tempfile::tempdir().unwrap();
        let proxied_file = dir.path().join("proxied.json");
        std::fs::write(&proxied_file, r#"{"type": "external_account",
          "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws",
          "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
          "credential_source": {"environment_id": "aws1",
            "url": "http://10.0.0.5/latest/meta-data/iam/security-credentials",
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"}}"#).unwrap();
        assert!(ExternalAccountConfig::from_file(&proxied_file).is_err());
        let config = ExternalAccountConfig::loader()
            .allow_any_aws_metadata_host(true)
            .from_file(&proxied_file)
            .unwrap();
        assert!(config.allow_any_aws_metadata_host);

        let path = dir.path().join("gcp-credentials.json");
        std::fs::write(&path, file_source).unwrap();
        let config = ExternalAccountConfig::from_file(&path).unwrap();
        assert!(config.audience.ends_with("/providers/k8s"));
        let err =
            ExternalAccountConfig::from_file("/nonexistent/gcp-credentials.json").unwrap_err();
        assert_eq!(
            err.message(),
            "credential configuration /nonexistent/gcp-credentials.json: no such file"
        );
        let env = crate::context::StaticEnv::from_pairs([(
            "GOOGLE_APPLICATION_CREDENTIALS",
            path.to_str().unwrap(),
        )]);
        let config = ExternalAccountConfig::from_env(&Context::builder().env(env).build()).unwrap();
        assert!(config.audience.ends_with("/providers/k8s"));
        let unset = Context::builder()
            .env(crate::context::StaticEnv::empty())
            .build();
        assert!(ExternalAccountConfig::from_env(&unset).is_err());

        let app_config: Value = serde_json::from_str(&format!(
            r#"{{"service": "billing", "gcp": {file_source}}}"#
        ))
        .unwrap();
        let config = ExternalAccountConfig::from_value(&app_config["gcp"]).unwrap();
        assert!(config.audience.ends_with("/providers/k8s"));

        let impersonating = ExternalAccountConfig::from_json(r#"{
          "type": "external_account",
          "audience": "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/k8s/providers/k8s",
          "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
          "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/app@my-project.iam.gserviceaccount.com:generateAccessToken",
          "credential_source": { "file": "/var/run/secrets/tokens/gcp-token" }
        }"#).unwrap();
        assert_eq!(
            impersonating.impersonated_service_account().as_deref(),
            Some("app@my-project.iam.gserviceaccount.com")
        );
    }

    #[test]
    fn parses_the_gcloud_aws_file() {
        let c = ExternalAccountConfig::from_value(&aws_config()).unwrap();
        assert_eq!(c.subject_token_type, TokenType::Aws4Request);
        assert_eq!(c.token_lifetime, Some(Duration::from_secs(3600)));
        assert_eq!(
            c.impersonated_service_account().as_deref(),
            Some("app@my-proj.iam.gserviceaccount.com")
        );
        let CredentialSource::Aws(aws) = &c.credential_source else {
            panic!()
        };
        assert_eq!(
            aws.imdsv2_session_token_url.as_deref(),
            Some("http://169.254.169.254/latest/api/token")
        );
        assert_eq!(c.universe_domain, "googleapis.com");
    }

    #[test]
    fn accepts_real_world_variations() {
        // no format, no token_url (defaulted from universe), trailing slash, universe_domain, unknown extra key
        let v = serde_json::json!({
            "type": "external_account", "audience": AUD,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "universe_domain": "example-universe.com",
            "credential_source": {"file": "/t", "format": null},
            "token_info_url": "https://sts.googleapis.com/v1/introspect",
            "some_future_field": {"x": 1}
        });
        let c = ExternalAccountConfig::from_value(&v).unwrap();
        assert_eq!(c.token_url, "https://sts.example-universe.com/v1/token");
        assert_eq!(
            c.credential_source,
            CredentialSource::File {
                path: "/t".into(),
                format: TokenFormat::Text
            }
        );
        let mut v = aws_config();
        v["credential_source"]["url"] =
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/".into();
        v["credential_source"]
            .as_object_mut()
            .unwrap()
            .remove("regional_cred_verification_url");
        let c = ExternalAccountConfig::from_value(&v).unwrap();
        let CredentialSource::Aws(aws) = c.credential_source else {
            panic!()
        };
        assert_eq!(
            aws.url.as_deref(),
            Some("http://169.254.169.254/latest/meta-data/iam/security-credentials")
        );
        assert_eq!(
            aws.regional_cred_verification_url,
            DEFAULT_REGIONAL_CRED_VERIFICATION_URL
        );
    }

    /// What gcloud 578.0.0 writes for each `create-cred-config` variant
    /// (`byoid_utilities/cred_config.py`), with every optional flag: all of it loads.
    #[test]
    fn every_gcloud_variant_loads() {
        let workforce = "//iam.googleapis.com/locations/global/workforcePools/pool/providers/prov";
        let top = |source: Value, extra: Value| {
            let mut v = serde_json::json!({
                "universe_domain": "googleapis.com",
                "type": "external_account",
                "audience": AUD,
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                "token_url": "https://sts.googleapis.com/v1/token",
                "credential_source": source,
            });
            for (k, val) in extra.as_object().unwrap() {
                v[k] = val.clone();
            }
            v
        };
        let impersonating = serde_json::json!({
            "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken",
            "service_account_impersonation": {"token_lifetime_seconds": 3600}
        });
        let direct =
            serde_json::json!({"token_info_url": "https://sts.googleapis.com/v1/introspect"});
        let variants = [
            top(serde_json::json!({"file": "/t"}), direct.clone()),
            top(
                serde_json::json!({"file": "/t", "format": {"type": "json", "subject_token_field_name": "id_token"}}),
                impersonating.clone(),
            ),
            top(
                serde_json::json!({"url": "http://localhost:5000/token", "headers": {"Metadata-Flavor": "x"}, "format": {"type": "text"}}),
                direct.clone(),
            ),
            // --azure
            top(
                serde_json::json!({
                    "url": "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://iam.googleapis.com/x",
                    "headers": {"Metadata": "True"},
                    "format": {"type": "json", "subject_token_field_name": "access_token"}
                }),
                direct.clone(),
            ),
            top(
                serde_json::json!({"executable": {"command": "/usr/bin/tool --arg", "timeout_millis": 30000, "output_file": "/tmp/out.json"}}),
                impersonating.clone(),
            ),
            {
                // workforce, executable with an interactive timeout
                let mut v = top(
                    serde_json::json!({"executable": {"command": "/usr/bin/tool", "timeout_millis": 30000, "output_file": "/tmp/o.json", "interactive_timeout_millis": 300000}}),
                    serde_json::json!({"workforce_pool_user_project": "proj", "token_info_url": "https://sts.googleapis.com/v1/introspect"}),
                );
                v["audience"] = workforce.into();
                v["subject_token_type"] = "urn:ietf:params:oauth:token-type:id_token".into();
                v
            },
            {
                let mut v = aws_config();
                v["universe_domain"] = "googleapis.com".into();
                v["token_info_url"] = "https://sts.googleapis.com/v1/introspect".into();
                v.as_object_mut()
                    .unwrap()
                    .remove("service_account_impersonation");
                v
            },
        ];
        for v in variants {
            ExternalAccountConfig::from_value(&v).unwrap_or_else(|e| panic!("{e}: {v}"));
        }
        // --credential-cert-path (X.509): every key is known, the source is refused by name.
        let cert = top(
            serde_json::json!({"certificate": {"use_default_certificate_config": true, "trust_chain_path": "/chain.pem"}}),
            direct,
        );
        assert_eq!(
            ExternalAccountConfig::from_value(&cert)
                .unwrap_err()
                .message(),
            "credential_source.certificate: X.509 (mTLS) credential sources are not supported"
        );
    }

    /// Regression: a typo inside a nested object was silently ignored
    /// (`imdsv2_session_token_ur` turned IMDSv2 into IMDSv1).
    #[test]
    fn typos_in_nested_objects_name_the_path_and_the_key_meant() {
        let base = aws_config();
        let rename = |v: &mut Value, path: &[&str], from: &str, to: &str| {
            let mut obj = &mut *v;
            for p in path {
                obj = &mut obj[*p];
            }
            let map = obj.as_object_mut().unwrap();
            let val = map.remove(from).unwrap_or(Value::from(1));
            map.insert(to.to_string(), val);
        };
        let cases: [(&[&str], &str, &str, &str); 4] = [
            (
                &["credential_source"],
                "imdsv2_session_token_url",
                "imdsv2_session_token_ur",
                "credential_source.imdsv2_session_token_ur: unknown field; did you mean `imdsv2_session_token_url`?",
            ),
            (
                &["credential_source"],
                "regional_cred_verification_url",
                "regional_cred_verification_ur",
                "credential_source.regional_cred_verification_ur: unknown field; did you mean `regional_cred_verification_url`?",
            ),
            (
                &["service_account_impersonation"],
                "token_lifetime_seconds",
                "token_lifetime_second",
                "service_account_impersonation.token_lifetime_second: unknown field; did you mean `token_lifetime_seconds`?",
            ),
            (
                &[],
                "audience",
                "audiance",
                "audiance: unknown field; did you mean `audience`?",
            ),
        ];
        for (path, from, to, want) in cases {
            let mut v = base.clone();
            rename(&mut v, path, from, to);
            assert_eq!(
                ExternalAccountConfig::from_value(&v).unwrap_err().message(),
                want
            );
        }
        let file = |source: Value| {
            let mut v = base.clone();
            v["subject_token_type"] = "urn:ietf:params:oauth:token-type:jwt".into();
            v["credential_source"] = source;
            ExternalAccountConfig::from_value(&v)
                .unwrap_err()
                .message()
                .to_string()
        };
        assert_eq!(
            file(
                serde_json::json!({"file": "/t", "format": {"type": "json", "subject_token_fieldname": "x"}})
            ),
            "credential_source.format.subject_token_fieldname: unknown field; did you mean `subject_token_field_name`?"
        );
        assert_eq!(
            file(serde_json::json!({"executable": {"command": "/x", "timeout_milis": 6000}})),
            "credential_source.executable.timeout_milis: unknown field; did you mean `timeout_millis`?"
        );
        // Unknown keys far from any known one are newer keys: ignored.
        let mut v = base.clone();
        v["credential_source"]["some_future_setting"] = true.into();
        ExternalAccountConfig::from_value(&v).unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let base = aws_config();
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|v| v["type"] = "service_account".into()), "type:"),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("type");
                }),
                "type: is required",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("audience");
                }),
                "audience: is required",
            ),
            (
                Box::new(|v| v["audience"] = 5.into()),
                "audience: expected a string",
            ),
            (
                Box::new(|v| {
                    v["subject_token_type"] = "urn:ietf:params:oauth:token-type:id-token".into()
                }),
                "subject_token_type:",
            ),
            (
                Box::new(|v| {
                    v["subject_token_type"] = "urn:ietf:params:oauth:token-type:jwt".into()
                }),
                "subject_token_type: must be urn:ietf:params:aws",
            ),
            (
                Box::new(|v| v["token_url"] = "http://sts.googleapis.com/v1/token".into()),
                "token_url:",
            ),
            (
                Box::new(|v| v["token_url"] = "not a url".into()),
                "token_url:",
            ),
            (
                Box::new(|v| v["service_account_impersonation_url"] = "https://x/y".into()),
                "service_account_impersonation_url:",
            ),
            (
                Box::new(|v| {
                    v["service_account_impersonation"]["token_lifetime_seconds"] = 599.into()
                }),
                "service_account_impersonation.token_lifetime_seconds: 599",
            ),
            (
                Box::new(|v| {
                    v["service_account_impersonation"]["token_lifetime_seconds"] = 43201.into()
                }),
                "43201 is out of range",
            ),
            (
                Box::new(|v| v["workforce_pool_user_project"] = "p".into()),
                "workforce_pool_user_project:",
            ),
            (
                Box::new(|v| v["client_secret"] = "s".into()),
                "client_secret:",
            ),
            (
                Box::new(|v| v["audiance"] = "x".into()),
                "audiance: unknown field; did you mean `audience`?",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("credential_source");
                }),
                "credential_source: is required",
            ),
            (
                Box::new(|v| v["credential_source"] = serde_json::json!({})),
                "credential_source: names no source",
            ),
            (
                Box::new(|v| v["credential_source"]["file"] = "/x".into()),
                "credential_source: sets environment_id and file",
            ),
            (
                Box::new(|v| v["credential_source"]["environment_id"] = "aws2".into()),
                "aws version '2' is not supported",
            ),
            (
                Box::new(|v| v["credential_source"]["environment_id"] = "azure1".into()),
                "credential_source.environment_id:",
            ),
            (
                Box::new(|v| {
                    v["credential_source"]["region_url"] = "http://evil.example.com/az".into()
                }),
                "credential_source.region_url:",
            ),
            (
                Box::new(|v| {
                    v["credential_source"]["imdsv2_session_token_url"] =
                        "ftp://169.254.169.254/".into()
                }),
                "credential_source.imdsv2_session_token_url:",
            ),
            (
                Box::new(|v| v["universe_domain"] = "https://x".into()),
                "universe_domain:",
            ),
        ];
        for (edit, expect) in cases {
            let message = err(base.clone(), edit);
            assert!(
                message.starts_with(expect) || message.contains(expect),
                "expected `{expect}` in `{message}`"
            );
        }
    }

    #[test]
    fn other_sources_and_their_errors() {
        let with_source = |src: Value, t: &str| serde_json::json!({"type":"external_account","audience":AUD,"subject_token_type":t,"credential_source":src});
        let jwt = "urn:ietf:params:oauth:token-type:jwt";
        let c = ExternalAccountConfig::from_value(&with_source(serde_json::json!({"url":"http://localhost:1/t","headers":{"Metadata":"True"},"format":{"type":"json","subject_token_field_name":"access_token"}}), jwt)).unwrap();
        assert_eq!(
            c.credential_source,
            CredentialSource::Url {
                url: "http://localhost:1/t".into(),
                headers: vec![("Metadata".into(), "True".into())],
                format: TokenFormat::json("access_token")
            }
        );
        let c = ExternalAccountConfig::from_value(&with_source(serde_json::json!({"executable":{"command":"/bin/x --a","timeout_millis":5000,"output_file":"/tmp/o"}}), jwt)).unwrap();
        assert!(
            matches!(c.credential_source, CredentialSource::Executable { timeout, .. } if timeout == Duration::from_secs(5))
        );
        let e = |src: Value| {
            ExternalAccountConfig::from_value(&with_source(src, jwt))
                .unwrap_err()
                .message()
                .to_string()
        };
        assert!(
            e(serde_json::json!({"file":"/t","format":{"type":"json"}}))
                .starts_with("credential_source.format.subject_token_field_name")
        );
        assert!(
            e(serde_json::json!({"file":"/t","format":{"type":"xml"}}))
                .starts_with("credential_source.format.type")
        );
        assert!(
            e(serde_json::json!({"file":""}))
                .starts_with("credential_source.file: must not be empty")
        );
        assert!(
            e(serde_json::json!({"file":7}))
                .starts_with("credential_source.file: expected a string")
        );
        assert!(
            e(serde_json::json!({"url":"file:///etc/passwd"})).starts_with("credential_source.url")
        );
        assert!(
            e(serde_json::json!({"url":"http://x","headers":{"a":1}}))
                .starts_with("credential_source.headers.a")
        );
        assert!(
            e(serde_json::json!({"executable":{"command":"x","timeout_millis":1000}}))
                .starts_with("credential_source.executable.timeout_millis")
        );
        assert!(
            e(serde_json::json!({"executable":{}}))
                .starts_with("credential_source.executable.command")
        );
        assert!(
            e(serde_json::json!({"certificate":{"use_default_certificate_config":true}}))
                .starts_with("credential_source.certificate")
        );
        assert!(e(serde_json::json!({"file":"/t","url":"http://x"})).contains("exactly one"));
    }

    #[test]
    fn files_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, aws_config().to_string()).unwrap();
        assert!(ExternalAccountConfig::from_file(&path).is_ok());
        let missing = ExternalAccountConfig::from_file(dir.path().join("nope.json")).unwrap_err();
        assert!(missing.message().contains("no such file"), "{missing}");
        std::fs::write(&path, "{not json").unwrap();
        let bad = ExternalAccountConfig::from_file(&path).unwrap_err();
        assert!(bad.message().contains("is not valid JSON"), "{bad}");
        std::fs::write(&path, "").unwrap();
        assert!(ExternalAccountConfig::from_file(&path).is_err());
        let ctx = Context::builder()
            .env(crate::context::StaticEnv::empty())
            .build();
        assert!(
            ExternalAccountConfig::from_env(&ctx)
                .unwrap_err()
                .message()
                .starts_with("GOOGLE_APPLICATION_CREDENTIALS")
        );
    }

    #[test]
    fn client_secret_is_redacted() {
        let mut v = aws_config();
        v["client_id"] = "id".into();
        v["client_secret"] = "very-secret-value".into();
        let c = ExternalAccountConfig::from_value(&v).unwrap();
        assert!(!format!("{c:?}").contains("very-secret-value"));
    }
}
