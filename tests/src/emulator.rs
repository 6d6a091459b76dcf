//! The HealthLake emulator as the tests run it: in-process, one per test.
//!
//! Each test gets an emulator of its own because what the tests look at
//! belongs to a whole emulator: the monitor and the command list every store
//! of their account and region, and tests count calls, queue faults, add
//! latency and move the clock. An emulator costs a loopback port and a task
//! on the test's runtime, and stops with the test.
//!
//! Statuses never change by themselves during a test: a store stays CREATING
//! or DELETING for [`TRANSITION`] of emulator time, far longer than a test
//! runs, and a test that wants it settled advances the emulator's clock
//! (`POST /_emulator/clock`) with [`Emulator::settle`].
//!
//! Other accounts: the emulator also answers STS on its port, and a request
//! belongs to the account of its credentials. [`Emulator::assumed_client`]
//! makes a client whose credentials come from AssumeRole, as the monitor's
//! do; [`Emulator::create_store_in`] puts a store in any account without
//! STS. Roles are assumable unless [`Emulator::deny_role`] or
//! [`Emulator::require_external_id`] says otherwise, and
//! [`Emulator::assume_role_calls`] counts what each role was asked.

use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_healthlake::types::{DatastoreProperties, FhirVersion, Tag};
use chrono::{DateTime, Utc};
use healthlake_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::{Value, json};

use crate::services::sdk_config;

/// The emulator's default account: of every key its STS did not issue (it is
/// moto's account too).
pub const ACCOUNT: &str = "123456789012";

/// The session name the tests' AssumeRole providers give.
pub const SESSION_NAME: &str = "healthlake-monitor";

/// `arn:aws:iam::<account>:role/<name>`
pub fn role_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

/// How many AssumeRole calls a role got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssumeRoleCalls {
    /// Answered with credentials.
    pub allowed: u64,
    /// Answered AccessDenied.
    pub denied: u64,
}

/// How long a store stays CREATING or DELETING, in emulator time.
pub const TRANSITION: Duration = Duration::from_secs(3600);

/// The quota of data stores per account and region of [`Emulator::start`]:
/// far above HealthLake's 10, since tests and the e2e listing create hundreds.
/// A test of the quota itself starts its emulator with
/// [`Emulator::start_with`].
pub const TEST_MAX_DATASTORES: usize = 100_000;

/// The tag whose value `CREATE_FAILED:<ErrorCategory>:<message>` makes a
/// creation fail.
pub const OUTCOME_TAG: &str = "emulator:outcome";

/// A running emulator and an HTTP client for its admin routes.
pub struct Emulator {
    running: RunningEmulator,
    http: reqwest::Client,
}

impl Emulator {
    /// An emulator for [`ACCOUNT`] with the [`TRANSITION`] delay and a quota
    /// of [`TEST_MAX_DATASTORES`], on a free loopback port, served by the
    /// caller's runtime.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(EmulatorConfig {
            max_datastores: TEST_MAX_DATASTORES,
            ..Self::config()
        })
        .await
    }

    /// The settings of [`start`](Self::start) but HealthLake's quota of
    /// data stores: the emulator's defaults with [`ACCOUNT`] and
    /// [`TRANSITION`].
    pub fn config() -> EmulatorConfig {
        EmulatorConfig {
            account_id: ACCOUNT.to_owned(),
            transition_delay: TRANSITION,
            ..EmulatorConfig::default()
        }
    }

    /// An emulator with `config`, on a free loopback port.
    pub async fn start_with(config: EmulatorConfig) -> anyhow::Result<Self> {
        let running = RunningEmulator::start(config, "127.0.0.1:0".parse()?)
            .await
            .context("starting the HealthLake emulator")?;
        let http = reqwest::Client::builder().no_proxy().build()?;
        Ok(Self { running, http })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.running.url()
    }

    /// An SDK client for `region`, with the test credentials of [`sdk_config`].
    pub fn client(&self, region: &str) -> aws_sdk_healthlake::Client {
        aws_sdk_healthlake::Client::new(&sdk_config(&self.url(), region))
    }

    /// The settings of [`sdk_config`] loaded the way a Lambda loads its
    /// own, so that they carry a time source and a sleep, which the
    /// AssumeRole provider needs. Every service, STS included, is sent to
    /// the emulator.
    pub async fn base_config(&self, region: &str) -> SdkConfig {
        let plain = sdk_config(&self.url(), region);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(plain.region().cloned())
            .endpoint_url(self.url());
        if let Some(credentials) = plain.credentials_provider() {
            loader = loader.credentials_provider(credentials);
        }
        if let Some(timeouts) = plain.timeout_config() {
            loader = loader.timeout_config(timeouts.clone());
        }
        loader.load().await
    }

    /// The [`base_config`](Self::base_config) of `region` with credentials
    /// from an `AssumeRoleProvider` for `role_arn` (session
    /// [`SESSION_NAME`], `external_id` if given), as the monitor builds
    /// them for another account.
    pub async fn assumed_config(
        &self,
        region: &str,
        role_arn: &str,
        external_id: Option<&str>,
    ) -> SdkConfig {
        let base = self.base_config(region).await;
        let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .configure(&base)
            .session_name(SESSION_NAME);
        if let Some(external_id) = external_id {
            provider = provider.external_id(external_id);
        }
        let provider = provider.build().await;
        base.into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build()
    }

    /// A HealthLake client of `region` in the account of `role_arn`, whose
    /// credentials come from AssumeRole (see [`assumed_config`](Self::assumed_config)).
    pub async fn assumed_client(
        &self,
        region: &str,
        role_arn: &str,
        external_id: Option<&str>,
    ) -> aws_sdk_healthlake::Client {
        aws_sdk_healthlake::Client::new(&self.assumed_config(region, role_arn, external_id).await)
    }

    /// Sets the rule of a role (`POST /_emulator/roles`): `{"Deny": bool,
    /// "ExternalId": "...", "MaxSessionDuration": N}`, all optional.
    pub async fn set_role(&self, role_arn: &str, rule: Value) -> anyhow::Result<Value> {
        let mut body = json!({ "RoleArn": role_arn });
        if let (Some(body), Some(rule)) = (body.as_object_mut(), rule.as_object()) {
            body.extend(rule.clone());
        }
        self.admin_post("roles", body).await
    }

    /// Every AssumeRole of `role_arn` is AccessDenied from now on.
    pub async fn deny_role(&self, role_arn: &str) -> anyhow::Result<()> {
        self.set_role(role_arn, json!({ "Deny": true })).await?;
        Ok(())
    }

    /// AssumeRole of `role_arn` must pass `external_id` or is AccessDenied.
    pub async fn require_external_id(
        &self,
        role_arn: &str,
        external_id: &str,
    ) -> anyhow::Result<()> {
        self.set_role(role_arn, json!({ "ExternalId": external_id }))
            .await?;
        Ok(())
    }

    /// Suspends `account`: AssumeRole into it is AccessDenied, and calls with
    /// its credentials are AccessDeniedException.
    pub async fn suspend_account(&self, account: &str) -> anyhow::Result<()> {
        self.admin_post("accounts", json!({ "Account": account, "Suspended": true }))
            .await?;
        Ok(())
    }

    /// How many AssumeRole calls `role_arn` got (`GET /_emulator/roles`).
    pub async fn assume_role_calls(&self, role_arn: &str) -> anyhow::Result<AssumeRoleCalls> {
        let roles = self.admin_get("roles").await?;
        let Some(role) = roles["Roles"]
            .as_array()
            .with_context(|| format!("a roles answer without Roles: {roles}"))?
            .iter()
            .find(|role| role["RoleArn"] == role_arn)
        else {
            return Ok(AssumeRoleCalls::default());
        };
        let count = |field: &str| {
            role[field]
                .as_u64()
                .with_context(|| format!("{field} of {role}"))
        };
        Ok(AssumeRoleCalls {
            allowed: count("AssumeRoleAllowed")?,
            denied: count("AssumeRoleDenied")?,
        })
    }

    /// Creates a data store named `name` in `account` and `region` through
    /// `POST /_emulator/datastores`: no credentials, no STS call, no API call
    /// counted. `outcome` is as in [`create_store`](Self::create_store).
    pub async fn create_store_in(
        &self,
        account: &str,
        region: &str,
        name: &str,
        outcome: Option<&str>,
    ) -> anyhow::Result<String> {
        self.create_through_admin(
            json!({ "Account": account, "Region": region }),
            name,
            outcome,
        )
        .await
    }

    /// Creates a data store with the id `id` (any the model allows: `store
    /// one`, `é:ü/2=+%@`), named `name`, in the default account and `region`,
    /// through `POST /_emulator/datastores`; the API gives only hex ids.
    /// `outcome` is as in [`create_store`](Self::create_store).
    pub async fn create_store_with_id(
        &self,
        region: &str,
        id: &str,
        name: &str,
        outcome: Option<&str>,
    ) -> anyhow::Result<String> {
        let created = self
            .create_through_admin(
                json!({ "Region": region, "DatastoreId": id }),
                name,
                outcome,
            )
            .await?;
        ensure!(created == id, "asked for store {id:?}, got {created:?}");
        Ok(created)
    }

    /// `POST /_emulator/datastores` with the members of `at` (`Account`,
    /// `Region`, `DatastoreId`); the id of the store created.
    async fn create_through_admin(
        &self,
        at: Value,
        name: &str,
        outcome: Option<&str>,
    ) -> anyhow::Result<String> {
        let tags: Vec<Value> = outcome
            .map(|value| json!({ "Key": OUTCOME_TAG, "Value": value }))
            .into_iter()
            .collect();
        let mut body = json!({
            "DatastoreName": name,
            "DatastoreTypeVersion": "R4",
            "Tags": tags,
        });
        for (key, value) in at.as_object().into_iter().flatten() {
            body[key] = value.clone();
        }
        let answer = self.admin_post("datastores", body).await?;
        answer["DatastoreProperties"]["DatastoreId"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("a created store without DatastoreId: {answer}"))
    }

    /// An admin request: `/_emulator/{path}`; its status and JSON body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}/_emulator/{path}", self.url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} /_emulator/{path}"))?;
        let status = response.status().as_u16();
        let body = response
            .json()
            .await
            .with_context(|| format!("{method} /_emulator/{path}: the answer is not JSON"))?;
        Ok((status, body))
    }

    /// `POST /_emulator/{path}`, which must succeed; its JSON body.
    pub async fn admin_post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let (status, answer) = self.admin(reqwest::Method::POST, path, Some(body)).await?;
        ensure!(
            status == 200,
            "POST /_emulator/{path}: HTTP {status}: {answer}"
        );
        Ok(answer)
    }

    /// `GET /_emulator/{path}`, which must succeed; its JSON body.
    pub async fn admin_get(&self, path: &str) -> anyhow::Result<Value> {
        let (status, answer) = self.admin(reqwest::Method::GET, path, None).await?;
        ensure!(
            status == 200,
            "GET /_emulator/{path}: HTTP {status}: {answer}"
        );
        Ok(answer)
    }

    /// The emulator's now (`GET /_emulator/clock`).
    pub async fn now(&self) -> anyhow::Result<DateTime<Utc>> {
        clock_now(&self.admin_get("clock").await?)
    }

    /// Moves the emulator's clock forward by `by` (whole seconds, rounded
    /// up); returns its new now.
    pub async fn advance(&self, by: Duration) -> anyhow::Result<DateTime<Utc>> {
        let seconds = by.as_secs() + u64::from(by.subsec_nanos() > 0);
        clock_now(
            &self
                .admin_post("clock", json!({ "AdvanceSeconds": seconds }))
                .await?,
        )
    }

    /// Lets every creation and deletion under way finish, by moving the
    /// clock past [`TRANSITION`], then reads store `id` through `client`,
    /// which must show `status`: how a test gets a store to a status without
    /// waiting for it.
    pub async fn settle(
        &self,
        client: &aws_sdk_healthlake::Client,
        id: &str,
        status: &str,
    ) -> anyhow::Result<DatastoreProperties> {
        self.advance(TRANSITION).await?;
        let properties = client
            .describe_fhir_datastore()
            .datastore_id(id)
            .send()
            .await
            .with_context(|| format!("describing data store {id}"))?
            .datastore_properties
            .context("DatastoreProperties")?;
        let shown = properties.datastore_status().as_str();
        if shown != status {
            bail!("data store {id} is {shown} once its transition has passed, not {status}");
        }
        Ok(properties)
    }

    /// Creates a data store named `name` in `region`; `outcome` is the value of
    /// its [`OUTCOME_TAG`] (`CREATE_FAILED:<ErrorCategory>:<message>`).
    pub async fn create_store(
        &self,
        region: &str,
        name: &str,
        outcome: Option<&str>,
    ) -> anyhow::Result<String> {
        let tags = outcome
            .map(|value| Tag::builder().key(OUTCOME_TAG).value(value).build())
            .transpose()?;
        let output = self
            .client(region)
            .create_fhir_datastore()
            .datastore_name(name)
            .datastore_type_version(FhirVersion::R4)
            .set_tags(tags.map(|tag| vec![tag]))
            .send()
            .await
            .with_context(|| format!("creating data store {name}"))?;
        Ok(output.datastore_id().to_owned())
    }

    /// Forces a status, and `cause` (category, message) as its ErrorCause, on
    /// store `id`, as the service would set it.
    pub async fn force_status(
        &self,
        id: &str,
        status: &str,
        cause: Option<(&str, &str)>,
    ) -> anyhow::Result<Value> {
        let body = json!({
            "DatastoreStatus": status,
            "ErrorCause": cause.map(|(category, message)| json!({
                "ErrorCategory": category,
                "ErrorMessage": message,
            })),
        });
        self.admin_post(&format!("datastores/{}/status", path_segment(id)), body)
            .await
    }
}

/// The `Now` of a clock answer.
fn clock_now(answer: &Value) -> anyhow::Result<DateTime<Utc>> {
    let now = answer["Now"]
        .as_str()
        .with_context(|| format!("a clock answer without Now: {answer}"))?;
    Ok(DateTime::parse_from_rfc3339(now)
        .with_context(|| format!("Now is not RFC 3339: {answer}"))?
        .with_timezone(&Utc))
}

/// `text` as one segment of a URL path: an id may hold `/`, `%` and spaces.
fn path_segment(text: &str) -> String {
    let mut url = url::Url::parse("http://x/").expect("a base URL");
    url.path_segments_mut().expect("a base URL").push(text);
    url.path()[1..].to_owned()
}
