//! The state one emulator shares between its requests.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::clock::Clock;
use crate::control::{CallCounts, Faults};
use crate::events::Events;
use crate::iam::Iam;
use crate::registry::Registry;
use crate::server::EmulatorConfig;

#[derive(Debug)]
pub struct Emulator {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
pub struct Inner {
    pub registry: Registry,
    /// Accounts, roles and the credentials STS issued.
    pub iam: Iam,
    pub faults: Faults,
    pub calls: CallCounts,
    /// Added to every HealthLake and STS call before it is handled.
    pub latency: Duration,
    /// Where the emulator reads "now": wall time, or later once advanced.
    pub clock: Clock,
    /// The EventBridge events posted to a test's URL.
    pub events: Events,
}

impl Emulator {
    pub fn new(config: &EmulatorConfig) -> Emulator {
        Emulator {
            inner: Mutex::new(Inner {
                registry: Registry::new(config.transition_delay),
                iam: Iam::new(config.account_id.clone(), config.static_keys.clone()),
                faults: Faults::default(),
                calls: CallCounts::default(),
                latency: Duration::ZERO,
                clock: Clock::default(),
                events: Events::default(),
            }),
        }
    }

    /// The lock is never held across an await, and every update leaves the
    /// state consistent, so a panic elsewhere does not make it unusable.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    pub fn reset(&mut self) {
        self.registry.clear();
        self.iam.clear();
        self.faults.clear();
        self.calls.clear();
        self.latency = Duration::ZERO;
        self.clock.reset();
        self.events.clear();
    }
}
