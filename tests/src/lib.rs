//! Test harness: starts local services, shared by the tests of one binary.

pub mod campaign;
pub mod emulator;
pub mod fault_proxy;
pub mod fixtures;
pub mod perf;
pub mod services;
