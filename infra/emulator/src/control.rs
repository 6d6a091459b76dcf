//! What tests script from outside: injected errors, added latency, and the
//! count of calls per operation, region and account.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::protocol::{ApiError, ErrorCode, Operation};
use crate::sts::Action;

/// The next `remaining` calls of `operation` (in `region` and `account`, or
/// in any) fail with `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub operation: Operation,
    pub error: ErrorCode,
    pub remaining: u32,
    pub region: Option<String>,
    pub account: Option<String>,
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
    pub fn take(&mut self, operation: Operation, region: &str, account: &str) -> Option<ApiError> {
        let index = self.0.iter().position(|fault| {
            fault.operation == operation
                && fault.region.as_deref().is_none_or(|only| only == region)
                && fault.account.as_deref().is_none_or(|only| only == account)
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

/// What `/_emulator/calls` counts: HealthLake operations and STS actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Call {
    HealthLake(Operation),
    Sts(Action),
}

impl Call {
    fn all() -> impl Iterator<Item = Call> {
        Operation::ALL
            .into_iter()
            .map(Call::HealthLake)
            .chain(Action::ALL.into_iter().map(Call::Sts))
    }

    pub fn name(self) -> &'static str {
        match self {
            Call::HealthLake(operation) => operation.name(),
            Call::Sts(action) => action.name(),
        }
    }
}

/// Calls per operation: every operation is listed, those not called with 0.
pub type Counts = BTreeMap<&'static str, u64>;

/// The body of `GET /_emulator/calls`: operation names at the top level, and
/// the same per region under `ByRegion` and per account under `ByAccount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallReport {
    #[serde(flatten)]
    pub total: Counts,
    #[serde(rename = "ByRegion")]
    pub by_region: BTreeMap<String, Counts>,
    #[serde(rename = "ByAccount")]
    pub by_account: BTreeMap<String, Counts>,
}

#[derive(Debug, Clone, Default)]
pub struct CallCounts {
    total: BTreeMap<Call, u64>,
    by_region: BTreeMap<String, BTreeMap<Call, u64>>,
    by_account: BTreeMap<String, BTreeMap<Call, u64>>,
}

impl CallCounts {
    /// Counts a call made in `(region, account)`; a call whose credential
    /// scope could not be read counts only in the total.
    pub fn record(&mut self, call: Call, region_and_account: Option<(&str, &str)>) {
        *self.total.entry(call).or_default() += 1;
        if let Some((region, account)) = region_and_account {
            for (key, counts) in [
                (region, &mut self.by_region),
                (account, &mut self.by_account),
            ] {
                *counts
                    .entry(key.to_owned())
                    .or_default()
                    .entry(call)
                    .or_default() += 1;
            }
        }
    }

    pub fn report(&self) -> CallReport {
        let each = |by: &BTreeMap<String, BTreeMap<Call, u64>>| {
            by.iter()
                .map(|(key, counts)| (key.clone(), named(counts)))
                .collect()
        };
        CallReport {
            total: named(&self.total),
            by_region: each(&self.by_region),
            by_account: each(&self.by_account),
        }
    }

    pub fn clear(&mut self) {
        self.total.clear();
        self.by_region.clear();
        self.by_account.clear();
    }
}

fn named(counts: &BTreeMap<Call, u64>) -> Counts {
    Call::all()
        .map(|call| (call.name(), counts.get(&call).copied().unwrap_or(0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "123456789012";

    fn fault(remaining: u32, region: Option<&str>) -> Fault {
        Fault {
            operation: Operation::ListFhirDatastores,
            error: ErrorCode::Throttling,
            remaining,
            region: region.map(Into::into),
            account: None,
            message: None,
        }
    }

    #[test]
    fn a_fault_fails_the_next_n_calls_of_its_operation() {
        let mut faults = Faults::default();
        faults.add(fault(2, None));
        assert_eq!(
            faults.take(Operation::DescribeFhirDatastore, "us-east-1", A),
            None
        );
        let err = faults
            .take(Operation::ListFhirDatastores, "us-east-1", A)
            .unwrap();
        assert_eq!(err.code(), ErrorCode::Throttling);
        assert_eq!(err.message(), "Rate exceeded");
        assert!(
            faults
                .take(Operation::ListFhirDatastores, "eu-west-1", A)
                .is_some()
        );
        assert_eq!(
            faults.take(Operation::ListFhirDatastores, "us-east-1", A),
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
            faults.take(Operation::ListFhirDatastores, "us-east-1", A),
            None
        );
        let err = faults
            .take(Operation::ListFhirDatastores, "us-east-2", A)
            .unwrap();
        assert_eq!(err.message(), "slow down");
        assert_eq!(
            faults.take(Operation::ListFhirDatastores, "us-east-2", A),
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
    fn an_account_fault_spares_other_accounts() {
        let mut faults = Faults::default();
        faults.add(Fault {
            account: Some("210987654321".into()),
            ..fault(1, None)
        });
        assert_eq!(
            faults.take(Operation::ListFhirDatastores, "us-east-1", A),
            None
        );
        assert!(
            faults
                .take(Operation::ListFhirDatastores, "us-east-1", "210987654321")
                .is_some()
        );
        assert!(faults.pending().is_empty());
    }

    #[test]
    fn calls_are_reported_per_operation_region_and_account() {
        const B: &str = "210987654321";
        let mut calls = CallCounts::default();
        let list = Call::HealthLake(Operation::ListFhirDatastores);
        calls.record(list, Some(("us-east-1", A)));
        calls.record(list, Some(("us-east-2", B)));
        calls.record(list, None);
        calls.record(
            Call::HealthLake(Operation::TagResource),
            Some(("us-east-1", A)),
        );
        calls.record(Call::Sts(Action::AssumeRole), Some(("us-east-1", A)));
        let report = serde_json::to_value(calls.report()).unwrap();
        assert_eq!(report["ListFHIRDatastores"], 3);
        assert_eq!(report["TagResource"], 1);
        assert_eq!(report["CreateFHIRDatastore"], 0);
        assert_eq!(report["AssumeRole"], 1);
        assert_eq!(report["GetCallerIdentity"], 0);
        assert_eq!(report["ByRegion"]["us-east-1"]["ListFHIRDatastores"], 1);
        assert_eq!(report["ByRegion"]["us-east-1"]["AssumeRole"], 1);
        assert_eq!(report["ByRegion"]["us-east-2"]["TagResource"], 0);
        assert_eq!(report["ByRegion"].as_object().unwrap().len(), 2);
        assert_eq!(report["ByAccount"][A]["ListFHIRDatastores"], 1);
        assert_eq!(report["ByAccount"][A]["TagResource"], 1);
        assert_eq!(report["ByAccount"][B]["ListFHIRDatastores"], 1);
        assert_eq!(report["ByAccount"][B]["AssumeRole"], 0);
        assert_eq!(report["ByAccount"].as_object().unwrap().len(), 2);
    }
}
