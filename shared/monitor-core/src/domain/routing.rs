//! Which data stores and transitions are alerted, and which tags travel with
//! an alert so that each team can subscribe to its own.
//!
//! Filters decide what is *sent*, never what is *recorded*: an excluded store
//! stays in the snapshot and its transitions are recorded as any other, so a
//! filter changed later never makes a store look new or vanished.

use super::diff::Transition;
use std::collections::BTreeMap;

/// Tags of a data store, key to value.
pub type Tags = BTreeMap<String, String>;

/// The prefix of the SNS message attribute of a copied tag: `tag.<key>`.
pub const TAG_ATTRIBUTE_PREFIX: &str = "tag.";
/// Tag keys copied at most: an alert carries up to 6 message attributes of
/// its own (`monitor_sns::attributes`), and SQS takes at most 10 per message,
/// so SNS could not deliver more to a queue subscriber.
pub const MAX_TAG_KEYS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct RoutingError {
    pub setting: &'static str,
    pub problem: String,
}

/// A data store name pattern: `*` stands for any run of characters, every
/// other character for itself (case matters, as in HealthLake's names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    pub fn matches(&self, name: &str) -> bool {
        glob(&self.0, name)
    }
}

fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: the whole text must be the pattern.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// `key=value`, or `key=*` for any value of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagMatch {
    pub key: String,
    /// `None`: any value.
    pub value: Option<String>,
}

impl TagMatch {
    pub fn matches(&self, tags: &Tags) -> bool {
        tags.get(&self.key)
            .is_some_and(|v| self.value.as_ref().is_none_or(|want| want == v))
    }
}

/// `FROM->TO`: a status, `*` for any, `NEW` (FROM only) for a store seen for
/// the first time, `GONE` (TO only) for a store that vanished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionPattern {
    from: Endpoint,
    to: Endpoint,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Any,
    /// NEW as a source, GONE as a target.
    Absent,
    Status(String),
}

impl Endpoint {
    fn matches(&self, status: Option<&str>) -> bool {
        match self {
            Endpoint::Any => true,
            Endpoint::Absent => status.is_none(),
            Endpoint::Status(want) => status == Some(want.as_str()),
        }
    }
}

impl TransitionPattern {
    pub fn matches(&self, transition: &Transition) -> bool {
        let from = transition.previous().map(|o| o.status.as_str());
        let to = transition.current().map(|o| o.status.as_str());
        self.from.matches(from) && self.to.matches(to)
    }
}

/// The routing settings, as given.
#[derive(Debug, Clone, Default)]
pub struct RawRouting {
    pub include_datastores: Vec<String>,
    pub exclude_datastores: Vec<String>,
    pub include_tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    pub ignore_transitions: Vec<String>,
    pub alert_tag_keys: Vec<String>,
}

/// The names of the settings in errors: the function's variables or the
/// command's flags.
#[derive(Debug, Clone, Copy)]
pub struct RoutingNames {
    pub include_datastores: &'static str,
    pub exclude_datastores: &'static str,
    pub include_tags: &'static str,
    pub exclude_tags: &'static str,
    pub ignore_transitions: &'static str,
    pub alert_tag_keys: &'static str,
}

impl RoutingNames {
    pub const ENVIRONMENT: RoutingNames = RoutingNames {
        include_datastores: "INCLUDE_DATASTORES",
        exclude_datastores: "EXCLUDE_DATASTORES",
        include_tags: "INCLUDE_TAGS",
        exclude_tags: "EXCLUDE_TAGS",
        ignore_transitions: "IGNORE_TRANSITIONS",
        alert_tag_keys: "ALERT_TAG_KEYS",
    };
    pub const FLAGS: RoutingNames = RoutingNames {
        include_datastores: "--include-datastore",
        exclude_datastores: "--exclude-datastore",
        include_tags: "--include-tag",
        exclude_tags: "--exclude-tag",
        ignore_transitions: "--ignore-transition",
        alert_tag_keys: "--alert-tag-key",
    };
}

/// What is alerted and which tags travel with an alert. The default alerts
/// every store and copies no tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    include_datastores: Vec<NamePattern>,
    exclude_datastores: Vec<NamePattern>,
    include_tags: Vec<TagMatch>,
    exclude_tags: Vec<TagMatch>,
    ignore_transitions: Vec<TransitionPattern>,
    alert_tag_keys: Vec<String>,
}

/// HealthLake's tag key: 1 to 128 characters of letters, digits, spaces and
/// `_.:/=+-@`.
fn is_tag_key(key: &str) -> bool {
    (1..=128).contains(&key.chars().count())
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
}

/// A tag key whose SNS attribute name (`tag.<key>`) SNS accepts: letters,
/// digits, `_`, `-` and `.`, no `..`, not ending with `.`.
fn is_attribute_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        && !key.contains("..")
        && !key.ends_with('.')
}

impl Routing {
    pub fn parse(raw: RawRouting, names: RoutingNames) -> Result<Self, RoutingError> {
        let bad = |setting: &'static str, problem: String| RoutingError { setting, problem };
        let patterns = |setting: &'static str, items: Vec<String>| {
            items
                .into_iter()
                .map(|p| {
                    if p.chars().count() > 256 {
                        Err(bad(
                            setting,
                            "a pattern is longer than 256 characters".into(),
                        ))
                    } else {
                        Ok(NamePattern(p))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let tag_matches = |setting: &'static str, items: Vec<String>| {
            items
                .into_iter()
                .map(|item| {
                    let (key, value) = item.split_once('=').ok_or_else(|| {
                        bad(
                            setting,
                            format!("{item:?} is not key=value (key=* for any value)"),
                        )
                    })?;
                    let (key, value) = (key.trim(), value.trim());
                    if !is_tag_key(key) {
                        return Err(bad(setting, format!("{key:?} is not a tag key")));
                    }
                    if value.chars().count() > 256 {
                        return Err(bad(
                            setting,
                            format!("the value of {key:?} is longer than 256 characters"),
                        ));
                    }
                    Ok(TagMatch {
                        key: key.to_owned(),
                        value: (value != "*").then(|| value.to_owned()),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let ignore = raw
            .ignore_transitions
            .into_iter()
            .map(|item| {
                let setting = names.ignore_transitions;
                let (from, to) = item.split_once("->").ok_or_else(|| {
                    bad(
                        setting,
                        format!("{item:?} is not FROM->TO (a status, *, NEW or GONE)"),
                    )
                })?;
                let endpoint = |text: &str, absent: &str, other: &str| {
                    let text = text.trim();
                    match text {
                        "*" => Ok(Endpoint::Any),
                        t if t == absent => Ok(Endpoint::Absent),
                        t if t == other => Err(bad(
                            setting,
                            format!("{item:?}: {other} cannot be on this side"),
                        )),
                        t if !t.is_empty()
                            && t.len() <= 64
                            && t.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') =>
                        {
                            Ok(Endpoint::Status(t.to_owned()))
                        }
                        _ => Err(bad(setting, format!("{item:?}: {text:?} is not a status"))),
                    }
                };
                Ok(TransitionPattern {
                    from: endpoint(from, "NEW", "GONE")?,
                    to: endpoint(to, "GONE", "NEW")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut keys: Vec<String> = Vec::new();
        for key in raw.alert_tag_keys {
            if !is_attribute_key(&key) {
                return Err(bad(
                    names.alert_tag_keys,
                    format!(
                        "{key:?} cannot name an SNS message attribute ({TAG_ATTRIBUTE_PREFIX}<key>): \
                         use a tag key of letters, digits, '_', '-' and '.'"
                    ),
                ));
            }
            if keys.contains(&key) {
                return Err(bad(
                    names.alert_tag_keys,
                    format!("{key:?} is listed twice"),
                ));
            }
            keys.push(key);
        }
        if keys.len() > MAX_TAG_KEYS {
            return Err(bad(
                names.alert_tag_keys,
                format!(
                    "{} keys given, at most {MAX_TAG_KEYS} fit beside an alert's other message attributes",
                    keys.len()
                ),
            ));
        }
        Ok(Self {
            include_datastores: patterns(names.include_datastores, raw.include_datastores)?,
            exclude_datastores: patterns(names.exclude_datastores, raw.exclude_datastores)?,
            include_tags: tag_matches(names.include_tags, raw.include_tags)?,
            exclude_tags: tag_matches(names.exclude_tags, raw.exclude_tags)?,
            ignore_transitions: ignore,
            alert_tag_keys: keys,
        })
    }

    /// Whether tags must be read: a tag filter or a copied tag is set.
    pub fn needs_tags(&self) -> bool {
        !(self.include_tags.is_empty()
            && self.exclude_tags.is_empty()
            && self.alert_tag_keys.is_empty())
    }

    /// Whether `transition` is one of the ignored ones.
    pub fn ignores(&self, transition: &Transition) -> bool {
        self.ignore_transitions
            .iter()
            .any(|p| p.matches(transition))
    }

    /// Whether a store of this name and these tags is alerted. Tags that
    /// could not be read (`None`) neither include nor exclude: the store is
    /// alerted, since a monitor that cannot tell must not stay silent.
    pub fn admits(&self, name: &str, tags: Option<&Tags>) -> bool {
        let included_by_name = self.include_datastores.is_empty()
            || self.include_datastores.iter().any(|p| p.matches(name));
        let excluded_by_name = self.exclude_datastores.iter().any(|p| p.matches(name));
        let (included_by_tag, excluded_by_tag) = match tags {
            Some(tags) => (
                self.include_tags.is_empty() || self.include_tags.iter().any(|m| m.matches(tags)),
                self.exclude_tags.iter().any(|m| m.matches(tags)),
            ),
            None => (true, false),
        };
        included_by_name && !excluded_by_name && included_by_tag && !excluded_by_tag
    }

    /// The tags copied into an alert: those of the chosen keys the store has.
    pub fn chosen(&self, tags: Option<&Tags>) -> Tags {
        let Some(tags) = tags else {
            return Tags::new();
        };
        self.alert_tag_keys
            .iter()
            .filter_map(|k| tags.get(k).map(|v| (k.clone(), v.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DatastoreStatus::*;
    use crate::fixtures::observation;

    fn routing(raw: RawRouting) -> Routing {
        Routing::parse(raw, RoutingNames::ENVIRONMENT).expect("valid settings")
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn name_patterns_match_whole_names_with_stars_for_any_run() {
        let p = |s: &str| NamePattern(s.into());
        assert!(p("prod-*").matches("prod-imaging"));
        assert!(!p("prod-*").matches("preprod-imaging"));
        assert!(p("*-imaging").matches("prod-imaging"));
        assert!(p("prod-*-eu*").matches("prod-claims-eu-west"));
        assert!(!p("prod-*-eu").matches("prod-claims-eu-west"));
        assert!(p("patients").matches("patients"));
        assert!(!p("patients").matches("patients-2"));
        assert!(p("*").matches(""));
        assert!(p("a*a").matches("aa") && !p("a*a").matches("a"));
    }

    #[test]
    fn stores_are_included_and_excluded_by_name_and_tag() {
        let r = routing(RawRouting {
            include_datastores: vec!["prod-*".into()],
            exclude_datastores: vec!["*-scratch".into()],
            include_tags: vec!["team=payments".into(), "oncall=*".into()],
            exclude_tags: vec!["environment=sandbox".into()],
            ..RawRouting::default()
        });
        let payments = tags(&[("team", "payments")]);
        assert!(r.admits("prod-claims", Some(&payments)));
        assert!(
            !r.admits("dev-claims", Some(&payments)),
            "not included by name"
        );
        assert!(
            !r.admits("prod-scratch", Some(&payments)),
            "excluded by name"
        );
        assert!(r.admits("prod-x", Some(&tags(&[("oncall", "anyone")]))));
        assert!(
            !r.admits("prod-x", Some(&tags(&[("team", "imaging")]))),
            "no included tag"
        );
        assert!(
            !r.admits(
                "prod-x",
                Some(&tags(&[("team", "payments"), ("environment", "sandbox")]))
            ),
            "excluded by tag"
        );
        assert!(
            r.admits("prod-x", None),
            "unread tags never silence a store"
        );
        assert!(r.needs_tags());
        assert!(Routing::default().admits("anything", None));
        assert!(!Routing::default().needs_tags());
    }

    #[test]
    fn transitions_are_ignored_by_from_and_to() {
        let r = routing(RawRouting {
            ignore_transitions: vec![
                "*->DELETED".into(),
                "NEW->CREATE_FAILED".into(),
                "ACTIVE->GONE".into(),
            ],
            ..RawRouting::default()
        });
        let appeared = |s| Transition::Appeared {
            current: observation("a", s),
        };
        let changed = |from, to| Transition::Changed {
            previous: observation("a", from),
            current: observation("a", to),
        };
        let vanished = |s| Transition::Vanished {
            previous: observation("a", s),
        };
        assert!(r.ignores(&changed(Deleting, Deleted)));
        assert!(r.ignores(&appeared(CreateFailed)));
        assert!(!r.ignores(&changed(Creating, CreateFailed)));
        assert!(r.ignores(&vanished(Active)));
        assert!(!r.ignores(&vanished(CreateFailed)));
    }

    #[test]
    fn chosen_tags_are_copied_when_present() {
        let r = routing(RawRouting {
            alert_tag_keys: vec!["team".into(), "environment".into()],
            ..RawRouting::default()
        });
        assert_eq!(
            r.chosen(Some(&tags(&[("team", "payments"), ("cost-center", "42")]))),
            tags(&[("team", "payments")])
        );
        assert!(r.chosen(None).is_empty());
    }

    #[test]
    fn bad_settings_name_the_setting_and_the_item() {
        let cases = [
            (
                RawRouting {
                    include_tags: vec!["team".into()],
                    ..RawRouting::default()
                },
                "INCLUDE_TAGS",
                "\"team\" is not key=value",
            ),
            (
                RawRouting {
                    exclude_tags: vec!["=x".into()],
                    ..RawRouting::default()
                },
                "EXCLUDE_TAGS",
                "is not a tag key",
            ),
            (
                RawRouting {
                    ignore_transitions: vec!["ACTIVE>DELETED".into()],
                    ..RawRouting::default()
                },
                "IGNORE_TRANSITIONS",
                "is not FROM->TO",
            ),
            (
                RawRouting {
                    ignore_transitions: vec!["GONE->ACTIVE".into()],
                    ..RawRouting::default()
                },
                "IGNORE_TRANSITIONS",
                "GONE cannot be on this side",
            ),
            (
                RawRouting {
                    ignore_transitions: vec!["active->DELETED".into()],
                    ..RawRouting::default()
                },
                "IGNORE_TRANSITIONS",
                "\"active\" is not a status",
            ),
            (
                RawRouting {
                    alert_tag_keys: vec!["cost center".into()],
                    ..RawRouting::default()
                },
                "ALERT_TAG_KEYS",
                "cannot name an SNS message attribute",
            ),
            (
                RawRouting {
                    alert_tag_keys: vec!["a".into(), "a".into()],
                    ..RawRouting::default()
                },
                "ALERT_TAG_KEYS",
                "listed twice",
            ),
            (
                RawRouting {
                    alert_tag_keys: ["a", "b", "c", "d", "e"].map(String::from).to_vec(),
                    ..RawRouting::default()
                },
                "ALERT_TAG_KEYS",
                "at most 4",
            ),
        ];
        for (raw, setting, problem) in cases {
            let err = Routing::parse(raw, RoutingNames::ENVIRONMENT).expect_err(problem);
            assert_eq!(err.setting, setting);
            assert!(err.to_string().contains(problem), "{err}");
        }
    }
}
