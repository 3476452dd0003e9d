//! From an `external_account` configuration's `credential_source` to the subject token
//! source that reads it: the one place that maps configuration onto sources, so that every
//! destination taking a configuration builds the same sources.

use std::sync::Arc;

use super::{AwsSourceConfig, CredentialSource, ExternalAccountConfig};
use crate::error::Error;
use crate::source::aws::{Aws1Source, Ec2InstanceMetadata};
use crate::source::{
    AwsSignedRequestToken, ExecutableToken, SubjectTokenSource, TokenFile, UrlToken,
};

impl ExternalAccountConfig {
    /// The subject token source this configuration's `credential_source` describes, for an
    /// exchange with `audience` (an executable is told the audience and the impersonated
    /// service account, as the pluggable-auth protocol says).
    pub(crate) fn subject_token_source(
        &self,
        audience: &str,
        impersonated: Option<&str>,
    ) -> Result<Arc<dyn SubjectTokenSource>, Error> {
        let token_type = self.subject_token_type;
        Ok(match &self.credential_source {
            CredentialSource::File { path, format } => {
                let mut f = match format {
                    crate::source::TokenFormat::Text => TokenFile::text(path),
                    crate::source::TokenFormat::Json { field } => {
                        TokenFile::json(path, field.clone())
                    }
                };
                f = f
                    .token_type(token_type)
                    .setting_name("credential_source.file");
                Arc::new(f)
            }
            CredentialSource::Url {
                url,
                headers,
                format,
            } => {
                let mut u = UrlToken::new(url.clone())
                    .format(format.clone())
                    .token_type(token_type);
                for (k, v) in headers {
                    u = u.header(k.clone(), v.clone());
                }
                Arc::new(u)
            }
            CredentialSource::Executable {
                command,
                timeout,
                output_file,
            } => {
                let mut e = ExecutableToken::new(command.clone())
                    .timeout(*timeout)
                    .audience(audience)
                    .token_type(token_type);
                if let Some(p) = output_file {
                    e = e.output_file(p.clone());
                }
                if let Some(sa) = impersonated {
                    e = e.impersonated_email(sa);
                }
                Arc::new(e)
            }
            CredentialSource::Aws(aws) => aws_source(aws, audience)?,
        })
    }
}

/// The `aws1` source: the SigV4-signed `GetCallerIdentity` request, with credentials and
/// region from the environment or, only when needed, from IMDS at the configured URLs.
fn aws_source(aws: &AwsSourceConfig, audience: &str) -> Result<Arc<dyn SubjectTokenSource>, Error> {
    let mut imds = Ec2InstanceMetadata::builder();
    imds.set_region_url(aws.region_url.clone())
        .set_credentials_url(aws.url.clone())
        .set_session_token_url(aws.imdsv2_session_token_url.clone());
    let imds = imds.build().map_err(|e| e.context("credential_source"))?;
    Ok(Arc::new(
        AwsSignedRequestToken::new(Aws1Source::new(imds), audience)
            .regional_cred_verification_url(aws.regional_cred_verification_url.clone()),
    ))
}
