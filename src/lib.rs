//! placeholder
pub mod aws;
pub mod cache;
pub mod context;
pub mod error;
pub mod http;
pub mod jwt;
pub mod secret;
pub mod token;
pub use error::{Error, ErrorKind, Service};
pub mod source;
pub mod exchange;
mod xml;
