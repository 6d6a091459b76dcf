//! The monitor's core: the domain (no AWS types), the ports it needs, the tick
//! that runs them, how an alert reads, and in-memory adapters of every port.
//! What crosses a boundary as JSON has types of its own, apart from the
//! domain's: the public alert document ([`document`]) and the values the
//! snapshot stores keep ([`stored`]).
//! The AWS adapters are crates of their own (`monitor-healthlake`,
//! `monitor-dynamodb`, `monitor-sns`), so a binary links only the SDKs it calls.

pub mod document;
pub mod domain;
pub mod field;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod memory;
pub mod metrics;
pub mod ports;
pub mod render;
pub mod stored;
pub mod text;
pub mod tick;
