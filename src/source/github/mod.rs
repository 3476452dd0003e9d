//! Sources for CI systems: [`GitHubActionsToken`], the OIDC token of a GitHub Actions job.

mod actions;

pub use actions::GitHubActionsToken;
