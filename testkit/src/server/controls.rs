//! [`emulator_controls!`]: the public accessors every emulator shares (address, request log,
//! fault queue, shutdown), written once and stamped onto each emulator type.
//!
//! Their behaviour is checked for every emulator in `server/tests.rs`.

/// Implements the public accessors every emulator shares, delegating to its `server` field.
macro_rules! emulator_controls {
    ($emulator:ident) => {
        impl $emulator {
            /// The address the emulator listens on, `127.0.0.1:PORT`.
            pub fn local_addr(&self) -> ::std::net::SocketAddr {
                self.server.addr()
            }

            /// `http://127.0.0.1:PORT`, without a trailing slash.
            pub fn base_url(&self) -> String {
                self.server.base_url()
            }

            /// How many requests have arrived so far, faulted ones included.
            pub fn request_count(&self) -> usize {
                self.server.request_count()
            }

            /// How many response body bytes the emulator has handed to its connections so
            /// far (all requests together). With [`Fault::HugeBody`](crate::Fault::HugeBody)
            /// this shows how much of the body a client actually pulled before it gave up.
            pub fn body_bytes_sent(&self) -> u64 {
                self.server.body_bytes_sent()
            }

            /// Every request received so far, oldest first.
            pub fn requests(&self) -> Vec<$crate::RecordedRequest> {
                self.server.requests()
            }

            /// The most recent request, if any.
            pub fn last_request(&self) -> Option<$crate::RecordedRequest> {
                self.server.requests().pop()
            }

            /// Empties the request log (the request count keeps counting).
            pub fn clear_requests(&self) {
                self.server.clear_requests();
            }

            /// Queues `fault` for one request, after the faults already queued.
            pub fn push_fault(&self, fault: $crate::Fault) {
                self.push_fault_times(fault, 1);
            }

            /// Queues `fault` for each of the next `times` requests, after the faults already
            /// queued.
            pub fn push_fault_times(&self, fault: $crate::Fault, times: usize) {
                self.server
                    .push($crate::server::Scripted::Generic(fault), times);
            }

            /// How many scripted faults are still waiting for a request.
            pub fn pending_faults(&self) -> usize {
                self.server.pending_faults()
            }

            /// Drops every queued fault.
            pub fn clear_faults(&self) {
                self.server.clear_faults();
            }

            /// Stops the emulator and waits until its port is closed. Dropping the emulator
            /// also stops it, without waiting.
            pub async fn shutdown(self) {
                self.server.shutdown().await;
            }
        }
    };
}

pub(crate) use emulator_controls;
