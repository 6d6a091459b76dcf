//! What should have been sent: a pure model of the monitor's alerts, and the
//! check of what subscribers received against it.

use std::collections::{BTreeMap, BTreeSet};

use monitor_core::domain::{
    Alert, AlertPolicy, DatastoreId, Observation, Observations, Region, Scope, diff,
    observations_of,
};

/// The alerts one phase owes, from the model's previous view of each scope and
/// the new listing.
#[derive(Debug, Default)]
pub struct Expectation {
    /// By region and data store: within a phase a store changes at most once.
    alerts: BTreeMap<(Region, DatastoreId), Alert>,
}

/// The model: the last listing of each scope the monitor was shown.
#[derive(Debug, Default)]
pub struct Model {
    views: BTreeMap<Scope, Observations>,
    policy: AlertPolicy,
}

impl Model {
    pub(crate) fn new(policy: AlertPolicy) -> Self {
        Self {
            views: BTreeMap::new(),
            policy,
        }
    }

    /// The alert-worthy transitions from the previous listings to `listings`,
    /// which become the previous listings.
    pub(crate) fn advance(&mut self, listings: &BTreeMap<Scope, Vec<Observation>>) -> Expectation {
        let mut expectation = Expectation::default();
        for (scope, observations) in listings {
            let new = observations_of(observations.iter().cloned());
            let old = self.views.remove(scope).unwrap_or_default();
            for transition in diff(&old, &new) {
                if let Some(decision) = self.policy.classify(&transition) {
                    let alert = Alert::new(scope, &transition, decision, 0, chrono::Utc::now());
                    expectation
                        .alerts
                        .insert((scope.region.clone(), transition.id().clone()), alert);
                }
            }
            self.views.insert(scope.clone(), new);
        }
        expectation
    }
}

impl Expectation {
    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

/// Whether `delivered` reports the transition `expected` stands for: every
/// field but the alert id (which carries the record version) and the time.
fn same_transition(expected: &Alert, delivered: &Alert) -> bool {
    fn key(a: &Alert) -> impl PartialEq + '_ {
        (
            (a.severity, a.reason, a.change),
            (&a.account, &a.region, &a.datastore_id),
            (&a.datastore_name, &a.datastore_arn),
            (&a.previous_status, &a.status, &a.error_cause),
        )
    }
    key(expected) == key(delivered)
}

/// One line about an alert for a report: id, store, change and statuses.
pub(crate) fn alert_summary(alert: &Alert) -> String {
    let status = |s: &Option<monitor_core::domain::DatastoreStatus>| {
        s.as_ref()
            .map_or("(none)".to_owned(), |s| s.as_str().to_owned())
    };
    format!(
        "alert {} ({} {} {} {} -> {}, {:?}, cause {})",
        alert.id,
        alert.region,
        alert.datastore_id,
        alert.change.as_str(),
        status(&alert.previous_status),
        status(&alert.status),
        alert.reason,
        alert
            .error_cause
            .as_ref()
            .map_or("none".to_owned(), |c| format!(
                "{} of {} chars",
                c.category.as_str(),
                c.message.chars().count()
            )),
    )
}

/// What one phase's deliveries came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub expected: u64,
    /// Expected alerts that reached the subscriber.
    pub delivered: u64,
    /// Messages received.
    pub messages: u64,
    /// Messages beyond the first of each alert.
    pub duplicated: u64,
    pub lost: u64,
    /// Expected alerts the monitor set aside as undeliverable, with a reason.
    pub undeliverable: u64,
}

impl Tally {
    pub(crate) fn add(&mut self, other: &Tally) {
        self.expected += other.expected;
        self.delivered += other.delivered;
        self.messages += other.messages;
        self.duplicated += other.duplicated;
        self.lost += other.lost;
        self.undeliverable += other.undeliverable;
    }
}

/// Checks one phase's deliveries against what was expected.
///
/// - `received`: every alert a subscriber got in the phase, one entry per message;
/// - `repeat_allowed`: alert ids for which a crash or failure between publish
///   and mark-sent was injected (the documented window of a repeat);
/// - `set_aside`: alerts recorded as undeliverable, with their reason.
///
/// Returns the tally and the violations found.
pub(crate) fn check(
    expectation: &Expectation,
    received: &[Alert],
    repeat_allowed: &BTreeSet<String>,
    set_aside: &[(Alert, String)],
) -> (Tally, Vec<String>) {
    let mut violations = Vec::new();
    let mut tally = Tally {
        expected: expectation.len() as u64,
        messages: received.len() as u64,
        ..Tally::default()
    };
    // Alert id -> (the alert, how many messages).
    let mut by_id: BTreeMap<&str, (&Alert, u64)> = BTreeMap::new();
    for alert in received {
        by_id.entry(&alert.id).or_insert((alert, 0)).1 += 1;
    }
    // Expected key -> alert ids delivered for it.
    let mut delivered_ids: BTreeMap<&(Region, DatastoreId), Vec<&str>> = BTreeMap::new();
    for (id, (alert, count)) in &by_id {
        let key = (alert.region.clone(), alert.datastore_id.clone());
        match expectation.alerts.get_key_value(&key) {
            Some((key, expected)) if same_transition(expected, alert) => {
                delivered_ids.entry(key).or_default().push(id);
            }
            Some((_, expected)) => violations.push(format!(
                "unexpected {}: the transition of that store in this phase was {}",
                alert_summary(alert),
                alert_summary(expected)
            )),
            None => violations.push(format!(
                "unexpected {}: no such transition in this phase",
                alert_summary(alert)
            )),
        }
        if *count > 1 {
            tally.duplicated += count - 1;
            if !repeat_allowed.contains(*id) {
                violations.push(format!(
                    "{} delivered {count} times, with no crash or failure between its \
                     publish and mark-sent",
                    alert_summary(alert)
                ));
            }
        }
    }
    for (key, expected) in &expectation.alerts {
        match delivered_ids.get(key).map(Vec::as_slice) {
            Some([_]) => tally.delivered += 1,
            Some(ids) => {
                tally.delivered += 1;
                violations.push(format!(
                    "one transition delivered under {} alert ids {ids:?}: {}",
                    ids.len(),
                    alert_summary(expected)
                ));
            }
            None => match set_aside
                .iter()
                .find(|(alert, _)| same_transition(expected, alert))
            {
                Some((_, reason)) if !reason.trim().is_empty() => tally.undeliverable += 1,
                Some(_) => {
                    tally.lost += 1;
                    violations.push(format!(
                        "set aside as undeliverable without a reason: {}",
                        alert_summary(expected)
                    ));
                }
                None => {
                    tally.lost += 1;
                    violations.push(format!("lost: {}", alert_summary(expected)));
                }
            },
        }
    }
    (tally, violations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_core::domain::{DatastoreStatus, ErrorCategory, ErrorCause};
    use monitor_core::fixtures::{observation, scope};

    fn listing(stores: Vec<Observation>) -> BTreeMap<Scope, Vec<Observation>> {
        [(scope(), stores)].into_iter().collect()
    }

    fn failed(id: &str) -> Observation {
        let mut o = observation(id, DatastoreStatus::CreateFailed);
        o.error_cause = Some(ErrorCause {
            message: "KMS key disabled".into(),
            category: ErrorCategory::NonRetryable,
        });
        o
    }

    fn delivered(expected: &Expectation, version: u64) -> Vec<Alert> {
        expected
            .alerts
            .values()
            .map(|a| {
                let mut a = a.clone();
                a.id = format!("{}#{version}", a.datastore_id);
                a
            })
            .collect()
    }

    #[test]
    fn each_alert_worthy_transition_is_expected_once() {
        let mut model = Model::new(AlertPolicy::default());
        let first = model.advance(&listing(vec![
            observation("a", DatastoreStatus::Active),
            failed("b"),
        ]));
        assert_eq!(first.len(), 1);
        let second = model.advance(&listing(vec![
            observation("a", DatastoreStatus::Active),
            failed("b"),
        ]));
        assert!(second.is_empty());
        let third = model.advance(&listing(vec![
            failed("a"),
            observation("b", DatastoreStatus::Deleting),
        ]));
        assert_eq!(third.len(), 2);
    }

    #[test]
    fn lost_repeated_and_unexpected_alerts_are_violations() {
        let mut model = Model::new(AlertPolicy::default());
        let expected = model.advance(&listing(vec![failed("a"), failed("b")]));
        let good = delivered(&expected, 1);

        let (tally, violations) = check(&expected, &good, &BTreeSet::new(), &[]);
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!((tally.expected, tally.delivered, tally.lost), (2, 2, 0));

        let (tally, violations) = check(&expected, &good[..1], &BTreeSet::new(), &[]);
        assert_eq!(tally.lost, 1);
        assert!(violations[0].starts_with("lost"), "{violations:?}");

        let repeated = [good.clone(), good[..1].to_vec()].concat();
        let (tally, violations) = check(&expected, &repeated, &BTreeSet::new(), &[]);
        assert_eq!(tally.duplicated, 1);
        assert_eq!(violations.len(), 1, "{violations:?}");
        let allowed = [good[0].id.clone()].into_iter().collect();
        assert!(check(&expected, &repeated, &allowed, &[]).1.is_empty());

        let mut other_id = good[0].clone();
        other_id.id.push('9');
        let twice = [good.clone(), vec![other_id]].concat();
        let violations = check(&expected, &twice, &BTreeSet::new(), &[]).1;
        assert!(
            violations[0].contains("under 2 alert ids"),
            "{violations:?}"
        );

        let mut wrong = good[0].clone();
        wrong.status = Some(DatastoreStatus::Active);
        let violations = check(&expected, &[wrong, good[1].clone()], &BTreeSet::new(), &[]).1;
        assert!(violations.iter().any(|v| v.starts_with("unexpected")));
    }

    #[test]
    fn an_alert_set_aside_with_a_reason_is_not_lost() {
        let mut model = Model::new(AlertPolicy::default());
        let expected = model.advance(&listing(vec![failed("a")]));
        let alert = delivered(&expected, 1).remove(0);
        let (tally, violations) = check(
            &expected,
            &[],
            &BTreeSet::new(),
            &[(alert.clone(), "InvalidParameter: message too long".into())],
        );
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!((tally.undeliverable, tally.lost), (1, 0));
        let (tally, _) = check(&expected, &[], &BTreeSet::new(), &[(alert, " ".into())]);
        assert_eq!(tally.lost, 1);
    }
}
