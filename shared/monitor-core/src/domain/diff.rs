//! The pure diff of one scope: the previous snapshot against the current observations.

use super::ids::DatastoreId;
use super::observation::Observation;
use std::collections::BTreeMap;

/// What the monitor last knew of each live data store of a scope.
pub type Observations = BTreeMap<DatastoreId, Observation>;

/// One change to one data store.
#[expect(
    clippy::large_enum_variant,
    reason = "short-lived values, one per changed store"
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// A store the snapshot did not have.
    Appeared { current: Observation },
    /// A store whose status or error cause changed.
    Changed {
        previous: Observation,
        current: Observation,
    },
    /// A store no longer listed; `previous` holds its last status.
    Vanished { previous: Observation },
}

impl Transition {
    pub fn id(&self) -> &DatastoreId {
        match self {
            Self::Appeared { current } | Self::Changed { current, .. } => &current.id,
            Self::Vanished { previous } => &previous.id,
        }
    }

    pub fn previous(&self) -> Option<&Observation> {
        match self {
            Self::Appeared { .. } => None,
            Self::Changed { previous, .. } | Self::Vanished { previous } => Some(previous),
        }
    }

    pub fn current(&self) -> Option<&Observation> {
        match self {
            Self::Appeared { current } | Self::Changed { current, .. } => Some(current),
            Self::Vanished { .. } => None,
        }
    }

    /// The observation that names the store: the current one, or the last one seen.
    pub fn latest(&self) -> &Observation {
        match self {
            Self::Appeared { current } | Self::Changed { current, .. } => current,
            Self::Vanished { previous } => previous,
        }
    }
}

/// Builds the view of a list of observations. If a store is listed twice, the
/// later entry wins.
pub fn observations_of(observations: impl IntoIterator<Item = Observation>) -> Observations {
    observations
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect()
}

/// The transitions that turn `previous` into `current`, ordered by data store id.
pub fn diff(previous: &Observations, current: &Observations) -> Vec<Transition> {
    let mut transitions = Vec::new();
    for (id, now) in current {
        match previous.get(id) {
            None => transitions.push(Transition::Appeared {
                current: now.clone(),
            }),
            Some(before) if before.differs_from(now) => transitions.push(Transition::Changed {
                previous: before.clone(),
                current: now.clone(),
            }),
            Some(_) => {}
        }
    }
    for (id, before) in previous {
        if !current.contains_key(id) {
            transitions.push(Transition::Vanished {
                previous: before.clone(),
            });
        }
    }
    transitions.sort_by(|a, b| a.id().cmp(b.id()));
    transitions
}

/// Applies transitions to a view: the inverse of [`diff`] for what the monitor tracks.
pub fn apply(mut view: Observations, transitions: &[Transition]) -> Observations {
    for transition in transitions {
        match transition {
            Transition::Appeared { current } | Transition::Changed { current, .. } => {
                view.insert(current.id.clone(), current.clone());
            }
            Transition::Vanished { previous } => {
                view.remove(&previous.id);
            }
        }
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{observation, observation_strategy};
    use crate::domain::{DatastoreStatus, ErrorCategory, ErrorCause};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn tracked(view: &Observations) -> Vec<(String, String, Option<ErrorCause>)> {
        view.values()
            .map(|o| {
                (
                    o.id.to_string(),
                    o.status.to_string(),
                    o.error_cause.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn appeared_changed_vanished() {
        let before = observations_of([
            observation("a", DatastoreStatus::Creating),
            observation("b", DatastoreStatus::Active),
        ]);
        let after = observations_of([
            observation("a", DatastoreStatus::CreateFailed),
            observation("c", DatastoreStatus::Creating),
        ]);
        let transitions = diff(&before, &after);
        assert_eq!(transitions.len(), 3);
        assert!(
            matches!(&transitions[0], Transition::Changed { previous, current }
            if previous.status == DatastoreStatus::Creating && current.status == DatastoreStatus::CreateFailed)
        );
        assert!(
            matches!(&transitions[1], Transition::Vanished { previous } if previous.id.as_str().ends_with('b'))
        );
        assert!(
            matches!(&transitions[2], Transition::Appeared { current } if current.id.as_str().ends_with('c'))
        );
    }

    #[test]
    fn a_new_error_cause_with_the_same_status_is_a_change() {
        let before = observations_of([observation("a", DatastoreStatus::Deleting)]);
        let mut troubled = observation("a", DatastoreStatus::Deleting);
        troubled.error_cause = Some(ErrorCause {
            message: "KMS key is disabled".into(),
            category: ErrorCategory::Retryable,
        });
        let transitions = diff(&before, &observations_of([troubled]));
        assert_eq!(transitions.len(), 1);
        assert!(matches!(transitions[0], Transition::Changed { .. }));
    }

    #[test]
    fn other_fields_are_not_transitions() {
        let before = observations_of([observation("a", DatastoreStatus::Active)]);
        let mut renamed = observation("a", DatastoreStatus::Active);
        renamed.endpoint = "https://elsewhere".into();
        assert!(diff(&before, &observations_of([renamed])).is_empty());
    }

    fn views() -> impl Strategy<Value = (Vec<Observation>, Vec<Observation>)> {
        // Ids from a small pool so that the two sides overlap.
        (
            proptest::collection::vec(observation_strategy(8), 0..12),
            proptest::collection::vec(observation_strategy(8), 0..12),
        )
    }

    proptest! {
        #[test]
        fn diff_of_a_view_with_itself_is_empty((a, _) in views()) {
            let view = observations_of(a);
            prop_assert!(diff(&view, &view).is_empty());
        }

        #[test]
        fn applying_the_diff_gives_the_new_view((a, b) in views()) {
            let (old, new) = (observations_of(a), observations_of(b));
            let transitions = diff(&old, &new);
            prop_assert_eq!(tracked(&apply(old, &transitions)), tracked(&new));
        }

        #[test]
        fn each_changed_store_gives_exactly_one_transition((a, b) in views()) {
            let (old, new) = (observations_of(a), observations_of(b));
            let transitions = diff(&old, &new);
            let ids: Vec<_> = transitions.iter().map(|t| t.id().clone()).collect();
            let unique: BTreeSet<_> = ids.iter().cloned().collect();
            prop_assert_eq!(ids.len(), unique.len());
            let changed: BTreeSet<_> = old.keys().chain(new.keys())
                .filter(|id| match (old.get(*id), new.get(*id)) {
                    (Some(x), Some(y)) => x.differs_from(y),
                    _ => true,
                })
                .cloned()
                .collect();
            prop_assert_eq!(unique, changed);
        }

        #[test]
        fn input_order_does_not_matter((a, b) in views(), seed in any::<u64>()) {
            // Unique ids per side, as a listing gives them; then shuffle.
            let dedup = |v: Vec<Observation>| observations_of(v).into_values().collect::<Vec<_>>();
            let (a, b) = (dedup(a), dedup(b));
            let mut shuffled_a = a.clone();
            let mut shuffled_b = b.clone();
            let n = shuffled_a.len().max(1) as u64;
            shuffled_a.rotate_left((seed % n) as usize);
            shuffled_b.reverse();
            prop_assert_eq!(
                diff(&observations_of(a), &observations_of(b)),
                diff(&observations_of(shuffled_a), &observations_of(shuffled_b))
            );
        }
    }
}
