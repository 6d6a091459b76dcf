//! `POST /`: one endpoint for HealthLake (awsJson1_0) and STS (awsQuery), so
//! a client pointed at the emulator for every service reaches both.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

use crate::auth::SignedRequest;
use crate::state::Emulator;
use crate::{api, sts};

/// A form body without `X-Amz-Target` is STS; anything else is HealthLake,
/// which answers what it does not understand with its own errors.
pub async fn handle(
    State(emulator): State<Arc<Emulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = SignedRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        headers: &headers,
        body: &body,
    };
    let latency = emulator.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if sts::is_query(&headers) {
        sts::handle(&emulator, &request)
    } else {
        api::handle(&emulator, &request)
    }
}
