//! Real local stand-ins for AWS services, one instance per test.
//!
//! Each service runs as a child process on a free loopback port, logs to a file
//! in its own temporary directory, and is killed when its handle is dropped.
//! A service that exits or is not ready within [`READY_TIMEOUT`] fails `start`
//! with the tail of its log; a test that panics while holding a handle prints
//! that tail too.
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

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

/// How long a service may take to answer its readiness probe.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`LambdaRuntimeApi::invoke`] waits for a function's answer. An
/// invocation of a name that no function process serves waits this long.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

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
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tool_path("HLM_DYNAMODB_LOCAL_DIR")?;
        let java = tool_path("HLM_JAVA")?;
        let jar = dir.join("DynamoDBLocal.jar");
        if !jar.is_file() {
            bail!("{} not found: {SETUP_HINT}", jar.display());
        }
        let service = Service::start(
            "dynamodb-local",
            |port| {
                let mut command = Command::new(&java);
                command
                    .current_dir(&dir)
                    .arg("-Djava.library.path=DynamoDBLocal_lib")
                    .arg("-Xmx512m")
                    .args([
                        "-jar",
                        "DynamoDBLocal.jar",
                        "-inMemory",
                        "-disableTelemetry",
                    ])
                    .arg("-port")
                    .arg(port.to_string());
                command
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

/// The moto server (SNS, SQS and the other services moto emulates) for account
/// 123456789012, any credentials.
pub struct Moto {
    service: Service,
}

impl Moto {
    pub async fn start() -> anyhow::Result<Self> {
        let moto_server = tool_path("HLM_MOTO_SERVER")?;
        let service = Service::start(
            "moto",
            |port| {
                let mut command = Command::new(&moto_server);
                command
                    .args(["-H", "127.0.0.1", "-p"])
                    .arg(port.to_string());
                command
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
/// processes started with [`spawn_function`](Self::spawn_function) poll it, and
/// [`invoke`](Self::invoke) sends events through `cargo lambda invoke`.
///
/// Behaviour of cargo-lambda 1.9.2, found by experiment:
/// - A function name must be a binary target of this Cargo workspace (the API
///   reads `cargo metadata`); any other name is answered "Missing function".
///   The binary that serves it can be any Lambda: the name only routes events.
/// - Invocations queue per function name; each waiting function process takes
///   the next one. One process handles one invocation at a time, as in a Lambda
///   execution environment, so two overlapping invokes of one name run one after
///   the other. Two processes spawned under the same name serve two invokes
///   concurrently (a third waits for whichever finishes first).
/// - An invocation of a name that no process serves waits: [`invoke`](Self::invoke)
///   gives up after [`INVOKE_TIMEOUT`].
/// - `cargo lambda invoke` exits 1 for a function error and prints it only in
///   its debug log (`-v`), which is where `invoke` reads `errorType` and
///   `errorMessage` from.
/// - Do not probe `/` on this port: that is an invocation.
pub struct LambdaRuntimeApi {
    service: Service,
    cargo_lambda: PathBuf,
}

impl LambdaRuntimeApi {
    pub async fn start() -> anyhow::Result<Self> {
        let cargo_lambda = tool_path("HLM_CARGO_LAMBDA")?;
        let workspace = workspace_root();
        let service = Service::start(
            "cargo-lambda-watch",
            |port| {
                let mut command = Command::new(&cargo_lambda);
                // It runs `cargo metadata` to learn the function names.
                command
                    .current_dir(&workspace)
                    .args(["lambda", "watch", "--only-lambda-apis"])
                    .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
                    .arg(port.to_string())
                    .env("NO_COLOR", "1");
                command
            },
            Probe::Tcp,
        )
        .await?;
        Ok(Self {
            service,
            cargo_lambda,
        })
    }

    /// The invoke endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.service.endpoint()
    }

    /// The `AWS_LAMBDA_RUNTIME_API` value for a function process serving `name`:
    /// `http://127.0.0.1:PORT/.rt/NAME`.
    pub fn runtime_api(&self, name: &str) -> String {
        format!("{}/.rt/{name}", self.endpoint())
    }

    pub fn log_tail(&self) -> String {
        self.service.process.log_tail()
    }

    /// Starts the Lambda binary `bootstrap` serving function `name` (a binary
    /// target of the workspace, see the type's documentation).
    ///
    /// The process gets a Lambda-like environment and nothing else from the
    /// test's environment except `PATH`, `RUST_LOG` and `RUST_BACKTRACE`:
    /// `AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`,
    /// `AWS_LAMBDA_FUNCTION_VERSION` (1), `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (128),
    /// `AWS_LAMBDA_LOG_GROUP_NAME`, `AWS_LAMBDA_LOG_STREAM_NAME`,
    /// `AWS_LAMBDA_INITIALIZATION_TYPE` (on-demand), `AWS_REGION` and
    /// `AWS_DEFAULT_REGION` (us-east-1), then `env`, which overrides any of them.
    pub fn spawn_function(
        &self,
        bootstrap: &Path,
        name: &str,
        env: &[(String, String)],
    ) -> anyhow::Result<FunctionProcess> {
        let mut command = Command::new(bootstrap);
        command.env_clear();
        for inherited in ["PATH", "RUST_LOG", "RUST_BACKTRACE"] {
            if let Some(value) = std::env::var_os(inherited) {
                command.env(inherited, value);
            }
        }
        command
            .env("AWS_LAMBDA_RUNTIME_API", self.runtime_api(name))
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .envs(env.iter().map(|(key, value)| (key, value)));
        let process = Process::spawn(&format!("function {name}"), command)?;
        Ok(FunctionProcess { process })
    }

    /// Sends `payload` to function `name` with `cargo lambda invoke` and waits
    /// for the answer, at most [`INVOKE_TIMEOUT`].
    ///
    /// A function's answer, success or error, is `Ok`; `Err` means the
    /// invocation itself failed (unknown name, no answer, emulator down).
    pub async fn invoke(&self, name: &str, payload: &Value) -> anyhow::Result<InvokeOutcome> {
        let event = self
            .service
            .process
            .dir
            .path()
            .join(format!("event-{}.json", uuid::Uuid::new_v4()));
        tokio::fs::write(&event, serde_json::to_vec(payload)?)
            .await
            .with_context(|| format!("writing {}", event.display()))?;
        let mut command = Command::new(&self.cargo_lambda);
        command
            .args([
                "lambda",
                "invoke",
                name,
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(self.service.port.to_string())
            .arg("--data-file")
            .arg(&event)
            .args(["--color", "never", "-v"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = timeout(INVOKE_TIMEOUT, command.output())
            .await
            .map_err(|_| {
                anyhow!(
                    "invoking {name}: no answer within {INVOKE_TIMEOUT:?} (is a function process \
                     serving it?)\n--- cargo lambda watch log ---\n{}",
                    self.log_tail()
                )
            })?
            .with_context(|| format!("running {}", self.cargo_lambda.display()))?;
        if let Err(err) = tokio::fs::remove_file(&event).await {
            eprintln!("removing {}: {err}", event.display());
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        parse_invoke_output(output.status, &stdout, &stderr).with_context(|| {
            format!(
                "invoking {name}\n--- cargo lambda watch log ---\n{}",
                self.log_tail()
            )
        })
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

/// A Lambda binary serving the Runtime API; killed on drop.
pub struct FunctionProcess {
    process: Process,
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

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
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

/// Reads `cargo lambda invoke -v` output: the payload on success; on exit 1 the
/// debug line `error received from server error="<json>"`, whose JSON is a
/// function error (`errorType`, `errorMessage`) or the emulator's own
/// (`title`, `detail`).
fn parse_invoke_output(
    status: ExitStatus,
    stdout: &str,
    stderr: &str,
) -> anyhow::Result<InvokeOutcome> {
    let is_log_line = |line: &str| {
        let first = line.split_whitespace().next().unwrap_or("");
        matches!(first, "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR")
    };
    if status.success() {
        let payload: String = stdout
            .lines()
            .filter(|line| !is_log_line(line))
            .collect::<Vec<_>>()
            .join("\n");
        let payload = payload.trim();
        if payload.is_empty() {
            return Ok(InvokeOutcome::Success(Value::Null));
        }
        let value = serde_json::from_str(payload)
            .with_context(|| format!("response is not JSON: {payload}"))?;
        return Ok(InvokeOutcome::Success(value));
    }
    const MARKER: &str = "error received from server error=\"";
    let reported = stdout
        .lines()
        .chain(stderr.lines())
        .find_map(|line| line.split_once(MARKER).map(|(_, rest)| rest))
        .and_then(|rest| rest.strip_suffix('"'))
        .map(unescape_debug_str)
        .transpose()?;
    let Some(reported) = reported else {
        bail!("cargo lambda invoke failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}");
    };
    let body: Value = serde_json::from_str(&reported)
        .with_context(|| format!("error body is not JSON: {reported}"))?;
    let field = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    match (field("errorType"), field("errorMessage")) {
        (Some(error_type), Some(error_message)) => Ok(InvokeOutcome::FunctionError {
            error_type,
            error_message,
        }),
        _ => bail!(
            "the Runtime API emulator refused the invocation: {}: {}",
            field("title").unwrap_or_default(),
            field("detail").unwrap_or_else(|| reported.clone())
        ),
    }
}

/// Undoes Rust's `{:?}` escaping of a string (how cargo-lambda logs the body).
fn unescape_debug_str(escaped: &str) -> anyhow::Result<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some(c @ ('\\' | '"' | '\'')) => out.push(c),
            Some('u') => {
                let rest = chars.as_str();
                let (hex, tail) = rest
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .ok_or_else(|| anyhow!("bad \\u escape in {escaped}"))?;
                let code = u32::from_str_radix(hex, 16)
                    .with_context(|| format!("bad \\u escape in {escaped}"))?;
                out.push(
                    char::from_u32(code).ok_or_else(|| anyhow!("bad \\u escape in {escaped}"))?,
                );
                chars = tail.chars();
            }
            other => bail!(
                "unknown escape \\{} in {escaped}",
                other.map(String::from).unwrap_or_default()
            ),
        }
    }
    Ok(out)
}

/// A child process whose stdout and stderr go to `<temp dir>/output.log`.
struct Process {
    label: String,
    child: Child,
    log: PathBuf,
    dir: TempDir,
}

impl Process {
    fn spawn(label: &str, mut command: Command) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("hlm-{}-", label.replace(' ', "-")))
            .tempdir()?;
        let log = dir.path().join("output.log");
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let program = command.as_std().get_program().to_owned();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {label} ({})", Path::new(&program).display()))?;
        Ok(Self {
            label: label.to_owned(),
            child,
            log,
            dir,
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
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        if let Err(err) = self.child.start_kill() {
            eprintln!("stopping {}: {err}", self.label);
            return;
        }
        // Reap it, briefly, so no process outlives the test that started it.
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
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
        command: impl Fn(u16) -> Command,
        probe: Probe,
    ) -> anyhow::Result<Self> {
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            let process = Process::spawn(label, command(port))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn reads_a_success_payload_and_skips_log_lines() {
        let outcome = parse_invoke_output(
            ExitStatus::from_raw(0),
            "DEBUG run: something\n{\"echo\":{\"a\":1}}\n",
            "",
        )
        .unwrap();
        assert_eq!(
            outcome,
            InvokeOutcome::Success(serde_json::json!({"echo": {"a": 1}}))
        );
    }

    /// The debug line as cargo-lambda writes it: the body through `{:?}`.
    fn debug_line(body: &Value) -> String {
        format!(
            "DEBUG run: error received from server error={:?}",
            body.to_string()
        )
    }

    #[test]
    fn reads_a_function_error_from_the_debug_log() {
        let message = "line one\nsays \"hi\" \\ \u{7f} \u{200b} é";
        let stdout = debug_line(&serde_json::json!({"errorType": "&str", "errorMessage": message}));
        let outcome =
            parse_invoke_output(ExitStatus::from_raw(1 << 8), &stdout, "Error: &str").unwrap();
        assert_eq!(
            outcome,
            InvokeOutcome::FunctionError {
                error_type: "&str".into(),
                error_message: message.into(),
            }
        );
    }

    #[test]
    fn undoes_debug_escapes() {
        let original = "tab\t quote\" apostrophe' nul\0 del\u{7f} ok";
        assert_eq!(
            unescape_debug_str(format!("{original:?}").trim_matches('"')).unwrap(),
            original
        );
    }

    #[test]
    fn an_emulator_refusal_is_an_error_not_a_function_error() {
        let stdout = debug_line(
            &serde_json::json!({"detail": "that function doesn't exist", "title": "Missing function"}),
        );
        let err = parse_invoke_output(ExitStatus::from_raw(1 << 8), &stdout, "").unwrap_err();
        assert!(err.to_string().contains("Missing function"), "{err}");
    }
}

/// How a workspace binary the tests run was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

/// A binary of this workspace, built by `cargo build [--release] -p <name>`
/// (`infra/scripts/test.sh` builds each one the tests run). It is refused when
/// missing or older than a source file it was built from, as listed by Cargo's
/// dep-info next to it, so that a test never runs yesterday's code.
pub fn workspace_binary(name: &str, profile: Profile) -> anyhow::Result<PathBuf> {
    let (dir, flag) = match profile {
        Profile::Debug => ("debug", ""),
        Profile::Release => ("release", "--release "),
    };
    let hint = format!("run `cargo build {flag}-p {name}` (infra/scripts/test.sh does)");
    let root = workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
    let binary = target.join(dir).join(name);
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified());
    let built =
        modified(&binary).map_err(|e| anyhow!("{} is missing ({e}): {hint}", binary.display()))?;
    let dep_info = target.join(dir).join(format!("{name}.d"));
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
mod binary_tests {
    use super::*;

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
        let err = workspace_binary("no-such-binary", Profile::Release)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cargo build --release -p no-such-binary"),
            "{err}"
        );
    }
}
