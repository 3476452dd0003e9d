//! Reading a token-exchange request: client authentication, the form fields of RFC 8693 as
//! Google STS checks them, and the `options` JSON (the Google STS token API).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::error::OAuthError;
use super::provider::SubjectTokenType;
use crate::request::{RecordedRequest, percent_decode};

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(super) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const FORM: &str = "application/x-www-form-urlencoded";

/// A syntactically valid token exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ExchangeCall {
    pub(super) audience: String,
    pub(super) subject_token_type: SubjectTokenType,
    /// Form-decoded once.
    pub(super) subject_token: String,
    pub(super) scopes: Vec<String>,
    pub(super) user_project: Option<String>,
}

/// The client authenticated by `Authorization: Basic`, if the request has that header: its
/// client id. `clients` are the registered `(id, secret)` pairs. A Bearer token is a 400, any
/// other bad or unknown credential a 401.
pub(super) fn client_id(
    request: &RecordedRequest,
    clients: &[(String, String)],
) -> Result<Option<String>, OAuthError> {
    let Some((scheme, credentials)) = request.authorization() else {
        return Ok(None);
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        return Err(OAuthError::invalid_request(
            "The request must not carry a Bearer Authorization header; authenticate clients with HTTP Basic.",
        ));
    }
    let bad_client = || OAuthError::invalid_client("The OAuth client was not found.");
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad_client());
    }
    // Standard alphabet with canonical padding, as RFC 6749 §2.3.1 requires; URL-safe or
    // unpadded encodings fail here.
    let decoded = STANDARD.decode(credentials).map_err(|_| {
        OAuthError::invalid_client(
            "The Basic client credentials are not valid base64 (standard alphabet, with padding).",
        )
    })?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad_client())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad_client)?;
    clients
        .iter()
        .any(|(known_id, known_secret)| known_id == id && known_secret == secret)
        .then(|| Some(id.to_owned()))
        .ok_or_else(bad_client)
}

/// Parses the form; errors are `invalid_request` except a wrong `grant_type`.
pub(super) fn parse(request: &RecordedRequest) -> Result<ExchangeCall, OAuthError> {
    if !request.content_type_is(FORM) {
        return Err(OAuthError::invalid_request(format!(
            "The request Content-Type must be {FORM}."
        )));
    }
    let form = request.form();
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let required = |name: &str| {
        field(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                OAuthError::invalid_request(format!("Missing required field \"{name}\"."))
            })
    };
    let invalid =
        |name: &str| OAuthError::invalid_request(format!("Invalid value for \"{name}\"."));

    if required("grant_type")? != GRANT_TYPE {
        return Err(OAuthError::new(
            400,
            "unsupported_grant_type",
            "Invalid value for \"grant_type\".",
        ));
    }
    if required("requested_token_type")? != ACCESS_TOKEN_TYPE {
        return Err(invalid("requested_token_type"));
    }
    let subject_token_type = SubjectTokenType::parse(required("subject_token_type")?)
        .ok_or_else(|| invalid("subject_token_type"))?;
    let subject_token = required("subject_token")?.to_owned();
    let audience = required("audience")?.to_owned();
    let scopes = field("scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let user_project = match field("options") {
        None | Some("") => None,
        Some(options) => user_project(options).ok_or_else(|| invalid("options"))?,
    };
    Ok(ExchangeCall {
        audience,
        subject_token_type,
        subject_token,
        scopes,
        user_project,
    })
}

/// `userProject` of the `options` JSON object, which may be percent-encoded a second time
/// (Python's double encoding). `None` when `options` is not a JSON object.
fn user_project(options: &str) -> Option<Option<String>> {
    let object = parse_object(options).or_else(|| parse_object(&percent_decode(options)))?;
    match object.get("userProject") {
        None => Some(None),
        Some(Value::String(project)) => Some(Some(project.clone())),
        Some(_) => None,
    }
}

fn parse_object(text: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_single_and_double_encoded() {
        assert_eq!(
            user_project(r#"{"userProject":"p 1"}"#),
            Some(Some("p 1".into()))
        );
        assert_eq!(
            user_project("%7B%22userProject%22%3A%20%22p%201%22%7D"),
            Some(Some("p 1".into()))
        );
        assert_eq!(user_project(r#"{"audiences":[]}"#), Some(None));
        assert_eq!(user_project(r#"{"userProject":1}"#), None);
        assert_eq!(user_project("[]"), None);
        assert_eq!(user_project("userProject=p"), None);
    }
}
