//! An emulator of the Amazon HealthLake control plane, and of the STS calls
//! a monitor of many accounts makes.
//!
//! It speaks awsJson1_0 as the service does (`POST /`, `X-Amz-Target:
//! HealthLake.<Operation>`), so the official SDK and any SigV4 client work
//! against it. Signatures are verified as AWS verifies them, with the secrets
//! of [`EmulatorConfig::static_keys`] and of the credentials its STS issued;
//! the region of each request comes from its credential scope, and every
//! account has its own data stores in every region.
//!
//! The same port answers STS AssumeRole and GetCallerIdentity (awsQuery:
//! `POST /` with a form body, signed for service `sts`). A request belongs to
//! the account of its access key: credentials issued by AssumeRole to the
//! role's account, a static key to the default account
//! ([`EmulatorConfig::account_id`]). Any well-formed role may be assumed
//! unless a rule set through the admin routes denies it or asks for an
//! external id.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use healthlake_emulator::{EmulatorConfig, RunningEmulator};
//! let emulator = RunningEmulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("endpoint: {}", emulator.url());
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Admin routes under `/_emulator` script what the service would do on its own,
//! and move the emulator's [`clock`] forward: see [`admin`]. A store created with the tag `emulator:outcome` =
//! `CREATE_FAILED:<ErrorCategory>:<message>` fails its creation, and a store tagged
//! `UPDATE_FAILED:<ErrorCategory>:<message>` fails its updates: see [`outcome`].

pub mod admin;
mod api;
mod auth;
pub mod cli;
pub mod clock;
mod control;
mod endpoint;
mod events;
mod iam;
mod listing;
mod model;
pub mod outcome;
mod protocol;
mod registry;
mod server;
mod state;
mod sts;
mod validation;
mod wire;

pub use server::{DEFAULT_STATIC_KEYS, EmulatorConfig, RunningEmulator, default_static_keys};
