//! Sources that work anywhere: a token file, a URL, a program, a fixed token or a closure,
//! and the text/JSON formats they read.

mod custom;
mod executable;
mod file;
mod format;
mod url;

pub use custom::{FnTokenSource, StaticToken};
pub use executable::{ALLOW_EXECUTABLES_ENV, ExecutableToken};
pub use file::TokenFile;
pub use format::TokenFormat;
pub use url::UrlToken;
