//! Reading IMDS answers: the role-credentials JSON (leniently, like aws-config) and the
//! placement region (with the guarded availability-zone strip).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Service, sanitize_upstream_text};
use crate::source::aws::is_region_name;
use crate::token::parse_rfc3339;

/// The `provider_name` of credentials from the instance metadata service.
pub(super) const PROVIDER_NAME: &str = "Ec2InstanceMetadata";

/// The first value among `names` (matched case-insensitively) that is a non-empty string.
pub(crate) fn field<'a>(map: &'a Map<String, Value>, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    })
}

fn invalid(role: &str, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidResponse,
        Service::AwsImds,
        format!("the credentials of role `{role}` from the instance metadata service {what}"),
    )
}

/// Parses `iam/security-credentials/{role}`. Keys are matched case-insensitively; `Token`
/// may be `SessionToken` and `Expiration` may be `ExpiresAt`. Never puts the body in errors.
pub(crate) fn parse_credentials(body: &[u8], role: &str) -> Result<Credentials, Error> {
    let map: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| invalid(role, "are not a JSON object"))?;
    if let Some(code) = field(&map, &["Code"]).filter(|c| *c != "Success") {
        let message = sanitize_upstream_text(field(&map, &["Message"]).unwrap_or(""), 300);
        let text = if code == "AssumeRoleUnauthorizedAccess" {
            format!(
                "EC2 could not assume role `{role}`: the role lacks a trust relationship with ec2.amazonaws.com (allow the service principal ec2.amazonaws.com to sts:AssumeRole in its trust policy)"
            )
        } else if message.is_empty() {
            format!("the instance metadata service could not provide credentials for role `{role}`")
        } else {
            format!(
                "the instance metadata service could not provide credentials for role `{role}`: {message}"
            )
        };
        return Err(
            Error::new(ErrorKind::Upstream, Service::AwsImds, text).with_upstream_code(code)
        );
    }
    let required = |names: &[&str]| {
        field(&map, names).ok_or_else(|| invalid(role, format_args!("lack {}", names[0])))
    };
    let access_key_id = required(&["AccessKeyId"])?;
    let secret = required(&["SecretAccessKey"])?;
    let token = required(&["Token", "SessionToken"])?;
    let expiration_text = required(&["Expiration", "ExpiresAt"])?;
    let expiration: SystemTime = parse_rfc3339(expiration_text).ok_or_else(|| {
        invalid(
            role,
            format_args!(
                "have an Expiration `{}` that is not an RFC 3339 time",
                sanitize_upstream_text(expiration_text, 40)
            ),
        )
    })?;
    let mut builder = Credentials::builder()
        .access_key_id(access_key_id)
        .secret_access_key(secret)
        .session_token(token)
        .expiry(expiration)
        .provider_name(PROVIDER_NAME);
    if let Some(account) = field(&map, &["AccountId"]) {
        builder = builder.account_id(account);
    }
    Ok(builder.build())
}

/// The region from a placement answer: the leading `area-direction-number` of a region or a
/// zone. `us-east-1` and `us-east-1a` give `us-east-1`; a Local Zone `us-west-2-lax-1a` and a
/// Wavelength zone `us-east-1-wl1-bos-wlz-1` give their parent region (`us-west-2`,
/// `us-east-1`), where a blind strip of the last character would give a region with no STS
/// endpoint.
pub(crate) fn region_from_placement(body: &str) -> Result<String, Error> {
    region_of_placement(body).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidResponse,
            Service::AwsImds,
            format!(
                "the region URL answered `{}`, which is neither an availability zone nor a region; check region_url (…/placement/availability-zone or …/placement/region)",
                sanitize_upstream_text(body.trim(), 64)
            ),
        )
    })
}

/// [`region_from_placement`] without the error: `None` when `value` is neither a zone nor a
/// region (for callers that say in their own words where it came from).
pub(crate) fn region_of_placement(value: &str) -> Option<String> {
    let value = value.trim();
    let mut parts = Vec::new();
    let mut zone_suffix_ok = false;
    for part in value.split('-') {
        let digits: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
        if digits.is_empty() {
            parts.push(part.to_string());
        } else {
            // `1` (a region), `1a` (a zone letter); anything longer is not a placement value.
            let rest = &part[digits.len()..];
            zone_suffix_ok = rest.len() <= 1 && rest.chars().all(|c| c.is_ascii_lowercase());
            parts.push(digits);
            break;
        }
    }
    let region = parts.join("-");
    (zone_suffix_ok && is_region_name(&region)).then_some(region)
}

/// The role name from the `iam/security-credentials` listing: the first line, trimmed.
pub(crate) fn role_from_listing(body: &str) -> Option<String> {
    let role = body.lines().map(str::trim).find(|l| !l.is_empty())?;
    let role = role.trim_end_matches('/');
    let ok = !role.is_empty()
        && role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    ok.then(|| role.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::aws::test_support::{SECRET, SESSION_TOKEN, assert_no_secrets};

    #[test]
    fn parses_pretty_printed_and_aliases() {
        let body = format!(
            "{{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2021-09-20T21:42:26Z\",\n  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAEXAMPLE\",\n  \"SecretAccessKey\" : \"{SECRET}\",\n  \"Token\" : \"{SESSION_TOKEN}\",\n  \"Expiration\" : \"2021-09-21T04:16:53Z\",\n  \"AccountId\" : \"123456789012\"\n}}"
        );
        let creds = parse_credentials(body.as_bytes(), "r").unwrap();
        assert_eq!(creds.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(creds.session_token(), Some(SESSION_TOKEN));
        assert_eq!(creds.expiry(), parse_rfc3339("2021-09-21T04:16:53Z"));
        assert_eq!(creds.account_id().map(|a| a.as_str()), Some("123456789012"));

        let aliased = format!(
            r#"{{"accesskeyid":"A","SECRETACCESSKEY":"{SECRET}","SessionToken":"{SESSION_TOKEN}","ExpiresAt":"2021-09-21T04:16:53Z"}}"#
        );
        let creds = parse_credentials(aliased.as_bytes(), "r").unwrap();
        assert_eq!(creds.session_token(), Some(SESSION_TOKEN));
        assert_eq!(creds.account_id(), None);
    }

    #[test]
    fn errors_are_specific_and_never_echo_the_body() {
        let missing = format!(
            r#"{{"AccessKeyId":"A","SecretAccessKey":"{SECRET}","Expiration":"2021-09-21T04:16:53Z"}}"#
        );
        let e = parse_credentials(missing.as_bytes(), "r").unwrap_err();
        assert!(e.message().contains("lack Token"), "{e}");
        let garbage = format!("not json {SECRET}");
        let e2 = parse_credentials(garbage.as_bytes(), "r").unwrap_err();
        assert_eq!(e2.kind(), ErrorKind::InvalidResponse);
        let unauthorized = br#"{"Code" : "AssumeRoleUnauthorizedAccess", "Message" : "EC2 cannot assume the role r.", "LastUpdated" : "2021-09-20T21:42:26Z"}"#;
        let e3 = parse_credentials(unauthorized, "r").unwrap_err();
        assert_eq!(e3.upstream_code(), Some("AssumeRoleUnauthorizedAccess"));
        assert!(
            e3.message()
                .contains("trust relationship with ec2.amazonaws.com")
        );
        let other = br#"{"Code":"InternalError","Message":"boom"}"#;
        let e4 = parse_credentials(other, "r").unwrap_err();
        assert!(e4.message().ends_with("boom"), "{e4}");
        assert_no_secrets(&[&format!("{e:?} {e} {e2:?} {e2}")]);
    }

    #[test]
    fn region_strip_is_guarded() {
        assert_eq!(region_from_placement("us-east-1a").unwrap(), "us-east-1");
        assert_eq!(region_from_placement("us-east-1\n").unwrap(), "us-east-1");
        // Local Zones and Wavelength zones belong to their parent region
        assert_eq!(
            region_from_placement("us-west-2-lax-1a").unwrap(),
            "us-west-2"
        );
        assert_eq!(
            region_from_placement("us-east-1-wl1-bos-wlz-1").unwrap(),
            "us-east-1"
        );
        assert_eq!(
            region_from_placement("us-gov-west-1a").unwrap(),
            "us-gov-west-1"
        );
        assert_eq!(
            region_from_placement("cn-northwest-1b").unwrap(),
            "cn-northwest-1"
        );
        for bad in ["", "hello", "us-east-1ab", "<html>"] {
            assert!(region_from_placement(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_listing() {
        assert_eq!(role_from_listing("my-role\n").as_deref(), Some("my-role"));
        assert_eq!(
            role_from_listing("  my-role/ \nother").as_deref(),
            Some("my-role")
        );
        assert_eq!(role_from_listing(" \n"), None);
        assert_eq!(role_from_listing("../x"), None);
    }
}
