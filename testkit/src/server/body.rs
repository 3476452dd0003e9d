//! [`ResponseBody`]: the body of every emulator response. Normally the whole body at once; for
//! the streaming faults ([`Fault::Drip`](crate::Fault::Drip),
//! [`Fault::Truncated`](crate::Fault::Truncated),
//! [`Fault::ResetMidBody`](crate::Fault::ResetMidBody),
//! [`Fault::HugeBody`](crate::Fault::HugeBody)) a body produced piece by piece, so that
//! a 100 MB answer never exists in memory and a broken one breaks after its headers went out.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use super::lock;

/// The chunk a [`ResponseBody::huge`] body repeats.
static FILLER: [u8; 64 * 1024] = [b'A'; 64 * 1024];

/// How long a broken body waits after its first part, so that hyper flushes the headers and
/// that part before the connection goes down.
const FLUSH_PAUSE: Duration = Duration::from_millis(10);

/// One accepted connection, as far as the faults need it: a duplicate of its socket, so that
/// [`Fault::ResetMidBody`](crate::Fault::ResetMidBody) can make its close a reset.
#[derive(Debug)]
pub(crate) struct ConnectionHandle {
    socket: Mutex<Option<std::net::TcpStream>>,
}

impl ConnectionHandle {
    pub(crate) fn new(socket: Option<std::net::TcpStream>) -> Self {
        Self {
            socket: Mutex::new(socket),
        }
    }

    /// Makes the connection end with a TCP reset (`SO_LINGER` zero) when hyper drops it.
    fn arm_reset(&self) {
        if let Some(socket) = lock(&self.socket).take() {
            // Socket options belong to the socket, not the descriptor: setting it on the
            // duplicate applies to hyper's descriptor too. Dropping the duplicate leaves
            // hyper's as the last one, whose close then sends the RST.
            let _ = socket2::SockRef::from(&socket).set_linger(Some(Duration::ZERO));
        }
    }
}

enum Kind {
    Full(Option<Bytes>),
    Drip {
        rest: Bytes,
        interval: Duration,
        timer: Option<Pin<Box<Sleep>>>,
    },
    Broken {
        head: Option<Bytes>,
        declared: u64,
        pause: Option<Pin<Box<Sleep>>>,
        reset: Option<Arc<ConnectionHandle>>,
    },
    Huge {
        remaining: u64,
    },
}

/// A response body; counts the bytes it hands to hyper.
pub(crate) struct ResponseBody {
    kind: Kind,
    sent: Arc<AtomicU64>,
}

impl ResponseBody {
    /// The whole body at once.
    pub(crate) fn full(body: Vec<u8>, sent: Arc<AtomicU64>) -> Self {
        Self {
            kind: Kind::Full(Some(Bytes::from(body))),
            sent,
        }
    }

    /// `body`, one byte every `interval` (the first at once).
    pub(crate) fn drip(body: Vec<u8>, interval: Duration, sent: Arc<AtomicU64>) -> Self {
        Self {
            kind: Kind::Drip {
                rest: Bytes::from(body),
                interval,
                timer: None,
            },
            sent,
        }
    }

    /// Declares `body.len()` bytes, sends the first half, then fails: hyper closes the
    /// connection, with a reset when `reset` is given.
    pub(crate) fn broken(
        body: Vec<u8>,
        reset: Option<Arc<ConnectionHandle>>,
        sent: Arc<AtomicU64>,
    ) -> Self {
        let declared = body.len() as u64;
        let mut head = Bytes::from(body);
        head.truncate(head.len() / 2);
        Self {
            kind: Kind::Broken {
                head: Some(head),
                declared,
                pause: None,
                reset,
            },
            sent,
        }
    }

    /// `bytes` bytes of filler, produced a 64 KiB chunk at a time as the client reads.
    pub(crate) fn huge(bytes: u64, sent: Arc<AtomicU64>) -> Self {
        Self {
            kind: Kind::Huge { remaining: bytes },
            sent,
        }
    }

    fn data(&self, bytes: Bytes) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.sent.fetch_add(bytes.len() as u64, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Full(body) => match body.take() {
                Some(bytes) if !bytes.is_empty() => this.data(bytes),
                _ => Poll::Ready(None),
            },
            Kind::Drip {
                rest,
                interval,
                timer,
            } => {
                if rest.is_empty() {
                    return Poll::Ready(None);
                }
                if let Some(t) = timer {
                    ready!(t.as_mut().poll(cx));
                }
                *timer = Some(Box::pin(tokio::time::sleep(*interval)));
                let byte = rest.split_to(1);
                this.data(byte)
            }
            Kind::Broken {
                head, pause, reset, ..
            } => {
                if let Some(bytes) = head.take() {
                    *pause = Some(Box::pin(tokio::time::sleep(FLUSH_PAUSE)));
                    if !bytes.is_empty() {
                        return this.data(bytes);
                    }
                }
                if let Some(p) = pause {
                    ready!(p.as_mut().poll(cx));
                }
                if let Some(connection) = reset.take() {
                    connection.arm_reset();
                }
                Poll::Ready(Some(Err(io::Error::other(
                    "testkit: the scripted fault cuts the body short",
                ))))
            }
            Kind::Huge { remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let n = (*remaining).min(FILLER.len() as u64);
                *remaining -= n;
                this.data(Bytes::from_static(&FILLER[..n as usize]))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(body) => body.as_ref().is_none_or(Bytes::is_empty),
            Kind::Drip { rest, .. } => rest.is_empty(),
            Kind::Broken { .. } => false,
            Kind::Huge { remaining } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(body) => SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Drip { rest, .. } => SizeHint::with_exact(rest.len() as u64),
            Kind::Broken { declared, .. } => SizeHint::with_exact(*declared),
            Kind::Huge { remaining } => SizeHint::with_exact(*remaining),
        }
    }
}
