//! A minimal Lambda for the runtime API tests: answers `{"echo": <event>, "pid": <process id>}`.
//!
//! An event `{"fail": "<message>"}` returns that message as a function error, and
//! `{"sleep_ms": N}` waits N milliseconds first, so tests can hold an invocation open.

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    if let Some(message) = payload.get("fail").and_then(Value::as_str) {
        return Err(message.into());
    }
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    Ok(json!({ "echo": payload, "pid": std::process::id() }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
