//! The monitor's domain: no AWS SDK types here.

pub mod account;
pub mod alert;
pub mod diff;
pub mod ids;
pub mod observation;
pub mod policy;
pub mod routing;
pub mod snapshot;
pub mod status;
#[cfg(test)]
pub(crate) mod testing;

pub use account::{
    Access, AccountSelection, AccountTarget, ExternalId, OuId, RawSelection, RoleArn, RoleName,
    SelectionError, SelectionNames, list_items,
};
pub use alert::{Alert, Change};
pub use diff::{Observations, Transition, apply, diff, observations_of};
pub use ids::{AccountId, DatastoreId, IdError, Region, Scope};
pub use observation::Observation;
pub use policy::{
    AlertPolicy, MAX_REMINDER_HOURS, MAX_STUCK_MINUTES, PolicyError, Reason, Severity, StuckAfter,
    TimeUnit,
};
pub use routing::{RawRouting, Routing, RoutingError, RoutingNames, Tags};
pub use snapshot::{
    Claim, MAX_PENDING, MAX_UNDELIVERABLE, PendingAlert, Record, ScopeSnapshot, UndeliverableAlert,
    Unreadable,
};
pub use status::{DatastoreStatus, ErrorCategory, ErrorCause};
