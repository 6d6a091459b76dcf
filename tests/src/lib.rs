//! Test harness: starts local services.

pub mod services;
