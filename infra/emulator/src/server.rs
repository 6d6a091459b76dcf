//! Serving the emulator over HTTP, in-process or from the binary.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::state::Emulator;
use crate::{admin, endpoint};

pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";
pub const DEFAULT_TRANSITION_DELAY: Duration = Duration::from_secs(2);
/// The access keys, with their secrets, that the repository's tests, benchmark
/// and demo sign with.
pub const DEFAULT_STATIC_KEYS: [(&str, &str); 5] = [
    ("testing", "testing"),
    ("AKID", "SECRET"),
    ("AKIDTEST", "secret"),
    ("AKIDDEMO", "demo-secret"),
    ("a", "b"),
];
/// How long `shutdown` waits for requests in flight before it stops serving.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// The default account: of requests signed with any access key the
    /// emulator's STS did not issue.
    pub account_id: String,
    /// How long a store stays CREATING, and DELETING.
    pub transition_delay: Duration,
    /// The long-term access keys it accepts, with their secrets: keys of the
    /// default account's user. Temporary keys are those its STS issues.
    pub static_keys: BTreeMap<String, String>,
}

/// [`DEFAULT_STATIC_KEYS`] as a map.
pub fn default_static_keys() -> BTreeMap<String, String> {
    DEFAULT_STATIC_KEYS
        .iter()
        .map(|(key, secret)| ((*key).to_owned(), (*secret).to_owned()))
        .collect()
}

impl Default for EmulatorConfig {
    fn default() -> EmulatorConfig {
        EmulatorConfig {
            account_id: DEFAULT_ACCOUNT_ID.to_owned(),
            transition_delay: DEFAULT_TRANSITION_DELAY,
            static_keys: default_static_keys(),
        }
    }
}

/// The HTTP routes of one emulator with its own state.
pub fn router(config: &EmulatorConfig) -> Router {
    let state = Arc::new(Emulator::new(config));
    crate::events::spawn_poster(Arc::downgrade(&state));
    Router::new()
        .route("/", post(endpoint::handle))
        .nest("/_emulator", admin::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::events::detect_after,
        ))
        .with_state(state)
}

/// An emulator serving on a local port until it is shut down or dropped.
#[derive(Debug)]
pub struct RunningEmulator {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningEmulator {
    /// Binds `addr` (port 0 picks a free port) and serves in a background task.
    pub async fn start(
        config: EmulatorConfig,
        addr: SocketAddr,
    ) -> std::io::Result<RunningEmulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(&config);
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    // A dropped sender stops the server as well.
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%local_addr, account_id = config.account_id, "healthlake emulator started");
        Ok(RunningEmulator {
            local_addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The base URL for clients, e.g. `http://127.0.0.1:4599`; an emulator
    /// bound to every interface is reached through loopback.
    pub fn url(&self) -> String {
        let ip = match self.local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.local_addr.port()))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits for requests in flight.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already have stopped; then there is nothing to signal.
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(err))) => tracing::warn!(error = %err, "emulator stopped with an error"),
                Ok(Err(err)) => tracing::warn!(error = %err, "emulator task failed"),
                Err(_) => {
                    tracing::warn!("emulator did not stop within {SHUTDOWN_GRACE:?}; aborting it");
                    task.abort();
                }
            }
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn starts_on_an_ephemeral_port_and_stops() {
        let emulator =
            RunningEmulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
        let port = emulator.local_addr().port();
        assert_ne!(port, 0);
        assert_eq!(emulator.url(), format!("http://127.0.0.1:{port}"));
        tokio::net::TcpStream::connect(emulator.local_addr())
            .await
            .unwrap();
        emulator.shutdown().await;
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn an_emulator_on_every_interface_is_reached_through_loopback() {
        let emulator =
            RunningEmulator::start(EmulatorConfig::default(), "0.0.0.0:0".parse().unwrap())
                .await
                .unwrap();
        let port = emulator.local_addr().port();
        assert_eq!(emulator.url(), format!("http://127.0.0.1:{port}"));
    }

    #[test]
    fn the_default_config_is_the_documented_one() {
        let config = EmulatorConfig::default();
        assert_eq!(config.account_id, "123456789012");
        assert_eq!(config.transition_delay, Duration::from_secs(2));
        assert_eq!(config.static_keys["testing"], "testing");
        assert_eq!(config.static_keys.len(), DEFAULT_STATIC_KEYS.len());
    }
}
