//! The JSON bodies of `generateAccessToken` and `generateIdToken`, checked like the proto3 JSON
//! mapping does (unknown fields and wrong types are `400 INVALID_ARGUMENT`), and the protobuf
//! `Duration` syntax of `lifetime`.

use std::time::Duration;

use serde_json::{Map, Value};

use super::error::RpcError;

/// The `lifetime` when the request has none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// A `generateAccessToken` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AccessTokenRequest {
    pub(super) scopes: Vec<String>,
    pub(super) lifetime: Duration,
    /// Delegate resource names, as sent.
    pub(super) delegates: Vec<String>,
}

/// A `generateIdToken` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IdTokenRequest {
    pub(super) audience: String,
    pub(super) include_email: bool,
    pub(super) delegates: Vec<String>,
}

pub(super) fn access_token_request(body: &[u8]) -> Result<AccessTokenRequest, RpcError> {
    let object = parse(body, &["scope", "lifetime", "delegates"])?;
    let scopes = string_list(&object, "scope")?;
    if scopes.is_empty() || scopes.iter().any(String::is_empty) {
        return Err(RpcError::invalid_argument(
            "Scope is required and its entries must not be empty.",
        ));
    }
    let lifetime = match object.get("lifetime") {
        None | Some(Value::Null) => DEFAULT_LIFETIME,
        Some(Value::String(text)) => parse_duration(text).ok_or_else(|| bad_lifetime(text))?,
        Some(other) => return Err(bad_lifetime(&other.to_string())),
    };
    Ok(AccessTokenRequest {
        scopes,
        lifetime,
        delegates: string_list(&object, "delegates")?,
    })
}

pub(super) fn id_token_request(body: &[u8]) -> Result<IdTokenRequest, RpcError> {
    // Proto3 JSON parsers accept the proto field name as well as the lowerCamelCase one.
    let object = parse(
        body,
        &["audience", "includeEmail", "include_email", "delegates"],
    )?;
    let audience = match object.get("audience") {
        Some(Value::String(audience)) if !audience.is_empty() => audience.clone(),
        _ => return Err(RpcError::invalid_argument("Audience is required.")),
    };
    let include_email = match object.get("includeEmail").or(object.get("include_email")) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(include)) => *include,
        Some(other) => return Err(bad_type("includeEmail", other)),
    };
    Ok(IdTokenRequest {
        audience,
        include_email,
        delegates: string_list(&object, "delegates")?,
    })
}

/// `<seconds>[.<fraction>]s` (at most 9 fractional digits), as protobuf `Duration` JSON.
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s')?;
    let (secs, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if secs.is_empty() || !digits(secs) || !digits(fraction) || fraction.len() > 9 {
        return None;
    }
    if number.ends_with('.') {
        return None;
    }
    let nanos = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    Some(Duration::new(secs.parse().ok()?, nanos))
}

fn bad_lifetime(text: &str) -> RpcError {
    RpcError::invalid_argument(format!(
        "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), Field 'lifetime', Illegal duration format; duration must end with 's': {text}"
    ))
}

fn bad_type(field: &str, value: &Value) -> RpcError {
    RpcError::invalid_argument(format!(
        "Invalid JSON payload received. Invalid value at '{field}': {value}"
    ))
}

/// The body as a JSON object with only `known` fields.
fn parse(body: &[u8], known: &[&str]) -> Result<Map<String, Value>, RpcError> {
    let object = match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => object,
        _ => {
            return Err(RpcError::invalid_argument(
                "Invalid JSON payload received. Expected a JSON object.",
            ));
        }
    };
    if let Some(unknown) = object.keys().find(|key| !known.contains(&key.as_str())) {
        return Err(RpcError::invalid_argument(format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
        )));
    }
    Ok(object)
}

/// A repeated string field; absent or `null` is empty.
fn string_list(object: &Map<String, Value>, field: &str) -> Result<Vec<String>, RpcError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad_type(field, item))
            })
            .collect(),
        Some(other) => Err(bad_type(field, other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3600s"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_duration("3600.5s"),
            Some(Duration::from_millis(3_600_500))
        );
        assert_eq!(
            parse_duration("0.000000001s"),
            Some(Duration::from_nanos(1))
        );
        for bad in [
            "3600",
            "s",
            ".5s",
            "1.s",
            "-1s",
            "1e3s",
            "1.0000000001s",
            " 1s",
            "1 s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn access_token_bodies() {
        let ok = access_token_request(br#"{"scope":["a"],"delegates":null}"#).unwrap();
        assert_eq!(ok.lifetime, DEFAULT_LIFETIME);
        assert!(ok.delegates.is_empty());
        for bad in [
            &br#"{"lifetime":"60s"}"#[..],
            br#"{"scope":[]}"#,
            br#"{"scope":[""]}"#,
            br#"{"scope":"a"}"#,
            br#"{"scope":["a"],"lifetime":60}"#,
            br#"{"scope":["a"],"lifetime_seconds":60}"#,
            br#"{"scope":["a"],"delegates":"x"}"#,
            b"scope=a",
        ] {
            let error = access_token_request(bad).unwrap_err();
            assert_eq!(error.code, 400, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn id_token_bodies() {
        let ok = id_token_request(br#"{"audience":"a","includeEmail":true}"#).unwrap();
        assert!(ok.include_email);
        let snake = id_token_request(br#"{"audience":"a","include_email":true}"#).unwrap();
        assert!(snake.include_email);
        for bad in [
            &br#"{}"#[..],
            br#"{"audience":""}"#,
            br#"{"audience":"a","includeEmail":"yes"}"#,
            br#"{"audience":"a","includeEmails":true}"#,
        ] {
            assert_eq!(id_token_request(bad).unwrap_err().code, 400);
        }
    }
}
