//! healthlake-monitor core: the domain (no AWS types), the ports it needs, and
//! their adapters (in-memory, local file, HealthLake, DynamoDB, SNS).

pub mod adapters;
pub mod domain;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod metrics;
pub mod monitor;
pub mod ports;
pub mod render;
