//! Test harness: starts local services.

pub mod campaign;
pub mod fault_proxy;
pub mod fixtures;
pub mod services;
