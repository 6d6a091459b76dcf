//! What every AWS adapter of the monitor shares: the SDK configuration with
//! bounded timeouts, and one readable line for an SDK error.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{Builder, ConnectorBuilder, tls};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
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
/// instance role; `AWS_ENDPOINT_URL_*` overrides), with the given timeouts and
/// one HTTP client for every SDK client made from it.
pub async fn load(timeouts: Timeouts) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts.config())
        .http_client(https_client())
        .load()
        .await
}

/// The SDK's default HTTPS client (hyper 1 and rustls with aws-lc, the proxy
/// from the environment), made once to be shared. Without it, every SDK
/// client makes its own on first use, each with its own connection pool and
/// TLS configuration: with a client per account and region, about 190 KB
/// each, 1.5 GB for 1,000 accounts in 8 regions.
pub fn https_client() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Log output as Lambda expects it, on standard output: JSON lines when the
/// function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`), text otherwise;
/// the level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO. As
/// Lambda's advanced logging controls set them, these are one level for the
/// whole function (`RUST_LOG` per-target directives are not read: a value
/// that is not a level leaves INFO). No time stamp: Lambda adds its own.
pub fn init_lambda_logging() {
    use tracing_subscriber::filter::LevelFilter;
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let level = lambda_log_level(var("AWS_LAMBDA_LOG_LEVEL").or_else(|| var("RUST_LOG")));
    let output = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_max_level(level.unwrap_or(LevelFilter::INFO));
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let _already_set = if json {
        output.json().try_init()
    } else {
        output.try_init()
    };
}

/// The level a log-level setting names (`TRACE` to `ERROR`, Lambda's
/// `FATAL` read as ERROR, `OFF`; any case); `None` for anything else.
fn lambda_log_level(setting: Option<String>) -> Option<tracing_subscriber::filter::LevelFilter> {
    let setting = setting?;
    let setting = setting.trim();
    if setting.eq_ignore_ascii_case("fatal") {
        return Some(tracing_subscriber::filter::LevelFilter::ERROR);
    }
    setting.parse().ok()
}

/// One readable line for an SDK error: the service's code and message, or the
/// chain of causes of a transport failure. (`SdkError`'s own Display says only
/// "service error", and its debug form is not for people.)
pub fn error_text<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let SdkError::ServiceError(e) = error {
        let e = e.err();
        return match (e.code(), e.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => e.to_string(),
        };
    }
    monitor_core::text::error_chain(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sns::operation::publish::PublishError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    #[test]
    fn a_log_level_setting_is_one_level_for_the_whole_function() {
        use tracing_subscriber::filter::LevelFilter;
        let level = |v: &str| lambda_log_level(Some(v.to_owned()));
        assert_eq!(level("DEBUG"), Some(LevelFilter::DEBUG));
        assert_eq!(level("warn"), Some(LevelFilter::WARN));
        assert_eq!(level(" error "), Some(LevelFilter::ERROR));
        assert_eq!(level("off"), Some(LevelFilter::OFF));
        assert_eq!(level("FATAL"), Some(LevelFilter::ERROR));
        assert_eq!(level("aws_smithy_runtime=debug"), None);
        assert_eq!(lambda_log_level(None), None);
    }

    #[test]
    fn service_errors_read_as_code_and_message() {
        let meta = ErrorMetadata::builder()
            .code("NotFound")
            .message("Topic does not exist")
            .build();
        let error: SdkError<PublishError, Response> = SdkError::service_error(
            PublishError::generic(meta),
            Response::new(StatusCode::try_from(404).unwrap(), SdkBody::empty()),
        );
        assert_eq!(error_text(&error), "NotFound: Topic does not exist");
    }

    #[test]
    fn transport_errors_read_as_their_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error: SdkError<PublishError, Response> = SdkError::timeout_error(io);
        assert_eq!(
            error_text(&error),
            "request has timed out: connection refused"
        );
    }
}
