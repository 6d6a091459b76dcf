//! Standard output as the place alerts are delivered to, when no topic is given.
//!
//! An alert counts as delivered only once it is written and flushed: publishing
//! it is writing it, so the monitor marks it sent only after that. A write that
//! fails (a closed pipe, `scan | head`, a full disk) is a failed delivery: the
//! alert stays pending and the next scan prints it. After the first failure
//! nothing more is written, so no later alert counts as delivered either.
//!
//! Rust ignores SIGPIPE, so a closed pipe is an `EPIPE` error here, not a
//! silent death of the process.
//!
//! With `--json`, stdout is one JSON document streamed as it goes: its
//! `alerts` array receives each alert as it is delivered, and the rest of the
//! document (the scan's summary) follows once the scan is over.

use crate::output;
use monitor_core::document::AlertDocumentV1;
use monitor_core::domain::Alert;
use monitor_core::ports::{AlertPublisher, PublishError};
use std::io::Write;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Default)]
struct State {
    /// Whether the JSON document's opening (`{"alerts": [`) has been written.
    opened: bool,
    /// The first write that failed; nothing is written after it.
    broken: Option<String>,
}

pub struct Stdout {
    format: Format,
    state: Mutex<State>,
}

/// How an alert that could not be printed is reported.
pub const NOT_PRINTED: &str = "cannot write to standard output";

/// The error of an alert that could not be printed. A stdout that cannot be
/// written may work next time (the next scan's): a retryable failure.
fn not_printed(alert: &Alert, reason: &str) -> PublishError {
    // Retryable: the alert stays pending and the next scan prints it.
    PublishError::retryable(alert.id.clone(), format!("{NOT_PRINTED}: {reason}"))
}

impl Stdout {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes and flushes `text`, unless an earlier write failed.
    fn write(state: &mut State, text: &str) -> Result<(), String> {
        if let Some(reason) = &state.broken {
            return Err(reason.clone());
        }
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| {
                let reason = e.to_string();
                state.broken = Some(reason.clone());
                reason
            })
    }

    /// Why standard output stopped taking writes, if it did.
    pub fn broken(&self) -> Option<String> {
        self.lock().broken.clone()
    }

    /// Writes text that is not an alert (the summary of a scan).
    pub fn print(&self, text: &str) -> Result<(), String> {
        Self::write(&mut self.lock(), text)
    }

    /// Ends the JSON document with `summary`'s members after the `alerts` array.
    pub fn finish_json(&self, summary: &serde_json::Value) -> Result<(), String> {
        let rest = serde_json::to_string_pretty(summary).map_err(|e| e.to_string())?;
        let members = rest
            .strip_prefix('{')
            .ok_or("the summary of a scan is not a JSON object")?;
        let mut state = self.lock();
        let mut text = String::new();
        if !state.opened {
            text.push_str("{\n  \"alerts\": [");
        }
        text.push_str("\n  ],");
        text.push_str(members);
        text.push('\n');
        Self::write(&mut state, &text)?;
        state.opened = true;
        Ok(())
    }

    fn deliver(&self, alert: &Alert) -> Result<(), PublishError> {
        let mut state = self.lock();
        let text = match self.format {
            Format::Text => output::email(alert),
            Format::Json => {
                let document = serde_json::to_string(&AlertDocumentV1::from(alert))
                    .map_err(|e| not_printed(alert, &e.to_string()))?;
                let lead = if state.opened {
                    ",\n    "
                } else {
                    "{\n  \"alerts\": [\n    "
                };
                format!("{lead}{document}")
            }
        };
        Self::write(&mut state, &text).map_err(|reason| not_printed(alert, &reason))?;
        state.opened = true;
        Ok(())
    }
}

impl AlertPublisher for Stdout {
    async fn publish(&self, alert: &Alert) -> Result<(), PublishError> {
        self.deliver(alert)
    }
}
