//! Function processes started as Lambda starts them, each polling a
//! [`RuntimeRecorder`] of its own, and the Python baseline's processes.
//!
//! The processes are children of this one (no watchdog shell between them),
//! so that a cold path measured from the spawn includes nothing but the
//! program's own start, and `/proc/<pid>/status` is the program's. They are
//! killed when their handle drops. A function whose Runtime API is gone
//! exits by itself, so none outlives a harness that was killed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::Instant;

use crate::perf::runtime::{Answer, RuntimeRecorder};

/// How a function is deployed: its binary, name, memory and timeout, and the
/// settings of its environment.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub bootstrap: PathBuf,
    pub name: String,
    /// `AWS_REGION` of the function, and the region of its ARN.
    pub region: String,
    pub account: String,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Added to the Lambda environment, overriding it.
    pub env: Vec<(String, String)>,
}

impl FunctionSpec {
    /// `arn:aws:lambda:<region>:<account>:function:<name>`, the invoked
    /// function ARN each invocation carries.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account, self.name
        )
    }
}

/// Lines of a log shown in errors.
const LOG_TAIL_LINES: usize = 30;

/// One function process and its Runtime API.
pub struct LambdaProcess {
    child: Child,
    recorder: RuntimeRecorder,
    spawned: Instant,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl LambdaProcess {
    /// Starts `spec.bootstrap` with the environment Lambda gives a
    /// `provided.al2023` function with JSON logs (`PATH` is the only variable
    /// taken from this process), then `spec.env`. Its output goes to a log file.
    pub async fn spawn(spec: &FunctionSpec) -> anyhow::Result<Self> {
        let recorder = RuntimeRecorder::start(&spec.arn(), spec.timeout).await?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("hlm-perf-{}-", spec.name))
            .tempdir()?;
        let log = dir.path().join("output.log");
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let name = &spec.name;
        let mut command = Command::new(&spec.bootstrap);
        command
            .env_clear()
            .envs(std::env::var_os("PATH").map(|path| ("PATH", path)))
            .env("AWS_LAMBDA_RUNTIME_API", recorder.runtime_api())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .env("AWS_REGION", &spec.region)
            .env("AWS_DEFAULT_REGION", &spec.region)
            .env("TZ", ":UTC")
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .kill_on_drop(true);
        let spawned = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", spec.bootstrap.display()))?;
        Ok(Self {
            child,
            recorder,
            spawned,
            log,
            _dir: dir,
        })
    }

    /// From the spawn to the process's first request for an invocation: its
    /// cold path, with its settings read and its clients built.
    pub async fn cold_path(&mut self, limit: Duration) -> anyhow::Result<Duration> {
        let first = tokio::select! {
            first = self.recorder.first_next() => first?,
            status = self.child.wait() => bail!(
                "the function exited ({}) before asking for an invocation{}\n{}",
                status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                self.recorder.init_error().map(|e| format!("; init error: {e}")).unwrap_or_default(),
                self.log_tail()
            ),
            () = tokio::time::sleep(limit) => bail!(
                "the function did not ask for an invocation within {limit:?}\n{}",
                self.log_tail()
            ),
        };
        Ok(first.saturating_duration_since(self.spawned))
    }

    /// Hands `payload` to the function and waits for its answer, at most `limit`.
    pub async fn invoke(&mut self, payload: &Value, limit: Duration) -> anyhow::Result<Answer> {
        tokio::select! {
            answer = self.recorder.invoke(payload) => answer,
            status = self.child.wait() => bail!(
                "the function exited ({}) during the invocation\n{}",
                status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                self.log_tail()
            ),
            () = tokio::time::sleep(limit) => bail!(
                "the function did not answer within {limit:?}\n{}",
                self.log_tail()
            ),
        }
    }

    /// The process's peak resident memory so far, in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| anyhow!("the function process has exited"))?;
        vmhwm_kib(pid)
    }

    /// Bytes the function has written to its standard output and error.
    pub fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).map_or(0, |m| m.len())
    }

    /// The function's output from byte `from` on.
    pub fn log_since(&self, from: u64) -> String {
        let bytes = std::fs::read(&self.log).unwrap_or_default();
        let from = usize::try_from(from).unwrap_or(usize::MAX).min(bytes.len());
        String::from_utf8_lossy(&bytes[from..]).into_owned()
    }

    /// The last lines of the function's output.
    pub fn log_tail(&self) -> String {
        tail(&self.log_since(0))
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    format!(
        "--- last lines of the output ---\n{}",
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    )
}

/// `VmHWM` of `/proc/<pid>/status`, in KiB.
pub fn vmhwm_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmHWM in {path}"))
}

/// A run of the boto3 baseline (`tests/perf/boto3_tick.py`).
pub struct ScriptProcess {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    spawned: Instant,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl ScriptProcess {
    /// Starts `python script args...` with only `PATH` from this process, then `env`.
    pub fn spawn(
        python: &Path,
        script: &Path,
        args: &[String],
        env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("hlm-perf-boto3-")
            .tempdir()?;
        let stderr = dir.path().join("stderr.log");
        let err = File::create(&stderr)?;
        let mut command = Command::new(python);
        command
            .arg(script)
            .args(args)
            .env_clear()
            .envs(std::env::var_os("PATH").map(|path| ("PATH", path)))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {} {}", python.display(), script.display()))?;
        let stdout = child
            .stdout
            .take()
            .context("the script's standard output")?;
        Ok(Self {
            child,
            lines: BufReader::new(stdout).lines(),
            spawned,
            stderr,
            _dir: dir,
        })
    }

    /// The next line the script prints, and when it came; an error naming the
    /// script's standard error if it ends first or takes longer than `limit`.
    pub async fn next_line(&mut self, limit: Duration) -> anyhow::Result<(String, Instant)> {
        let line = tokio::time::timeout(limit, self.lines.next_line())
            .await
            .map_err(|_| {
                anyhow!(
                    "no line from the script within {limit:?}\n{}",
                    self.stderr_tail()
                )
            })?
            .context("reading the script's output")?;
        let at = Instant::now();
        match line {
            Some(line) => Ok((line, at)),
            None => {
                let status = self.child.wait().await?;
                bail!(
                    "the script ended ({status}) before its next line\n{}",
                    self.stderr_tail()
                )
            }
        }
    }

    /// When it was started.
    pub fn spawned(&self) -> Instant {
        self.spawned
    }

    /// Waits for the script to exit, which must be a success.
    pub async fn finish(mut self, limit: Duration) -> anyhow::Result<()> {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .map_err(|_| anyhow!("the script did not exit within {limit:?}"))??;
        if !status.success() {
            bail!("the script failed ({status})\n{}", self.stderr_tail());
        }
        Ok(())
    }

    fn stderr_tail(&self) -> String {
        tail(&std::fs::read_to_string(&self.stderr).unwrap_or_default())
    }
}

/// Stops its program when the pipe on its standard input closes: when the
/// handle drops, or when this process ends however it ends.
const WATCHDOG: &str = r#""$@" </dev/null &
program=$!
cat >/dev/null
kill -TERM "$program" 2>/dev/null
wait "$program"
"#;

/// The release HealthLake emulator as a process of its own, on a free
/// loopback port; stopped when dropped.
pub struct EmulatorProcess {
    _child: Child,
    url: String,
    /// Closing it stops the emulator.
    _stdin: tokio::process::ChildStdin,
    _dir: tempfile::TempDir,
}

impl EmulatorProcess {
    /// Starts `binary` with `args` (after `--port 0`) and waits for it to serve.
    pub async fn start(binary: &Path, args: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("hlm-perf-emulator-")
            .tempdir()?;
        let stderr = dir.path().join("stderr.log");
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(binary)
            .args(["--port", "0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(File::create(&stderr)?))
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdin = child
            .stdin
            .take()
            .context("the emulator's standard input")?;
        let stdout = child
            .stdout
            .take()
            .context("the emulator's standard output")?;
        let mut lines = BufReader::new(stdout).lines();
        // `healthlake-emulator listening on http://127.0.0.1:PORT`
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .map_err(|_| anyhow!("the emulator did not start within 30 s"))??;
        let url = line
            .as_deref()
            .and_then(|l| l.rsplit(' ').next())
            .filter(|u| u.starts_with("http://"))
            .map(str::to_owned)
            .ok_or_else(|| {
                anyhow!(
                    "the emulator printed {line:?}, not its address\n{}",
                    tail(&std::fs::read_to_string(&stderr).unwrap_or_default())
                )
            })?;
        Ok(Self {
            _child: child,
            url,
            _stdin: stdin,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }
}
