//! [`TokenFormat`]: how a token is held in a file or an HTTP response body (plain text, or a
//! field of a JSON object), shared by the file and URL sources.

/// How a token is held in a file or response body.
///
/// ```
/// use federated_credentials::source::TokenFormat;
///
/// // An Azure IMDS answer: the token is its `access_token` field.
/// let format = TokenFormat::json("access_token");
/// let token = format.extract(r#"{"access_token": "eyJ...", "expires_in": "86399"}"#)?;
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TokenFormat {
    /// The whole content is the token; surrounding whitespace is trimmed.
    #[default]
    Text,
    /// The content is a JSON object and the token is the string at this top-level key
    /// (`format.subject_token_field_name`).
    Json {
        /// The key holding the token, e.g. `access_token`.
        field: String,
    },
}

impl TokenFormat {
    /// A JSON format reading `field`.
    pub fn json(field: impl Into<String>) -> Self {
        TokenFormat::Json {
            field: field.into(),
        }
    }

    /// Takes the token out of `contents`, or says what is wrong (never quoting the content).
    pub fn extract(&self, contents: &str) -> Result<String, String> {
        match self {
            TokenFormat::Text => Ok(contents.trim().to_string()),
            TokenFormat::Json { field } => {
                let value: serde_json::Value =
                    serde_json::from_str(contents).map_err(|_| "is not valid JSON".to_string())?;
                match value.get(field) {
                    Some(serde_json::Value::String(s)) => Ok(s.trim().to_string()),
                    Some(_) => Err(format!("field `{field}` is not a string")),
                    None => Err(format!(
                        "has no field `{field}` (format.subject_token_field_name)"
                    )),
                }
            }
        }
    }

    /// Checks the format configuration.
    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        if let TokenFormat::Json { field } = self
            && field.is_empty()
        {
            return Err(crate::Error::config(
                "format.subject_token_field_name",
                "is required when the format type is json",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CredentialSource, ExternalAccountConfig};

    #[test]
    fn extract_reads_text_and_json_fields() {
        assert_eq!(TokenFormat::Text.extract(" tok\n").unwrap(), "tok");
        assert_eq!(
            TokenFormat::json("t").extract(r#"{"t":"tok"}"#).unwrap(),
            "tok"
        );
        assert!(TokenFormat::json("t").extract("nope").is_err());
        let format = TokenFormat::json("id_token");
        assert_eq!(
            format,
            TokenFormat::Json {
                field: "id_token".to_string()
            }
        );
        assert_eq!(
            format.extract(r#"{"id_token": "eyJ..."}"#).unwrap(),
            "eyJ..."
        );
        assert!(
            format
                .extract(r#"{"access_token": "x"}"#)
                .unwrap_err()
                .contains("has no field `id_token`")
        );
    }

    #[test]
    fn configuration_json_format_becomes_a_token_format() {
        let config = ExternalAccountConfig::from_json(
            r#"{
              "type": "external_account",
              "audience": "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/azure",
              "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
              "token_url": "https://sts.googleapis.com/v1/token",
              "credential_source": {
                "url": "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01",
                "headers": {"Metadata": "True"},
                "format": {"type": "json", "subject_token_field_name": "access_token"}
              }
            }"#,
        )
        .unwrap();
        let CredentialSource::Url { format, .. } = &config.credential_source else {
            panic!("a url source")
        };
        assert_eq!(format, &TokenFormat::json("access_token"));
    }
}
