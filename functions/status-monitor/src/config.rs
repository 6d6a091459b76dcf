//! The function's settings, read once at cold start.

use chrono::Duration;
use monitor_core::domain::{
    AccountId, AccountSelection, AlertPolicy, MAX_REMINDER_HOURS, MAX_STUCK_MINUTES, RawRouting,
    RawSelection, Region, Routing, RoutingNames, SelectionNames, StuckAfter, TimeUnit, list_items,
};
use monitor_core::metrics::DEFAULT_NAMESPACE;
use monitor_core::tick::TickSettings;
use monitor_dynamodb::DynamoDbStore;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct MonitorConfigError {
    pub name: &'static str,
    pub problem: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub topic_arn: String,
    /// Regions to scan; never empty.
    pub regions: Vec<Region>,
    pub policy: AlertPolicy,
    pub claim_ttl: Duration,
    pub vanished_retention: Duration,
    /// Failed attempts after which an alert is set aside as undeliverable.
    pub max_attempts: u32,
    pub metrics_namespace: String,
    /// `ACCOUNT_ID`, optional: the account whose data stores are scanned. When
    /// absent, the account is read from the invoked function ARN, as in Lambda.
    /// It exists for runtimes that give no usable ARN: the local Runtime API of
    /// cargo-lambda (`cargo lambda watch`) sends the literal `function-arn`.
    pub account: Option<AccountId>,
    /// Which accounts to scan, and how to reach them.
    pub accounts: AccountSelection,
    /// (account, region) pairs scanned at once.
    pub scan_concurrency: usize,
    /// Data stores written (and their alerts published) at once, over every
    /// pair of a tick together.
    pub write_concurrency: usize,
    /// When set, the scheduled tick hands the accounts to workers through
    /// this queue instead of scanning them itself.
    pub fanout: Option<FanOut>,
    /// Which stores and transitions are alerted, and the tags alerts carry.
    pub routing: Routing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOut {
    pub queue_url: String,
    /// Accounts per message.
    pub batch_accounts: usize,
}

impl Config {
    pub fn from_env() -> Result<Self, MonitorConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so that tests need not touch the
    /// process environment.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, MonitorConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| {
            get(name).ok_or(MonitorConfigError {
                name,
                problem: "is required".into(),
            })
        };
        let bad = |name: &'static str, problem: String| MonitorConfigError { name, problem };

        let table_name = required("TABLE_NAME")?;
        if !(3..=255).contains(&table_name.len())
            || !table_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(bad(
                "TABLE_NAME",
                format!("{table_name:?} is not a DynamoDB table name"),
            ));
        }
        let topic_arn = required("TOPIC_ARN")?;
        if !topic_arn.starts_with("arn:")
            || topic_arn.split(':').count() != 6
            || !topic_arn.contains(":sns:")
        {
            return Err(bad(
                "TOPIC_ARN",
                format!("{topic_arn:?} is not an SNS topic ARN"),
            ));
        }
        let regions = match get("REGIONS") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| Region::parse(r).map_err(|e| bad("REGIONS", e.to_string())))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        // A tick scans a region named twice only once, but the repeat is
        // likely a typo for another region: refused, so that it is noticed.
        let mut unique: Vec<Region> = Vec::with_capacity(regions.len());
        for region in regions {
            if unique.contains(&region) {
                return Err(bad("REGIONS", format!("{region} is listed twice")));
            }
            unique.push(region);
        }
        let regions = unique;
        let regions = if regions.is_empty() {
            let own = get("AWS_REGION")
                .ok_or(bad("REGIONS", "is empty and AWS_REGION is not set".into()))?;
            vec![Region::parse(own).map_err(|e| bad("AWS_REGION", e.to_string()))?]
        } else {
            regions
        };

        let policy_error =
            |name: &'static str| move |e: monitor_core::domain::PolicyError| bad(name, e.problem);
        let defaults = AlertPolicy::default();
        let statuses = |name: &'static str, default| match get(name) {
            Some(v) => AlertPolicy::parse_statuses(name, &v).map_err(policy_error(name)),
            None => Ok(default),
        };
        let switch = |name: &'static str, default: bool| match get(name) {
            Some(v) => AlertPolicy::parse_switch(name, &v).map_err(policy_error(name)),
            None => Ok(default),
        };
        let period = |name: &'static str, unit, max, default| match get(name) {
            Some(v) => AlertPolicy::parse_period(name, &v, unit, max).map_err(policy_error(name)),
            None => Ok(default),
        };
        let stuck = |name: &'static str, default| {
            period(name, TimeUnit::Minutes, MAX_STUCK_MINUTES, default)
        };
        let policy = AlertPolicy {
            critical: statuses("ALERT_CRITICAL_STATUSES", defaults.critical)?,
            info: statuses("ALERT_INFO_STATUSES", defaults.info)?,
            recovery: switch("ALERT_ON_RECOVERY", defaults.recovery)?,
            unknown_status: switch("ALERT_ON_UNKNOWN_STATUS", defaults.unknown_status)?,
            error_cause: switch("ALERT_ON_ERROR_CAUSE", defaults.error_cause)?,
            stuck: StuckAfter {
                creating: stuck("STUCK_CREATING_MINUTES", defaults.stuck.creating)?,
                deleting: stuck("STUCK_DELETING_MINUTES", defaults.stuck.deleting)?,
                updating: stuck("STUCK_UPDATING_MINUTES", defaults.stuck.updating)?,
            },
            failed_reminder: period(
                "FAILED_REMINDER_HOURS",
                TimeUnit::Hours,
                MAX_REMINDER_HOURS,
                defaults.failed_reminder,
            )?,
        };

        // Bounded, so that no value can overflow a time computation.
        let whole =
            |name: &'static str, default: i64, max: i64| -> Result<i64, MonitorConfigError> {
                match get(name) {
                    None => Ok(default),
                    Some(v) => match v.parse::<i64>() {
                        Ok(n) if (1..=max).contains(&n) => Ok(n),
                        _ => Err(bad(
                            name,
                            format!("expected a whole number from 1 to {max}, got {v:?}"),
                        )),
                    },
                }
            };
        let list = |name: &str| get(name).map(|v| list_items(&v)).unwrap_or_default();
        let names = SelectionNames::ENVIRONMENT;
        let accounts = AccountSelection::parse(
            RawSelection {
                roles: list(names.roles),
                organization_role: get(names.organization_role),
                include_accounts: list(names.include_accounts),
                exclude_accounts: list(names.exclude_accounts),
                include_ous: list(names.include_ous),
                exclude_ous: list(names.exclude_ous),
                external_id: get(names.external_id),
            },
            names,
        )
        .map_err(|e| bad(e.setting, e.problem))?;
        let routes = RoutingNames::ENVIRONMENT;
        let routing = Routing::parse(
            RawRouting {
                include_datastores: list(routes.include_datastores),
                exclude_datastores: list(routes.exclude_datastores),
                include_tags: list(routes.include_tags),
                exclude_tags: list(routes.exclude_tags),
                ignore_transitions: list(routes.ignore_transitions),
                alert_tag_keys: list(routes.alert_tag_keys),
            },
            routes,
        )
        .map_err(|e| bad(e.setting, e.problem))?;
        let fanout = match get("FANOUT_QUEUE_URL") {
            None => None,
            Some(queue_url) => {
                if !(queue_url.starts_with("https://") || queue_url.starts_with("http://"))
                    || queue_url.len() > 2048
                {
                    return Err(bad(
                        "FANOUT_QUEUE_URL",
                        format!("{queue_url:?} is not an SQS queue URL"),
                    ));
                }
                Some(FanOut {
                    queue_url,
                    batch_accounts: whole("FANOUT_BATCH_ACCOUNTS", 10, 1_000)? as usize,
                })
            }
        };
        Ok(Self {
            accounts,
            routing,
            scan_concurrency: whole(
                "SCAN_CONCURRENCY",
                TickSettings::DEFAULT_SCAN_CONCURRENCY as i64,
                1_000,
            )? as usize,
            write_concurrency: whole(
                "WRITE_CONCURRENCY",
                TickSettings::DEFAULT_CONCURRENCY as i64,
                256,
            )? as usize,
            fanout,
            table_name,
            topic_arn,
            regions,
            policy,
            claim_ttl: Duration::seconds(whole("CLAIM_TTL_SECONDS", 120, 86_400)?),
            vanished_retention: Duration::days(whole(
                "VANISHED_RETENTION_DAYS",
                DynamoDbStore::DEFAULT_RETENTION.num_days(),
                3_650,
            )?),
            max_attempts: whole(
                "ALERT_MAX_ATTEMPTS",
                i64::from(TickSettings::DEFAULT_MAX_ATTEMPTS),
                10_000,
            )? as u32,
            metrics_namespace: get("METRICS_NAMESPACE")
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            account: get("ACCOUNT_ID")
                .map(|v| AccountId::parse(v).map_err(|e| bad("ACCOUNT_ID", e.to_string())))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, MonitorConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        ("TABLE_NAME", "healthlake-monitor-snapshot"),
        ("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts"),
        ("AWS_REGION", "us-east-1"),
    ];

    #[test]
    fn defaults_to_the_functions_own_region() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.regions, vec![Region::parse("us-east-1").unwrap()]);
        assert_eq!(c.policy, AlertPolicy::default());
        assert_eq!(c.claim_ttl, Duration::seconds(120));
        assert_eq!(c.metrics_namespace, "HealthLakeMonitor");
        assert_eq!(c.account, None);
    }

    #[test]
    fn reads_the_routing_and_names_a_bad_one() {
        assert_eq!(config(&BASE).unwrap().routing, Routing::default());
        let mut vars = BASE.to_vec();
        vars.extend([
            ("INCLUDE_DATASTORES", "prod-*"),
            ("EXCLUDE_TAGS", "environment=sandbox"),
            ("ALERT_TAG_KEYS", "team, owner"),
            ("IGNORE_TRANSITIONS", "*->DELETED"),
        ]);
        let c = config(&vars).unwrap();
        assert!(c.routing.needs_tags());
        assert!(!c.routing.admits("dev-x", None));
        vars.push(("INCLUDE_TAGS", "team"));
        let err = config(&vars).unwrap_err().to_string();
        assert!(
            err.starts_with("setting INCLUDE_TAGS: \"team\" is not key=value"),
            "{err}"
        );
    }

    #[test]
    fn reads_an_account_that_wins_over_the_function_arn() {
        let mut vars = BASE.to_vec();
        vars.push(("ACCOUNT_ID", "210987654321"));
        let c = config(&vars).unwrap();
        assert_eq!(c.account.as_ref().map(|a| a.as_str()), Some("210987654321"));
        vars.pop();
        vars.push(("ACCOUNT_ID", "function-arn"));
        assert!(
            config(&vars)
                .unwrap_err()
                .to_string()
                .starts_with("setting ACCOUNT_ID")
        );
    }

    #[test]
    fn reads_the_accounts_concurrency_and_fan_out() {
        let c = config(&BASE).unwrap();
        assert!(c.accounts.is_own_account_only());
        assert_eq!(c.scan_concurrency, 16);
        assert_eq!(c.write_concurrency, 64);
        assert_eq!(c.fanout, None);

        let mut vars = BASE.to_vec();
        vars.extend([
            ("ORGANIZATION_ROLE_NAME", "HealthLakeMonitorReadOnly"),
            ("EXCLUDE_ACCOUNTS", "111111111111, 222222222222"),
            ("INCLUDE_OUS", "ou-ab12-cdef3456"),
            ("EXTERNAL_ID", "healthlake-monitor-7f3a"),
            ("SCAN_CONCURRENCY", "64"),
            ("WRITE_CONCURRENCY", "16"),
            (
                "FANOUT_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/scan",
            ),
        ]);
        let c = config(&vars).unwrap();
        assert_eq!(
            c.accounts.organization_role.as_ref().map(|r| r.to_string()),
            Some("HealthLakeMonitorReadOnly".into())
        );
        assert_eq!(c.accounts.exclude_accounts.len(), 2);
        assert_eq!(c.accounts.include_ous.len(), 1);
        assert_eq!(c.scan_concurrency, 64);
        assert_eq!(c.write_concurrency, 16);
        assert_eq!(
            c.fanout,
            Some(FanOut {
                queue_url: "https://sqs.us-east-1.amazonaws.com/123456789012/scan".into(),
                batch_accounts: 10,
            })
        );

        for (name, value, expected) in [
            (
                "ACCOUNT_ROLE_ARNS",
                "arn:aws:iam::1:role/x",
                "setting ACCOUNT_ROLE_ARNS: invalid role ARN",
            ),
            ("SCAN_CONCURRENCY", "0", "setting SCAN_CONCURRENCY"),
            ("FANOUT_QUEUE_URL", "scan-queue", "setting FANOUT_QUEUE_URL"),
            (
                "EXCLUDE_OUS",
                "ou-ab12-cdef3456",
                "setting EXCLUDE_OUS: organizational units select",
            ),
        ] {
            let mut vars = BASE.to_vec();
            vars.push((name, value));
            let err = config(&vars).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{name}={value}: {err}");
        }
    }

    #[test]
    fn reads_a_region_list_and_the_policy() {
        let mut vars = BASE.to_vec();
        vars.extend([
            ("REGIONS", "us-east-1, eu-west-2"),
            ("ALERT_CRITICAL_STATUSES", "CREATE_FAILED"),
            ("ALERT_ON_RECOVERY", "false"),
        ]);
        let c = config(&vars).unwrap();
        assert_eq!(c.regions.len(), 2);
        assert_eq!(c.policy.critical.len(), 1);
        assert!(!c.policy.recovery);
    }

    #[test]
    fn reads_the_stuck_thresholds_and_the_failed_reminder() {
        let mut vars = BASE.to_vec();
        vars.extend([
            ("STUCK_CREATING_MINUTES", "45"),
            ("STUCK_DELETING_MINUTES", "0"),
            ("FAILED_REMINDER_HOURS", "24"),
        ]);
        let c = config(&vars).unwrap();
        assert_eq!(
            c.policy.stuck,
            StuckAfter {
                creating: Some(Duration::minutes(45)),
                deleting: None,
                updating: Some(Duration::minutes(120)),
            }
        );
        assert_eq!(c.policy.failed_reminder, Some(Duration::hours(24)));
        for (name, value) in [
            ("STUCK_UPDATING_MINUTES", "an hour"),
            ("STUCK_CREATING_MINUTES", "-1"),
            ("STUCK_DELETING_MINUTES", "10081"),
            ("FAILED_REMINDER_HOURS", "721"),
        ] {
            let mut vars = BASE.to_vec();
            vars.push((name, value));
            let err = config(&vars).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("setting {name}: expected a whole number of "))
                    && err.contains(&format!("{value:?}")),
                "{name}={value}: {err}"
            );
        }
    }

    #[test]
    fn huge_or_repeated_values_are_named_errors_not_panics() {
        for (name, value, expected) in [
            (
                "VANISHED_RETENTION_DAYS",
                "99999999999",
                "setting VANISHED_RETENTION_DAYS",
            ),
            (
                "VANISHED_RETENTION_DAYS",
                "99999999999999999999",
                "setting VANISHED_RETENTION_DAYS",
            ),
            (
                "CLAIM_TTL_SECONDS",
                "9223372036854775807",
                "setting CLAIM_TTL_SECONDS",
            ),
            ("ALERT_MAX_ATTEMPTS", "0", "setting ALERT_MAX_ATTEMPTS"),
            (
                "REGIONS",
                "us-east-1,eu-west-1,us-east-1",
                "setting REGIONS: us-east-1 is listed twice",
            ),
        ] {
            let mut vars = BASE.to_vec();
            vars.push((name, value));
            let err = config(&vars).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{name}={value}: {err}");
        }
    }

    #[test]
    fn each_bad_setting_is_named() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (
                &[("TOPIC_ARN", "arn:aws:sns:us-east-1:1:t")],
                "setting TABLE_NAME: is required",
            ),
            (
                &[("TABLE_NAME", "t!"), ("TOPIC_ARN", "x")],
                "setting TABLE_NAME",
            ),
            (
                &[("TABLE_NAME", "table"), ("TOPIC_ARN", "my-topic")],
                "setting TOPIC_ARN",
            ),
            (
                &[
                    ("TABLE_NAME", "table"),
                    ("TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
                    ("REGIONS", "mars"),
                ],
                "setting REGIONS",
            ),
            (
                &[
                    ("TABLE_NAME", "table"),
                    ("TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
                ],
                "setting REGIONS: is empty and AWS_REGION is not set",
            ),
            (
                &[
                    ("TABLE_NAME", "table"),
                    ("TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
                    ("AWS_REGION", "us-east-1"),
                    ("CLAIM_TTL_SECONDS", "-5"),
                ],
                "setting CLAIM_TTL_SECONDS",
            ),
        ];
        for (vars, expected) in cases {
            let err = config(vars).unwrap_err().to_string();
            assert!(
                err.starts_with(expected),
                "{err:?} should start with {expected:?}"
            );
        }
        let mut vars = BASE.to_vec();
        vars.push(("ALERT_CRITICAL_STATUSES", "CREATE_FAILD"));
        assert!(
            config(&vars)
                .unwrap_err()
                .to_string()
                .contains("ALERT_CRITICAL_STATUSES")
        );
    }
}
