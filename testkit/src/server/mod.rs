//! Scaffolding shared by every emulator: a loopback HTTP/1.1 server on `127.0.0.1:0` run by a
//! tokio task, a request log and counter, and the scripted [`Fault`] queue.
//!
//! An emulator is a [`Handler`] (the service logic, synchronous and in-memory) wrapped in a
//! [`Server`]. The emulator's public type holds the `Server` in a field named `server` and gets
//! the common public accessors (`base_url`, `requests`, `push_fault`, ...) from
//! [`emulator_controls!`]. Dropping the `Server` aborts its task, which drops the listener and
//! every open connection (including those held by [`Fault::Hang`]).
//!
//! To add an emulator: implement [`Handler`] (with its own [`Handler::Fault`] type for
//! service-specific scripted errors, or [`NoFault`]), wrap it in a struct with a
//! `server: Server<YourHandler>` field, and invoke `emulator_controls!(YourEmulator)`.

mod body;
mod controls;
mod response;

pub(crate) use controls::emulator_controls;
pub(crate) use response::Response;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use self::body::{ConnectionHandle, ResponseBody};
use super::fault::Fault;
use super::request::{RecordedRequest, decode_pairs};

/// The service logic of one emulator.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Emulator-specific scripted responses, queued in the same FIFO as the generic
    /// [`Fault`]s so that both kinds interleave in push order. Use [`NoFault`] for none.
    type Fault: Clone + Send + Sync + 'static;

    /// The content type of a `200` built from [`Fault::Body`].
    const BODY_CONTENT_TYPE: &'static str;

    /// Answers a request normally.
    fn handle(&self, request: &RecordedRequest) -> Response;

    /// Answers a request that took an emulator-specific fault from the queue.
    fn handle_fault(&self, request: &RecordedRequest, fault: Self::Fault) -> Response;

    /// Whether to accept `request` and never answer it, like [`Fault::Hang`] but decided by
    /// the service's own state (e.g. an IMDS token `PUT` whose response the hop limit drops).
    /// Scripted faults take precedence.
    fn hangs(&self, request: &RecordedRequest) -> bool {
        let _ = request;
        false
    }

    /// Adds the headers the emulated service puts on every response (faults included).
    /// Implementations should not replace headers that are already set.
    fn decorate(&self, response: &mut Response) {
        let _ = response;
    }
}

/// One entry of the fault queue.
#[derive(Debug, Clone)]
pub(crate) enum Scripted<F> {
    Generic(Fault),
    Emulator(F),
}

/// What a [`Server`] shares with its task.
struct State<H: Handler> {
    handler: H,
    requests: Mutex<Vec<RecordedRequest>>,
    request_count: AtomicUsize,
    /// Response body bytes handed to hyper so far.
    body_bytes_sent: Arc<AtomicU64>,
    faults: Mutex<VecDeque<Scripted<H::Fault>>>,
}

/// Locks a mutex, ignoring poisoning: a panicking test must not break other tests' emulators.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running loopback server for a [`Handler`]. Dropping it stops the server.
pub(crate) struct Server<H: Handler> {
    addr: SocketAddr,
    state: Arc<State<H>>,
    task: Option<JoinHandle<()>>,
}

impl<H: Handler> fmt::Debug for Server<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("request_count", &self.request_count())
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Server<H> {
    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    pub(crate) async fn start(handler: H) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            handler,
            requests: Mutex::new(Vec::new()),
            request_count: AtomicUsize::new(0),
            body_bytes_sent: Arc::new(AtomicU64::new(0)),
            faults: Mutex::new(VecDeque::new()),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        Ok(Self {
            addr,
            state,
            task: Some(task),
        })
    }

    /// The bound address (`127.0.0.1:PORT`).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The service logic.
    pub(crate) fn handler(&self) -> &H {
        &self.state.handler
    }

    pub(crate) fn request_count(&self) -> usize {
        self.state.request_count.load(Ordering::SeqCst)
    }

    pub(crate) fn body_bytes_sent(&self) -> u64 {
        self.state.body_bytes_sent.load(Ordering::SeqCst)
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }

    /// Queues `entry` for the next `times` requests (after those already queued).
    pub(crate) fn push(&self, entry: Scripted<H::Fault>, times: usize) {
        lock(&self.state.faults).extend(std::iter::repeat_n(entry, times));
    }

    pub(crate) fn pending_faults(&self) -> usize {
        lock(&self.state.faults).len()
    }

    pub(crate) fn clear_faults(&self) {
        lock(&self.state.faults).clear();
    }

    /// Stops the server and waits until its listener and connections are closed.
    pub(crate) async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // The only possible error is the cancellation just requested.
            let _ = task.await;
        }
    }
}

impl<H: Handler> Drop for Server<H> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Accepts connections until aborted. Connections live in a [`JoinSet`] owned by this task, so
/// aborting it aborts them all.
async fn accept_loop<H: Handler>(listener: TcpListener, state: Arc<State<H>>) {
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                while connections.try_join_next().is_some() {}
                connections.spawn(serve_connection(stream, Arc::clone(&state)));
            }
            // E.g. out of file descriptors: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve_connection<H: Handler>(stream: TcpStream, state: Arc<State<H>>) {
    // Keep a duplicate of the socket for Fault::ResetMidBody; without one that fault
    // degrades to an orderly close.
    let (stream, duplicate) = match stream.into_std() {
        Ok(std_stream) => {
            let duplicate = std_stream.try_clone().ok();
            match TcpStream::from_std(std_stream) {
                Ok(stream) => (stream, duplicate),
                Err(_) => return,
            }
        }
        Err(_) => return,
    };
    let connection = Arc::new(ConnectionHandle::new(duplicate));
    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        let connection = Arc::clone(&connection);
        async move { respond(&state, &connection, request).await }
    });
    // Errors here are client disconnects or the deliberate faults; nothing to report.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Returned by the service to make hyper drop the connection without a response.
#[derive(Debug)]
struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

/// How the body of a response is sent.
enum Delivery {
    Whole,
    Drip(Duration),
    Truncated,
    Reset,
    Huge(u64),
}

async fn respond<H: Handler>(
    state: &State<H>,
    connection: &Arc<ConnectionHandle>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<ResponseBody>, DropConnection> {
    let request = record(request).await.map_err(|_| DropConnection)?;
    state.request_count.fetch_add(1, Ordering::SeqCst);
    lock(&state.requests).push(request.clone());

    let next = lock(&state.faults).pop_front();
    let handler = &state.handler;
    let mut delivery = Delivery::Whole;
    let mut response = match next {
        None if handler.hangs(&request) => std::future::pending().await,
        None => handler.handle(&request),
        Some(Scripted::Emulator(fault)) => handler.handle_fault(&request, fault),
        Some(Scripted::Generic(fault)) => match fault {
            Fault::Status {
                status,
                body,
                headers,
            } => headers
                .into_iter()
                .fold(Response::text(status, body), |response, (name, value)| {
                    response.with_header(&name, value)
                }),
            Fault::Hang => std::future::pending().await,
            Fault::CloseConnection => return Err(DropConnection),
            Fault::Delay(delay) => {
                tokio::time::sleep(delay).await;
                handler.handle(&request)
            }
            Fault::Body(body) => Response::new(200, H::BODY_CONTENT_TYPE, body),
            Fault::Redirect(location) => {
                Response::text(302, "Found").with_header("location", location)
            }
            Fault::Pass => handler.handle(&request),
            Fault::Headers(headers) => headers
                .into_iter()
                .fold(handler.handle(&request), |response, (name, value)| {
                    response.with_header(&name, value)
                }),
            Fault::Drip { interval } => {
                delivery = Delivery::Drip(interval);
                handler.handle(&request)
            }
            Fault::Truncated => {
                delivery = Delivery::Truncated;
                handler.handle(&request)
            }
            Fault::ResetMidBody => {
                delivery = Delivery::Reset;
                handler.handle(&request)
            }
            Fault::HugeBody { bytes } => {
                delivery = Delivery::Huge(bytes);
                Response::new(200, H::BODY_CONTENT_TYPE, Vec::new())
            }
        },
    };
    handler.decorate(&mut response);
    let sent = Arc::clone(&state.body_bytes_sent);
    Ok(response.into_hyper(|body| match delivery {
        Delivery::Whole => ResponseBody::full(body, sent),
        Delivery::Drip(interval) => ResponseBody::drip(body, interval, sent),
        Delivery::Truncated => ResponseBody::broken(body, None, sent),
        Delivery::Reset => ResponseBody::broken(body, Some(Arc::clone(connection)), sent),
        Delivery::Huge(bytes) => ResponseBody::huge(bytes, sent),
    }))
}

/// Reads the whole request into a [`RecordedRequest`].
async fn record(request: hyper::Request<Incoming>) -> Result<RecordedRequest, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes().to_vec();
    Ok(RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: decode_pairs(parts.uri.query().unwrap_or_default().as_bytes()),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_ascii_lowercase(), value)
            })
            .collect(),
        body,
    })
}

/// Nothing: for emulators without specific scripted responses.
pub(crate) type NoFault = Infallible;

#[cfg(test)]
mod tests;
