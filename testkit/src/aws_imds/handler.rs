//! The instance metadata service's logic: IMDSv2 session tokens, the token checks of each
//! mode, and the metadata paths (placement, role listing, role credentials).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{ImdsCredentials, ImdsMode};
use crate::random::{BASE64, UPPER_ALPHANUMERIC, random_string};
use crate::request::RecordedRequest;
use crate::server::{Handler, NoFault, Response, lock};
use crate::timestamp;
use federated_credentials::context::Clock;

/// The TTL header of token requests and responses.
pub(super) const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The header carrying the session token on metadata requests.
pub(super) const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

/// What the emulated instance looks like; changeable while running.
#[derive(Debug)]
pub(super) struct State {
    pub(super) mode: ImdsMode,
    pub(super) hop_limit_exceeded: bool,
    pub(super) region: String,
    pub(super) availability_zone: String,
    pub(super) role: Option<String>,
    pub(super) credentials_error: Option<String>,
    pub(super) credentials_lifetime: Duration,
    pub(super) include_account_id: bool,
    pub(super) account_id: String,
    pub(super) credentials: ImdsCredentials,
    /// Session tokens and when they expire.
    pub(super) tokens: HashMap<String, SystemTime>,
    pub(super) rng: fastrand::Rng,
}

impl State {
    /// New credentials, valid for the configured lifetime from `now`.
    pub(super) fn new_credentials(&mut self, now: SystemTime) -> ImdsCredentials {
        ImdsCredentials {
            access_key_id: format!(
                "ASIA{}",
                random_string(&mut self.rng, UPPER_ALPHANUMERIC, 16)
            ),
            secret_access_key: random_string(&mut self.rng, BASE64, 40),
            session_token: random_string(&mut self.rng, BASE64, 320),
            last_updated: now,
            expiration: now + self.credentials_lifetime,
            account_id: self.account_id.clone(),
        }
    }
}

/// The metadata service's logic.
#[derive(Debug)]
pub(super) struct ImdsHandler {
    pub(super) clock: Arc<dyn Clock>,
    pub(super) state: Mutex<State>,
}

impl Handler for ImdsHandler {
    type Fault = NoFault;
    const BODY_CONTENT_TYPE: &'static str = "text/plain";

    fn handle(&self, request: &RecordedRequest) -> Response {
        match request.method.as_str() {
            "PUT" => self.put_token(request),
            "GET" => self.get(request),
            _ => Response::text(405, "Method Not Allowed\n"),
        }
    }

    fn handle_fault(&self, _: &RecordedRequest, fault: NoFault) -> Response {
        match fault {}
    }

    fn hangs(&self, request: &RecordedRequest) -> bool {
        let state = lock(&self.state);
        request.method == "PUT"
            && state.hop_limit_exceeded
            && !matches!(state.mode, ImdsMode::V1Only { .. })
    }
}

impl ImdsHandler {
    fn put_token(&self, request: &RecordedRequest) -> Response {
        if request.path_segments() != ["latest", "api", "token"] {
            return Response::text(404, "Not Found\n");
        }
        let mut state = lock(&self.state);
        if let ImdsMode::V1Only { put_status } = state.mode {
            let reason = if put_status == 405 {
                "Method Not Allowed"
            } else {
                "Not Found"
            };
            return Response::text(put_status, format!("{reason}\n"));
        }
        if request.has_header("x-forwarded-for") {
            return Response::text(403, "Forbidden\n");
        }
        let ttl = request
            .header(TTL_HEADER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|t| (1..=21600).contains(t));
        let Some(ttl) = ttl else {
            return Response::text(400, "Bad Request\n");
        };
        let token = format!("AQAEA{}==", random_string(&mut state.rng, BASE64, 51));
        let now = self.clock.now();
        state.tokens.retain(|_, expiry| *expiry > now);
        state
            .tokens
            .insert(token.clone(), now + Duration::from_secs(ttl));
        Response::new(200, "text/plain", token).with_header(TTL_HEADER, ttl.to_string())
    }

    fn get(&self, request: &RecordedRequest) -> Response {
        let mut state = lock(&self.state);
        let now = self.clock.now();
        if !matches!(state.mode, ImdsMode::V1Only { .. }) {
            match request.header(TOKEN_HEADER) {
                Some(token) if state.tokens.get(token).is_some_and(|exp| *exp > now) => {}
                Some(_) => return unauthorized(),
                None if state.mode == ImdsMode::V2Required => return unauthorized(),
                None => {}
            }
        }
        let segments = request.path_segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["latest", "meta-data", "placement", "region"] => text(&state.region),
            ["latest", "meta-data", "placement", "availability-zone"] => {
                text(&state.availability_zone)
            }
            ["latest", "meta-data", "iam", "security-credentials"] => match &state.role {
                Some(role) => text(role),
                None => not_found(),
            },
            ["latest", "meta-data", "iam", "security-credentials", role] => {
                if state.role.as_deref() != Some(*role) {
                    return not_found();
                }
                if let Some(code) = state.credentials_error.clone() {
                    return credentials_error(&code, role, now);
                }
                if state.credentials.expiration <= now {
                    state.credentials = state.new_credentials(now);
                }
                Response::new(
                    200,
                    "text/plain",
                    credentials_json(&state.credentials, state.include_account_id),
                )
            }
            _ => not_found(),
        }
    }
}

/// The credentials document, pretty-printed with `" : "` as IMDS does.
fn credentials_json(creds: &ImdsCredentials, include_account_id: bool) -> String {
    let s = |v: &str| serde_json::to_string(v).expect("strings serialize");
    let mut fields = vec![
        ("Code", s("Success")),
        (
            "LastUpdated",
            s(&timestamp::format_rfc3339(creds.last_updated, 0)),
        ),
        ("Type", s("AWS-HMAC")),
        ("AccessKeyId", s(&creds.access_key_id)),
        ("SecretAccessKey", s(&creds.secret_access_key)),
        ("Token", s(&creds.session_token)),
        (
            "Expiration",
            s(&timestamp::format_rfc3339(creds.expiration, 0)),
        ),
    ];
    if include_account_id {
        fields.push(("AccountId", s(&creds.account_id)));
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("  \"{k}\" : {v}"))
        .collect();
    format!("{{\n{}\n}}", body.join(",\n"))
}

/// A `200` whose `Code` is not `Success`, as IMDS reports a role it cannot assume.
fn credentials_error(code: &str, role: &str, now: SystemTime) -> Response {
    let message = if code == "AssumeRoleUnauthorizedAccess" {
        format!(
            "EC2 cannot assume the role {role}.  Please see documentation at https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-ec2.html#troubleshoot_roles_ec2-cannot-assume-role."
        )
    } else {
        format!("The instance could not get credentials for {role}.")
    };
    let s = |v: &str| serde_json::to_string(v).expect("strings serialize");
    let body = format!(
        "{{\n  \"Code\" : {},\n  \"Message\" : {},\n  \"LastUpdated\" : {}\n}}",
        s(code),
        s(&message),
        s(&timestamp::format_rfc3339(now, 0))
    );
    Response::new(200, "text/plain", body)
}

fn text(value: &str) -> Response {
    Response::new(200, "text/plain", value.to_owned())
}

fn not_found() -> Response {
    Response::new(
        404,
        "text/html",
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<title>404 - Not Found</title>\n",
    )
}

fn unauthorized() -> Response {
    Response::new(401, "text/html", "<title>401 - Unauthorized</title>\n")
}
