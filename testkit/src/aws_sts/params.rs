//! Reading the awsQuery parameters of an `AssumeRoleWithWebIdentity` or `GetWebIdentityToken`
//! call (form body or query string) and enforcing the constraints of the STS API model, with
//! STS's error messages.

use super::error::{StsError, StsErrorCode};
use super::role::parse_role_arn;
use crate::request::RecordedRequest;

/// The only API version STS speaks.
pub(crate) const API_VERSION: &str = "2011-06-15";
const ACTION: &str = "AssumeRoleWithWebIdentity";
/// The outbound token operation.
pub(crate) const GET_WEB_IDENTITY_TOKEN: &str = "GetWebIdentityToken";
/// Default and bounds of `GetWebIdentityToken`'s `DurationSeconds` (botocore 1.44.8 model).
const TOKEN_DEFAULT_DURATION_SECS: u64 = 300;
const TOKEN_MIN_DURATION_SECS: u64 = 60;
const TOKEN_MAX_DURATION_SECS: u64 = 3600;
/// Most audiences and tags per `GetWebIdentityToken` call.
const MAX_AUDIENCES: usize = 10;
const MAX_TAGS: usize = 50;
/// Default and bounds of `DurationSeconds`.
const DEFAULT_DURATION_SECS: u64 = 3600;
const MIN_DURATION_SECS: u64 = 900;
const MAX_DURATION_SECS: u64 = 43_200;
/// Most session-policy ARNs per call.
const MAX_POLICY_ARNS: usize = 10;
/// Size budget of the packed session policies, in characters.
const PACKED_POLICY_LIMIT: usize = 2048;

/// A syntactically valid `AssumeRoleWithWebIdentity` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssumeRoleCall {
    pub(crate) role_arn: String,
    pub(crate) role_session_name: String,
    pub(crate) web_identity_token: String,
    pub(crate) duration_secs: u64,
    pub(crate) policy: Option<String>,
    pub(crate) policy_arns: Vec<String>,
    /// Percent of the packed-policy budget used, when session policies were given.
    pub(crate) packed_policy_size: Option<u64>,
}

/// A syntactically valid `GetWebIdentityToken` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebIdentityTokenCall {
    pub(crate) audiences: Vec<String>,
    /// `RS256` or `ES384`.
    pub(crate) signing_algorithm: String,
    pub(crate) duration_secs: u64,
    pub(crate) tags: Vec<(String, String)>,
}

/// The request's `Action`, from the query string or the form body.
pub(crate) fn action(request: &RecordedRequest) -> Option<String> {
    Params::of(request).get("Action").map(str::to_owned)
}

/// The request's parameters: the query string, then the body when it is a form.
struct Params(Vec<(String, String)>);

impl Params {
    fn of(request: &RecordedRequest) -> Self {
        let mut pairs = request.query.clone();
        if request.content_type_is("application/x-www-form-urlencoded") {
            pairs.extend(request.form());
        }
        Self(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `PREFIX.member.N` values ordered by N.
    fn members(&self, prefix: &str) -> Vec<String> {
        let mut members: Vec<(u32, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix(prefix)?.strip_prefix(".member.")?;
                Some((n.parse().ok()?, v.clone()))
            })
            .collect();
        members.sort_by_key(|(n, _)| *n);
        members.into_iter().map(|(_, v)| v).collect()
    }

    /// `Tags.member.N.Key` / `.Value` pairs ordered by N (a missing half is empty).
    fn tags(&self) -> Vec<(String, String)> {
        let mut tags: std::collections::BTreeMap<u32, (String, String)> = Default::default();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix("Tags.member.") else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse() else { continue };
            let entry = tags.entry(n).or_default();
            match field {
                "Key" => entry.0 = v.clone(),
                "Value" => entry.1 = v.clone(),
                _ => {}
            }
        }
        tags.into_values().collect()
    }

    /// `PolicyArns.member.N.arn` values ordered by N.
    fn policy_arns(&self) -> Vec<String> {
        let mut arns: Vec<(u32, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("PolicyArns.member.")?.strip_suffix(".arn")?;
                Some((n.parse().ok()?, v.clone()))
            })
            .collect();
        arns.sort_by_key(|(n, _)| *n);
        arns.into_iter().map(|(_, arn)| arn).collect()
    }
}

/// Parses and validates a call; errors are what STS would answer.
pub(crate) fn parse(request: &RecordedRequest) -> Result<AssumeRoleCall, StsError> {
    let params = Params::of(request);
    check_operation(&params, ACTION)?;

    let mut violations = Violations::default();
    let role_arn = violations.required("roleArn", params.get("RoleArn"), 20, 2048, true);
    let session = violations.required(
        "roleSessionName",
        params.get("RoleSessionName"),
        2,
        64,
        true,
    );
    if let Some(name) = session
        && !name.chars().all(is_session_name_char)
    {
        violations.add(
            "roleSessionName",
            Some(name),
            "Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        );
    }
    let token = violations.required(
        "webIdentityToken",
        params.get("WebIdentityToken"),
        4,
        20_000,
        false,
    );
    let duration_secs = violations.duration(
        params.get("DurationSeconds"),
        MIN_DURATION_SECS,
        MAX_DURATION_SECS,
    );
    let policy = params.get("Policy");
    if let Some(policy) = policy {
        violations.length("policy", policy, 1, 2048, true);
        if !policy.chars().all(is_policy_char) {
            violations.add(
                "policy",
                Some(policy),
                "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
            );
        }
    }
    let policy_arns = params.policy_arns();
    if policy_arns.len() > MAX_POLICY_ARNS {
        violations.add(
            "policyArns",
            None,
            &format!("Member must have length less than or equal to {MAX_POLICY_ARNS}"),
        );
    }
    for (i, arn) in policy_arns.iter().enumerate() {
        violations.length(
            &format!("policyArns.{}.member.arn", i + 1),
            arn,
            20,
            2048,
            true,
        );
    }
    if let Some(provider_id) = params.get("ProviderId") {
        violations.length("providerId", provider_id, 4, 2048, true);
    }
    violations.into_result()?;

    // All required members are present once there are no violations.
    let (role_arn, session, token) = (
        role_arn.unwrap_or_default(),
        session.unwrap_or_default(),
        token.unwrap_or_default(),
    );
    if parse_role_arn(role_arn).is_none() {
        return Err(StsError::validation("Request ARN is invalid"));
    }
    let packed_policy_size = packed_policy_size(policy, &policy_arns)?;
    Ok(AssumeRoleCall {
        role_arn: role_arn.to_owned(),
        role_session_name: session.to_owned(),
        web_identity_token: token.to_owned(),
        duration_secs: duration_secs.unwrap_or(DEFAULT_DURATION_SECS),
        policy: policy.map(str::to_owned),
        policy_arns,
        packed_policy_size,
    })
}

/// Parses and validates a `GetWebIdentityToken` call; errors are what STS would answer.
pub(crate) fn parse_get_web_identity_token(
    request: &RecordedRequest,
) -> Result<WebIdentityTokenCall, StsError> {
    let params = Params::of(request);
    check_operation(&params, GET_WEB_IDENTITY_TOKEN)?;
    let mut violations = Violations::default();
    let audiences = params.members("Audience");
    if audiences.is_empty() {
        violations.0.push(
            "Value null at 'audience' failed to satisfy constraint: Member must not be null"
                .to_owned(),
        );
    } else if audiences.len() > MAX_AUDIENCES {
        violations.add(
            "audience",
            None,
            &format!("Member must have length less than or equal to {MAX_AUDIENCES}"),
        );
    }
    for (i, audience) in audiences.iter().enumerate() {
        violations.length(
            &format!("audience.{}.member", i + 1),
            audience,
            1,
            1000,
            true,
        );
    }
    let algorithm = violations.required(
        "signingAlgorithm",
        params.get("SigningAlgorithm"),
        5,
        5,
        true,
    );
    if let Some(a) = algorithm
        && a.len() == 5
        && a != "RS256"
        && a != "ES384"
    {
        violations.add(
            "signingAlgorithm",
            Some(a),
            "Member must satisfy enum value set: [RS256, ES384]",
        );
    }
    let duration_secs = violations.duration(
        params.get("DurationSeconds"),
        TOKEN_MIN_DURATION_SECS,
        TOKEN_MAX_DURATION_SECS,
    );
    let tags = params.tags();
    if tags.len() > MAX_TAGS {
        violations.add(
            "tags",
            None,
            &format!("Member must have length less than or equal to {MAX_TAGS}"),
        );
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        violations.length(&format!("tags.{}.member.key", i + 1), key, 1, 128, true);
        violations.length(&format!("tags.{}.member.value", i + 1), value, 0, 256, true);
    }
    violations.into_result()?;
    Ok(WebIdentityTokenCall {
        audiences,
        signing_algorithm: algorithm.unwrap_or_default().to_owned(),
        duration_secs: duration_secs.unwrap_or(TOKEN_DEFAULT_DURATION_SECS),
        tags,
    })
}

/// `Action` must be this operation and `Version` the STS API version.
fn check_operation(params: &Params, expected: &str) -> Result<(), StsError> {
    let version = params.get("Version").unwrap_or("NO_VERSION_SPECIFIED");
    match params.get("Action") {
        None => Err(StsError::new(StsErrorCode::MissingAction, "Missing Action")),
        Some(action) if action != expected || version != API_VERSION => Err(StsError::new(
            StsErrorCode::InvalidAction,
            format!("Could not find operation {action} for version {version}"),
        )),
        Some(_) => Ok(()),
    }
}

/// The packed size in percent of the budget, or `PackedPolicyTooLarge` above 100 %.
fn packed_policy_size(policy: Option<&str>, arns: &[String]) -> Result<Option<u64>, StsError> {
    if policy.is_none() && arns.is_empty() {
        return Ok(None);
    }
    let packed_policy = match policy {
        None => 0,
        Some(policy) => match serde_json::from_str::<serde_json::Value>(policy) {
            // Packing drops insignificant whitespace.
            Ok(document @ serde_json::Value::Object(_)) => document.to_string().len(),
            _ => {
                let code = StsErrorCode::MalformedPolicyDocument;
                return Err(StsError::new(code, code.default_message()));
            }
        },
    };
    let packed = packed_policy + arns.iter().map(String::len).sum::<usize>();
    let percent = (packed * 100).div_ceil(PACKED_POLICY_LIMIT) as u64;
    if percent > 100 {
        return Err(StsError::new(
            StsErrorCode::PackedPolicyTooLarge,
            format!("Packed size of consumed session policies exceeds the limit ({percent}%)"),
        ));
    }
    Ok(Some(percent))
}

fn is_session_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

fn is_policy_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FF}')
}

/// Constraint violations, reported together the way AWS does:
/// `2 validation errors detected: Value 'x' at 'member' failed to satisfy constraint: ...; ...`.
#[derive(Debug, Default)]
struct Violations(Vec<String>);

impl Violations {
    /// Records a violation; `value` is `None` for values STS does not echo (sensitive or lists).
    fn add(&mut self, member: &str, value: Option<&str>, constraint: &str) {
        let value = value.map(|v| format!(" '{v}'")).unwrap_or_default();
        self.0.push(format!(
            "Value{value} at '{member}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Checks a required string member; returns it when present.
    fn required<'a>(
        &mut self,
        member: &str,
        value: Option<&'a str>,
        min: usize,
        max: usize,
        echo: bool,
    ) -> Option<&'a str> {
        match value {
            None => self.0.push(format!(
                "Value null at '{member}' failed to satisfy constraint: Member must not be null"
            )),
            Some(value) => self.length(member, value, min, max, echo),
        }
        value
    }

    fn length(&mut self, member: &str, value: &str, min: usize, max: usize, echo: bool) {
        let len = value.chars().count();
        let shown = echo.then_some(value);
        if len < min {
            let constraint = format!("Member must have length greater than or equal to {min}");
            self.add(member, shown, &constraint);
        } else if len > max {
            let constraint = format!("Member must have length less than or equal to {max}");
            self.add(member, shown, &constraint);
        }
    }

    fn duration(&mut self, value: Option<&str>, min: u64, max: u64) -> Option<u64> {
        let value = value?;
        let Ok(secs) = value.parse::<i64>() else {
            self.add("durationSeconds", Some(value), "Member must be an integer");
            return None;
        };
        let (min, max) = (min as i64, max as i64);
        if secs < min {
            let constraint = format!("Member must have value greater than or equal to {min}");
            self.add("durationSeconds", Some(value), &constraint);
        } else if secs > max {
            let constraint = format!("Member must have value less than or equal to {max}");
            self.add("durationSeconds", Some(value), &constraint);
        }
        u64::try_from(secs).ok()
    }

    fn into_result(self) -> Result<(), StsError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(StsError::validation(format!(
                "1 validation error detected: {}",
                self.0[0]
            ))),
            n => Err(StsError::validation(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/r";

    fn call(pairs: &[(&str, &str)]) -> Result<AssumeRoleCall, StsError> {
        let mut all = vec![
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", API_VERSION),
            ("RoleArn", ROLE),
            ("RoleSessionName", "s1"),
            ("WebIdentityToken", "a.b.c"),
        ];
        for (k, v) in pairs {
            all.retain(|(key, _)| key != k);
            if !v.is_empty() {
                all.push((k, v));
            }
        }
        let body = crate::test_support::form(&all);
        parse(&RecordedRequest {
            method: "POST".into(),
            path: "/".into(),
            query: Vec::new(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            body: body.into_bytes(),
        })
    }

    fn error(pairs: &[(&str, &str)]) -> StsError {
        call(pairs).expect_err("should be rejected")
    }

    #[test]
    fn a_minimal_call_gets_defaults() {
        let call = call(&[]).unwrap();
        assert_eq!(call.duration_secs, 3600);
        assert_eq!(call.role_session_name, "s1");
        assert_eq!(call.packed_policy_size, None);
    }

    #[test]
    fn action_and_version_are_checked_first() {
        assert_eq!(error(&[("Action", "")]).code, StsErrorCode::MissingAction);
        let e = error(&[("Action", "AssumeRole"), ("RoleArn", "")]);
        assert_eq!(e.code, StsErrorCode::InvalidAction);
        assert_eq!(
            e.message,
            "Could not find operation AssumeRole for version 2011-06-15"
        );
        let e = error(&[("Version", "")]);
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                StsErrorCode::InvalidAction,
                "Could not find operation AssumeRoleWithWebIdentity for version NO_VERSION_SPECIFIED"
            )
        );
    }

    #[test]
    fn member_constraints_are_validation_errors() {
        let long_name = "x".repeat(65);
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("RoleArn", "")],
                "Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
            ),
            (
                &[("RoleArn", "arn:aws:iam::1:r")],
                "at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20",
            ),
            (
                &[("RoleSessionName", "a")],
                "Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2",
            ),
            (
                &[("RoleSessionName", &long_name)],
                "Member must have length less than or equal to 64",
            ),
            (
                &[("RoleSessionName", "has space")],
                "Value 'has space' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
            ),
            (
                &[("WebIdentityToken", "abc")],
                "Value at 'webIdentityToken' failed to satisfy constraint: Member must have length greater than or equal to 4",
            ),
            (
                &[("DurationSeconds", "899")],
                "Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
            ),
            (
                &[("DurationSeconds", "43201")],
                "Member must have value less than or equal to 43200",
            ),
            (
                &[("DurationSeconds", "1h")],
                "Value '1h' at 'durationSeconds' failed to satisfy constraint: Member must be an integer",
            ),
            (
                &[("Policy", "{\u{1}}")],
                "at 'policy' failed to satisfy constraint: Member must satisfy regular expression pattern",
            ),
            (
                &[("ProviderId", "x")],
                "at 'providerId' failed to satisfy constraint",
            ),
        ];
        for (pairs, expected) in cases {
            let e = error(pairs);
            assert_eq!(e.code, StsErrorCode::ValidationError, "{pairs:?}");
            assert!(
                e.message.starts_with("1 validation error detected: "),
                "{}",
                e.message
            );
            assert!(e.message.contains(expected), "{pairs:?}: {}", e.message);
        }
        let both = error(&[("RoleSessionName", ""), ("DurationSeconds", "1")]);
        assert!(
            both.message
                .starts_with("2 validation errors detected: Value null at 'roleSessionName'")
        );
        assert!(both.message.contains("; Value '1' at 'durationSeconds'"));
    }

    #[test]
    fn role_arn_must_be_a_role_arn() {
        let e = error(&[("RoleArn", "arn:aws:iam::123456789012:user/someone")]);
        assert_eq!(
            (e.code, e.message.as_str()),
            (StsErrorCode::ValidationError, "Request ARN is invalid")
        );
    }

    #[test]
    fn session_policies() {
        let policy = r#"{ "Version": "2012-10-17", "Statement": [] }"#;
        let arn = "arn:aws:iam::aws:policy/ReadOnlyAccess";
        let ok = call(&[("Policy", policy), ("PolicyArns.member.1.arn", arn)]).unwrap();
        assert_eq!(ok.policy_arns, [arn]);
        assert_eq!(ok.packed_policy_size, Some(4));

        let e = error(&[("Policy", &"x".repeat(2049))]);
        assert!(e.message.contains("at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048"));
        assert_eq!(
            error(&[("Policy", "not json")]).code,
            StsErrorCode::MalformedPolicyDocument
        );

        let names: Vec<String> = (1..=11)
            .map(|n| format!("PolicyArns.member.{n}.arn"))
            .collect();
        let eleven: Vec<(&str, &str)> = names.iter().map(|k| (k.as_str(), arn)).collect();
        let e = error(&eleven);
        assert!(e.message.contains("Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10"), "{}", e.message);

        let long_arn = format!("arn:aws:iam::123456789012:policy/{}", "p".repeat(220));
        let ten: Vec<(&str, &str)> = names[..10]
            .iter()
            .map(|k| (k.as_str(), long_arn.as_str()))
            .collect();
        assert_eq!(error(&ten).code, StsErrorCode::PackedPolicyTooLarge);
    }

    #[test]
    fn query_parameters_count_but_non_form_bodies_do_not() {
        let request = RecordedRequest {
            method: "POST".into(),
            path: "/".into(),
            query: vec![
                ("Action".into(), ACTION.into()),
                ("Version".into(), API_VERSION.into()),
            ],
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"RoleArn=x".to_vec(),
        };
        let e = parse(&request).unwrap_err();
        assert!(
            e.message
                .starts_with("3 validation errors detected: Value null at 'roleArn'"),
            "{}",
            e.message
        );
    }
}
