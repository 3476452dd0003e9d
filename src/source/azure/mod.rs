//! Sources on Azure: [`AzureManagedIdentityToken`] (VMs, scale sets, App Service, Functions)
//! and [`AzureWorkloadIdentityToken`] (AKS pods with workload identity).

mod managed_identity;
mod workload_identity;

pub use managed_identity::{
    AZURE_IMDS_ENDPOINT_ENV, AzureManagedIdentityToken, DEFAULT_AZURE_IMDS_ENDPOINT,
    IDENTITY_ENDPOINT_ENV, IDENTITY_HEADER_ENV, UserAssignedIdentity,
};
pub use workload_identity::{AzureWorkloadIdentityToken, FEDERATED_TOKEN_FILE_ENV};
