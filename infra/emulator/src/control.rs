//! What tests script from outside: injected errors, added latency, and the
//! count of calls per operation and region.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::protocol::{ApiError, ErrorCode, Operation};

/// The next `remaining` calls of `operation` (in `region`, or in any region)
/// fail with `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub operation: Operation,
    pub error: ErrorCode,
    pub remaining: u32,
    pub region: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Faults(Vec<Fault>);

impl Faults {
    pub fn add(&mut self, fault: Fault) {
        if fault.remaining > 0 {
            self.0.push(fault);
        }
    }

    /// Consumes one failure of the first fault that applies to this call.
    pub fn take(&mut self, operation: Operation, region: &str) -> Option<ApiError> {
        let index = self.0.iter().position(|fault| {
            fault.operation == operation
                && fault.region.as_deref().is_none_or(|only| only == region)
        })?;
        let fault = &mut self.0[index];
        let error = ApiError::new(
            fault.error,
            fault
                .message
                .clone()
                .unwrap_or_else(|| fault.error.default_message().to_owned()),
        );
        fault.remaining -= 1;
        if fault.remaining == 0 {
            self.0.remove(index);
        }
        Some(error)
    }

    pub fn pending(&self) -> &[Fault] {
        &self.0
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Calls per operation: every operation is listed, those not called with 0.
pub type Counts = BTreeMap<&'static str, u64>;

/// The body of `GET /_emulator/calls`: operation names at the top level, and
/// the same per region under `ByRegion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallReport {
    #[serde(flatten)]
    pub total: Counts,
    #[serde(rename = "ByRegion")]
    pub by_region: BTreeMap<String, Counts>,
}

#[derive(Debug, Clone, Default)]
pub struct CallCounts {
    total: BTreeMap<Operation, u64>,
    by_region: BTreeMap<String, BTreeMap<Operation, u64>>,
}

impl CallCounts {
    /// Counts a call; a call whose region could not be read counts only in
    /// the total.
    pub fn record(&mut self, operation: Operation, region: Option<&str>) {
        *self.total.entry(operation).or_default() += 1;
        if let Some(region) = region {
            *self
                .by_region
                .entry(region.to_owned())
                .or_default()
                .entry(operation)
                .or_default() += 1;
        }
    }

    pub fn report(&self) -> CallReport {
        CallReport {
            total: named(&self.total),
            by_region: self
                .by_region
                .iter()
                .map(|(region, counts)| (region.clone(), named(counts)))
                .collect(),
        }
    }

    pub fn clear(&mut self) {
        self.total.clear();
        self.by_region.clear();
    }
}

fn named(counts: &BTreeMap<Operation, u64>) -> Counts {
    Operation::ALL
        .into_iter()
        .map(|op| (op.name(), counts.get(&op).copied().unwrap_or(0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(remaining: u32, region: Option<&str>) -> Fault {
        Fault {
            operation: Operation::ListFhirDatastores,
            error: ErrorCode::Throttling,
            remaining,
            region: region.map(Into::into),
            message: None,
        }
    }

    #[test]
    fn a_fault_fails_the_next_n_calls_of_its_operation() {
        let mut faults = Faults::default();
        faults.add(fault(2, None));
        assert_eq!(
            faults.take(Operation::DescribeFhirDatastore, "us-east-1"),
            None
        );
        let err = faults
            .take(Operation::ListFhirDatastores, "us-east-1")
            .unwrap();
        assert_eq!(err.code(), ErrorCode::Throttling);
        assert_eq!(err.message(), "Rate exceeded");
        assert!(
            faults
                .take(Operation::ListFhirDatastores, "eu-west-1")
                .is_some()
        );
        assert_eq!(
            faults.take(Operation::ListFhirDatastores, "us-east-1"),
            None
        );
        assert!(faults.pending().is_empty());
    }

    #[test]
    fn a_regional_fault_spares_other_regions() {
        let mut faults = Faults::default();
        faults.add(Fault {
            message: Some("slow down".into()),
            ..fault(1, Some("us-east-2"))
        });
        assert_eq!(
            faults.take(Operation::ListFhirDatastores, "us-east-1"),
            None
        );
        let err = faults
            .take(Operation::ListFhirDatastores, "us-east-2")
            .unwrap();
        assert_eq!(err.message(), "slow down");
        assert_eq!(
            faults.take(Operation::ListFhirDatastores, "us-east-2"),
            None
        );
    }

    #[test]
    fn a_fault_of_zero_calls_is_not_kept() {
        let mut faults = Faults::default();
        faults.add(fault(0, None));
        assert!(faults.pending().is_empty());
    }

    #[test]
    fn calls_are_reported_per_operation_and_per_region() {
        let mut calls = CallCounts::default();
        calls.record(Operation::ListFhirDatastores, Some("us-east-1"));
        calls.record(Operation::ListFhirDatastores, Some("us-east-2"));
        calls.record(Operation::ListFhirDatastores, None);
        calls.record(Operation::TagResource, Some("us-east-1"));
        let report = serde_json::to_value(calls.report()).unwrap();
        assert_eq!(report["ListFHIRDatastores"], 3);
        assert_eq!(report["TagResource"], 1);
        assert_eq!(report["CreateFHIRDatastore"], 0);
        assert_eq!(report["ByRegion"]["us-east-1"]["ListFHIRDatastores"], 1);
        assert_eq!(report["ByRegion"]["us-east-2"]["TagResource"], 0);
        assert_eq!(report["ByRegion"].as_object().unwrap().len(), 2);
    }
}
