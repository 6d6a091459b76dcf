//! What the requests that crossed a proxy cost, in the units AWS bills:
//! DynamoDB read and write request units from the items' sizes, and SNS
//! publish requests (64 KB chunks of payload).
//!
//! Sizes follow the DynamoDB Developer Guide's "Item sizes and formats": an
//! attribute is its name's UTF-8 bytes plus its value's (a string's UTF-8
//! bytes, a number's significant digits two to a byte plus one, a binary's
//! bytes, one byte for a boolean or null, a list or map three bytes plus its
//! elements and one byte per element, a set its elements). A strongly
//! consistent Query page costs one read unit per 4 KB of the items it
//! returns, rounded up (half that when eventually consistent), at least one;
//! a PutItem one write unit per 1 KB of the larger of the new item and the
//! one it replaces, rounded up.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::fault_proxy::Exchange;

/// The request units and chunks of a run of exchanges.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Capacity {
    /// DynamoDB read request units.
    pub read_units: f64,
    /// DynamoDB write request units.
    pub write_units: u64,
    pub strongly_consistent_queries: u64,
    pub eventually_consistent_queries: u64,
    /// Per partition key queried: the pages read and the bytes of the items
    /// they returned.
    pub queried: BTreeMap<String, Queried>,
    /// Bytes of the items written (each PutItem's new item).
    pub item_bytes_written: u64,
    /// SNS publish requests as billed: 64 KB chunks of payload.
    pub publish_chunks: u64,
    /// Bytes of the published payloads (message, subject, attributes).
    pub publish_bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Queried {
    pub pages: u64,
    pub item_bytes: u64,
}

const READ_UNIT: u64 = 4 * 1024;
const WRITE_UNIT: u64 = 1024;
const PUBLISH_CHUNK: u64 = 64 * 1024;

/// The cost of `exchanges`, in the order they happened. A PutItem that
/// replaces an item written earlier in the same exchanges is charged for the
/// larger of the two; one that replaces an item written before them, for its
/// new item only.
pub fn measure(exchanges: &[Exchange]) -> Capacity {
    let mut capacity = Capacity::default();
    let mut written: BTreeMap<String, u64> = BTreeMap::new();
    for exchange in exchanges {
        match exchange.operation.as_str() {
            "Query" => query(&mut capacity, exchange),
            "PutItem" => put_item(&mut capacity, &mut written, exchange),
            "Publish" => publish(&mut capacity, exchange),
            _ => {}
        }
    }
    capacity
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

fn query(capacity: &mut Capacity, exchange: &Exchange) {
    let request = json(&exchange.request);
    let response = json(&exchange.response);
    let bytes: u64 = response["Items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_object)
                .map(item_size)
                .sum()
        })
        .unwrap_or(0);
    let units = bytes.div_ceil(READ_UNIT).max(1) as f64;
    if request["ConsistentRead"] == Value::Bool(true) {
        capacity.strongly_consistent_queries += 1;
        capacity.read_units += units;
    } else {
        capacity.eventually_consistent_queries += 1;
        capacity.read_units += units / 2.0;
    }
    let partition = request["ExpressionAttributeValues"]
        .as_object()
        .and_then(|values| values.values().find_map(|v| v["S"].as_str()))
        .unwrap_or("(unknown)")
        .to_owned();
    let queried = capacity.queried.entry(partition).or_default();
    queried.pages += 1;
    queried.item_bytes += bytes;
}

fn put_item(capacity: &mut Capacity, written: &mut BTreeMap<String, u64>, exchange: &Exchange) {
    let request = json(&exchange.request);
    let Some(item) = request["Item"].as_object() else {
        return;
    };
    let size = item_size(item);
    let key = format!(
        "{}\u{0}{}",
        item.get("pk").map(Value::to_string).unwrap_or_default(),
        item.get("sk").map(Value::to_string).unwrap_or_default()
    );
    let replaced = written.insert(key, size).unwrap_or(0);
    capacity.item_bytes_written += size;
    capacity.write_units += size.max(replaced).div_ceil(WRITE_UNIT).max(1);
}

fn publish(capacity: &mut Capacity, exchange: &Exchange) {
    let bytes: u64 = url::form_urlencoded::parse(&exchange.request)
        .filter(|(key, _)| {
            key == "Message"
                || key == "Subject"
                || (key.starts_with("MessageAttributes.") && !key.ends_with(".DataType"))
        })
        .map(|(_, value)| value.len() as u64)
        .sum();
    capacity.publish_bytes += bytes;
    capacity.publish_chunks += bytes.div_ceil(PUBLISH_CHUNK).max(1);
}

/// The size of an item in DynamoDB's JSON (`{"name": {"S": "..."}}`).
pub fn item_size(item: &Map<String, Value>) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_size(value))
        .sum()
}

fn value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match (kind.as_str(), inner) {
        ("S", Value::String(s)) => s.len() as u64,
        ("N", Value::String(n)) => number_size(n),
        ("B", Value::String(b)) => binary_size(b),
        ("BOOL" | "NULL", _) => 1,
        ("SS", Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.len() as u64)
            .sum(),
        ("NS", Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(number_size)
            .sum(),
        ("BS", Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(binary_size)
            .sum(),
        ("L", Value::Array(items)) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        ("M", Value::Object(members)) => {
            3 + members
                .iter()
                .map(|(name, v)| 1 + name.len() as u64 + value_size(v))
                .sum::<u64>()
        }
        _ => 0,
    }
}

/// One byte per two significant digits, plus one.
fn number_size(number: &str) -> u64 {
    let mantissa = number.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len() as u64;
    significant.div_ceil(2) + 1
}

/// The decoded length of base64 text.
fn binary_size(encoded: &str) -> u64 {
    let padding = encoded.bytes().rev().take_while(|&b| b == b'=').count() as u64;
    (encoded.len() as u64 * 3 / 4).saturating_sub(padding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Bytes;
    use serde_json::json;

    fn exchange(operation: &str, request: Value, response: Value) -> Exchange {
        Exchange {
            operation: operation.into(),
            status: 200,
            request: Bytes::from(request.to_string()),
            response: Bytes::from(response.to_string()),
        }
    }

    #[test]
    fn item_sizes_follow_the_developer_guide() {
        let item = json!({
            "pk": {"S": "123456789012#us-east-1"},
            "n": {"N": "-0012.3400"},
            "ok": {"BOOL": true},
            "tags": {"M": {"team": {"S": "payments"}}},
            "list": {"L": [{"S": "ab"}, {"NULL": true}]},
        });
        let item = item.as_object().unwrap();
        // pk: 2 + 22; n: 1 + (4 digits: 2 + 1); ok: 2 + 1;
        // tags: 4 + 3 + (1 + 4 + 8); list: 4 + 3 + (1 + 2) + (1 + 1)
        assert_eq!(item_size(item), 24 + 4 + 3 + 20 + 12);
    }

    #[test]
    fn reads_are_charged_per_4_kb_page_and_writes_per_kb_of_the_larger_item() {
        let big = "x".repeat(5000);
        let page = |consistent| {
            exchange(
                "Query",
                json!({"ConsistentRead": consistent,
                       "ExpressionAttributeValues": {":pk": {"S": "a#r"}}}),
                json!({"Items": [{"sk": {"S": big}}]}),
            )
        };
        let put = |value: &str| {
            exchange(
                "PutItem",
                json!({"Item": {"pk": {"S": "a#r"}, "sk": {"S": "1"}, "v": {"S": value}}}),
                json!({}),
            )
        };
        let measured = measure(&[
            page(true),
            page(false),
            put(&"y".repeat(1500)),
            put("small"),
        ]);
        assert_eq!(measured.read_units, 2.0 + 1.0);
        assert_eq!(measured.queried["a#r"].pages, 2);
        // The first write is 2 KB; the second, small, replaces it.
        assert_eq!(measured.write_units, 2 + 2);
    }

    #[test]
    fn a_publish_is_one_request_per_64_kb_chunk() {
        let body = format!(
            "Action=Publish&Subject=s&Message={}&MessageAttributes.entry.1.Name=severity\
             &MessageAttributes.entry.1.Value.DataType=String\
             &MessageAttributes.entry.1.Value.StringValue=critical",
            "m".repeat(70_000)
        );
        let publish = Exchange {
            operation: "Publish".into(),
            status: 200,
            request: Bytes::from(body),
            response: Bytes::new(),
        };
        let measured = measure(&[publish]);
        assert_eq!(measured.publish_chunks, 2);
        assert_eq!(measured.publish_bytes, 1 + 70_000 + 8 + 8);
    }
}
