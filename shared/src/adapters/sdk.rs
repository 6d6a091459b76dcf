//! AWS SDK configuration shared by the Lambda and the command line.

use crate::domain::Region;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::collections::BTreeMap;
use std::time::Duration;

/// SDK timeouts. The SDK sets none for operations by default, so a hung
/// endpoint would hang the caller until its own deadline.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

impl Timeouts {
    /// Fits inside a Lambda timeout of 60 seconds with room for a retry.
    pub const LAMBDA: Timeouts = Timeouts {
        connect: Duration::from_secs(3),
        attempt: Duration::from_secs(8),
        operation: Duration::from_secs(20),
    };

    /// Fails fast for a person at a terminal.
    pub const INTERACTIVE: Timeouts = Timeouts {
        connect: Duration::from_secs(2),
        attempt: Duration::from_secs(5),
        operation: Duration::from_secs(12),
    };

    pub fn config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// Loads the standard AWS configuration (environment, profile, container or
/// instance role; `AWS_ENDPOINT_URL_*` overrides), with the given timeouts.
pub async fn load(timeouts: Timeouts) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts.config())
        .load()
        .await
}

/// One HealthLake client per region, sharing credentials and settings.
pub fn healthlake_clients(
    base: &SdkConfig,
    regions: &[Region],
) -> BTreeMap<Region, aws_sdk_healthlake::Client> {
    regions
        .iter()
        .map(|region| {
            let config = aws_sdk_healthlake::config::Builder::from(base)
                .region(aws_sdk_healthlake::config::Region::new(region.to_string()))
                .build();
            (
                region.clone(),
                aws_sdk_healthlake::Client::from_conf(config),
            )
        })
        .collect()
}
