//! [`emulator_controls!`]: the public accessors every emulator shares (address, request log,
//! fault queue, shutdown), written once and stamped onto each emulator type.
//!
//! The doc examples are stamped too: each names the emulator it is attached to (through
//! `stringify!`), starts it with its default settings and talks to it with a plain `reqwest`
//! client, so they hold for every emulator whatever its service answers normally.

/// Implements the public accessors every emulator shares, delegating to its `server` field.
macro_rules! emulator_controls {
    ($emulator:ident) => {
        impl $emulator {
            /// The address the emulator listens on, `127.0.0.1:PORT`.
            ///
            /// ```
            #[doc = concat!("# use federated_credentials::testkit::", stringify!($emulator), ";")]
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() -> std::io::Result<()> {
            #[doc = concat!("let emulator = ", stringify!($emulator), "::start().await?;")]
            /// assert!(emulator.local_addr().ip().is_loopback());
            /// assert_ne!(emulator.local_addr().port(), 0); // an ephemeral port
            /// # Ok(())
            /// # }
            /// ```
            pub fn local_addr(&self) -> ::std::net::SocketAddr {
                self.server.addr()
            }

            /// `http://127.0.0.1:PORT`, without a trailing slash.
            ///
            /// ```
            #[doc = concat!("# use federated_credentials::testkit::", stringify!($emulator), ";")]
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() -> std::io::Result<()> {
            #[doc = concat!("let emulator = ", stringify!($emulator), "::start().await?;")]
            /// assert_eq!(emulator.base_url(), format!("http://{}", emulator.local_addr()));
            /// # Ok(())
            /// # }
            /// ```
            pub fn base_url(&self) -> String {
                self.server.base_url()
            }

            /// How many requests have arrived so far, faulted ones included.
            ///
            /// ```
            #[doc = concat!("# use federated_credentials::testkit::{", stringify!($emulator), ", Fault};")]
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("let emulator = ", stringify!($emulator), "::start().await?;")]
            /// let http = reqwest::Client::builder().no_proxy().build()?;
            /// emulator.push_fault(Fault::status(503));
            /// http.get(emulator.base_url()).send().await?;
            /// http.get(emulator.base_url()).send().await?;
            /// assert_eq!(emulator.request_count(), 2);
            /// # Ok(())
            /// # }
            /// ```
            pub fn request_count(&self) -> usize {
                self.server.request_count()
            }

            /// How many response body bytes the emulator has handed to its connections so
            /// far (all requests together). With [`Fault::HugeBody`](crate::testkit::Fault::HugeBody)
            /// this shows how much of the body a client actually pulled before it gave up.
            ///
            /// ```
            #[doc = concat!("# use federated_credentials::testkit::{", stringify!($emulator), ", Fault};")]
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("let emulator = ", stringify!($emulator), "::start().await?;")]
            /// let http = reqwest::Client::builder().no_proxy().build()?;
            /// emulator.push_fault(Fault::Body("not what you expected".into()));
            /// let body = http.get(emulator.base_url()).send().await?.text().await?;
            /// assert_eq!(emulator.body_bytes_sent(), body.len() as u64);
            /// # Ok(())
            /// # }
            /// ```
            pub fn body_bytes_sent(&self) -> u64 {
                self.server.body_bytes_sent()
            }

            /// Every request received so far, oldest first.
            ///
            /// ```
            #[doc = concat!("# use federated_credentials::testkit::", stringify!($emulator), ";")]
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("let emulator = ", stringify!($emulator), "::start().await?;")]
            /// let http = reqwest::Client::builder().no_proxy().build()?;
            /// http.get(format!("{}/some/path?x=1", emulator.base_url())).send().await?;
            /// http.delete(emulator.base_url()).send().await?;
            /// let requests = emulator.requests();
            /// assert_eq!(requests.len(), 2);
            /// assert_eq!((requests[0].path.as_str(), requests[0].query_param("x")), ("/some/path", Some("1")));
            /// assert_eq!(requests[1].method, "DELETE");
            /// # Ok(())
            /// # }
            /// ```
            pub fn requests(&self) -> Vec<$crate::testkit::RecordedRequest> {
                self.server.requests()
            }

            /// The most recent request, if any.
            ///
            /// ```
            #[doc = concat!("# use federated_credentials::testkit::", stringify!($emulator), ";")]
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("let emulator = ", stringify!($emulator), "::start().await?;")]
            /// assert!(emulator.last_request().is_none());
            /// let http = reqwest::Client::builder().no_proxy().build()?;
            /// http.post(emulator.base_url()).body("a=1&b=2").send().await?;
            /// let last = emulator.last_request().expect("one request arrived");
            /// assert_eq!(last.method, "POST");
            /// assert_eq!(last.form_param("b").as_deref(), Some("2"));
            /// # Ok(())
            /// # }
            /// ```
            pub fn last_request(&self) -> Option<$crate::testkit::RecordedRequest> {
                self.server.requests().pop()
            }

            /// Empties the request log (the request count keeps counting).
            ///
            /// ```
            #[doc = concat!("# use federated_credentials::testkit::", stringify!($emulator), ";")]
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("let emulator = ", stringify!($emulator), "::start().await?;")]
            /// let http = reqwest::Client::builder().no_proxy().build()?;
            /// http.get(emulator.base_url()).send().await?;
            /// emulator.clear_requests();
            /// assert!(emulator.requests().is_empty());
            /// assert_eq!(emulator.request_count(), 1);
            /// # Ok(())
            /// # }
            /// ```
            pub fn clear_requests(&self) {
                self.server.clear_requests();
            }

            /// Queues `fault` for one request, after the faults already queued.
            ///
            /// ```
            #[doc = concat!("# use federated_credentials::testkit::{", stringify!($emulator), ", Fault};")]
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("let emulator = ", stringify!($emulator), "::start().await?;")]
            /// let http = reqwest::Client::builder().no_proxy().build()?;
            /// emulator.push_fault(Fault::status(503));
            /// let faulted = http.get(emulator.base_url()).send().await?;
            /// let normal = http.get(emulator.base_url()).send().await?;
            /// assert_eq!(faulted.status(), 503);
            /// assert_ne!(normal.status(), 503);
            /// # Ok(())
            /// # }
            /// ```
            pub fn push_fault(&self, fault: $crate::testkit::Fault) {
                self.push_fault_times(fault, 1);
            }

            /// Queues `fault` for each of the next `times` requests, after the faults already
            /// queued.
            ///
            /// ```
            #[doc = concat!("# use federated_credentials::testkit::{", stringify!($emulator), ", Fault};")]
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("let emulator = ", stringify!($emulator), "::start().await?;")]
            /// let http = reqwest::Client::builder().no_proxy().build()?;
            /// emulator.push_fault_times(Fault::status(500), 2);
            /// emulator.push_fault(Fault::status(502));
            /// let mut statuses = Vec::new();
            /// for _ in 0..4 {
            ///     statuses.push(http.get(emulator.base_url()).send().await?.status().as_u16());
            /// }
            /// assert_eq!(statuses[..3], [500, 500, 502]);
            /// assert!(!matches!(statuses[3], 500 | 502)); // the queue is empty again
            /// # Ok(())
            /// # }
            /// ```
            pub fn push_fault_times(&self, fault: $crate::testkit::Fault, times: usize) {
                self.server
                    .push($crate::testkit::server::Scripted::Generic(fault), times);
            }

            /// How many scripted faults are still waiting for a request.
            ///
            /// ```
            #[doc = concat!("# use federated_credentials::testkit::{", stringify!($emulator), ", Fault};")]
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("let emulator = ", stringify!($emulator), "::start().await?;")]
            /// emulator.push_fault_times(Fault::status(503), 2);
            /// assert_eq!(emulator.pending_faults(), 2);
            /// let http = reqwest::Client::builder().no_proxy().build()?;
            /// http.get(emulator.base_url()).send().await?;
            /// assert_eq!(emulator.pending_faults(), 1);
            /// # Ok(())
            /// # }
            /// ```
            pub fn pending_faults(&self) -> usize {
                self.server.pending_faults()
            }

            /// Drops every queued fault.
            ///
            /// ```
            #[doc = concat!("# use federated_credentials::testkit::{", stringify!($emulator), ", Fault};")]
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("let emulator = ", stringify!($emulator), "::start().await?;")]
            /// emulator.push_fault_times(Fault::status(503), 3);
            /// emulator.clear_faults();
            /// assert_eq!(emulator.pending_faults(), 0);
            /// let http = reqwest::Client::builder().no_proxy().build()?;
            /// assert_ne!(http.get(emulator.base_url()).send().await?.status(), 503);
            /// # Ok(())
            /// # }
            /// ```
            pub fn clear_faults(&self) {
                self.server.clear_faults();
            }

            /// Stops the emulator and waits until its port is closed. Dropping the emulator
            /// also stops it, without waiting.
            ///
            /// ```
            #[doc = concat!("# use federated_credentials::testkit::", stringify!($emulator), ";")]
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("let emulator = ", stringify!($emulator), "::start().await?;")]
            /// let url = emulator.base_url();
            /// emulator.shutdown().await;
            /// let http = reqwest::Client::builder().no_proxy().build()?;
            /// assert!(http.get(url).send().await.is_err()); // connection refused
            /// # Ok(())
            /// # }
            /// ```
            pub async fn shutdown(self) {
                self.server.shutdown().await;
            }
        }
    };
}

pub(crate) use emulator_controls;
