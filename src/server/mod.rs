//! Local credential brokers: one pre-warmed cache per host, served over a protocol every SDK
//! already speaks, so processes in any language share it with no code change.
//!
//! * [`ContainerCredentialsServer`]: the ECS/EKS container-credentials protocol
//!   (`AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`), which
//!   the AWS CLI, boto3 and every AWS SDK read, in front of a [`WebIdentityProvider`]; with
//!   an allow-list of per-request roles (`/role-arn/<ARN>`), and optionally persisted so a
//!   restart costs no STS call.
//! * [`MetadataServer`]: the GCE metadata protocol (`GCE_METADATA_HOST`), which every Google
//!   client library falls back to, in front of an `external_account` configuration. What it
//!   serves: `/` and `/computeMetadata/v1/` listings; under
//!   `instance/service-accounts/{default,EMAIL}/`: `token` (`?scopes=`), `identity`
//!   (`?audience=&format=`, through IAM `generateIdToken` when the configuration impersonates
//!   a service account), `email`, `scopes`, `aliases`, `?recursive=true`; `project/project-id`,
//!   `project/numeric-project-id`, `universe/universe-domain`. As the real server it requires
//!   `Metadata-Flavor: Google`, refuses `X-Forwarded-For` and unknown `Host` headers (DNS
//!   rebinding), and marks every answer `Metadata-Flavor: Google`.
//!
//! What every server here does: binds loopback unless told otherwise; answers from the cache
//! (a request never waits on the upstream longer than [`ServerOptions::upstream_wait`]);
//! `GET /healthz` (alive), `GET /readyz` (a usable credential is cached), `GET /metrics`
//! (Prometheus text: the cache's counters and requests by status); limits connections,
//! the time to send the request head (slowloris) and its size; shuts down gracefully when the
//! future given to `run` completes. No log line carries a credential.
//!
//! Requires feature `server`.
//!
//! [`WebIdentityProvider`]: crate::aws::WebIdentityProvider

mod auth;
mod ecs;
mod gce;
mod http;
mod persist;

pub use auth::AuthToken;
pub use ecs::{
    CREDENTIALS_PATH, ContainerCredentialsServer, ContainerCredentialsServerBuilder,
    ROLE_ARN_PATH_PREFIX,
};
pub use gce::{MAX_CACHED_SETS, MetadataServer, MetadataServerBuilder};
pub use persist::PERSISTED_MIN_REMAINING;

use std::time::Duration;

/// Limits and timeouts of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerOptions {
    /// At most this many connections at once; more are closed on accept (default 1024).
    pub max_connections: usize,
    /// A client must send its request head within this (default 5 s), or is disconnected.
    pub header_read_timeout: Duration,
    /// The largest request head accepted, in bytes (default 16 KiB); requests carry no body.
    pub max_header_bytes: usize,
    /// How long a request waits for the upstream when nothing usable is cached (default 1 s:
    /// the AWS SDKs give the endpoint about 2 s); then a 503 says what is failing.
    pub upstream_wait: Duration,
    /// How long shutdown waits for open requests to finish (default 5 s).
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(5),
            max_header_bytes: 16 * 1024,
            upstream_wait: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}
