//! Checks of `template.yaml` that cfn-lint and `sam validate` do not make: least
//! privilege, an explicit JSON log group per function, the keys that let alarms
//! publish, the alarms a user relies on, a health path for the monitor's own
//! alarms that shares neither topic nor key with the alerts, and a dashboard body
//! that parses.
//!
//! The template is read as CloudFormation sees it: short-form tags (`!Ref`,
//! `!GetAtt`, `!Sub`, ...) become their long forms (`{"Ref": ..}`,
//! `{"Fn::GetAtt": [..]}`, `{"Fn::Sub": ..}`). Each check returns the problems it
//! finds, each naming the offending resource; the `*_fires_*` tests break a copy
//! of the template and show that the check reports it.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

const TEMPLATE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
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

/// Parses CloudFormation YAML into its JSON form.
fn parse(text: &str) -> Value {
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).expect("template.yaml is valid YAML");
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

/// `*` as a Resource is accepted only where it cannot be narrowed: in a key
/// policy, where it means the key itself, and for `healthlake:ListFHIRDatastores`,
/// which has no resource type to scope to.
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
        let only_listing = s.actions() == [&json!("healthlake:ListFHIRDatastores")];
        if !only_listing {
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

fn monitor_function_id(t: &Value) -> &str {
    functions(t)
        .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == MONITOR_BINARY)
        .map(|(id, _)| id.as_str())
        .expect("a function builds the status-monitor binary")
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
/// log permissions on every log group of the account.
fn role_problems(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut roles_in_use = BTreeSet::new();
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
        if !roles_in_use.insert(role) {
            problems.push(format!("{id}: shares role {role} with another function"));
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
    assert!(
        problems.is_empty(),
        "template.yaml:\n  {}",
        problems.join("\n  ")
    );
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
fn every_function_runs_under_its_own_role() {
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

// ------------------------------------------------------------------ the checks can fail

/// The template with `from` (which must occur exactly once) replaced by `to`.
fn broken(from: &str, to: &str) -> Value {
    let text = template_text();
    assert_eq!(
        text.matches(from).count(),
        1,
        "mutation target {from:?} must occur once in template.yaml"
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
    let cases: [(&str, &str, &[&str]); 10] = [
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
