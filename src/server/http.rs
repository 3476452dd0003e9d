//! The HTTP side shared by the servers: the accept loop (connection limit, request-head
//! timeout and size, graceful shutdown), request counts by status, and JSON/text responses.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::ServerOptions;
use crate::cache::CacheMetrics;

/// A response body.
pub(crate) type Body = Full<Bytes>;

/// Answers one request (the body is never read: these protocols only `GET`).
#[async_trait]
pub(crate) trait Handler: Send + Sync + 'static {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body>;
    fn counts(&self) -> &StatusCounts;
}

/// The statuses counted one by one; others are counted as `other`.
const COUNTED: [u16; 7] = [200, 401, 403, 404, 405, 500, 503];

/// Requests answered, by status, and connections refused at the limit.
#[derive(Debug, Default)]
pub(crate) struct StatusCounts {
    by_status: [AtomicU64; COUNTED.len()],
    other: AtomicU64,
    refused_connections: AtomicU64,
}

impl StatusCounts {
    pub(crate) fn record(&self, status: StatusCode) {
        match COUNTED.iter().position(|s| *s == status.as_u16()) {
            Some(i) => self.by_status[i].fetch_add(1, Ordering::Relaxed),
            None => self.other.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// The Prometheus text lines for these counts, under `prefix`.
    pub(crate) fn render(&self, prefix: &str, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP {prefix}_requests_total Requests answered, by HTTP status.\n# TYPE {prefix}_requests_total counter"
        );
        for (status, n) in COUNTED.iter().zip(&self.by_status) {
            let _ = writeln!(
                out,
                "{prefix}_requests_total{{status=\"{status}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "{prefix}_requests_total{{status=\"other\"}} {}",
            self.other.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP {prefix}_refused_connections_total Connections closed because the connection limit was reached.\n# TYPE {prefix}_refused_connections_total counter\n{prefix}_refused_connections_total {}",
            self.refused_connections.load(Ordering::Relaxed)
        );
    }
}

/// A JSON response that is never cached.
pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    respond(status, "application/json", body)
}

/// A response with `content_type`, never cached.
pub(crate) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `{"code": .., "message": ..}`, the error shape of the container-credentials protocol.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json(
        status,
        serde_json::json!({ "code": code, "message": message }).to_string(),
    )
}

/// Binds `listen` (default `127.0.0.1:0`); a non-loopback address is logged at WARN, saying
/// who could then ask for `what`.
pub(crate) async fn bind(
    listen: Option<std::net::SocketAddr>,
    what: &str,
) -> std::io::Result<(TcpListener, std::net::SocketAddr)> {
    let listen = listen.unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    if !listen.ip().is_loopback() {
        tracing::warn!(
            target: "federated_credentials::server",
            %listen,
            "serving {what} on a non-loopback address: any host that reaches it can ask for them"
        );
    }
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Serves `listener` with `handler` until `shutdown` completes, then waits up to the grace
/// period for open requests.
pub(crate) async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        // hyper refuses a buffer under 8 KiB.
        .max_buf_size(options.max_header_bytes.max(8192));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let tcp = match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly, keep serving.
                        tracing::warn!(target: "federated_credentials::server", error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    handler.counts().refused_connections.fetch_add(1, Ordering::Relaxed);
                    drop(tcp);
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let h = handler.clone();
                let service = service_fn(move |request| {
                    let h = h.clone();
                    async move {
                        let response = h.handle(request).await;
                        h.counts().record(response.status());
                        Ok::<_, Infallible>(response)
                    }
                });
                let connection = graceful.watch(builder.serve_connection(TokioIo::new(tcp), service));
                tokio::spawn(async move {
                    let _ = connection.await;
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.shutdown_grace) => {}
    }
    Ok(())
}

/// The counters of `caches` in the Prometheus text format: one series per cache, labelled
/// `role="…"` when it has a label (the per-request roles), unlabelled for the main one.
pub(crate) fn render_cache_metrics(caches: &[(Option<&str>, CacheMetrics)], out: &mut String) {
    use std::fmt::Write;
    type Value = fn(&CacheMetrics) -> u64;
    let families: [(&str, &str, &str, Value); 6] = [
        (
            "fetches_total",
            "counter",
            "Upstream fetches completed.",
            |m| m.fetches,
        ),
        (
            "fetch_failures_total",
            "counter",
            "Upstream fetches that failed.",
            |m| m.failures,
        ),
        (
            "served_stale_total",
            "counter",
            "Reads served from a credential whose refresh had failed.",
            |m| m.served_stale,
        ),
        (
            "refresh_failing",
            "gauge",
            "Whether refreshes are failing now.",
            |m| u64::from(m.refresh_failing),
        ),
        (
            "expiry_timestamp_seconds",
            "gauge",
            "When the cached credential expires (0: none).",
            |m| unix_seconds(m.expires_at),
        ),
        (
            "last_refresh_timestamp_seconds",
            "gauge",
            "When the last fetch succeeded (0: never).",
            |m| unix_seconds(m.last_refresh),
        ),
    ];
    let p = "federated_credentials_cache";
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {p}_{name} {help}\n# TYPE {p}_{name} {kind}");
        for (label, metrics) in caches {
            let _ = match label {
                None => writeln!(out, "{p}_{name} {}", value(metrics)),
                Some(role) => writeln!(
                    out,
                    "{p}_{name}{{role=\"{}\"}} {}",
                    label_value(role),
                    value(metrics)
                ),
            };
        }
    }
}

/// Seconds since the Unix epoch, 0 for none.
fn unix_seconds(t: Option<std::time::SystemTime>) -> u64 {
    t.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// A Prometheus label value: backslash, double quote and line feed escaped.
fn label_value(text: &str) -> String {
    text.replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_have_one_help_per_family_and_a_labelled_series_per_role() {
        let main = CacheMetrics {
            fetches: 3,
            ..CacheMetrics::default()
        };
        let role = CacheMetrics {
            fetches: 1,
            refresh_failing: true,
            ..CacheMetrics::default()
        };
        let mut out = String::new();
        render_cache_metrics(&[(None, main), (Some("arn:a\"b\\c\nd"), role)], &mut out);
        assert_eq!(
            out.matches("# HELP federated_credentials_cache_fetches_total")
                .count(),
            1
        );
        assert!(
            out.contains("\nfederated_credentials_cache_fetches_total 3\n"),
            "{out}"
        );
        assert!(
            out.contains(r#"federated_credentials_cache_fetches_total{role="arn:a\"b\\c\nd"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"federated_credentials_cache_refresh_failing{role="arn:a\"b\\c\nd"} 1"#)
        );
        assert_eq!(
            out.lines().count(),
            6 * 4,
            "HELP, TYPE and two series per family"
        );
    }
}
