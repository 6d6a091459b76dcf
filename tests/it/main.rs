//! All integration tests, compiled into one binary.

mod alert_schema;
mod campaign;
mod cli;
mod dependencies;
mod dynamodb_store;
mod emulator_boto3;
mod emulator_contract;
mod hostile_inputs;
mod lambda_e2e;
mod organizations;
mod perf;
mod reader_faults;
mod services_smoke;
mod slack_notifier;
mod sns_publisher;
mod template;
