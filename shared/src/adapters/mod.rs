//! Adapters of the ports: in-memory (tests and the demo), a local file, and AWS.

pub mod dynamodb;
pub mod file;
pub mod healthlake;
pub mod memory;
pub mod sdk;
pub mod sns;
