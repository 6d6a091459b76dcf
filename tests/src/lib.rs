//! Test harness: starts local services.

pub mod fixtures;
pub mod services;
