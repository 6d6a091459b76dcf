//! Checks of `template.yaml` that cfn-lint and `sam validate` do not make: least
//! privilege, an explicit JSON log group per function, the keys that let alarms
//! publish, the alarms a user relies on, a health path for the monitor's own
//! alarms that shares neither topic nor key with the alerts, a dashboard body
//! that parses, the permissions for other accounts and the fan-out to the scan
//! worker; and of `infra/member-account-role.yaml`, the role a member account
//! gives the monitor.
//!
//! The template is read as CloudFormation sees it: short-form tags (`!Ref`,
//! `!GetAtt`, `!Sub`, ...) become their long forms (`{"Ref": ..}`,
//! `{"Fn::GetAtt": [..]}`, `{"Fn::Sub": ..}`). Each check returns the problems it
//! finds, each naming the offending resource; the `*_fires_*` tests break a copy
//! of the template and show that the check reports it.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

const TEMPLATE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
const MEMBER_TEMPLATE: &str = "infra/member-account-role.yaml";
const MEMBER_TEMPLATE_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../infra/member-account-role.yaml"
);
const MONITOR_BINARY: &str = "status-monitor";
const NAMESPACE_PARAMETER: &str = "MetricsNamespace";
const NOTIFIER_BINARY: &str = "slack-notifier";
/// The topic of the data-store alerts, and the one of the monitor's own health.
const ALERT_TOPIC: &str = "AlertTopic";
const HEALTH_TOPIC: &str = "HealthTopic";
/// The only alarm about the data stores rather than the monitor: it watches this
/// metric and goes to the alert topic; every other alarm goes to the health topic.
const DATASTORE_METRIC: &str = "FailedDatastores";

fn template_text() -> String {
    std::fs::read_to_string(TEMPLATE_PATH)
        .unwrap_or_else(|e| panic!("reading {TEMPLATE_PATH}: {e}"))
}

fn member_template_text() -> String {
    std::fs::read_to_string(MEMBER_TEMPLATE_PATH)
        .unwrap_or_else(|e| panic!("reading {MEMBER_TEMPLATE_PATH}: {e}"))
}

/// Parses CloudFormation YAML into its JSON form.
fn parse(text: &str) -> Value {
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).expect("the template is valid YAML");
    to_json(yaml)
}

fn to_json(value: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .unwrap_or_else(|| json!(n.as_f64())),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(mapping) => Value::Object(
            mapping
                .into_iter()
                .map(|(k, v)| {
                    let key = match to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                "GetAtt" => {
                    // `!GetAtt Resource.Attribute` is the short form of `[Resource, Attribute]`.
                    let parts = match &inner {
                        Value::String(s) => match s.split_once('.') {
                            Some((resource, attribute)) => json!([resource, attribute]),
                            None => inner.clone(),
                        },
                        _ => inner,
                    };
                    json!({ "Fn::GetAtt": parts })
                }
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

fn resources(t: &Value) -> &Map<String, Value> {
    t["Resources"].as_object().expect("template has Resources")
}

fn of_type<'a>(t: &'a Value, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
    resources(t).iter().filter(move |(_, r)| r["Type"] == kind)
}

fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

fn get_att(id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attribute] })
}

/// A string or a list of strings, as IAM's Action and Resource take them.
fn strings(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

// ------------------------------------------------------------------ policies

struct Statement<'a> {
    resource: &'a str,
    kind: &'a str,
    body: &'a Map<String, Value>,
}

impl Statement<'_> {
    fn describe(&self) -> String {
        match self.body.get("Sid").and_then(Value::as_str) {
            Some(sid) => format!("{} ({}), statement {sid}", self.resource, self.kind),
            None => {
                let actions: Vec<String> = self.actions().iter().map(|a| a.to_string()).collect();
                format!(
                    "{} ({}), the statement of {}",
                    self.resource,
                    self.kind,
                    actions.join(", ")
                )
            }
        }
    }

    fn actions(&self) -> Vec<&Value> {
        strings(self.body.get("Action").unwrap_or(&Value::Null))
    }
}

/// Every policy statement in the template: in functions' Policies, roles,
/// managed policies, key policies, queue and topic policies alike. Both
/// branches of an `Fn::If` statement count.
fn statements(t: &Value) -> Vec<Statement<'_>> {
    let mut found = Vec::new();
    for (id, resource) in resources(t) {
        let kind = resource["Type"].as_str().unwrap_or("?");
        walk_for_statements(&resource["Properties"], id, kind, &mut found);
    }
    found
}

fn walk_for_statements<'a>(
    v: &'a Value,
    resource: &'a str,
    kind: &'a str,
    found: &mut Vec<Statement<'a>>,
) {
    match v {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "Statement" {
                    for item in strings(child) {
                        collect_statement(item, resource, kind, found);
                    }
                } else {
                    walk_for_statements(child, resource, kind, found);
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| walk_for_statements(i, resource, kind, found)),
        _ => {}
    }
}

fn collect_statement<'a>(
    v: &'a Value,
    resource: &'a str,
    kind: &'a str,
    found: &mut Vec<Statement<'a>>,
) {
    if let Some([_, yes, no]) = v["Fn::If"].as_array().map(Vec::as_slice) {
        collect_statement(yes, resource, kind, found);
        collect_statement(no, resource, kind, found);
    } else if *v == reference("AWS::NoValue") {
    } else if let Some(body) = v.as_object() {
        found.push(Statement {
            resource,
            kind,
            body,
        });
    }
}

fn wildcard_action_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for s in statements(t) {
        if s.body.contains_key("NotAction") {
            problems.push(format!(
                "{}: NotAction grants everything but the listed actions",
                s.describe()
            ));
        }
        for action in s.actions() {
            match action.as_str() {
                Some(a) if a.contains('*') => {
                    problems.push(format!("{}: wildcard action {a}", s.describe()))
                }
                Some(_) => {}
                None => problems.push(format!(
                    "{}: action {action} is not a literal",
                    s.describe()
                )),
            }
        }
    }
    problems
}

/// Actions that define no resource type in the Service Authorization Reference,
/// so that IAM only accepts Resource `*` for them.
const UNSCOPED_ACTIONS: [&str; 2] = [
    "healthlake:ListFHIRDatastores",
    "organizations:ListAccounts",
];

/// `*` as a Resource is accepted only where it cannot be narrowed: in a key
/// policy, where it means the key itself, and in a statement of one of the
/// `UNSCOPED_ACTIONS` alone.
fn resource_star_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for s in statements(t) {
        if s.body.contains_key("NotResource") {
            problems.push(format!(
                "{}: NotResource applies to everything but the listed resources",
                s.describe()
            ));
        }
        let star = strings(s.body.get("Resource").unwrap_or(&Value::Null)).contains(&&json!("*"));
        if !star || s.kind == "AWS::KMS::Key" {
            continue;
        }
        let actions = s.actions();
        let unscoped = actions.len() == 1
            && actions[0]
                .as_str()
                .is_some_and(|a| UNSCOPED_ACTIONS.contains(&a));
        if !unscoped {
            let actions: Vec<String> = s.actions().iter().map(|a| a.to_string()).collect();
            problems.push(format!(
                "{}: Resource \"*\" for {}",
                s.describe(),
                actions.join(", ")
            ));
        }
    }
    problems
}

// ------------------------------------------------------------------ functions

fn functions(t: &Value) -> impl Iterator<Item = (&String, &Value)> {
    of_type(t, "AWS::Serverless::Function")
}

/// The events of a SAM function (`Properties.Events`), whatever their names.
fn events(function: &Value) -> impl Iterator<Item = &Value> {
    function["Properties"]["Events"]
        .as_object()
        .into_iter()
        .flat_map(|e| e.values())
}

/// The scheduled function of the status-monitor binary; the scan worker builds
/// the same binary but is started by its queue.
fn monitor_function_id(t: &Value) -> &str {
    functions(t)
        .find(|(_, f)| {
            f["Metadata"]["BuildProperties"]["Binary"] == MONITOR_BINARY
                && events(f).any(|e| e["Type"] == "ScheduleV2")
        })
        .map(|(id, _)| id.as_str())
        .expect("a scheduled function builds the status-monitor binary")
}

fn log_group_problems(t: &Value) -> Vec<String> {
    let globals = &t["Globals"]["Function"]["LoggingConfig"];
    let mut problems = Vec::new();
    let mut groups_in_use = BTreeSet::new();
    for (id, function) in functions(t) {
        let own = &function["Properties"]["LoggingConfig"];
        let setting = |key: &str| {
            own.get(key)
                .or_else(|| globals.get(key))
                .cloned()
                .unwrap_or(Value::Null)
        };
        if setting("LogFormat") != "JSON" {
            problems.push(format!("{id}: LoggingConfig.LogFormat is not JSON"));
        }
        let Some(group) = own["LogGroup"]["Ref"].as_str() else {
            problems.push(format!(
                "{id}: LoggingConfig.LogGroup does not !Ref a log group of this template"
            ));
            continue;
        };
        let Some(resource) = resources(t)
            .get(group)
            .filter(|r| r["Type"] == "AWS::Logs::LogGroup")
        else {
            problems.push(format!(
                "{id}: LoggingConfig.LogGroup {group} is not an AWS::Logs::LogGroup"
            ));
            continue;
        };
        if resource["Properties"]["RetentionInDays"].is_null() {
            problems.push(format!(
                "{id}: its log group {group} keeps logs forever (no RetentionInDays)"
            ));
        }
        if resource["Condition"] != function["Condition"] {
            problems.push(format!(
                "{id}: its log group {group} is created under a different Condition"
            ));
        }
        if !groups_in_use.insert(group) {
            problems.push(format!(
                "{id}: shares log group {group} with another function"
            ));
        }
    }
    problems
}

/// A function without its own role gets SAM's, with AWSLambdaBasicExecutionRole:
/// log permissions on every log group of the account. The functions of one
/// binary (the scheduled monitor and its scan worker) share a role, the one the
/// member accounts trust; functions of different binaries never do.
fn role_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    // Each role, with the binary of the first function found under it.
    let mut roles_in_use: BTreeMap<&str, &Value> = BTreeMap::new();
    for (id, function) in functions(t) {
        let Some(role) = function["Properties"]["Role"]["Fn::GetAtt"][0].as_str() else {
            problems.push(format!(
                "{id}: no Role: !GetAtt <role>.Arn, so SAM attaches its broad default role"
            ));
            continue;
        };
        match resources(t).get(role) {
            Some(r) if r["Type"] == "AWS::IAM::Role" => {
                if !r["Properties"]["ManagedPolicyArns"].is_null() {
                    problems.push(format!("{id}: its role {role} attaches managed policies"));
                }
            }
            _ => problems.push(format!(
                "{id}: Role {role} is not an AWS::IAM::Role of this template"
            )),
        }
        let binary = &function["Metadata"]["BuildProperties"]["Binary"];
        let first = *roles_in_use.entry(role).or_insert(binary);
        if first != binary {
            problems.push(format!(
                "{id}: shares role {role} with a function of another binary ({first})"
            ));
        }
    }
    problems
}

fn build_problems(t: &Value) -> Vec<String> {
    let globals = &t["Globals"]["Function"];
    let mut problems = Vec::new();
    for (key, expected) in [
        ("Runtime", json!("provided.al2023")),
        ("Handler", json!("bootstrap")),
        ("Architectures", json!(["arm64"])),
    ] {
        if globals[key] != expected {
            problems.push(format!(
                "Globals.Function.{key} is {}, not {expected}",
                globals[key]
            ));
        }
    }
    for (id, function) in functions(t) {
        for key in ["Runtime", "Handler", "Architectures"] {
            if !function["Properties"][key].is_null() {
                problems.push(format!("{id}: overrides Globals.Function.{key}"));
            }
        }
        if function["Metadata"]["BuildMethod"] != "rust-cargolambda" {
            problems.push(format!(
                "{id}: Metadata.BuildMethod is not rust-cargolambda"
            ));
        }
        if !function["Metadata"]["BuildProperties"]["Binary"].is_string() {
            problems.push(format!(
                "{id}: Metadata.BuildProperties.Binary names no binary"
            ));
        }
        if function["Properties"]["CodeUri"] != "." {
            problems.push(format!("{id}: CodeUri is not the workspace root"));
        }
    }
    problems
}

// ------------------------------------------------------------------ alarms

#[derive(Debug)]
struct MetricRef<'a> {
    namespace: &'a Value,
    name: &'a Value,
    dimensions: Vec<(&'a Value, &'a Value)>,
    stat: &'a Value,
}

struct Alarm<'a> {
    id: &'a str,
    resource: &'a Value,
    metrics: Vec<MetricRef<'a>>,
}

impl Alarm<'_> {
    fn property(&self, key: &str) -> &Value {
        &self.resource["Properties"][key]
    }

    fn watches(&self, namespace: &Value, name: &str) -> Option<&MetricRef<'_>> {
        self.metrics
            .iter()
            .find(|m| m.namespace == namespace && m.name == name)
    }

    fn fires_at_or_above_one(&self) -> bool {
        self.property("ComparisonOperator") == "GreaterThanOrEqualToThreshold"
            && self.property("Threshold") == 1
    }
}

fn dimensions(v: &Value) -> Vec<(&Value, &Value)> {
    strings(v)
        .into_iter()
        .map(|d| (&d["Name"], &d["Value"]))
        .collect()
}

fn alarms(t: &Value) -> Vec<Alarm<'_>> {
    of_type(t, "AWS::CloudWatch::Alarm")
        .map(|(id, resource)| {
            let p = &resource["Properties"];
            let mut metrics = Vec::new();
            if !p["MetricName"].is_null() {
                metrics.push(MetricRef {
                    namespace: &p["Namespace"],
                    name: &p["MetricName"],
                    dimensions: dimensions(&p["Dimensions"]),
                    stat: &p["Statistic"],
                });
            }
            for query in strings(&p["Metrics"]) {
                let stat = &query["MetricStat"];
                if stat.is_object() {
                    metrics.push(MetricRef {
                        namespace: &stat["Metric"]["Namespace"],
                        name: &stat["Metric"]["MetricName"],
                        dimensions: dimensions(&stat["Metric"]["Dimensions"]),
                        stat: &stat["Stat"],
                    });
                }
            }
            Alarm {
                id,
                resource,
                metrics,
            }
        })
        .collect()
}

/// Queues that receive what could not be processed: named under a
/// DeadLetterConfig, an OnFailure destination or a RedrivePolicy anywhere.
fn dead_letter_queues(t: &Value) -> BTreeSet<&str> {
    fn queue_refs<'a>(v: &'a Value, under_dlq: bool, found: &mut BTreeSet<&'a str>) {
        match v {
            Value::Object(map) => {
                if under_dlq && let Some(id) = map.get("Fn::GetAtt").and_then(|a| a[0].as_str()) {
                    found.insert(id);
                }
                for (key, child) in map {
                    let dlq = under_dlq
                        || matches!(
                            key.as_str(),
                            "DeadLetterConfig" | "OnFailure" | "RedrivePolicy"
                        );
                    queue_refs(child, dlq, found);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| queue_refs(i, under_dlq, found)),
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    queue_refs(&t["Resources"], false, &mut found);
    found.retain(|id| {
        resources(t)
            .get(*id)
            .is_some_and(|r| r["Type"] == "AWS::SQS::Queue")
    });
    found
}

/// Reports `wanted` as missing unless some alarm both `watches` its metric and
/// is `set` right; alarms that watch the metric but are set wrong are named.
fn require_alarm<'a>(
    alarms: &[Alarm<'a>],
    wanted: &str,
    watches: impl Fn(&Alarm<'a>) -> bool,
    set: impl Fn(&Alarm<'a>) -> bool,
    problems: &mut Vec<String>,
) {
    if alarms.iter().any(|a| watches(a) && set(a)) {
        return;
    }
    let near: Vec<&str> = alarms.iter().filter(|a| watches(a)).map(|a| a.id).collect();
    if near.is_empty() {
        problems.push(format!("no alarm {wanted}"));
    } else {
        problems.push(format!(
            "{}: watches the metric but is not an alarm {wanted}",
            near.join(", ")
        ));
    }
}

fn alarm_problems(t: &Value) -> Vec<String> {
    let alarms = alarms(t);
    let ours = reference(NAMESPACE_PARAMETER);
    let lambda = json!("AWS/Lambda");
    let sqs = json!("AWS/SQS");
    let mut problems = Vec::new();

    // A scope that could not be listed publishes no FailedDatastores figure:
    // missing data must keep the alarm's state, never read as recovery.
    require_alarm(
        &alarms,
        "on FailedDatastores (Maximum >= 1, missing data ignored) in the MetricsNamespace namespace",
        |a| a.watches(&ours, DATASTORE_METRIC).is_some(),
        |a| {
            a.fires_at_or_above_one()
                && a.watches(&ours, DATASTORE_METRIC).map(|m| m.stat) == Some(&json!("Maximum"))
                && a.property("TreatMissingData") == "ignore"
        },
        &mut problems,
    );
    require_alarm(
        &alarms,
        "named ${AWS::StackName}-alerts-undeliverable on AlertsUndeliverable",
        |a| a.watches(&ours, "AlertsUndeliverable").is_some(),
        |a| {
            *a.property("AlarmName")
                == json!({ "Fn::Sub": "${AWS::StackName}-alerts-undeliverable" })
        },
        &mut problems,
    );

    let monitor_id = monitor_function_id(t);
    let monitor = reference(monitor_id);
    require_alarm(
        &alarms,
        &format!("on AWS/Lambda Errors >= 1 of {monitor_id}"),
        |a| {
            a.watches(&lambda, "Errors")
                .is_some_and(|m| m.dimensions.contains(&(&json!("FunctionName"), &monitor)))
        },
        |a| a.fires_at_or_above_one(),
        &mut problems,
    );
    for name in [
        "ScanErrors",
        "AlertsFailed",
        "AlertsUndeliverable",
        "CorruptSnapshotItems",
    ] {
        require_alarm(
            &alarms,
            &format!("on {name} >= 1 in the MetricsNamespace namespace"),
            |a| a.watches(&ours, name).is_some(),
            |a| a.fires_at_or_above_one(),
            &mut problems,
        );
    }

    // An account skipped in one tick is worth an alarm; no figure at all is the
    // silence alarm's business.
    require_alarm(
        &alarms,
        "on AccountsNotScanned (Sum >= 1, missing data not breaching, unconditional) in the MetricsNamespace namespace",
        |a| a.watches(&ours, "AccountsNotScanned").is_some(),
        |a| {
            a.fires_at_or_above_one()
                && a.watches(&ours, "AccountsNotScanned").map(|m| m.stat) == Some(&json!("Sum"))
                && a.property("TreatMissingData") == "notBreaching"
                && a.resource["Condition"].is_null()
        },
        &mut problems,
    );

    require_alarm(
        &alarms,
        "on Scans (Sum < 1, missing data breaching) for a silent monitor",
        |a| a.watches(&ours, "Scans").is_some(),
        |a| {
            a.watches(&ours, "Scans").map(|m| m.stat) == Some(&json!("Sum"))
                && a.property("ComparisonOperator") == "LessThanThreshold"
                && a.property("Threshold") == 1
                && a.property("TreatMissingData") == "breaching"
        },
        &mut problems,
    );

    let queues = dead_letter_queues(t);
    if queues.len() < 2 {
        problems.push(format!(
            "expected the monitor's and the notifier's dead-letter queues, found {queues:?}"
        ));
    }
    for queue in queues {
        let name = get_att(queue, "QueueName");
        let condition = &resources(t)[queue]["Condition"];
        require_alarm(
            &alarms,
            &format!(
                "on ApproximateNumberOfMessagesVisible >= 1 of dead-letter queue {queue}, under its Condition"
            ),
            |a| {
                a.watches(&sqs, "ApproximateNumberOfMessagesVisible")
                    .is_some_and(|m| m.dimensions.contains(&(&json!("QueueName"), &name)))
            },
            |a| a.fires_at_or_above_one() && &a.resource["Condition"] == condition,
            &mut problems,
        );
    }

    let topics: Vec<Value> = of_type(t, "AWS::SNS::Topic")
        .map(|(id, _)| reference(id))
        .collect();
    for a in &alarms {
        if !strings(a.property("AlarmActions"))
            .iter()
            .any(|action| topics.contains(action))
        {
            problems.push(format!(
                "{}: AlarmActions notify no topic of this template",
                a.id
            ));
        }
    }
    problems
}

// ------------------------------------------------------------------ topic key

/// CloudWatch alarms cannot publish to a topic under the AWS managed key
/// alias/aws/sns; the key the template creates must let them.
fn topic_key_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let cloudwatch = json!("cloudwatch.amazonaws.com");
    for (topic, resource) in of_type(t, "AWS::SNS::Topic") {
        let key = &resource["Properties"]["KmsMasterKeyId"];
        let text = key.to_string();
        if key.is_null() || text.contains("alias/aws/sns") {
            problems.push(format!(
                "{topic}: not encrypted with a key CloudWatch alarms can use"
            ));
            continue;
        }
        let created: Vec<&str> = of_type(t, "AWS::KMS::Key")
            .map(|(id, _)| id.as_str())
            .filter(|id| text.contains(&reference(id).to_string()))
            .collect();
        if created.is_empty() {
            problems.push(format!("{topic}: encrypted with no key of this template"));
        }
        for key_id in created {
            let grants = |action: &str| {
                statements(t).iter().any(|s| {
                    s.resource == key_id
                        && s.body["Effect"] == "Allow"
                        && strings(&s.body["Principal"]["Service"]).contains(&&cloudwatch)
                        && s.actions().contains(&&json!(action))
                })
            };
            for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
                if !grants(action) {
                    problems.push(format!(
                        "{key_id}: key of {topic} does not allow cloudwatch.amazonaws.com {action}"
                    ));
                }
            }
        }
    }
    problems
}

// ------------------------------------------------------------------ health path

/// Every `Ref` and `Fn::GetAtt` target inside `v`, whatever the nesting
/// (`Fn::If` branches, lists).
fn referenced_ids(v: &Value) -> BTreeSet<&str> {
    fn walk<'a>(v: &'a Value, found: &mut BTreeSet<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(id) = map.get("Ref").and_then(Value::as_str) {
                    found.insert(id);
                }
                if let Some(id) = map.get("Fn::GetAtt").and_then(|a| a[0].as_str()) {
                    found.insert(id);
                }
                map.values().for_each(|child| walk(child, found));
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, found)),
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    walk(v, &mut found);
    found
}

/// Alarms about the monitor itself notify only the health topic; the alarm about
/// the data stores notifies only the alert topic; both on ALARM and on OK.
fn health_path_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if !resources(t)
        .get(HEALTH_TOPIC)
        .is_some_and(|r| r["Type"] == "AWS::SNS::Topic" && r["Condition"].is_null())
    {
        problems.push(format!(
            "no unconditional AWS::SNS::Topic {HEALTH_TOPIC} for the monitor's own alarms"
        ));
    }
    if t["Outputs"]["HealthTopicArn"]["Value"] != reference(HEALTH_TOPIC) {
        problems.push(format!(
            "no output HealthTopicArn with the ARN of {HEALTH_TOPIC}"
        ));
    }
    let ours = reference(NAMESPACE_PARAMETER);
    for a in alarms(t) {
        let (topic, what) = if a.watches(&ours, DATASTORE_METRIC).is_some() {
            (ALERT_TOPIC, "an alarm about the data stores")
        } else {
            (HEALTH_TOPIC, "an alarm about the monitor itself")
        };
        for key in ["AlarmActions", "OKActions"] {
            let actions = a.property(key);
            if *actions != json!([reference(topic)]) {
                problems.push(format!(
                    "{}: {what}, its {key} are {actions} instead of only {topic}",
                    a.id
                ));
            }
        }
    }
    problems
}

/// The health topic must keep working when the alert topic's key is disabled,
/// deleted or its policy broken: it is encrypted with a key of its own, created by
/// the stack whatever the parameters, that nothing else uses.
fn health_key_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let key_of = |topic: &str| &resources(t)[topic]["Properties"]["KmsMasterKeyId"];
    let Some(health) = resources(t).get(HEALTH_TOPIC) else {
        return vec![format!("no {HEALTH_TOPIC}")];
    };
    let health_key = &health["Properties"]["KmsMasterKeyId"];
    let Some(key_id) = health_key["Ref"].as_str() else {
        return vec![format!(
            "{HEALTH_TOPIC}: KmsMasterKeyId is {health_key}, not a !Ref to one key of this template"
        )];
    };
    match resources(t).get(key_id) {
        Some(k) if k["Type"] == "AWS::KMS::Key" => {
            if !k["Condition"].is_null() {
                problems.push(format!(
                    "{HEALTH_TOPIC}: its key {key_id} exists only under Condition {}",
                    k["Condition"]
                ));
            }
        }
        _ => problems.push(format!(
            "{HEALTH_TOPIC}: {key_id} is not an AWS::KMS::Key of this template"
        )),
    }
    let alert_keys = referenced_ids(key_of(ALERT_TOPIC));
    if alert_keys.contains(key_id) {
        problems.push(format!(
            "{HEALTH_TOPIC}: shares its key {key_id} with {ALERT_TOPIC}, so one broken key silences the alarms about it"
        ));
    }
    // Nothing else (queues, log groups, the table) may depend on the health key.
    for (id, r) in resources(t) {
        if id != HEALTH_TOPIC
            && r["Type"] != "AWS::KMS::Alias"
            && referenced_ids(&r["Properties"]).contains(key_id)
        {
            problems.push(format!("{id}: uses {key_id}, the health topic's own key"));
        }
    }
    problems
}

/// Both topics reach the same people: the email address, the Chatbot channel and
/// the webhook notifier (with a redrive to its dead-letter queue, which SNS may
/// write to for either topic).
fn subscription_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let notifier = functions(t)
        .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == NOTIFIER_BINARY)
        .map(|(id, f)| (id.as_str(), f));
    for topic in [ALERT_TOPIC, HEALTH_TOPIC] {
        let topic_ref = reference(topic);
        let email = of_type(t, "AWS::SNS::Subscription").any(|(_, s)| {
            let p = &s["Properties"];
            p["TopicArn"] == topic_ref
                && p["Protocol"] == "email"
                && p["Endpoint"] == reference("AlertEmail")
                && s["Condition"] == "HasAlertEmail"
        });
        if !email {
            problems.push(format!(
                "{topic}: no email subscription of AlertEmail under HasAlertEmail"
            ));
        }
        let mut channels = of_type(t, "AWS::Chatbot::SlackChannelConfiguration").peekable();
        if channels.peek().is_none() {
            problems.push("no AWS::Chatbot::SlackChannelConfiguration".to_string());
        }
        for (id, channel) in channels {
            if !strings(&channel["Properties"]["SnsTopicArns"]).contains(&&topic_ref) {
                problems.push(format!("{id}: SnsTopicArns lacks {topic}"));
            }
        }
        let Some((notifier_id, function)) = notifier else {
            problems.push(format!("no function builds {NOTIFIER_BINARY}"));
            continue;
        };
        let events: Vec<&Value> = function["Properties"]["Events"]
            .as_object()
            .into_iter()
            .flat_map(|e| e.values())
            .filter(|e| e["Type"] == "SNS" && e["Properties"]["Topic"] == topic_ref)
            .collect();
        let Some(event) = events.first() else {
            problems.push(format!("{notifier_id}: no SNS event from {topic}"));
            continue;
        };
        let dlq = &event["Properties"]["RedrivePolicy"]["deadLetterTargetArn"];
        let Some(queue) = dlq["Fn::GetAtt"][0].as_str() else {
            problems.push(format!(
                "{notifier_id}: the SNS event from {topic} has no RedrivePolicy to a queue of this template"
            ));
            continue;
        };
        let allowed = of_type(t, "AWS::SQS::QueuePolicy").any(|(policy_id, policy)| {
            policy["Properties"]["Queues"] == json!([reference(queue)])
                && statements(t).iter().any(|s| {
                    s.resource == policy_id
                        && s.body["Effect"] == "Allow"
                        && s.body["Principal"]["Service"] == "sns.amazonaws.com"
                        && s.actions().contains(&&json!("sqs:SendMessage"))
                        && strings(&s.body["Condition"]["ArnEquals"]["aws:SourceArn"])
                            .contains(&&topic_ref)
                })
        });
        if !allowed {
            problems.push(format!(
                "{queue}: no queue policy lets SNS redrive messages of {topic} into it"
            ));
        }
    }
    problems
}

// ------------------------------------------------------------------ key policies

/// A service principal in a key policy acts for any account unless the statement
/// binds it to this one: `aws:SourceAccount`, or for CloudWatch Logs (which
/// documents no source keys for KMS) the log-group ARN in the encryption context.
fn key_policy_condition_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let account = reference("AWS::AccountId");
    for s in statements(t) {
        if s.kind != "AWS::KMS::Key" {
            continue;
        }
        let services = strings(&s.body["Principal"]["Service"]);
        if services.is_empty() {
            continue;
        }
        let condition = &s.body["Condition"];
        // `logs.<region>.amazonaws.com`, written with !Sub.
        let logs = services.iter().all(|v| {
            v.to_string()
                .contains("\"logs.${AWS::Region}.amazonaws.com\"")
        });
        let bound = if logs {
            condition["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
                .to_string()
                .contains("${AWS::AccountId}")
        } else {
            condition["StringEquals"]["aws:SourceAccount"] == account
        };
        if !bound {
            let names: Vec<String> = services.iter().map(|v| v.to_string()).collect();
            problems.push(format!(
                "{}: {} may use the key for any account (no aws:SourceAccount condition)",
                s.describe(),
                names.join(", ")
            ));
        }
        let cloudwatch = services.contains(&&json!("cloudwatch.amazonaws.com"));
        if cloudwatch
            && !condition["ArnLike"]["aws:SourceArn"]
                .to_string()
                .contains(":alarm:${AWS::StackName}-")
        {
            problems.push(format!(
                "{}: cloudwatch.amazonaws.com is not limited to this stack's alarms (aws:SourceArn)",
                s.describe()
            ));
        }
    }
    problems
}

/// KMS permissions in roles name the keys they are for: keys of this template or
/// the key ARNs given as parameters, never `*` or a literal.
fn kms_scope_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let parameters = t["Parameters"].as_object().cloned().unwrap_or_default();
    for s in statements(t) {
        if s.kind == "AWS::KMS::Key"
            || !s
                .actions()
                .iter()
                .any(|a| a.as_str().is_some_and(|a| a.starts_with("kms:")))
        {
            continue;
        }
        let resource = s.body.get("Resource").unwrap_or(&Value::Null);
        let ids = referenced_ids(resource);
        let literal = resource.is_string() || strings(resource).iter().any(|r| r.is_string());
        let foreign: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| {
                let key = resources(t)
                    .get(*id)
                    .is_some_and(|r| r["Type"] == "AWS::KMS::Key");
                let key_parameter = parameters.contains_key(*id) && id.ends_with("KmsKeyArn");
                !(key || key_parameter)
            })
            .collect();
        if literal || ids.is_empty() || !foreign.is_empty() {
            problems.push(format!(
                "{}: KMS actions on {resource}, not only on keys of this template or key ARN parameters",
                s.describe()
            ));
        }
    }
    problems
}

// ------------------------------------------------------------------ notifier

/// A burst of alerts and alarms must not fan out into as many concurrent posts:
/// Slack's webhooks allow about one message a second.
fn notifier_concurrency_problems(t: &Value) -> Vec<String> {
    let Some((id, function)) =
        functions(t).find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == NOTIFIER_BINARY)
    else {
        return vec![format!("no function builds {NOTIFIER_BINARY}")];
    };
    let setting = &function["Properties"]["ReservedConcurrentExecutions"];
    // Either a number, or `!If [cond, !Ref Parameter, !Ref AWS::NoValue]`.
    let limit = match setting["Fn::If"].as_array() {
        Some(branches) if branches.len() == 3 => &branches[1],
        _ => setting,
    };
    let value = match limit["Ref"].as_str() {
        Some(parameter) => &t["Parameters"][parameter]["Default"],
        None => limit,
    };
    match value.as_i64() {
        Some(n) if (1..=10).contains(&n) => Vec::new(),
        _ => vec![format!(
            "{id}: ReservedConcurrentExecutions is {setting}, not a small limit (1 to 10 by default)"
        )],
    }
}

// ------------------------------------------------------------------ other accounts

/// What the member accounts' role may do: list data stores, read one and its
/// tags; nothing else.
const MEMBER_ACTIONS: [&str; 3] = [
    "healthlake:ListFHIRDatastores",
    "healthlake:DescribeFHIRDatastore",
    "healthlake:ListTagsForResource",
];

/// What the monitor may ask AWS Organizations: the accounts, and the OUs under a
/// root or OU for the OU filters.
const ORGANIZATION_ACTIONS: [&str; 3] = [
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
];

/// The statements of a role's own policies, each with the Condition of the
/// `Fn::If` it sits in (None when it is unconditional); `AWS::NoValue` branches
/// are left out.
fn role_policy_statements(role: &Value) -> Vec<(Option<&str>, &Map<String, Value>)> {
    let mut found = Vec::new();
    for policy in strings(&role["Properties"]["Policies"]) {
        for item in strings(&policy["PolicyDocument"]["Statement"]) {
            match item["Fn::If"].as_array().map(Vec::as_slice) {
                Some([condition, yes, no]) => {
                    for branch in [yes, no] {
                        if *branch != reference("AWS::NoValue")
                            && let Some(body) = branch.as_object()
                        {
                            found.push((condition.as_str(), body));
                        }
                    }
                }
                _ => {
                    if let Some(body) = item.as_object() {
                        found.push((None, body));
                    }
                }
            }
        }
    }
    found
}

/// The role a member account gives the monitor, as a service-managed StackSet
/// deploys it: plain CloudFormation, a fixed name, assumable only by the monitor's
/// role (the monitoring account's root narrowed by `aws:PrincipalArn`) with the
/// external id, for an hour at most, and allowed only to read data stores of its
/// own account.
fn member_role_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if !t["Transform"].is_null() {
        problems.push("has a Transform: a StackSet template is plain CloudFormation".to_string());
    }
    let roles: Vec<(&String, &Value)> = of_type(t, "AWS::IAM::Role").collect();
    let [(id, role)] = roles[..] else {
        problems.push(format!(
            "expected one AWS::IAM::Role, found {}",
            roles.len()
        ));
        return problems;
    };
    let p = &role["Properties"];
    if p["RoleName"] != reference("RoleName") {
        problems.push(format!(
            "{id}: RoleName is {}, not !Ref RoleName",
            p["RoleName"]
        ));
    }
    if t["Parameters"]["RoleName"]["Default"] != "HealthLakeMonitorReadOnly" {
        problems
            .push("parameter RoleName does not default to HealthLakeMonitorReadOnly".to_string());
    }
    if p["MaxSessionDuration"] != 3600 {
        problems.push(format!(
            "{id}: MaxSessionDuration is {}, not 3600",
            p["MaxSessionDuration"]
        ));
    }
    if !p["ManagedPolicyArns"].is_null() {
        problems.push(format!("{id}: attaches managed policies"));
    }

    let external_id = &t["Parameters"]["ExternalId"];
    if !external_id["Default"].is_null() {
        problems.push("parameter ExternalId has a Default: it must be required".to_string());
    }
    if external_id["MinLength"] != 2 || external_id["MaxLength"] != 1224 {
        problems.push(
            "parameter ExternalId does not take 2 to 1224 characters, as STS does".to_string(),
        );
    }

    let trust = strings(&p["AssumeRolePolicyDocument"]["Statement"]);
    if trust.is_empty() {
        problems.push(format!("{id}: no trust policy statement"));
    }
    for s in trust {
        if s["Effect"] != "Allow" {
            continue;
        }
        let what = format!(
            "{id}, trust statement {}",
            s["Sid"].as_str().unwrap_or("(no Sid)")
        );
        if s["Action"] != "sts:AssumeRole" {
            problems.push(format!(
                "{what}: Action is {}, not only sts:AssumeRole",
                s["Action"]
            ));
        }
        let principal = &s["Principal"];
        let only_aws = principal
            .as_object()
            .is_some_and(|m| m.len() == 1 && m.contains_key("AWS"));
        let aws = &principal["AWS"];
        if !only_aws
            || !aws.to_string().contains(":root")
            || !referenced_ids(aws).contains("MonitorRoleArn")
        {
            problems.push(format!(
                "{what}: Principal {principal} is not the root of the monitor role's account"
            ));
        }
        let condition = &s["Condition"];
        if condition["ArnEquals"]["aws:PrincipalArn"] != reference("MonitorRoleArn") {
            problems.push(format!(
                "{what}: no ArnEquals aws:PrincipalArn condition on MonitorRoleArn, so any principal of the monitoring account may assume it"
            ));
        }
        if condition["StringEquals"]["sts:ExternalId"] != reference("ExternalId") {
            problems.push(format!(
                "{what}: no StringEquals sts:ExternalId condition on ExternalId"
            ));
        }
    }

    let own_datastores = "${AWS::AccountId}:datastore/fhir/";
    let mut granted = BTreeSet::new();
    for policy in strings(&p["Policies"]) {
        for s in strings(&policy["PolicyDocument"]["Statement"]) {
            if s["Effect"] != "Allow" {
                continue;
            }
            let what = format!(
                "{id}, statement {}",
                s["Sid"].as_str().unwrap_or("(no Sid)")
            );
            let targets = strings(&s["Resource"]);
            let scoped = !targets.is_empty()
                && targets
                    .iter()
                    .all(|r| r.to_string().contains(own_datastores));
            for action in strings(&s["Action"]) {
                let Some(a) = action.as_str() else {
                    problems.push(format!("{what}: action {action} is not a literal"));
                    continue;
                };
                granted.insert(a);
                if !MEMBER_ACTIONS.contains(&a) {
                    problems.push(format!(
                        "{what}: grants {a}, beyond listing and reading data stores"
                    ));
                } else if !UNSCOPED_ACTIONS.contains(&a) && !scoped {
                    problems.push(format!(
                        "{what}: {a} on {}, not only this account's data stores",
                        s["Resource"]
                    ));
                }
            }
        }
    }
    for a in MEMBER_ACTIONS {
        if !granted.contains(a) {
            problems.push(format!("{id}: does not grant {a}"));
        }
    }

    if t["Outputs"]["RoleArn"]["Value"] != get_att(id, "Arn") {
        problems.push(format!("no output RoleArn with the ARN of {id}"));
    }
    problems
}

/// The monitor's permissions for other accounts: `sts:AssumeRole` only when roles
/// are given and only on them (the listed ARNs, or the organization's role name
/// in any account), Organizations' list calls only with an organization; and the
/// role ARN the member stacks need as an output.
fn cross_account_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (condition, parameter) in [
        ("HasAccountRoleArns", "AccountRoleArns"),
        ("HasOrganization", "OrganizationRoleName"),
    ] {
        let set = json!({ "Fn::Not": [{ "Fn::Equals": [reference(parameter), ""] }] });
        if t["Conditions"][condition] != set {
            problems.push(format!(
                "Condition {condition} is {}, not \"{parameter} is set\"",
                t["Conditions"][condition]
            ));
        }
        if t["Parameters"][parameter]["Default"] != "" {
            problems.push(format!(
                "parameter {parameter} does not default to empty (no other account)"
            ));
        }
    }

    let monitor_id = monitor_function_id(t);
    let monitor_role = resources(t)[monitor_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or("?");
    if t["Outputs"]["MonitorRoleArn"]["Value"] != get_att(monitor_role, "Arn") {
        problems.push(format!(
            "no output MonitorRoleArn with the ARN of {monitor_role}, the role of {monitor_id}"
        ));
    }

    let listed = json!({ "Fn::Split": [",", reference("AccountRoleArns")] });
    let mut assumes = BTreeSet::new();
    for (role_id, role) in of_type(t, "AWS::IAM::Role") {
        for (condition, s) in role_policy_statements(role) {
            let what = format!(
                "{role_id}, statement {}",
                s.get("Sid").and_then(Value::as_str).unwrap_or("(no Sid)")
            );
            let actions = strings(s.get("Action").unwrap_or(&Value::Null));
            let resource = s.get("Resource").unwrap_or(&Value::Null);
            if actions.contains(&&json!("sts:AssumeRole")) {
                let by_name = resource["Fn::Sub"]
                    .as_str()
                    .is_some_and(|r| r.ends_with(":role/${OrganizationRoleName}"));
                match condition {
                    Some("HasAccountRoleArns") if *resource == listed => {
                        assumes.insert(("listed roles", role_id.as_str()));
                    }
                    Some("HasOrganization") if by_name => {
                        assumes.insert(("organization's role", role_id.as_str()));
                    }
                    _ => problems.push(format!(
                        "{what}: sts:AssumeRole on {resource} under Condition {condition:?}, not the listed roles under HasAccountRoleArns or the organization's role name under HasOrganization"
                    )),
                }
                if actions.len() != 1 {
                    problems.push(format!("{what}: grants more than sts:AssumeRole"));
                }
            }
            for a in actions.iter().filter_map(|a| a.as_str()) {
                if !a.starts_with("organizations:") {
                    continue;
                }
                if condition != Some("HasOrganization") {
                    problems.push(format!("{what}: {a} outside Condition HasOrganization"));
                }
                if !ORGANIZATION_ACTIONS.contains(&a) {
                    problems.push(format!("{what}: {a} is more than listing accounts and OUs"));
                }
            }
        }
    }
    for wanted in ["listed roles", "organization's role"] {
        if !assumes.contains(&(wanted, monitor_role)) {
            problems.push(format!(
                "{monitor_role}: no sts:AssumeRole statement for the {wanted}, under its condition"
            ));
        }
    }
    problems
}

/// Each setting for other accounts and for the fan-out reaches the scheduled
/// monitor from its parameter, and each parameter is in a group of the console's
/// form.
const ACCOUNT_SETTINGS: [(&str, &str); 9] = [
    ("ACCOUNT_ROLE_ARNS", "AccountRoleArns"),
    ("ORGANIZATION_ROLE_NAME", "OrganizationRoleName"),
    ("INCLUDE_ACCOUNTS", "IncludeAccounts"),
    ("EXCLUDE_ACCOUNTS", "ExcludeAccounts"),
    ("INCLUDE_OUS", "IncludeOrganizationalUnits"),
    ("EXCLUDE_OUS", "ExcludeOrganizationalUnits"),
    ("EXTERNAL_ID", "ExternalId"),
    ("SCAN_CONCURRENCY", "ScanConcurrency"),
    ("FANOUT_BATCH_ACCOUNTS", "FanOutBatchAccounts"),
];

fn account_setting_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let monitor_id = monitor_function_id(t);
    let variables = &resources(t)[monitor_id]["Properties"]["Environment"]["Variables"];
    let grouped: BTreeSet<&str> =
        strings(&t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"])
            .into_iter()
            .flat_map(|g| strings(&g["Parameters"]))
            .filter_map(Value::as_str)
            .collect();
    for (variable, parameter) in ACCOUNT_SETTINGS {
        if variables[variable] != reference(parameter) {
            problems.push(format!(
                "{monitor_id}: {variable} is {}, not !Ref {parameter}",
                variables[variable]
            ));
        }
    }
    // FanOut reaches the monitor as FANOUT_QUEUE_URL, checked by fan_out_problems.
    for parameter in ACCOUNT_SETTINGS.iter().map(|(_, p)| *p).chain(["FanOut"]) {
        if t["Parameters"][parameter].is_null() {
            problems.push(format!("no parameter {parameter}"));
        }
        if !grouped.contains(parameter) {
            problems.push(format!(
                "parameter {parameter} is in no ParameterGroup of the console's form"
            ));
        }
    }
    problems
}

/// With FanOut, the scheduled tick queues batches of accounts and a second
/// function of the same binary and role scans them from an SQS queue, reporting
/// the batches it could not scan one by one; the queue redrives to a dead-letter
/// queue with an alarm. Without FanOut none of it exists and the tick scans.
fn fan_out_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let condition = json!("FanOutEnabled");
    if t["Conditions"]["FanOutEnabled"] != json!({ "Fn::Equals": [reference("FanOut"), "true"] }) {
        problems.push("Condition FanOutEnabled is not FanOut = \"true\"".to_string());
    }
    if t["Parameters"]["FanOut"]["Default"] != "false" {
        problems.push("parameter FanOut does not default to \"false\"".to_string());
    }

    let monitor_id = monitor_function_id(t);
    let monitor = &resources(t)[monitor_id];
    let variables = &monitor["Properties"]["Environment"]["Variables"];
    let url = &variables["FANOUT_QUEUE_URL"];
    let queue_id = match url["Fn::If"].as_array().map(Vec::as_slice) {
        Some([c, yes, no]) if *c == condition && *no == reference("AWS::NoValue") => {
            yes["Ref"].as_str()
        }
        _ => None,
    };
    let Some(queue_id) = queue_id else {
        problems.push(format!(
            "{monitor_id}: FANOUT_QUEUE_URL is {url}, not !If [FanOutEnabled, !Ref <queue>, !Ref AWS::NoValue]"
        ));
        return problems;
    };
    let Some(queue) = resources(t)
        .get(queue_id)
        .filter(|q| q["Type"] == "AWS::SQS::Queue")
    else {
        problems.push(format!(
            "{monitor_id}: FANOUT_QUEUE_URL names {queue_id}, not an AWS::SQS::Queue of this template"
        ));
        return problems;
    };
    let encrypted = |q: &Value| {
        q["Properties"]["KmsMasterKeyId"]["Ref"]
            .as_str()
            .and_then(|k| resources(t).get(k))
            .is_some_and(|k| k["Type"] == "AWS::KMS::Key")
    };
    if queue["Condition"] != condition {
        problems.push(format!(
            "{queue_id}: not created under Condition FanOutEnabled"
        ));
    }
    if !encrypted(queue) {
        problems.push(format!(
            "{queue_id}: not encrypted with a key of this template"
        ));
    }
    for (id, function) in functions(t) {
        if id != monitor_id
            && !function["Properties"]["Environment"]["Variables"]["FANOUT_QUEUE_URL"].is_null()
        {
            problems.push(format!(
                "{id}: sets FANOUT_QUEUE_URL, so it would queue batches instead of scanning them"
            ));
        }
    }

    let queue_arn = get_att(queue_id, "Arn");
    let workers: Vec<(&String, &Value)> = functions(t)
        .filter(|(id, _)| id.as_str() != monitor_id)
        .filter(|(_, f)| {
            events(f).any(|e| e["Type"] == "SQS" && e["Properties"]["Queue"] == queue_arn)
        })
        .collect();
    let [(worker_id, worker)] = workers[..] else {
        problems.push(format!(
            "expected one function with an SQS event from {queue_id}, found {}",
            workers.len()
        ));
        return problems;
    };
    if worker["Condition"] != condition {
        problems.push(format!(
            "{worker_id}: not created under Condition FanOutEnabled"
        ));
    }
    if worker["Metadata"] != monitor["Metadata"] {
        problems.push(format!(
            "{worker_id}: its Metadata differs from {monitor_id}'s, so sam build builds the binary twice"
        ));
    }
    if worker["Properties"]["Role"] != monitor["Properties"]["Role"] {
        problems.push(format!(
            "{worker_id}: runs under another role than {monitor_id}, one the member roles do not trust"
        ));
    }
    let worker_variables = &worker["Properties"]["Environment"]["Variables"];
    for (name, value) in variables.as_object().into_iter().flatten() {
        if !name.starts_with("FANOUT_") && worker_variables[name.as_str()] != *value {
            problems.push(format!(
                "{worker_id}: {name} is {}, not {value} as for {monitor_id}",
                worker_variables[name.as_str()]
            ));
        }
    }
    for event in events(worker).filter(|e| e["Type"] == "SQS") {
        let p = &event["Properties"];
        if !strings(&p["FunctionResponseTypes"]).contains(&&json!("ReportBatchItemFailures")) {
            problems.push(format!(
                "{worker_id}: its SQS event does not report batch item failures (FunctionResponseTypes: [ReportBatchItemFailures])"
            ));
        }
        if !p["BatchSize"]
            .as_u64()
            .is_some_and(|n| (1..=10).contains(&n))
        {
            problems.push(format!(
                "{worker_id}: its SQS event's BatchSize is {}, not a small batch (1 to 10)",
                p["BatchSize"]
            ));
        }
        if !p["ScalingConfig"]["MaximumConcurrency"]
            .as_u64()
            .is_some_and(|n| (2..=1000).contains(&n))
        {
            problems.push(format!(
                "{worker_id}: its SQS event has no ScalingConfig.MaximumConcurrency bounding the calls in flight"
            ));
        }
    }

    // AWS's advice for a queue that feeds a function: a visibility timeout of at
    // least six times the function's timeout (3 s and 30 s are the defaults).
    let timeout = worker["Properties"]["Timeout"].as_u64().unwrap_or(3);
    let visibility = queue["Properties"]["VisibilityTimeout"]
        .as_u64()
        .unwrap_or(30);
    if visibility < 6 * timeout {
        problems.push(format!(
            "{queue_id}: VisibilityTimeout {visibility} s is under six times {worker_id}'s timeout ({timeout} s)"
        ));
    }
    let redrive = &queue["Properties"]["RedrivePolicy"];
    if redrive["maxReceiveCount"].as_u64().is_none_or(|n| n < 1) {
        problems.push(format!(
            "{queue_id}: its RedrivePolicy has no maxReceiveCount"
        ));
    }
    let dead_letters = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        .as_str()
        .and_then(|d| resources(t).get(d).map(|r| (d, r)));
    match dead_letters {
        Some((dlq, r)) if r["Type"] == "AWS::SQS::Queue" => {
            if r["Condition"] != condition {
                problems.push(format!("{dlq}: not created under Condition FanOutEnabled"));
            }
            if !encrypted(r) {
                problems.push(format!("{dlq}: not encrypted with a key of this template"));
            }
            let sqs = json!("AWS/SQS");
            let name = get_att(dlq, "QueueName");
            let alarmed = alarms(t).iter().any(|a| {
                a.resource["Condition"] == condition
                    && a.fires_at_or_above_one()
                    && a.watches(&sqs, "ApproximateNumberOfMessagesVisible")
                        .is_some_and(|m| m.dimensions.contains(&(&json!("QueueName"), &name)))
            });
            if !alarmed {
                problems.push(format!(
                    "{dlq}: no alarm on its ApproximateNumberOfMessagesVisible >= 1 under Condition FanOutEnabled"
                ));
            }
        }
        _ => problems.push(format!(
            "{queue_id}: no RedrivePolicy to a dead-letter queue of this template"
        )),
    }

    let role_id = monitor["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or("?");
    let role_statements = resources(t)
        .get(role_id)
        .map(role_policy_statements)
        .unwrap_or_default();
    for action in [
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    ] {
        let granted = role_statements.iter().any(|(c, s)| {
            *c == Some("FanOutEnabled")
                && strings(s.get("Action").unwrap_or(&Value::Null)).contains(&&json!(action))
                && s.get("Resource") == Some(&queue_arn)
        });
        if !granted {
            problems.push(format!(
                "{role_id}: no {action} on {queue_id} under Condition FanOutEnabled"
            ));
        }
    }
    problems
}

// ------------------------------------------------------------------ dashboard

/// The body with every `${...}` of `Fn::Sub` replaced by a placeholder and
/// `${!...}` unescaped, as CloudFormation would hand it to CloudWatch.
fn substituted(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        if let Some(literal) = after.strip_prefix('!') {
            out.push_str("${");
            rest = literal;
        } else {
            let end = after.find('}').expect("closed ${");
            out.push_str("SUBSTITUTED");
            rest = &after[end + 1..];
        }
    }
    out.push_str(rest);
    out
}

fn dashboard_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut dashboards = of_type(t, "AWS::CloudWatch::Dashboard").peekable();
    if dashboards.peek().is_none() {
        problems.push("no AWS::CloudWatch::Dashboard".to_string());
    }
    for (id, dashboard) in dashboards {
        let Some(body) = dashboard["Properties"]["DashboardBody"]["Fn::Sub"].as_str() else {
            problems.push(format!("{id}: DashboardBody is not built with !Sub"));
            continue;
        };
        let parsed: Value = match serde_json::from_str(&substituted(body)) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!(
                    "{id}: DashboardBody is not valid JSON once substituted: {e}"
                ));
                continue;
            }
        };
        let shown: String = parsed["widgets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| w["properties"]["metrics"].to_string())
            .collect();
        for metric in [
            "\"Datastores", // in a SEARCH expression
            "\"FailedDatastores\"",
            "CREATE_FAILED",
            "UPDATE_FAILED",
            "\"Transitions\"",
            "\"AlertsPublished\"",
            "\"AlertsFailed\"",
            "\"ScanDuration\"",
            "\"Errors\"",
            "\"Duration\"",
            "\"Throttles\"",
            "\"AccountsScanned\"",
            "\"AccountsNotScanned\"",
        ] {
            if !shown.contains(metric) {
                problems.push(format!(
                    "{id}: no widget shows {}",
                    metric.trim_matches('"')
                ));
            }
        }
        if !shown.contains("SEARCH(") {
            problems.push(format!(
                "{id}: the per-region, per-status widgets use no SEARCH expression"
            ));
        }
    }
    problems
}

// ------------------------------------------------------------------ tests

#[track_caller]
fn assert_none(problems: Vec<String>) {
    assert_none_in("template.yaml", problems);
}

#[track_caller]
fn assert_none_in(file: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{file}:\n  {}", problems.join("\n  "));
}

#[test]
fn no_iam_action_has_a_wildcard() {
    let t = parse(&template_text());
    assert!(
        statements(&t).len() >= 10,
        "the statement walk found too few statements to mean anything"
    );
    assert_none(wildcard_action_problems(&t));
}

#[test]
fn resource_star_only_for_listing_data_stores_and_in_key_policies() {
    let t = parse(&template_text());
    assert_none(resource_star_problems(&t));
}

#[test]
fn every_function_logs_json_to_its_own_log_group() {
    assert_none(log_group_problems(&parse(&template_text())));
}

#[test]
fn each_binary_runs_under_its_own_role() {
    assert_none(role_problems(&parse(&template_text())));
}

#[test]
fn functions_are_rust_on_arm64_al2023() {
    assert_none(build_problems(&parse(&template_text())));
}

#[test]
fn alarms_cover_failures_errors_silence_and_dead_letters() {
    assert_none(alarm_problems(&parse(&template_text())));
}

#[test]
fn cloudwatch_alarms_can_use_the_alert_topic_key() {
    assert_none(topic_key_problems(&parse(&template_text())));
}

#[test]
fn health_alarms_notify_only_the_health_topic() {
    assert_none(health_path_problems(&parse(&template_text())));
}

#[test]
fn health_topic_has_a_key_of_its_own() {
    assert_none(health_key_problems(&parse(&template_text())));
}

#[test]
fn both_topics_reach_email_chatbot_and_the_notifier() {
    assert_none(subscription_problems(&parse(&template_text())));
}

#[test]
fn key_policies_bind_service_principals_to_this_account() {
    assert_none(key_policy_condition_problems(&parse(&template_text())));
}

#[test]
fn kms_permissions_name_their_keys() {
    assert_none(kms_scope_problems(&parse(&template_text())));
}

#[test]
fn notifier_concurrency_is_capped() {
    assert_none(notifier_concurrency_problems(&parse(&template_text())));
}

#[test]
fn dashboard_body_parses_and_shows_the_fleet() {
    assert_none(dashboard_problems(&parse(&template_text())));
}

#[test]
fn member_role_trusts_only_the_monitor_role_with_the_external_id() {
    assert_none_in(
        MEMBER_TEMPLATE,
        member_role_problems(&parse(&member_template_text())),
    );
}

#[test]
fn member_role_has_no_wildcard_action_and_star_only_for_listing() {
    let t = parse(&member_template_text());
    assert!(
        statements(&t).len() >= 3,
        "the statement walk found too few statements in {MEMBER_TEMPLATE} to mean anything"
    );
    let mut problems = wildcard_action_problems(&t);
    problems.extend(resource_star_problems(&t));
    assert_none_in(MEMBER_TEMPLATE, problems);
}

#[test]
fn other_accounts_are_assumed_only_when_given_and_only_their_roles() {
    assert_none(cross_account_problems(&parse(&template_text())));
}

#[test]
fn account_settings_reach_the_monitor_from_grouped_parameters() {
    assert_none(account_setting_problems(&parse(&template_text())));
}

#[test]
fn fan_out_worker_reports_batch_item_failures_and_its_dead_letters_alarm() {
    assert_none(fan_out_problems(&parse(&template_text())));
}

// ------------------------------------------------------------------ the checks can fail

/// The template with `from` (which must occur exactly once) replaced by `to`.
fn broken(from: &str, to: &str) -> Value {
    mutated(&template_text(), "template.yaml", from, to)
}

/// The member account template with `from` (once in it) replaced by `to`.
fn broken_member(from: &str, to: &str) -> Value {
    mutated(&member_template_text(), MEMBER_TEMPLATE, from, to)
}

fn mutated(text: &str, file: &str, from: &str, to: &str) -> Value {
    assert_eq!(
        text.matches(from).count(),
        1,
        "mutation target {from:?} must occur once in {file}"
    );
    parse(&text.replacen(from, to, 1))
}

#[track_caller]
fn assert_reports(problems: Vec<String>, expected: &[&str]) {
    assert!(
        problems
            .iter()
            .any(|p| expected.iter().all(|e| p.contains(e))),
        "expected a problem mentioning {expected:?}, got {problems:#?}"
    );
}

#[test]
fn wildcard_check_fires_on_a_wildcard_action() {
    let t = broken(
        "Action: healthlake:DescribeFHIRDatastore",
        "Action: healthlake:Describe*",
    );
    assert_reports(
        wildcard_action_problems(&t),
        &[
            "StatusMonitorRole",
            "DescribeDatastores",
            "healthlake:Describe*",
        ],
    );
}

#[test]
fn resource_check_fires_on_a_star_resource() {
    let t = broken("Resource: !GetAtt SnapshotTable.Arn", "Resource: \"*\"");
    assert_reports(
        resource_star_problems(&t),
        &["StatusMonitorRole", "Snapshots", "dynamodb:PutItem"],
    );
}

#[test]
fn log_group_check_fires_on_a_function_without_one() {
    let t = broken("        LogGroup: !Ref SlackNotifierLogGroup\n", "");
    assert_reports(
        log_group_problems(&t),
        &["SlackNotifierFunction", "LogGroup"],
    );
}

#[test]
fn role_check_fires_on_a_function_without_its_own_role() {
    let t = broken("      Role: !GetAtt SlackNotifierRole.Arn\n", "");
    assert_reports(role_problems(&t), &["SlackNotifierFunction", "Role"]);
}

#[test]
fn alarm_check_fires_on_each_missing_alarm() {
    let cases: [(&str, &str, &[&str]); 11] = [
        (
            "MetricName: FailedDatastores",
            "MetricName: Transitions",
            &["FailedDatastores"],
        ),
        (
            "MetricName: Errors",
            "MetricName: Invocations",
            &["Errors", "StatusMonitorFunction"],
        ),
        ("MetricName: Scans", "MetricName: Transitions", &["Scans"]),
        (
            "MetricName: AlertsUndeliverable",
            "MetricName: Transitions",
            &["AlertsUndeliverable"],
        ),
        (
            "MetricName: CorruptSnapshotItems",
            "MetricName: Transitions",
            &["CorruptSnapshotItems"],
        ),
        (
            "TreatMissingData: ignore",
            "TreatMissingData: notBreaching",
            &["DatastoreFailedAlarm", "missing data ignored"],
        ),
        (
            "TreatMissingData: breaching",
            "TreatMissingData: notBreaching",
            &["MonitorSilentAlarm", "Scans"],
        ),
        (
            "TreatMissingData: ignore\n      AlarmActions: [!Ref AlertTopic]",
            "TreatMissingData: ignore\n      AlarmActions: []",
            &["DatastoreFailedAlarm", "AlarmActions"],
        ),
        (
            "Value: !GetAtt MonitorDeadLetterQueue.QueueName",
            "Value: !GetAtt SlackNotifierDeadLetterQueue.QueueName",
            &["MonitorDeadLetterQueue"],
        ),
        (
            "SlackNotifierDeadLetterAlarm:\n    Type: AWS::CloudWatch::Alarm\n    Condition: HasSlackWebhook\n",
            "SlackNotifierDeadLetterAlarm:\n    Type: AWS::CloudWatch::Alarm\n",
            &["SlackNotifierDeadLetterQueue"],
        ),
        (
            "MetricName: AccountsNotScanned",
            "MetricName: Transitions",
            &["AccountsNotScanned"],
        ),
    ];
    for (from, to, expected) in cases {
        assert_reports(alarm_problems(&broken(from, to)), expected);
    }
}

#[test]
fn topic_key_check_fires_when_cloudwatch_cannot_use_the_key() {
    let t = broken(
        "as the topic policy below.\n          - Sid: CloudWatchAlarmsPublish\n            Effect: Allow\n            Principal:\n              Service: cloudwatch.amazonaws.com",
        "as the topic policy below.\n          - Sid: CloudWatchAlarmsPublish\n            Effect: Allow\n            Principal:\n              Service: events.amazonaws.com",
    );
    assert_reports(
        topic_key_problems(&t),
        &["AlertTopicKey", "cloudwatch.amazonaws.com"],
    );
    let t = broken(
        "KmsMasterKeyId: !If [CreateTopicKey, !Ref AlertTopicKey, !Ref AlertTopicKmsKeyArn]",
        "KmsMasterKeyId: alias/aws/sns",
    );
    assert_reports(topic_key_problems(&t), &["AlertTopic", "CloudWatch alarms"]);
}

#[test]
fn dashboard_check_fires_on_broken_json() {
    let t = broken("\"stacked\": true,", "\"stacked\": true");
    assert_reports(dashboard_problems(&t), &["Dashboard", "not valid JSON"]);
}

#[test]
fn health_path_check_fires_on_an_alarm_sent_to_the_wrong_topic() {
    let t = broken(
        "MetricName: AlertsUndeliverable\n      Statistic: Sum\n      Period: 300\n      EvaluationPeriods: 1\n      Threshold: 1\n      ComparisonOperator: GreaterThanOrEqualToThreshold\n      TreatMissingData: notBreaching\n      AlarmActions: [!Ref HealthTopic]",
        "MetricName: AlertsUndeliverable\n      Statistic: Sum\n      Period: 300\n      EvaluationPeriods: 1\n      Threshold: 1\n      ComparisonOperator: GreaterThanOrEqualToThreshold\n      TreatMissingData: notBreaching\n      AlarmActions: [!Ref HealthTopic, !Ref AlertTopic]",
    );
    assert_reports(
        health_path_problems(&t),
        &[
            "AlertsUndeliverableAlarm",
            "AlarmActions",
            "only HealthTopic",
        ],
    );
    let t = broken(
        "TreatMissingData: ignore\n      AlarmActions: [!Ref AlertTopic]",
        "TreatMissingData: ignore\n      AlarmActions: [!Ref HealthTopic]",
    );
    assert_reports(
        health_path_problems(&t),
        &["DatastoreFailedAlarm", "AlarmActions", "only AlertTopic"],
    );
    let t = broken(
        "TreatMissingData: breaching\n      AlarmActions: [!Ref HealthTopic]\n      OKActions: [!Ref HealthTopic]\n",
        "TreatMissingData: breaching\n      AlarmActions: [!Ref HealthTopic]\n",
    );
    assert_reports(
        health_path_problems(&t),
        &["MonitorSilentAlarm", "OKActions"],
    );
    let t = broken(
        "    Value: !Ref HealthTopic\n",
        "    Value: !Ref AlertTopic\n",
    );
    assert_reports(health_path_problems(&t), &["HealthTopicArn"]);
}

#[test]
fn health_key_check_fires_when_the_key_is_shared_or_conditional() {
    let t = broken(
        "KmsMasterKeyId: !If [CreateTopicKey, !Ref AlertTopicKey, !Ref AlertTopicKmsKeyArn]",
        "KmsMasterKeyId: !If [CreateTopicKey, !Ref HealthTopicKey, !Ref AlertTopicKmsKeyArn]",
    );
    assert_reports(
        health_key_problems(&t),
        &["HealthTopic", "shares its key HealthTopicKey", "AlertTopic"],
    );
    let t = broken(
        "RetentionInDays: !Ref LogRetentionDays\n      KmsKeyId: !GetAtt StackKey.Arn\n\n  MonitorDeadLetterQueue:",
        "RetentionInDays: !Ref LogRetentionDays\n      KmsKeyId: !GetAtt HealthTopicKey.Arn\n\n  MonitorDeadLetterQueue:",
    );
    assert_reports(
        health_key_problems(&t),
        &["StatusMonitorLogGroup", "HealthTopicKey"],
    );
    let t = broken(
        "    Properties:\n      Description: !Sub Encrypts the ${AWS::StackName} HealthLake monitor's health topic",
        "    Condition: HasAlertEmail\n    Properties:\n      Description: !Sub Encrypts the ${AWS::StackName} HealthLake monitor's health topic",
    );
    assert_reports(health_key_problems(&t), &["HealthTopicKey", "Condition"]);
}

#[test]
fn subscription_check_fires_on_each_missing_destination() {
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "SnsTopicArns: [!Ref AlertTopic, !Ref HealthTopic]",
            "SnsTopicArns: [!Ref AlertTopic]",
            &["SlackChannel", "HealthTopic"],
        ),
        (
            "      TopicArn: !Ref HealthTopic\n      Protocol: email\n",
            "      TopicArn: !Ref HealthTopic\n      Protocol: email-json\n",
            &["HealthTopic", "email"],
        ),
        (
            "        Health:\n          Type: SNS\n          Properties:\n            Topic: !Ref HealthTopic\n            RedrivePolicy:\n              deadLetterTargetArn: !GetAtt SlackNotifierDeadLetterQueue.Arn\n",
            "",
            &["SlackNotifierFunction", "no SNS event from HealthTopic"],
        ),
        (
            "            Topic: !Ref HealthTopic\n            RedrivePolicy:\n              deadLetterTargetArn: !GetAtt SlackNotifierDeadLetterQueue.Arn\n",
            "            Topic: !Ref HealthTopic\n",
            &["SlackNotifierFunction", "HealthTopic", "RedrivePolicy"],
        ),
        (
            "Resource: !GetAtt SlackNotifierDeadLetterQueue.Arn\n            Condition:\n              ArnEquals:\n                aws:SourceArn: [!Ref AlertTopic, !Ref HealthTopic]",
            "Resource: !GetAtt SlackNotifierDeadLetterQueue.Arn\n            Condition:\n              ArnEquals:\n                aws:SourceArn: [!Ref AlertTopic]",
            &["SlackNotifierDeadLetterQueue", "HealthTopic"],
        ),
    ];
    for (from, to, expected) in cases {
        assert_reports(subscription_problems(&broken(from, to)), expected);
    }
}

#[test]
fn key_policy_check_fires_on_a_service_statement_without_an_account() {
    let cases: [(&str, &str, &[&str]); 3] = [
        (
            "as the topic policy below.\n          - Sid: CloudWatchAlarmsPublish\n            Effect: Allow\n            Principal:\n              Service: cloudwatch.amazonaws.com\n            Action:\n              - kms:GenerateDataKey\n              - kms:Decrypt\n            Resource: \"*\"\n            Condition:\n              StringEquals:\n                aws:SourceAccount: !Ref AWS::AccountId\n",
            "as the topic policy below.\n          - Sid: CloudWatchAlarmsPublish\n            Effect: Allow\n            Principal:\n              Service: cloudwatch.amazonaws.com\n            Action:\n              - kms:GenerateDataKey\n              - kms:Decrypt\n            Resource: \"*\"\n            Condition:\n",
            &[
                "AlertTopicKey",
                "CloudWatchAlarmsPublish",
                "aws:SourceAccount",
            ],
        ),
        (
            "              StringEquals:\n                aws:SourceAccount: !Ref AWS::AccountId\n              ArnEquals:\n                aws:SourceArn: [!Ref AlertTopic, !Ref HealthTopic]",
            "              ArnEquals:\n                aws:SourceArn: [!Ref AlertTopic, !Ref HealthTopic]",
            &[
                "StackKey",
                "TopicsRedriveToDeadLetterQueue",
                "sns.amazonaws.com",
            ],
        ),
        (
            "kms:EncryptionContext:aws:logs:arn",
            "aws:SourceArn",
            &["StackKey", "CloudWatchLogsEncryptStackLogGroups"],
        ),
    ];
    for (from, to, expected) in cases {
        assert_reports(key_policy_condition_problems(&broken(from, to)), expected);
    }
}

#[test]
fn kms_scope_check_fires_on_kms_actions_beyond_the_keys() {
    let t = broken(
        "              - Sid: EncryptLostTicks\n                Effect: Allow\n                Action:\n                  - kms:GenerateDataKey\n                  - kms:Decrypt\n                Resource: !GetAtt StackKey.Arn",
        "              - Sid: EncryptLostTicks\n                Effect: Allow\n                Action:\n                  - kms:GenerateDataKey\n                  - kms:Decrypt\n                Resource: !Sub arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*",
    );
    assert_reports(
        kms_scope_problems(&t),
        &["MonitorScheduleRole", "EncryptLostTicks"],
    );
}

#[test]
fn notifier_concurrency_check_fires_without_a_limit() {
    let t = broken(
        "      ReservedConcurrentExecutions: !If [ReserveNotifierConcurrency, !Ref NotifierReservedConcurrency, !Ref AWS::NoValue]\n",
        "",
    );
    assert_reports(
        notifier_concurrency_problems(&t),
        &["SlackNotifierFunction", "ReservedConcurrentExecutions"],
    );
    let t = broken(
        "    Default: 2\n    MinValue: 0\n",
        "    Default: 500\n    MinValue: 0\n",
    );
    assert_reports(
        notifier_concurrency_problems(&t),
        &["SlackNotifierFunction", "ReservedConcurrentExecutions"],
    );
}

#[test]
fn role_check_fires_on_a_role_shared_across_binaries() {
    let t = broken(
        "      Role: !GetAtt SlackNotifierRole.Arn\n",
        "      Role: !GetAtt StatusMonitorRole.Arn\n",
    );
    assert_reports(
        role_problems(&t),
        &["SlackNotifierFunction", "shares role StatusMonitorRole"],
    );
}

#[test]
fn resource_check_fires_on_organization_calls_on_a_star_resource() {
    let t = broken(
        "                  Resource:\n                    - !Sub arn:${AWS::Partition}:organizations::*:root/o-*/r-*\n                    - !Sub arn:${AWS::Partition}:organizations::*:ou/o-*/ou-*\n",
        "                  Resource: \"*\"\n",
    );
    assert_reports(
        resource_star_problems(&t),
        &[
            "StatusMonitorRole",
            "ListOrganizationalUnits",
            "organizations:ListAccountsForParent",
        ],
    );
}

#[test]
fn member_role_check_fires_on_a_loose_trust_or_grant() {
    let cases: [(&str, &str, &[&str]); 7] = [
        (
            "              ArnEquals:\n                aws:PrincipalArn: !Ref MonitorRoleArn\n",
            "",
            &["MonitorReadOnlyRole", "aws:PrincipalArn"],
        ),
        (
            "              StringEquals:\n                sts:ExternalId: !Ref ExternalId\n",
            "",
            &["MonitorReadOnlyRole", "sts:ExternalId"],
        ),
        (
            "                - arn:${AWS::Partition}:iam::${MonitorAccountId}:root\n",
            "                - arn:${AWS::Partition}:iam::${MonitorAccountId}:user/anyone\n",
            &["MonitorReadOnlyRole", "Principal"],
        ),
        (
            "    MinLength: 2\n",
            "    Default: \"\"\n    MinLength: 2\n",
            &["ExternalId", "required"],
        ),
        (
            "MaxSessionDuration: 3600",
            "MaxSessionDuration: 43200",
            &["MonitorReadOnlyRole", "MaxSessionDuration"],
        ),
        (
            "                  - healthlake:ListTagsForResource\n",
            "                  - healthlake:ListTagsForResource\n                  - healthlake:DeleteFHIRDatastore\n",
            &["ReadDatastores", "healthlake:DeleteFHIRDatastore"],
        ),
        (
            "Resource: !Sub arn:${AWS::Partition}:healthlake:*:${AWS::AccountId}:datastore/fhir/*",
            "Resource: \"*\"",
            &["ReadDatastores", "healthlake:DescribeFHIRDatastore"],
        ),
    ];
    for (from, to, expected) in cases {
        assert_reports(member_role_problems(&broken_member(from, to)), expected);
    }
}

#[test]
fn member_wildcard_check_fires_on_a_wildcard_action() {
    let t = broken_member(
        "                  - healthlake:ListTagsForResource\n",
        "                  - healthlake:List*\n",
    );
    assert_reports(
        wildcard_action_problems(&t),
        &["MonitorReadOnlyRole", "ReadDatastores", "healthlake:List*"],
    );
}

#[test]
fn cross_account_check_fires_on_an_unconditional_or_unscoped_grant() {
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "                - HasOrganization\n                - Sid: AssumeOrganizationRole\n",
            "                - FanOutEnabled\n                - Sid: AssumeOrganizationRole\n",
            &["AssumeOrganizationRole", "HasOrganization"],
        ),
        (
            "iam::*:role/${OrganizationRoleName}",
            "iam::*:role/*",
            &["AssumeOrganizationRole", "sts:AssumeRole"],
        ),
        (
            "Resource: !Split [\",\", !Ref AccountRoleArns]",
            "Resource: \"*\"",
            &["AssumeListedAccountRoles", "sts:AssumeRole"],
        ),
        (
            "  HasAccountRoleArns: !Not [!Equals [!Ref AccountRoleArns, \"\"]]\n",
            "  HasAccountRoleArns: !Equals [!Ref AccountRoleArns, !Ref AccountRoleArns]\n",
            &["HasAccountRoleArns"],
        ),
        (
            "                - HasOrganization\n                - Sid: ListOrganizationAccounts\n",
            "                - HasAccountRoleArns\n                - Sid: ListOrganizationAccounts\n",
            &[
                "ListOrganizationAccounts",
                "organizations:ListAccounts",
                "HasOrganization",
            ],
        ),
    ];
    for (from, to, expected) in cases {
        assert_reports(cross_account_problems(&broken(from, to)), expected);
    }
}

#[test]
fn fan_out_check_fires_on_each_missing_piece() {
    let cases: [(&str, &str, &[&str]); 7] = [
        (
            "FANOUT_QUEUE_URL: !If [FanOutEnabled, !Ref ScanQueue, !Ref AWS::NoValue]",
            "FANOUT_QUEUE_URL: !Ref ScanQueue",
            &["StatusMonitorFunction", "FANOUT_QUEUE_URL"],
        ),
        (
            "            FunctionResponseTypes: [ReportBatchItemFailures]\n",
            "",
            &["ScanWorkerFunction", "ReportBatchItemFailures"],
        ),
        (
            "            ScalingConfig:\n              MaximumConcurrency: 10\n",
            "",
            &["ScanWorkerFunction", "MaximumConcurrency"],
        ),
        (
            "VisibilityTimeout: 360",
            "VisibilityTimeout: 60",
            &["ScanQueue", "VisibilityTimeout"],
        ),
        (
            "Value: !GetAtt ScanWorkerDeadLetterQueue.QueueName",
            "Value: !GetAtt MonitorDeadLetterQueue.QueueName",
            &["ScanWorkerDeadLetterQueue", "alarm"],
        ),
        (
            "      Role: !GetAtt StatusMonitorRole.Arn\n\n  ScanWorkerLogGroup:",
            "      Role: !GetAtt SlackNotifierRole.Arn\n\n  ScanWorkerLogGroup:",
            &["ScanWorkerFunction", "another role"],
        ),
        (
            "                - FanOutEnabled\n                - Sid: SendScanBatches\n",
            "                - HasOrganization\n                - Sid: SendScanBatches\n",
            &["StatusMonitorRole", "sqs:SendMessage"],
        ),
    ];
    for (from, to, expected) in cases {
        assert_reports(fan_out_problems(&broken(from, to)), expected);
    }
}

const FORWARDER_TEMPLATE_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/event-forwarder.yaml");

/// The detail-types HealthLake documents for data stores, which the monitor
/// handles (`functions/status-monitor/src/events.rs`).
const DATASTORE_DETAIL_TYPES: [&str; 5] = [
    "Data Store Creating",
    "Data Store Creation Failed",
    "Data Store Active",
    "Data Store Deleting",
    "Data Store Deleted",
];

fn healthlake_pattern_problems(owner: &str, pattern: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if pattern["source"] != json!(["aws.healthlake"]) {
        problems.push(format!(
            "{owner}: the pattern's source is not [aws.healthlake]"
        ));
    }
    if pattern["detail-type"] != json!(DATASTORE_DETAIL_TYPES) {
        problems.push(format!(
            "{owner}: the pattern's detail-types are not the five data store events"
        ));
    }
    problems
}

/// The fast path: a rule on the default bus with HealthLake's data store
/// events, targeting the status monitor, which EventBridge may invoke for that
/// rule only; the bus policies for forwarded events limited to
/// `aws.healthlake` and, for an organization, to its accounts.
fn fast_path_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let monitor = monitor_function_id(t).to_owned();
    let rules: Vec<_> = of_type(t, "AWS::Events::Rule").collect();
    let Some((rule_id, rule)) = rules.iter().find(|(_, r)| {
        r["Properties"]["Targets"]
            .as_array()
            .is_some_and(|ts| ts.iter().any(|x| x["Arn"] == get_att(&monitor, "Arn")))
    }) else {
        return vec![format!("no event rule targets {monitor}")];
    };
    let properties = &rule["Properties"];
    problems.extend(healthlake_pattern_problems(
        rule_id,
        &properties["EventPattern"],
    ));
    if properties["EventBusName"] != "default" {
        problems.push(format!(
            "{rule_id}: not on the default bus, where HealthLake puts its events"
        ));
    }
    if rule["Condition"] != "EventFastPathEnabled" {
        problems.push(format!(
            "{rule_id}: not under the EventFastPathEnabled condition"
        ));
    }
    let permitted = of_type(t, "AWS::Lambda::Permission").any(|(_, p)| {
        p["Properties"]["Principal"] == "events.amazonaws.com"
            && p["Properties"]["FunctionName"] == reference(&monitor)
            && p["Properties"]["SourceArn"] == get_att(rule_id, "Arn")
            && p["Condition"] == rule["Condition"]
    });
    if !permitted {
        problems.push(format!(
            "{rule_id}: no permission lets EventBridge invoke {monitor} for this rule alone"
        ));
    }
    for (id, policy) in of_type(t, "AWS::Events::EventBusPolicy") {
        let statement = &policy["Properties"]["Statement"];
        if statement["Action"] != "events:PutEvents" {
            problems.push(format!("{id}: grants more than events:PutEvents"));
        }
        if statement["Condition"]["StringEquals"]["events:source"] != "aws.healthlake" {
            problems.push(format!(
                "{id}: forwarded events are not limited to aws.healthlake"
            ));
        }
        if statement["Principal"] == "*"
            && statement["Condition"]["StringEquals"]["aws:PrincipalOrgID"].is_null()
        {
            problems.push(format!(
                "{id}: any principal may put events, with no organization condition"
            ));
        }
    }
    problems
}

/// The forwarder: the same pattern, to the monitor's bus given as a
/// parameter, with a role that may only put events there and that only
/// EventBridge of this account may take; nothing in the monitor's own region.
fn forwarder_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let bus = reference("MonitorEventBusArn");
    let rules: Vec<_> = of_type(t, "AWS::Events::Rule").collect();
    if rules.len() != 1 {
        problems.push(format!("{} rules, expected one", rules.len()));
    }
    for (id, rule) in &rules {
        problems.extend(healthlake_pattern_problems(
            id,
            &rule["Properties"]["EventPattern"],
        ));
        let targets = rule["Properties"]["Targets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if targets.len() != 1 || targets[0]["Arn"] != bus {
            problems.push(format!(
                "{id}: its one target is not the MonitorEventBusArn parameter"
            ));
        }
        if rule["Condition"] != "ForwardsElsewhere" {
            problems.push(format!(
                "{id}: would forward the monitor's own bus to itself"
            ));
        }
    }
    for (id, role) in of_type(t, "AWS::IAM::Role") {
        let trust = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"];
        let trusted_by_events = strings(trust).iter().all(|s| {
            s["Principal"]["Service"] == "events.amazonaws.com"
                && s["Condition"]["StringEquals"]["aws:SourceAccount"]
                    == reference("AWS::AccountId")
        });
        if !trusted_by_events {
            problems.push(format!(
                "{id}: trusted by more than this account's EventBridge"
            ));
        }
        for (_, statement) in role_policy_statements(role) {
            if statement.get("Action") != Some(&json!("events:PutEvents"))
                || statement.get("Resource") != Some(&bus)
            {
                problems.push(format!(
                    "{id}: grants more than events:PutEvents on the monitor's bus"
                ));
            }
        }
    }
    problems
}

#[test]
fn healthlake_events_reach_the_monitor_and_only_healthlake_events_are_forwarded() {
    assert_none(fast_path_problems(&parse(&template_text())));
    let forwarder = std::fs::read_to_string(FORWARDER_TEMPLATE_PATH).expect("forwarder template");
    assert_none_in(
        "infra/event-forwarder.yaml",
        forwarder_problems(&parse(&forwarder)),
    );
}

#[test]
fn fast_path_check_fires_on_each_missing_piece() {
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "          - Data Store Deleted\n      State: ENABLED\n      Targets:\n        - Id: status-monitor",
            "      State: ENABLED\n      Targets:\n        - Id: status-monitor",
            &["DatastoreEventsRule", "detail-types"],
        ),
        (
            "      SourceArn: !GetAtt DatastoreEventsRule.Arn",
            "      SourceArn: !Sub arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*",
            &["DatastoreEventsRule", "permission"],
        ),
        (
            "            events:source: aws.healthlake\n\n  ForwardedEventsOrganizationPolicy:",
            "\n  ForwardedEventsOrganizationPolicy:",
            &["ForwardedEventsAccountsPolicy", "aws.healthlake"],
        ),
        (
            "            aws:PrincipalOrgID: !Ref ForwardedEventsOrganizationId\n",
            "",
            &[
                "ForwardedEventsOrganizationPolicy",
                "organization condition",
            ],
        ),
        (
            "      EventBusName: default\n      EventPattern:\n        source: [aws.healthlake]",
            "      EventBusName: monitor\n      EventPattern:\n        source: [aws.healthlake]",
            &["DatastoreEventsRule", "default bus"],
        ),
    ];
    for (from, to, expected) in cases {
        assert_reports(fast_path_problems(&broken(from, to)), expected);
    }
    let forwarder = std::fs::read_to_string(FORWARDER_TEMPLATE_PATH).expect("forwarder template");
    let loose = forwarder.replace(
        "                Resource: !Ref MonitorEventBusArn",
        "                Resource: \"*\"",
    );
    assert_ne!(loose, forwarder);
    assert_reports(
        forwarder_problems(&parse(&loose)),
        &["ForwarderRole", "events:PutEvents"],
    );
}
