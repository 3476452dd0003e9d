//! Identities on Google Cloud: the GCE/GKE metadata server's identity tokens.

mod metadata;

pub use metadata::{DEFAULT_METADATA_HOST, GcpMetadataIdentityToken, IdTokenFormat};
