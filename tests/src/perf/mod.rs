//! The benchmark of the functions as whole processes on the local
//! stand-ins, against a boto3 script doing the same tick
//! (`bash infra/scripts/bench.sh` runs `src/bin/perf.rs`, which uses these).
//!
//! - [`runtime`]: a Lambda Runtime API that records when a process first asks
//!   for an invocation and when each invocation is handed out and answered;
//! - [`process`]: function processes started as Lambda starts them, and the
//!   baseline script's;
//! - [`scenario`]: stores seeded in the HealthLake emulator, latency on
//!   every call, the function's and the baseline's ticks measured, calls
//!   counted against the minimum;
//! - [`capacity`]: what the DynamoDB and SNS requests cost in billed units;
//! - [`cost`]: a monthly cost model from the measured figures;
//! - [`report`]: the report, as JSON and as text.

pub mod capacity;
pub mod cost;
pub mod process;
pub mod report;
pub mod runtime;
pub mod scenario;
