//! `POST /`: one endpoint for HealthLake (awsJson1_0) and STS (awsQuery), so
//! a client pointed at the emulator for every service reaches both.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::state::Emulator;
use crate::{api, sts};

/// A form body without `X-Amz-Target` is STS; anything else is HealthLake,
/// which answers what it does not understand with its own errors.
pub async fn handle(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = emulator.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if sts::is_query(&headers) {
        sts::handle(&emulator, &headers, &body)
    } else {
        api::handle(&emulator, &headers, &body)
    }
}
