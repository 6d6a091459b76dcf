//! Real local stand-ins for AWS services.
//!
//! DynamoDB Local, moto and the Lambda Runtime API of cargo-lambda each run
//! once per test binary: [`DynamoDbLocal::shared`], [`Moto::shared`] and
//! [`LambdaRuntimeApi::shared`] start the service on first use and hand every
//! later caller the same one. Tests keep apart by their own table, topic,
//! queue and secret names, and reserve a Lambda function name for as long as
//! their function processes run (see [`LambdaRuntimeApi`]).
//!
//! Each program runs as a child process on a free loopback port under a small
//! `sh` watchdog (`WATCHDOG`) that stops it when the test process lets go of
//! its standard input: when a handle is dropped, and for the shared services,
//! which live in statics that are never dropped, when the test binary exits
//! however it exits (a panic, a failed test, a signal). A service that exits
//! or is not ready within [`READY_TIMEOUT`] fails to start with the tail of
//! its log; a test that panics while holding a function process prints that
//! process's log tail.
//!
//! The programs come from `infra/scripts/setup-tools.sh`, which writes their
//! paths to `.tools/env.sh`:
//!
//! | variable                 | used by            |
//! |--------------------------|--------------------|
//! | `HLM_DYNAMODB_LOCAL_DIR` | [`DynamoDbLocal`] (folder of `DynamoDBLocal.jar`) |
//! | `HLM_JAVA`               | [`DynamoDbLocal`]  |
//! | `HLM_MOTO_SERVER`        | [`Moto`]           |
//! | `HLM_CARGO_LAMBDA`       | [`LambdaRuntimeApi`] |

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OnceCell, OwnedMutexGuard};
use tokio::time::{Instant, sleep, timeout};

/// How long a service may take to answer its readiness probe.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an invocation waits for a function's answer. An invocation of a
/// name that no function process serves waits this long.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a dropped handle waits for its program to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

const SETUP_HINT: &str =
    "run infra/scripts/setup-tools.sh and source .tools/env.sh (infra/scripts/test.sh does both)";

/// Lines of a log shown in errors and on panics.
const LOG_TAIL_LINES: usize = 40;

/// Attempts to start a service whose process exits before it is ready, which is
/// how a lost race for the chosen port shows.
const START_ATTEMPTS: usize = 3;

/// An `SdkConfig` for a local service: static test credentials, the given
/// endpoint and region, and operation timeouts so that a hung service fails the
/// test instead of hanging it.
pub fn sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    let credentials = Credentials::new("testing", "testing", None, None, "integration-tests");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .build()
}

/// DynamoDB Local (the official jar) in memory.
///
/// Tables are kept per access key and region, as DynamoDB Local does without
/// `-sharedDb`: clients from [`sdk_config`] with different regions see
/// different tables, like in AWS.
pub struct DynamoDbLocal {
    service: Service,
}

impl DynamoDbLocal {
    /// The instance of this test binary, started on first use.
    pub async fn shared() -> anyhow::Result<&'static Self> {
        static SHARED: OnceCell<DynamoDbLocal> = OnceCell::const_new();
        SHARED.get_or_try_init(Self::start).await
    }

    async fn start() -> anyhow::Result<Self> {
        let dir = tool_path("HLM_DYNAMODB_LOCAL_DIR")?;
        let java = tool_path("HLM_JAVA")?;
        let jar = dir.join("DynamoDBLocal.jar");
        if !jar.is_file() {
            bail!("{} not found: {SETUP_HINT}", jar.display());
        }
        let service = Service::start(
            "dynamodb-local",
            |port| {
                Program::new(&java)
                    .current_dir(&dir)
                    .args(["-Djava.library.path=DynamoDBLocal_lib", "-Xmx512m"])
                    .args([
                        "-jar",
                        "DynamoDBLocal.jar",
                        "-inMemory",
                        "-disableTelemetry",
                    ])
                    .args(["-port".to_owned(), port.to_string()])
            },
            // Any HTTP answer means it serves; `GET /` gets 400 MissingAuthenticationToken.
            Probe::HttpAnyStatus("/"),
        )
        .await?;
        Ok(Self { service })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        self.service.endpoint()
    }

    pub fn log_tail(&self) -> String {
        self.service.process.log_tail()
    }
}

/// The moto server (SNS, SQS, Secrets Manager and the other services moto
/// emulates) for account 123456789012, any credentials.
pub struct Moto {
    service: Service,
}

impl Moto {
    /// The instance of this test binary, started on first use. Nothing may
    /// reset it (`/moto-api/reset`): other tests' resources live there too.
    pub async fn shared() -> anyhow::Result<&'static Self> {
        static SHARED: OnceCell<Moto> = OnceCell::const_new();
        SHARED.get_or_try_init(Self::start).await
    }

    async fn start() -> anyhow::Result<Self> {
        let moto_server = tool_path("HLM_MOTO_SERVER")?;
        let service = Service::start(
            "moto",
            |port| {
                Program::new(&moto_server).args([
                    "-H".to_owned(),
                    "127.0.0.1".to_owned(),
                    "-p".to_owned(),
                    port.to_string(),
                ])
            },
            Probe::HttpOk("/moto-api/"),
        )
        .await?;
        Ok(Self { service })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        self.service.endpoint()
    }

    pub fn log_tail(&self) -> String {
        self.service.process.log_tail()
    }
}

/// The Lambda Runtime API of `cargo lambda watch --only-lambda-apis`: function
/// processes started with [`Function::spawn`] poll it, and
/// [`invoke`](Self::invoke) sends events to its invoke endpoint, which is
/// Lambda's Invoke API: `POST /2015-03-31/functions/NAME/invocations`.
///
/// Behaviour of cargo-lambda 1.9.2, found by experiment:
/// - A function name must be a binary target of this Cargo workspace (the API
///   reads `cargo metadata`); any other name is answered 404 with
///   `{"title": "Missing function", "detail": "that function doesn't exist as
///   a binary in your project. Available functions: {...}"}`. The binary that
///   serves a name can be any Lambda: the name only routes events.
/// - Invocations queue per function name; each waiting function process takes
///   the next one, whichever test spawned it. So a test reserves the name
///   ([`reserve`](Self::reserve)) for as long as its processes run, and tests
///   of one name run one after the other; tests of different names run at
///   once. One process handles one invocation at a time, as in a Lambda
///   execution environment, so two overlapping invokes of one name run one
///   after the other; two processes spawned under the same name serve two
///   invokes concurrently (a third waits for whichever finishes first).
/// - A process stopped while it waits for an invocation loses none: the next
///   invocation goes to the next process that asks. An invocation whose process
///   is stopped while handling it is never answered.
/// - An invocation of a name that no process serves waits: [`invoke`](Self::invoke)
///   gives up after [`INVOKE_TIMEOUT`]. The invocation stays queued after its
///   caller has gone, and the next process serving the name receives it first
///   (its answer goes nowhere); so after such a timeout the name is refused to
///   later reservations, which would otherwise get that stray event.
/// - The function's response is answered 200 with the payload as the body. A
///   function error is answered `500 Internal Server Error` with the error
///   document the function posted to the Runtime API as the body,
///   `{"errorType": "...", "errorMessage": "..."}`, and no
///   `X-Amz-Function-Error` header (Lambda's Invoke API answers 200 with
///   `X-Amz-Function-Error: Unhandled` and the same body; both are read as a
///   function error here).
/// - The deadline it hands a function (`Lambda-Runtime-Deadline-Ms`) is
///   always 600000, a time in 1970.
/// - Do not probe `/` on this port: that is an invocation.
pub struct LambdaRuntimeApi {
    service: Service,
    http: reqwest::Client,
    names: Reservations,
}

/// Which test holds each function name, and which names may have a stray
/// invocation queued.
#[derive(Default)]
struct Reservations(Mutex<HashMap<String, Arc<FunctionName>>>);

#[derive(Default)]
struct FunctionName {
    /// Held by the test that reserved the name.
    lock: Arc<tokio::sync::Mutex<()>>,
    /// An invocation of the name timed out and may still be queued.
    stray: AtomicBool,
}

impl Reservations {
    fn get(&self, name: &str) -> Arc<FunctionName> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// Waits until no one holds `name`, then holds it until the guard drops.
    async fn reserve(&self, name: &str) -> anyhow::Result<OwnedMutexGuard<()>> {
        let state = self.get(name);
        let reservation = state.lock.clone().lock_owned().await;
        if state.stray.load(Ordering::SeqCst) {
            bail!(
                "an earlier invocation of {name} got no answer within {INVOKE_TIMEOUT:?} and is \
                 still queued in cargo-lambda: a process of this test would receive it"
            );
        }
        Ok(reservation)
    }

    fn mark_stray(&self, name: &str) {
        self.get(name).stray.store(true, Ordering::SeqCst);
    }
}

impl LambdaRuntimeApi {
    /// The instance of this test binary, started on first use.
    pub async fn shared() -> anyhow::Result<&'static Self> {
        static SHARED: OnceCell<LambdaRuntimeApi> = OnceCell::const_new();
        SHARED.get_or_try_init(Self::start).await
    }

    async fn start() -> anyhow::Result<Self> {
        let cargo_lambda = tool_path("HLM_CARGO_LAMBDA")?;
        let workspace = workspace_root();
        let service = Service::start(
            "cargo-lambda-watch",
            |port| {
                // It runs `cargo metadata` to learn the function names.
                Program::new(&cargo_lambda)
                    .current_dir(&workspace)
                    .args(["lambda", "watch", "--only-lambda-apis"])
                    .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
                    .args([port.to_string()])
                    .env("NO_COLOR", "1")
            },
            Probe::Tcp,
        )
        .await?;
        // Each test has a runtime of its own, and a pooled connection dies
        // with the runtime that opened it ("dispatch task is gone"): keep none.
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(INVOKE_TIMEOUT)
            .build()
            .context("building the invoke client")?;
        Ok(Self {
            service,
            http,
            names: Reservations::default(),
        })
    }

    /// The invoke endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.service.endpoint()
    }

    pub fn log_tail(&self) -> String {
        self.service.process.log_tail()
    }

    /// Reserves function `name` (a binary target of the workspace, see the
    /// type's documentation) until the returned [`Function`] and every process
    /// spawned through it are dropped; waits while another test holds it.
    pub async fn reserve(&'static self, name: &str) -> anyhow::Result<Function> {
        let reservation = self.names.reserve(name).await?;
        Ok(Function {
            api: self,
            name: name.to_owned(),
            reservation: Arc::new(reservation),
        })
    }

    /// Sends `payload` to function `name` and waits for the answer, at most
    /// [`INVOKE_TIMEOUT`].
    ///
    /// A function's answer, success or error, is `Ok`; `Err` means the
    /// invocation itself failed (unknown name, no answer, emulator down).
    pub async fn invoke(&self, name: &str, payload: &Value) -> anyhow::Result<InvokeOutcome> {
        let url = format!(
            "{}/2015-03-31/functions/{name}/invocations",
            self.endpoint()
        );
        let context = || {
            format!(
                "invoking {name}\n--- cargo lambda watch log ---\n{}",
                self.log_tail()
            )
        };
        let response = self
            .http
            .post(&url)
            .json(payload)
            .send()
            .await
            .map_err(|err| {
                if err.is_timeout() {
                    self.names.mark_stray(name);
                    anyhow!(
                        "no answer within {INVOKE_TIMEOUT:?} (is a function process serving it?)"
                    )
                } else {
                    anyhow::Error::new(err)
                }
            })
            .with_context(context)?;
        let status = response.status().as_u16();
        let function_error = response.headers().contains_key("x-amz-function-error");
        let body = response.bytes().await.with_context(context)?;
        parse_invoke_response(status, function_error, &body).with_context(context)
    }
}

/// A function name reserved by one test: processes spawned through it are the
/// only ones serving the name until it and they are dropped.
pub struct Function {
    api: &'static LambdaRuntimeApi,
    name: String,
    reservation: Arc<OwnedMutexGuard<()>>,
}

impl Function {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn api(&self) -> &'static LambdaRuntimeApi {
        self.api
    }

    /// The `AWS_LAMBDA_RUNTIME_API` value for a process serving this function:
    /// `http://127.0.0.1:PORT/.rt/NAME`.
    pub fn runtime_api(&self) -> String {
        format!("{}/.rt/{}", self.api.endpoint(), self.name)
    }

    /// Starts the Lambda binary `bootstrap` serving this function.
    ///
    /// The process gets a Lambda-like environment and nothing else from the
    /// test's environment except `PATH`, `RUST_LOG` and `RUST_BACKTRACE`:
    /// `AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`,
    /// `AWS_LAMBDA_FUNCTION_VERSION` (1), `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (128),
    /// `AWS_LAMBDA_LOG_GROUP_NAME`, `AWS_LAMBDA_LOG_STREAM_NAME`,
    /// `AWS_LAMBDA_INITIALIZATION_TYPE` (on-demand), `AWS_REGION` and
    /// `AWS_DEFAULT_REGION` (us-east-1), then `env`, which overrides any of them.
    pub fn spawn(
        &self,
        bootstrap: &Path,
        env: &[(String, String)],
    ) -> anyhow::Result<FunctionProcess> {
        let name = &self.name;
        let mut program = Program::new(bootstrap).env_clear();
        for inherited in ["PATH", "RUST_LOG", "RUST_BACKTRACE"] {
            if let Some(value) = std::env::var_os(inherited) {
                program = program.env(inherited, value);
            }
        }
        let program = program
            .env("AWS_LAMBDA_RUNTIME_API", self.runtime_api())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .envs(env.iter().map(|(key, value)| (key, value)));
        let process = Process::spawn(&format!("function {name}"), program)?;
        Ok(FunctionProcess {
            process,
            _reservation: self.reservation.clone(),
        })
    }

    /// Sends `payload` to this function: see [`LambdaRuntimeApi::invoke`].
    pub async fn invoke(&self, payload: &Value) -> anyhow::Result<InvokeOutcome> {
        self.api.invoke(&self.name, payload).await
    }

    /// Lambda's Invoke URL of this function, for a caller outside the test
    /// (the emulator's events, standing in for an EventBridge rule's target).
    pub fn invoke_url(&self) -> String {
        format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.api.endpoint(),
            self.name
        )
    }
}

/// What a function answered to an invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum InvokeOutcome {
    /// The function's response payload.
    Success(Value),
    /// The function returned an error (`errorType`, `errorMessage` of the Runtime API).
    FunctionError {
        error_type: String,
        error_message: String,
    },
}

impl InvokeOutcome {
    /// The response payload, or an error naming the function error.
    pub fn into_success(self) -> anyhow::Result<Value> {
        match self {
            Self::Success(payload) => Ok(payload),
            Self::FunctionError {
                error_type,
                error_message,
            } => bail!("function error {error_type}: {error_message}"),
        }
    }
}

/// A Lambda binary serving the Runtime API; stopped on drop, and then its
/// function name's reservation is released (once no other holder is left).
pub struct FunctionProcess {
    // Dropped first: the process stops before the name is free for others.
    process: Process,
    _reservation: Arc<OwnedMutexGuard<()>>,
}

impl FunctionProcess {
    /// `None` while it runs.
    pub fn exit_status(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.process.child.try_wait()?)
    }

    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// Reads an answer of the invoke endpoint (see [`LambdaRuntimeApi`]).
fn parse_invoke_response(
    status: u16,
    function_error: bool,
    body: &[u8],
) -> anyhow::Result<InvokeOutcome> {
    let text = String::from_utf8_lossy(body);
    let json = || -> anyhow::Result<Value> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(body)
            .with_context(|| format!("HTTP {status}: the body is not JSON: {text}"))
    };
    if status == 200 && !function_error {
        return Ok(InvokeOutcome::Success(json()?));
    }
    let body = json()?;
    let field = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    match (field("errorType"), field("errorMessage")) {
        (Some(error_type), Some(error_message)) if function_error || status == 500 => {
            Ok(InvokeOutcome::FunctionError {
                error_type,
                error_message,
            })
        }
        _ => bail!(
            "the Runtime API emulator refused the invocation (HTTP {status}): {}: {}",
            field("title").unwrap_or_default(),
            field("detail").unwrap_or_else(|| text.into_owned())
        ),
    }
}

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
}

/// The Python of the tools' virtual environment (`HLM_PYTHON`), which has
/// boto3: the second client of the emulator's contract.
pub fn python() -> anyhow::Result<PathBuf> {
    tool_path("HLM_PYTHON")
}

fn tool_path(variable: &str) -> anyhow::Result<PathBuf> {
    let value =
        std::env::var_os(variable).ok_or_else(|| anyhow!("{variable} is not set: {SETUP_HINT}"))?;
    let path = PathBuf::from(value);
    if !path.exists() {
        bail!("{variable}={} does not exist: {SETUP_HINT}", path.display());
    }
    Ok(path)
}

/// The `sh` script each child process runs under: `sh -c WATCHDOG watchdog
/// CLEANUP PROGRAM ARGS...`. It starts the program with standard input from
/// `/dev/null`, waits for its own standard input to reach end of file and
/// then stops the program with SIGTERM, and exits with the program's status
/// when the program exits, stopped or by itself. Its standard input is a pipe
/// whose writing end only the test process holds: it reaches end of file when
/// the handle closes it, or when the test process ends in any way, since the
/// kernel closes the files of a process that ended, even one killed by a
/// signal. (Statics are never dropped, and `prctl(PR_SET_PDEATHSIG)` would
/// need `unsafe`, which this workspace forbids.) CLEANUP is the log folder,
/// which it removes once it has stopped the program; a program that exited by
/// itself keeps its log for the error that reports it, and the handle removes
/// it on drop.
///
/// A background list gets `/dev/null` as standard input unless it redirects
/// it, so the watcher reads a copy of the pipe on descriptor 3.
const WATCHDOG: &str = r#"cleanup=$1
shift
exec 3<&0 </dev/null
"$@" 3<&- &
program=$!
(
    while read -r _; do :; done <&3
    : >"$cleanup/stopped"
    kill -TERM "$program" 2>/dev/null
) &
watcher=$!
exec 3<&-
wait "$program"
status=$?
kill "$watcher" 2>/dev/null
if [ -e "$cleanup/stopped" ]; then
    rm -f "$cleanup/output.log" "$cleanup/stopped"
    rmdir "$cleanup"
fi
exit "$status"
"#;

/// A program to run under the [`WATCHDOG`], with its arguments, folder and
/// environment.
struct Program {
    path: PathBuf,
    args: Vec<OsString>,
    current_dir: Option<PathBuf>,
    /// Whether it starts from the test's environment or from an empty one.
    inherit_env: bool,
    env: Vec<(OsString, OsString)>,
}

impl Program {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            args: Vec::new(),
            current_dir: None,
            inherit_env: true,
            env: Vec::new(),
        }
    }

    fn args<S: Into<OsString>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    fn current_dir(mut self, dir: &Path) -> Self {
        self.current_dir = Some(dir.to_owned());
        self
    }

    fn env_clear(mut self) -> Self {
        self.inherit_env = false;
        self.env.clear();
        self
    }

    fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    fn envs<K: Into<OsString>, V: Into<OsString>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// `sh -c WATCHDOG watchdog CLEANUP PATH ARGS...`, in its folder, with its
    /// environment.
    fn command(&self, cleanup: &Path) -> Command {
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(cleanup)
            .arg(&self.path)
            .args(&self.args);
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        if !self.inherit_env {
            command.env_clear();
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }
}

/// A child process under the [`WATCHDOG`], whose output goes to
/// `<temp dir>/output.log`.
struct Process {
    label: String,
    child: Child,
    log: PathBuf,
    /// The log's folder: removed by the watchdog once it has stopped the
    /// program, or on drop.
    dir: PathBuf,
}

impl Process {
    fn spawn(label: &str, program: Program) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("hlm-{}-", label.replace(' ', "-")))
            .tempdir()?;
        let log = dir.path().join("output.log");
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = program
            .command(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("starting {label} ({})", program.path.display()))?;
        Ok(Self {
            label: label.to_owned(),
            child,
            log,
            // From here on the watchdog or the drop removes it.
            dir: dir.keep(),
        })
    }

    fn log_tail(&self) -> String {
        match std::fs::read(&self.log) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
            }
            Err(err) => format!("(cannot read {}: {err})", self.log.display()),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- last lines of {} output ---\n{}\n---",
                self.label,
                self.log_tail()
            );
        }
        // End of file on the watchdog's standard input stops the program.
        drop(self.child.stdin.take());
        // Reap it, so that no process outlives the handle that started it.
        let deadline = std::time::Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    eprintln!("{} did not stop within {STOP_TIMEOUT:?}", self.label);
                    return;
                }
                Ok(Some(_)) => break,
                Err(err) => {
                    eprintln!("stopping {}: {err}", self.label);
                    return;
                }
            }
        }
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => eprintln!("removing {}: {err}", self.dir.display()),
        }
    }
}

/// How a service shows it is ready.
#[derive(Clone, Copy)]
enum Probe {
    /// Accepts a TCP connection.
    Tcp,
    /// Answers `GET path` with any HTTP status.
    HttpAnyStatus(&'static str),
    /// Answers `GET path` with 200.
    HttpOk(&'static str),
}

struct Service {
    process: Process,
    port: u16,
}

impl Service {
    async fn start(
        label: &str,
        program: impl Fn(u16) -> Program,
        probe: Probe,
    ) -> anyhow::Result<Self> {
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            let process = Process::spawn(label, program(port))?;
            match wait_ready(process, port, probe).await {
                Ok(service) => return Ok(service),
                Err(StartError::Exited(message)) if attempt < START_ATTEMPTS => {
                    eprintln!(
                        "{label} exited before it was ready, retrying on another port: {message}"
                    );
                    attempt += 1;
                }
                Err(StartError::Exited(message) | StartError::NotReady(message)) => bail!(message),
            }
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

enum StartError {
    Exited(String),
    NotReady(String),
}

async fn wait_ready(mut process: Process, port: u16, probe: Probe) -> Result<Service, StartError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let failure = |process: &Process, what: String| {
        format!(
            "{} {what}; {SETUP_HINT} if a tool is missing\n--- last lines of {} ---\n{}",
            process.label,
            process.log.display(),
            process.log_tail()
        )
    };
    loop {
        match process.child.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => {
                return Err(StartError::Exited(failure(
                    &process,
                    format!("exited ({status}) before it was ready"),
                )));
            }
            Err(err) => {
                return Err(StartError::NotReady(failure(
                    &process,
                    format!("cannot be watched: {err}"),
                )));
            }
        }
        if probe_once(port, probe).await {
            return Ok(Service { process, port });
        }
        if Instant::now() >= deadline {
            return Err(StartError::NotReady(failure(
                &process,
                format!("was not ready on 127.0.0.1:{port} within {READY_TIMEOUT:?}"),
            )));
        }
        sleep(Duration::from_millis(100)).await;
    }
}
async fn probe_once(port: u16, probe: Probe) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let path = match probe {
        Probe::Tcp => {
            return matches!(
                timeout(Duration::from_secs(1), TcpStream::connect(addr)).await,
                Ok(Ok(_))
            );
        }
        Probe::HttpAnyStatus(path) | Probe::HttpOk(path) => path,
    };
    match timeout(Duration::from_secs(2), http_get_status(addr, path)).await {
        Ok(Ok(status)) => !matches!(probe, Probe::HttpOk(_)) || status == 200,
        _ => false,
    }
}

/// The status code of `GET path`, over a bare HTTP/1.1 connection.
async fn http_get_status(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .ok_or_else(|| anyhow!("not an HTTP answer: {line}"))?;
    Ok(status.parse()?)
}

/// A loopback port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A binary of this workspace in the debug profile, as `cargo build
/// --workspace` builds it. It is refused when missing or older than a source
/// file it was built from, as listed by Cargo's dep-info next to it, so that a
/// test never runs yesterday's code.
pub fn workspace_binary(name: &str) -> anyhow::Result<PathBuf> {
    let hint = format!("run `cargo build -p {name}` (`cargo build --workspace` builds it)");
    let root = workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
    let binary = target.join("debug").join(name);
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified());
    let built =
        modified(&binary).map_err(|e| anyhow!("{} is missing ({e}): {hint}", binary.display()))?;
    let dep_info = target.join("debug").join(format!("{name}.d"));
    let listed = std::fs::read_to_string(&dep_info).map_err(|e| {
        anyhow!(
            "{} cannot be read ({e}), so the age of {} is unknown: {hint}",
            dep_info.display(),
            binary.display()
        )
    })?;
    let sources: Vec<PathBuf> = dep_info_paths(&listed)
        .into_iter()
        .filter(|path| path.starts_with(&root) && !path.starts_with(&target))
        .collect();
    anyhow::ensure!(
        !sources.is_empty(),
        "{} lists no source of the workspace: {hint}",
        dep_info.display()
    );
    for source in sources {
        // A source that is gone was removed or renamed: the build is stale too.
        let changed = modified(&source).unwrap_or(std::time::SystemTime::now());
        anyhow::ensure!(
            changed <= built,
            "{} is older than {}: {hint}",
            binary.display(),
            source.display()
        );
    }
    Ok(binary)
}
/// The prerequisites of a Makefile-style dep-info line (`target: a.rs b\ c.rs`).
fn dep_info_paths(dep_info: &str) -> Vec<PathBuf> {
    let Some((_, prerequisites)) = dep_info.lines().next().and_then(|l| l.split_once(": ")) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = prerequisites.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ' ' => {
                if !current.is_empty() {
                    paths.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        paths.push(PathBuf::from(current));
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_success_payload() {
        let outcome = parse_invoke_response(200, false, br#"{"echo":{"a":1}}"#).unwrap();
        assert_eq!(outcome, InvokeOutcome::Success(json!({"echo": {"a": 1}})));
        assert_eq!(
            parse_invoke_response(200, false, b"").unwrap(),
            InvokeOutcome::Success(Value::Null)
        );
    }

    /// cargo-lambda's answer to a function error, as it sends it.
    #[test]
    fn reads_a_function_error_from_a_500() {
        let message = "line one\nsays \"hi\" \\ \u{7f} \u{200b} é";
        let body = json!({"errorType": "&str", "errorMessage": message}).to_string();
        let outcome = parse_invoke_response(500, false, body.as_bytes()).unwrap();
        assert_eq!(
            outcome,
            InvokeOutcome::FunctionError {
                error_type: "&str".into(),
                error_message: message.into(),
            }
        );
    }

    /// Lambda's own Invoke API: 200 and `X-Amz-Function-Error`.
    #[test]
    fn reads_a_function_error_flagged_by_header() {
        let body = json!({"errorType": "SlackRefused", "errorMessage": "no"}).to_string();
        let outcome = parse_invoke_response(200, true, body.as_bytes()).unwrap();
        assert_eq!(
            outcome,
            InvokeOutcome::FunctionError {
                error_type: "SlackRefused".into(),
                error_message: "no".into(),
            }
        );
    }

    #[test]
    fn a_refusal_of_the_emulator_is_an_error_not_a_function_error() {
        let body = json!({"detail": "that function doesn't exist", "title": "Missing function"});
        let err = parse_invoke_response(404, false, body.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("Missing function"), "{err}");
        assert!(err.to_string().contains("404"), "{err}");
        let err = parse_invoke_response(502, false, b"Bad Gateway").unwrap_err();
        assert!(err.to_string().contains("Bad Gateway"), "{err:#}");
    }

    /// A program that prints its process id and then sleeps.
    fn sleeper() -> Program {
        Program::new(Path::new("/bin/sh")).args(["-c", "echo $$; exec sleep 600"])
    }

    fn pid_in(log: &Path) -> u32 {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(pid) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                return pid;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no pid in {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn running(pid: u32) -> bool {
        Path::new(&format!("/proc/{pid}")).exists()
    }

    fn wait_for_exit(child: &mut Child) -> ExitStatus {
        let deadline = std::time::Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the watchdog still runs"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_dropped_handle_stops_its_program_and_removes_its_log() {
        let process = Process::spawn("sleeper", sleeper()).unwrap();
        let pid = pid_in(&process.log);
        let folder = process.dir.clone();
        assert!(running(pid));
        drop(process);
        assert!(!running(pid), "the program outlived its handle");
        assert!(!folder.exists(), "{} is left", folder.display());
    }

    /// What happens to a shared service when the test binary ends, whatever
    /// ends it: the holder of the pipe is killed, and the program stops.
    #[test]
    fn the_program_stops_when_the_holder_of_its_pipe_is_killed() {
        let folder = tempfile::tempdir().unwrap().keep();
        let log = folder.join("output.log");
        let mut holder = Command::new("sleep")
            .arg("600")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pipe = holder.stdout.take().unwrap();
        let mut watchdog = sleeper()
            .command(&folder)
            .stdin(Stdio::from(pipe))
            .stdout(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let pid = pid_in(&log);
        assert!(running(pid));

        holder.kill().unwrap();
        holder.wait().unwrap();
        let status = wait_for_exit(&mut watchdog);
        assert_eq!(
            status.code(),
            Some(128 + 15),
            "stopped by SIGTERM: {status}"
        );
        assert!(!running(pid));
        assert!(!folder.exists(), "the watchdog removes the log folder");
    }

    #[test]
    fn a_program_that_exits_by_itself_keeps_its_status_and_its_log() {
        let program = Program::new(Path::new("/bin/sh")).args(["-c", "echo gave up; exit 3"]);
        let mut process = Process::spawn("quitter", program).unwrap();
        let status = wait_for_exit(&mut process.child);
        assert_eq!(status.code(), Some(3));
        assert_eq!(process.log_tail(), "gave up");
        let folder = process.dir.clone();
        drop(process);
        assert!(!folder.exists(), "{} is left", folder.display());
    }

    #[tokio::test]
    async fn a_name_is_held_by_one_at_a_time_and_refused_after_a_stray_invocation() {
        let names = Reservations::default();
        let held = names.reserve("echo-lambda").await.unwrap();
        let brief = Duration::from_millis(50);
        assert!(
            tokio::time::timeout(brief, names.reserve("echo-lambda"))
                .await
                .is_err()
        );
        let other = names.reserve("status-monitor").await.unwrap();
        drop(held);
        let again = tokio::time::timeout(brief, names.reserve("echo-lambda"))
            .await
            .expect("free once dropped")
            .unwrap();

        names.mark_stray("echo-lambda");
        drop(again);
        let err = names.reserve("echo-lambda").await.unwrap_err();
        assert!(err.to_string().contains("still queued"), "{err}");
        drop(other);
        names
            .reserve("status-monitor")
            .await
            .expect("other names are unaffected");
    }

    #[test]
    fn dep_info_paths_unescape_spaces() {
        let paths = dep_info_paths("/t/x: /a/b.rs /a/c\\ d.rs\n");
        assert_eq!(
            paths,
            vec![PathBuf::from("/a/b.rs"), PathBuf::from("/a/c d.rs")]
        );
    }

    #[test]
    fn a_missing_binary_says_how_to_build_it() {
        let err = workspace_binary("no-such-binary").unwrap_err().to_string();
        assert!(err.contains("cargo build -p no-such-binary"), "{err}");
    }
}
