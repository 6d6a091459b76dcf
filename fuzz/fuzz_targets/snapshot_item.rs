//! A snapshot item of any shape: a JSON object whose string values become S
//! attributes, numbers N, and anything else BOOL. Reading it must give a record
//! or a `Corrupt` error, never a panic.
#![no_main]

use aws_sdk_dynamodb::types::AttributeValue;
use libfuzzer_sys::fuzz_target;
use monitor_dynamodb::{DynamoDbStore, Item};
use monitor_core::ports::StoreError;
use std::sync::LazyLock;

static STORE: LazyLock<DynamoDbStore> = LazyLock::new(|| {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .build();
    DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(config), "snapshot")
});

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(data) else {
        return;
    };
    let item: Item = map
        .into_iter()
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => AttributeValue::S(s),
                serde_json::Value::Number(n) => AttributeValue::N(n.to_string()),
                other => AttributeValue::Bool(other.is_null()),
            };
            (k, value)
        })
        .collect();
    match STORE.decode_item(&monitor_core::fixtures::scope(), &item) {
        Ok(_) | Err(StoreError::Corrupt { .. }) => {}
        Err(other) => panic!("an item read as {other}"),
    }
});
