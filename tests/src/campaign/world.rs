//! The HealthLake side of a campaign: data stores created, failed, recovered and
//! deleted on the emulator, and the emulator's own faults (errors and latency).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use aws_sdk_healthlake::types::{FhirVersion, Tag};
use monitor_core::domain::{DatastoreStatus, Observation, Region, Scope};
use monitor_core::ports::DatastoreReader;
use monitor_healthlake::HealthLakeReader;
use serde_json::{Value, json};

use super::rng::Rng;

/// Most stores a region gets (deleted ones stay listed as DELETED).
const MAX_STORES_PER_REGION: usize = 10;
/// The longest ErrorCause message HealthLake gives.
pub(crate) const MAX_CAUSE_CHARS: usize = 4096;
/// Tag values are at most 256 characters, the outcome prefix included.
const MAX_TAG_CAUSE_CHARS: usize = 256 - "CREATE_FAILED:NON_RETRYABLE_ERROR:".len();

/// Characters error causes are made of: plain text, Unicode from several
/// scripts, and what a careless renderer would pass through (line breaks,
/// terminal escapes, bidirectional overrides, Slack mentions, markup).
const CAUSE_PIECES: &[&str] = &[
    "KMS key ",
    "arn:aws:kms:us-east-1:123456789012:key/5c1f8e2a ",
    "is not accessible",
    " denied",
    ": ",
    "é",
    "ü",
    "ß",
    "日本語",
    "données",
    "Ошибка",
    "خطأ",
    "🔥",
    "👩‍⚕️",
    "\u{200b}",
    "\u{202e}",
    "\n",
    "\r\n",
    "\t",
    "\u{1b}[31m",
    "\u{7}",
    "\u{7f}",
    "\u{85}",
    "<!channel>",
    "<https://example.com|click>",
    "*bold*",
    "`code`",
    "&amp;",
    "\"quoted\"",
    "\\",
    " ",
];

/// Letters a data store name may have (`[\p{L}\p{Z}\p{N}_.:/=+\-%@]`).
const NAME_PIECES: &[&str] = &[
    "patients", "claims", "fhir", "prod", "test", "é", "ü", "日本", "données", "-", "_", ".", " ",
    "@", "=", "+", "%", "1", "2",
];

/// The emulator's own faults queued or set in one tick.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HealthLakeFaults {
    /// Failed `ListFHIRDatastores` calls, by how they failed: an error code,
    /// `HTTP 503 html` or `connection reset`.
    pub errors: BTreeMap<String, u64>,
    /// Ticks during which every call was slower than the SDK's attempt timeout.
    pub slow_ticks: u64,
}

/// A change made to the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Created,
    CreatedFailing,
    Failed,
    CauseChanged,
    Recovered,
    Updating,
    DeletionInTrouble,
    UnknownStatus,
    Deleted,
}

pub struct World {
    emulator: String,
    admin: reqwest::Client,
    /// Direct clients: creation, deletion and draining leftover faults.
    clients: BTreeMap<Region, aws_sdk_healthlake::Client>,
    reader: HealthLakeReader,
    pub scopes: Vec<Scope>,
    listings: BTreeMap<Scope, Vec<Observation>>,
    created: u64,
    pub changes: BTreeMap<ChangeKind, u64>,
    pub faults: HealthLakeFaults,
    /// Faults queued minus those found unused when faults stopped.
    queued: BTreeMap<String, u64>,
}

impl World {
    pub(crate) fn new(
        emulator: &str,
        clients: BTreeMap<Region, aws_sdk_healthlake::Client>,
        scopes: Vec<Scope>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            emulator: emulator.trim_end_matches('/').to_owned(),
            admin: reqwest::Client::builder().no_proxy().build()?,
            reader: HealthLakeReader::new(clients.clone()),
            clients,
            scopes,
            listings: BTreeMap::new(),
            created: 0,
            changes: BTreeMap::new(),
            faults: HealthLakeFaults::default(),
            queued: BTreeMap::new(),
        })
    }

    /// The listing of every scope, as of the last [`World::list`].
    pub(crate) fn listings(&self) -> &BTreeMap<Scope, Vec<Observation>> {
        &self.listings
    }

    /// Lists every scope (with no fault queued) and keeps the result.
    pub(crate) async fn list(&mut self) -> anyhow::Result<&BTreeMap<Scope, Vec<Observation>>> {
        let mut listings = BTreeMap::new();
        for scope in &self.scopes {
            let observations = self
                .reader
                .list(scope)
                .await
                .with_context(|| format!("listing {scope} for the model"))?;
            anyhow::ensure!(
                observations.unreadable.is_empty(),
                "the listing of {scope} has unreadable entries: {:?}",
                observations.unreadable
            );
            listings.insert(scope.clone(), observations.observations);
        }
        self.listings = listings;
        Ok(&self.listings)
    }

    /// Makes `count` random changes to the data stores.
    pub(crate) async fn change(&mut self, rng: &mut Rng, count: u64) -> anyhow::Result<()> {
        for _ in 0..count {
            let scope = rng.pick(&self.scopes).clone();
            let stores: Vec<Observation> = self.listings.get(&scope).cloned().unwrap_or_default();
            let live: Vec<&Observation> = stores
                .iter()
                .filter(|o| o.status != DatastoreStatus::Deleted)
                .collect();
            let can_create = stores.len() < MAX_STORES_PER_REGION;
            let draw = rng.range(0, 99);
            if live.is_empty() || (can_create && draw < 25) {
                if !can_create {
                    continue;
                }
                let failing = rng.chance(0.4);
                self.create(rng, &scope.region, failing).await?;
                self.note(if failing {
                    ChangeKind::CreatedFailing
                } else {
                    ChangeKind::Created
                });
                continue;
            }
            let store = *rng.pick(&live);
            let id = store.id.as_str().to_owned();
            let failed = store.status.is_failed();
            let kind = match draw {
                25..=39 => ChangeKind::Failed,
                40..=49 if failed => ChangeKind::CauseChanged,
                40..=59 => ChangeKind::Recovered,
                60..=67 => ChangeKind::Updating,
                68..=75 => ChangeKind::DeletionInTrouble,
                76..=81 => ChangeKind::UnknownStatus,
                _ => ChangeKind::Deleted,
            };
            let done = match kind {
                ChangeKind::Failed | ChangeKind::CauseChanged => {
                    let status = if rng.chance(0.5) {
                        "CREATE_FAILED"
                    } else {
                        "UPDATE_FAILED"
                    };
                    let cause = cause(rng, MAX_CAUSE_CHARS);
                    self.force(&id, status, Some(cause)).await?
                }
                ChangeKind::Recovered => self.force(&id, "ACTIVE", None).await?,
                ChangeKind::Updating => self.force(&id, "UPDATING", None).await?,
                ChangeKind::DeletionInTrouble => {
                    let cause = cause(rng, 300);
                    self.force(&id, "DELETING", Some(cause)).await?
                }
                ChangeKind::UnknownStatus => {
                    let status = *rng.pick(&["ARCHIVED", "SUSPENDED", "RESTORING"]);
                    self.force(&id, status, None).await?
                }
                _ => self.delete(&scope.region, &id).await?,
            };
            if done {
                self.note(kind);
            }
        }
        Ok(())
    }

    fn note(&mut self, kind: ChangeKind) {
        *self.changes.entry(kind).or_default() += 1;
    }

    fn client(&self, region: &Region) -> anyhow::Result<&aws_sdk_healthlake::Client> {
        self.clients
            .get(region)
            .with_context(|| format!("no HealthLake client for {region}"))
    }

    async fn create(
        &mut self,
        rng: &mut Rng,
        region: &Region,
        failing: bool,
    ) -> anyhow::Result<()> {
        self.created += 1;
        let mut name = String::new();
        for _ in 0..rng.range(1, 6) {
            let piece = *rng.pick(NAME_PIECES);
            name.push_str(piece);
        }
        name.push_str(&format!("-{}", self.created));
        let mut request = self
            .client(region)?
            .create_fhir_datastore()
            .datastore_name(name)
            .datastore_type_version(FhirVersion::R4);
        if failing {
            let (category, message) = cause(rng, MAX_TAG_CAUSE_CHARS);
            let tag = Tag::builder()
                .key("emulator:outcome")
                .value(format!("CREATE_FAILED:{category}:{message}"))
                .build()?;
            request = request.tags(tag);
        }
        request
            .send()
            .await
            .with_context(|| format!("creating a data store in {region}"))?;
        Ok(())
    }

    /// Forces a status; `false` when the store is gone.
    async fn force(
        &self,
        id: &str,
        status: &str,
        cause: Option<(&str, String)>,
    ) -> anyhow::Result<bool> {
        let body = json!({
            "DatastoreStatus": status,
            "ErrorCause": cause.map(|(category, message)| json!({
                "ErrorCategory": category,
                "ErrorMessage": message,
            })),
        });
        let response = self
            .admin
            .post(format!(
                "{}/_emulator/datastores/{id}/status",
                self.emulator
            ))
            .json(&body)
            .send()
            .await
            .context("forcing a status on the emulator")?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            code => bail!(
                "forcing {status} on {id}: HTTP {code}: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }

    /// Starts a deletion; `false` when the store's status does not allow one.
    async fn delete(&self, region: &Region, id: &str) -> anyhow::Result<bool> {
        match self
            .client(region)?
            .delete_fhir_datastore()
            .datastore_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conflict_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(err).with_context(|| format!("deleting {id} in {region}")),
        }
    }

    /// Queues `ListFHIRDatastores` failures for some regions (errors the
    /// operation can answer, a load balancer's HTML 503, a connection reset),
    /// and sometimes slows every call past the SDK's attempt timeout, for one
    /// tick.
    pub(crate) async fn inject(&mut self, rng: &mut Rng, slow: Duration) -> anyhow::Result<()> {
        for scope in self.scopes.clone() {
            if !rng.chance(0.3) {
                continue;
            }
            let how = rng
                .pick(&[
                    json!({"Error": "ThrottlingException"}),
                    json!({"Error": "ThrottlingException"}),
                    json!({"Error": "InternalServerException"}),
                    json!({"Error": "AccessDeniedException"}),
                    json!({"Http": {"Status": 503, "Body": "html"}}),
                    json!({"Connection": "reset"}),
                ])
                .clone();
            let count = rng.range(1, 4);
            let mut fault = json!({
                "Operation": "ListFHIRDatastores",
                "Count": count,
                "Region": scope.region.as_str(),
            });
            for (key, value) in how.as_object().into_iter().flatten() {
                fault[key] = value.clone();
            }
            self.admin_post("faults", fault).await?;
            *self.queued.entry(fault_name(&how)?).or_default() += count;
        }
        if rng.chance(0.1) {
            self.admin_post("faults", json!({ "LatencyMs": slow.as_millis() as u64 }))
                .await?;
            self.faults.slow_ticks += 1;
        }
        Ok(())
    }

    /// Ends the slowness of [`World::inject`].
    pub(crate) async fn end_slowness(&self) -> anyhow::Result<()> {
        self.admin_post("faults", json!({ "LatencyMs": 0 })).await?;
        Ok(())
    }

    /// Stops the emulator's faults: uses up the errors still queued with calls
    /// of its own, so that the monitor's calls succeed from now on, and counts
    /// the ones the monitor met.
    pub(crate) async fn stop_faults(&mut self) -> anyhow::Result<()> {
        self.end_slowness().await?;
        for _ in 0..20 {
            let pending = self.pending_faults().await?;
            if pending.is_empty() {
                for (error, count) in std::mem::take(&mut self.queued) {
                    *self.faults.errors.entry(error).or_default() += count;
                }
                return Ok(());
            }
            for (region, error, remaining) in pending {
                let queued = self.queued.entry(error).or_default();
                *queued = queued.saturating_sub(remaining);
                let region = Region::parse(&region)?;
                for _ in 0..remaining {
                    // Each call takes one queued error; the answer is the fault.
                    let _fault = self.client(&region)?.list_fhir_datastores().send().await;
                }
            }
        }
        bail!("the emulator's faults did not drain")
    }

    /// `(region, fault name, remaining)` of each queued fault.
    async fn pending_faults(&self) -> anyhow::Result<Vec<(String, String, u64)>> {
        let shown: Value = self
            .admin
            .get(format!("{}/_emulator/faults", self.emulator))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let faults = shown["Faults"].as_array().cloned().unwrap_or_default();
        faults
            .iter()
            .map(|f| {
                Ok((
                    f["Region"]
                        .as_str()
                        .context("a fault the campaign queued has a region")?
                        .to_owned(),
                    fault_name(f)?,
                    f["Remaining"].as_u64().context("fault remaining")?,
                ))
            })
            .collect()
    }

    async fn admin_post(&self, route: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .admin
            .post(format!("{}/_emulator/{route}", self.emulator))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST /_emulator/{route}"))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("POST /_emulator/{route} {body}: HTTP {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }
}

/// How a queued fault fails, as the summary counts it: its error code,
/// `HTTP 503 html`, or `connection reset`.
fn fault_name(fault: &Value) -> anyhow::Result<String> {
    if let Some(error) = fault["Error"].as_str() {
        return Ok(error.to_owned());
    }
    if let Some(cut) = fault["Connection"].as_str() {
        return Ok(format!("connection {cut}"));
    }
    let http = &fault["Http"];
    let status = http["Status"]
        .as_u64()
        .context("a fault without Error, Connection or Http")?;
    let body = http["Body"].as_str().unwrap_or("aws");
    Ok(format!("HTTP {status} {body}"))
}

/// A random ErrorCause of at most `max_chars` characters: its category and its
/// message.
fn cause(rng: &mut Rng, max_chars: usize) -> (&'static str, String) {
    let category = *rng.pick(&[
        "NON_RETRYABLE_ERROR",
        "NON_RETRYABLE_ERROR",
        "RETRYABLE_ERROR",
        "RETRYABLE_ERROR",
    ]);
    let max = max_chars as u64;
    let target = match rng.range(0, 9) {
        0..=4 => rng.range(1, max.min(80)),
        5..=7 => rng.range(max.min(80), max.min(1000)),
        8 => rng.range(max.min(1000), max),
        _ => max,
    } as usize;
    let mut message = String::new();
    let mut chars = 0;
    while chars < target {
        let piece = *rng.pick(CAUSE_PIECES);
        for c in piece.chars() {
            if chars == target {
                break;
            }
            message.push(c);
            chars += 1;
        }
    }
    (category, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_stay_within_their_limit_and_reach_it() {
        let mut rng = Rng::new(3);
        let mut longest = 0;
        for _ in 0..300 {
            let (_, message) = cause(&mut rng, MAX_CAUSE_CHARS);
            let chars = message.chars().count();
            assert!((1..=MAX_CAUSE_CHARS).contains(&chars));
            longest = longest.max(chars);
        }
        assert_eq!(longest, MAX_CAUSE_CHARS);
        for _ in 0..300 {
            let (_, short) = cause(&mut rng, MAX_TAG_CAUSE_CHARS);
            assert!((1..=MAX_TAG_CAUSE_CHARS).contains(&short.chars().count()));
        }
    }
}
