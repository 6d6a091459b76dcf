//! Ready-made domain values for tests and benchmarks of this workspace
//! (feature `fixtures`).

use crate::domain::{AccountId, DatastoreId, DatastoreStatus, Observation, Region, Scope};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// Account 123456789012 in us-east-1.
pub fn scope() -> Scope {
    Scope::new(
        AccountId::parse(ACCOUNT).expect("a valid account"),
        Region::parse(REGION).expect("a valid region"),
    )
}

/// A data store named `patients` of [`scope`], whose id is `id` left-padded
/// with zeros to 32 characters.
pub fn observation(id: &str, status: DatastoreStatus) -> Observation {
    let id = format!("{id:0>32}");
    Observation {
        account: scope().account,
        region: scope().region,
        arn: format!("arn:aws:healthlake:{REGION}:{ACCOUNT}:datastore/fhir/{id}"),
        id: DatastoreId::parse(id).expect("a valid id"),
        name: "patients".into(),
        status,
        created_at: None,
        type_version: "R4".into(),
        endpoint: format!("https://healthlake.{REGION}.amazonaws.com/datastore/x/r4/"),
        error_cause: None,
    }
}
