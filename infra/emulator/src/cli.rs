//! The command line of the `healthlake-emulator` binary.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Parser;

use crate::iam::AccountId;
use crate::server::{
    DEFAULT_ACCOUNT_ID, DEFAULT_CLIENT_TOKEN_LIFETIME, DEFAULT_DELETED_RETENTION,
    DEFAULT_MAX_DATASTORES, DEFAULT_PAGE_TOKEN_LIFETIME, EmulatorConfig, default_static_keys,
};

pub const DEFAULT_PORT: u16 = 4599;

/// An emulator of the Amazon HealthLake control plane, with STS AssumeRole and
/// GetCallerIdentity. Point any AWS client at it; the region of each request
/// comes from its SigV4 credential scope, the account from its access key.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "healthlake-emulator", version)]
pub struct Cli {
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Address to listen on
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Default account (12 digits): of requests signed with any key the
    /// emulator's STS did not issue
    #[arg(long, default_value = DEFAULT_ACCOUNT_ID, value_parser = parse_account_id)]
    pub account: String,
    /// How long a data store stays CREATING, and DELETING, in milliseconds
    #[arg(long, default_value_t = 2000)]
    pub transition_delay_ms: u64,
    /// A long-term access key it accepts, as ACCESS_KEY_ID:SECRET (repeat for
    /// more); without any, the keys the repository's tests and demo use
    /// (testing:testing among them)
    #[arg(long = "key", value_name = "ACCESS_KEY_ID:SECRET", value_parser = parse_key)]
    pub keys: Vec<(String, String)>,
    /// How long a DELETED data store stays listed and described, in seconds
    /// (HealthLake documents seven days)
    #[arg(long, default_value_t = DEFAULT_DELETED_RETENTION.as_secs())]
    pub deleted_retention_seconds: u64,
    /// How long a NextToken of ListFHIRDatastores stays valid, in seconds
    #[arg(long, default_value_t = DEFAULT_PAGE_TOKEN_LIFETIME.as_secs())]
    pub page_token_expiry_seconds: u64,
    /// How long a ClientToken of CreateFHIRDatastore is remembered, in seconds
    #[arg(long, default_value_t = DEFAULT_CLIENT_TOKEN_LIFETIME.as_secs())]
    pub client_token_expiry_seconds: u64,
    /// Data stores not DELETED that each account may hold in each region
    /// (HealthLake's default quota is 10)
    #[arg(long, default_value_t = DEFAULT_MAX_DATASTORES)]
    pub max_datastores: usize,
}

fn parse_key(value: &str) -> Result<(String, String), String> {
    match value.split_once(':') {
        Some((key, secret)) if !key.is_empty() && !secret.is_empty() => {
            Ok((key.to_owned(), secret.to_owned()))
        }
        _ => Err("expected ACCESS_KEY_ID:SECRET".to_owned()),
    }
}

fn parse_account_id(value: &str) -> Result<String, String> {
    AccountId::parse(value).map(|id| id.as_str().to_owned())
}

impl Cli {
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    pub fn config(&self) -> EmulatorConfig {
        EmulatorConfig {
            account_id: self.account.clone(),
            transition_delay: Duration::from_millis(self.transition_delay_ms),
            static_keys: if self.keys.is_empty() {
                default_static_keys()
            } else {
                self.keys.iter().cloned().collect::<BTreeMap<_, _>>()
            },
            deleted_retention: Duration::from_secs(self.deleted_retention_seconds),
            page_token_lifetime: Duration::from_secs(self.page_token_expiry_seconds),
            client_token_lifetime: Duration::from_secs(self.client_token_expiry_seconds),
            max_datastores: self.max_datastores,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("healthlake-emulator").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_listen_on_loopback_port_4599_with_the_default_config() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.socket_addr(), "127.0.0.1:4599".parse().unwrap());
        assert_eq!(cli.config(), EmulatorConfig::default());
    }

    #[test]
    fn every_option_is_read() {
        let cli = parse(&[
            "--port",
            "0",
            "--host",
            "0.0.0.0",
            "--account",
            "210987654321",
            "--transition-delay-ms",
            "150",
            "--key",
            "AKIAONE:secret:with:colons",
            "--key",
            "two:2",
            "--deleted-retention-seconds",
            "60",
            "--page-token-expiry-seconds",
            "30",
            "--client-token-expiry-seconds",
            "20",
            "--max-datastores",
            "1000",
        ])
        .unwrap();
        assert_eq!(cli.socket_addr(), "0.0.0.0:0".parse().unwrap());
        assert_eq!(
            cli.config(),
            EmulatorConfig {
                account_id: "210987654321".into(),
                transition_delay: Duration::from_millis(150),
                static_keys: BTreeMap::from([
                    ("AKIAONE".to_owned(), "secret:with:colons".to_owned()),
                    ("two".to_owned(), "2".to_owned()),
                ]),
                deleted_retention: Duration::from_secs(60),
                page_token_lifetime: Duration::from_secs(30),
                client_token_lifetime: Duration::from_secs(20),
                max_datastores: 1000,
            }
        );
        let ipv6 = parse(&["--host", "::1"]).unwrap();
        assert_eq!(ipv6.socket_addr(), "[::1]:4599".parse().unwrap());
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["--port", "70000"][..],
            &["--port", "http"],
            &["--host", "not-an-address"],
            &["--account", "12345"],
            &["--account", "12345678901a"],
            &["--transition-delay-ms", "-1"],
            &["--unknown"],
            &["--key", "nosecret"],
            &["--key", ":secret"],
            &["--key", "key:"],
            &["--max-datastores", "-1"],
            &["--deleted-retention-seconds", "soon"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
