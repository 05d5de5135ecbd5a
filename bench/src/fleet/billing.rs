//! What one AWS call through the counting proxy costs: its service and operation (DynamoDB and
//! SQS by their JSON protocol's `X-Amz-Target`, SQS's query protocol by its `Action=` field,
//! anything else is S3 by method and path) and the units AWS bills for it, computed from the
//! request and response bodies by AWS's published rules. Pure: bytes and headers in, a
//! [`Call`] out. moto does not compute consumed capacity (it answers a fixed 1.0 or 0.5), so
//! the units are this module's estimate, not moto's.

use serde_json::Value;

/// USD per million write request units, DynamoDB on-demand, Standard table class, us-east-1.
pub const DYNAMODB_USD_PER_MILLION_WRITE_UNITS: f64 = 0.625;
/// USD per million read request units (one unit = one strongly consistent read of ≤ 4 KB).
pub const DYNAMODB_USD_PER_MILLION_READ_UNITS: f64 = 0.125;
/// Where the DynamoDB prices come from.
pub const DYNAMODB_PRICE_AS_OF: &str =
    "AWS's on-demand price list since the 2024-11-01 reduction, us-east-1, Standard table class";
/// USD per 1 000 S3 Standard PUT, COPY, POST and LIST requests, us-east-1.
pub const S3_USD_PER_THOUSAND_WRITES: f64 = 0.005;
/// USD per 1 000 S3 Standard GET, HEAD and other requests (DELETE is free), us-east-1.
pub const S3_USD_PER_THOUSAND_READS: f64 = 0.0004;
/// SQS: `devflow_fleet::cost::SQS_STANDARD_USD_PER_MILLION_REQUESTS` (the fleet's own model).
pub use devflow_fleet::cost::{SQS_PRICE_AS_OF, SQS_STANDARD_USD_PER_MILLION_REQUESTS};

/// Seconds in the 30-day month every USD/month figure uses (as `devflow_fleet::cost` does).
pub const SECONDS_PER_MONTH: f64 = 30.0 * 24.0 * 3600.0;

/// A write request unit covers 1 KB of item; a read request unit 4 KB.
const WRITE_UNIT_BYTES: u64 = 1024;
const READ_UNIT_BYTES: u64 = 4 * 1024;
/// SQS bills every started 64 KiB of a call's payload as one request.
const SQS_CHUNK_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    DynamoDb,
    Sqs,
    S3,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::DynamoDb => "DynamoDB",
            Service::Sqs => "SQS",
            Service::S3 => "S3",
        }
    }
}

/// One call as the proxy saw it, classified and priced.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub service: Service,
    /// `PutItem`, `ReceiveMessage`, `PUT object`, …
    pub operation: String,
    /// The DynamoDB table without the fleet's prefix (`sessions`), the S3 key's shape
    /// (`session-artifacts/*/logs/session.log`), else "".
    pub resource: String,
    pub read_units: f64,
    pub write_units: f64,
    /// SQS requests as billed (64 KiB chunks); S3 and DynamoDB: 0.
    pub sqs_billed: f64,
    /// SQS messages sent, received or deleted by this call.
    pub messages: u64,
    /// The SQS message bodies it carried, in bytes.
    pub payload_bytes: u64,
    /// An SQS receive that came back without a message (an idle long poll).
    pub empty_receive: bool,
    /// The call failed (non-2xx); failed DynamoDB writes that AWS still bills
    /// (`ConditionalCheckFailed`, `TransactionCanceled`) keep their write units.
    pub failed: bool,
}

/// What the proxy hands over for one exchange.
pub struct Exchange<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// `X-Amz-Target`, if any.
    pub target: Option<&'a str>,
    pub request: &'a [u8],
    pub status: u16,
    pub response: &'a [u8],
}

/// Classifies and prices one exchange; `table_prefix` is stripped from table names.
pub fn price(exchange: &Exchange<'_>, table_prefix: &str) -> Call {
    let failed = !(200..300).contains(&exchange.status);
    if let Some(operation) = exchange
        .target
        .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
    {
        return dynamodb(operation, exchange, table_prefix, failed);
    }
    if let Some(operation) = exchange.target.and_then(|t| t.strip_prefix("AmazonSQS.")) {
        return sqs(operation, exchange, failed);
    }
    if let Some(action) = form_action(exchange.request) {
        return sqs(&action, exchange, failed);
    }
    s3(exchange, failed)
}

fn dynamodb(operation: &str, exchange: &Exchange<'_>, prefix: &str, failed: bool) -> Call {
    let request = json(exchange.request);
    let response = json(exchange.response);
    let table = request
        .get("TableName")
        .and_then(Value::as_str)
        .map(|t| t.strip_prefix(prefix).unwrap_or(t).to_string())
        .or_else(|| first_table(&request, prefix))
        .unwrap_or_default();
    let strong = request.get("ConsistentRead").and_then(Value::as_bool) == Some(true);
    let read_factor = if strong { 1.0 } else { 0.5 };
    let (mut read_units, mut write_units) = match operation {
        "GetItem" => (
            read_factor * read_units_for(response.get("Item").map_or(0, item_size)),
            0.0,
        ),
        "Query" | "Scan" => {
            let bytes = response
                .get("Items")
                .and_then(Value::as_array)
                .map_or(0, |items| items.iter().map(item_size).sum());
            (read_factor * read_units_for(bytes), 0.0)
        }
        "PutItem" => (
            0.0,
            write_units_for(request.get("Item").map_or(0, item_size)),
        ),
        "UpdateItem" => (0.0, write_units_for(update_size(&request))),
        "DeleteItem" => (
            0.0,
            write_units_for(response.get("Attributes").map_or(0, item_size)),
        ),
        "BatchWriteItem" => (0.0, batch_write_units(&request)),
        "TransactWriteItems" => (0.0, 2.0 * transact_write_units(&request)),
        "BatchGetItem" | "TransactGetItems" => {
            let bytes = returned_items_size(&response);
            let factor = if operation == "TransactGetItems" {
                2.0
            } else {
                read_factor
            };
            (factor * read_units_for(bytes), 0.0)
        }
        // The control plane (CreateTable, DescribeTable, UpdateTimeToLive, …) is not billed
        // per request.
        _ => (0.0, 0.0),
    };
    if failed {
        let error_type = response
            .get("__type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let billed_anyway = error_type.ends_with("ConditionalCheckFailedException")
            || error_type.ends_with("TransactionCanceledException");
        read_units = 0.0;
        if !billed_anyway {
            write_units = 0.0;
        }
    }
    Call {
        service: Service::DynamoDb,
        operation: operation.to_string(),
        resource: table,
        read_units,
        write_units,
        sqs_billed: 0.0,
        messages: 0,
        payload_bytes: 0,
        empty_receive: false,
        failed,
    }
}

fn sqs(operation: &str, exchange: &Exchange<'_>, failed: bool) -> Call {
    let request = json(exchange.request);
    let response = json(exchange.response);
    let bodies = |list: Option<&Value>, field: &str| -> (u64, u64) {
        let list = list.and_then(Value::as_array);
        let count = list.map_or(0, |l| l.len() as u64);
        let bytes = list.map_or(0, |l| {
            l.iter()
                .filter_map(|m| m.get(field).and_then(Value::as_str))
                .map(|b| b.len() as u64)
                .sum()
        });
        (count, bytes)
    };
    let (messages, payload) = match operation {
        "SendMessageBatch" => bodies(request.get("Entries"), "MessageBody"),
        "SendMessage" => (
            1,
            request
                .get("MessageBody")
                .and_then(Value::as_str)
                .map_or(0, |b| b.len() as u64),
        ),
        "ReceiveMessage" => bodies(response.get("Messages"), "Body"),
        "DeleteMessageBatch" => (bodies(request.get("Entries"), "Id").0, 0),
        "DeleteMessage" => (1, 0),
        _ => (0, 0),
    };
    Call {
        service: Service::Sqs,
        operation: operation.to_string(),
        resource: String::new(),
        read_units: 0.0,
        write_units: 0.0,
        sqs_billed: payload.div_ceil(SQS_CHUNK_BYTES).max(1) as f64,
        messages: if failed { 0 } else { messages },
        payload_bytes: payload,
        empty_receive: operation == "ReceiveMessage" && !failed && messages == 0,
        failed,
    }
}

/// S3 by method and path-style URL: `/bucket` is the bucket, `/bucket/key` an object.
fn s3(exchange: &Exchange<'_>, failed: bool) -> Call {
    let (path, query) = exchange.path.split_once('?').unwrap_or((exchange.path, ""));
    let object = path.trim_start_matches('/').contains('/');
    let operation = match (exchange.method, object) {
        ("PUT", true) if query.contains("partNumber") => "PUT part".to_string(),
        ("POST", true) => "POST object (multipart)".to_string(),
        (method, true) => format!("{method} object"),
        // A GET of the bucket itself lists it (or reads one of its settings: priced alike).
        ("GET", false) => "LIST bucket".to_string(),
        (method, false) => format!("{method} bucket"),
    };
    s3_call(operation, key_shape(path), failed)
}

/// An object key with its ids starred (`session-artifacts/*/patches/*.diff`), the bucket left
/// out: what kind of object a call wrote or read.
fn key_shape(path: &str) -> String {
    let id_like = |text: &str| {
        text.len() >= 8
            && text.bytes().any(|b| b.is_ascii_digit())
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    path.trim_start_matches('/')
        .split('/')
        .skip(1)
        .map(|segment| match segment.rsplit_once('.') {
            Some((stem, extension)) if id_like(stem) => format!("*.{extension}"),
            _ if id_like(segment) => "*".to_string(),
            _ => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn s3_call(operation: String, resource: String, failed: bool) -> Call {
    Call {
        service: Service::S3,
        operation,
        resource,
        read_units: 0.0,
        write_units: 0.0,
        sqs_billed: 0.0,
        messages: 0,
        payload_bytes: 0,
        empty_receive: false,
        failed,
    }
}

/// USD for one S3 request of `operation` (as [`s3`] names them).
pub fn s3_usd_per_request(operation: &str) -> f64 {
    let method = operation.split(' ').next().unwrap_or_default();
    match method {
        "PUT" | "POST" | "LIST" | "COPY" => S3_USD_PER_THOUSAND_WRITES / 1000.0,
        "DELETE" => 0.0,
        _ => S3_USD_PER_THOUSAND_READS / 1000.0,
    }
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

/// `Action=ReceiveMessage&…` of SQS's query protocol.
fn form_action(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .filter(|action| !action.is_empty() && action.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_string)
}

/// The first table of a batch or transaction, without the prefix.
fn first_table(request: &Value, prefix: &str) -> Option<String> {
    if let Some(items) = request.get("RequestItems").and_then(Value::as_object) {
        return items
            .keys()
            .next()
            .map(|t| t.strip_prefix(prefix).unwrap_or(t).to_string());
    }
    request
        .get("TransactItems")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|action| action.values())
        .find_map(|inner| inner.get("TableName").and_then(Value::as_str))
        .map(|t| t.strip_prefix(prefix).unwrap_or(t).to_string())
}

fn write_units_for(bytes: u64) -> f64 {
    bytes.div_ceil(WRITE_UNIT_BYTES).max(1) as f64
}

fn read_units_for(bytes: u64) -> f64 {
    bytes.div_ceil(READ_UNIT_BYTES).max(1) as f64
}

/// An `UpdateItem`'s item after the write, as far as the request shows it: the key plus every
/// value it sets (the attributes it leaves alone are not in the request, so this is a lower
/// bound; devflow's updates set the large `json` attribute, which dominates).
fn update_size(request: &Value) -> u64 {
    let key = request.get("Key").map_or(0, item_size);
    let names: u64 = request
        .get("ExpressionAttributeNames")
        .and_then(Value::as_object)
        .map_or(0, |names| {
            names
                .values()
                .filter_map(Value::as_str)
                .map(|n| n.len() as u64)
                .sum()
        });
    let values: u64 = request
        .get("ExpressionAttributeValues")
        .and_then(Value::as_object)
        .map_or(0, |values| values.values().map(attribute_size).sum());
    key + names + values
}

fn batch_write_units(request: &Value) -> f64 {
    let Some(tables) = request.get("RequestItems").and_then(Value::as_object) else {
        return 0.0;
    };
    tables
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .map(|write| match write.pointer("/PutRequest/Item") {
            Some(item) => write_units_for(item_size(item)),
            // A delete's size is the deleted item's, which the request does not show.
            None => write_units_for(0),
        })
        .sum()
}

fn transact_write_units(request: &Value) -> f64 {
    let Some(actions) = request.get("TransactItems").and_then(Value::as_array) else {
        return 0.0;
    };
    actions
        .iter()
        .map(|action| {
            if let Some(item) = action.pointer("/Put/Item") {
                write_units_for(item_size(item))
            } else if let Some(update) = action.get("Update") {
                write_units_for(update_size(update))
            } else {
                write_units_for(0)
            }
        })
        .sum()
}

fn returned_items_size(response: &Value) -> u64 {
    if let Some(tables) = response.get("Responses").and_then(Value::as_object) {
        return tables
            .values()
            .filter_map(Value::as_array)
            .flatten()
            .map(item_size)
            .sum();
    }
    response
        .get("Responses")
        .and_then(Value::as_array)
        .map_or(0, |list| {
            list.iter()
                .filter_map(|r| r.get("Item"))
                .map(item_size)
                .sum()
        })
}

/// An item's size by DynamoDB's rules: each attribute's name plus its value.
pub fn item_size(item: &Value) -> u64 {
    item.as_object().map_or(0, |attributes| {
        attributes
            .iter()
            .map(|(name, value)| name.len() as u64 + attribute_size(value))
            .sum()
    })
}

/// One attribute value's size: strings and binaries by length, numbers about one byte per
/// two significant digits plus one, lists and maps 3 bytes plus one per element.
fn attribute_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let text_len = |v: &Value| v.as_str().map_or(0, |s| s.len() as u64);
    match kind.as_str() {
        "S" => text_len(inner),
        "N" => number_size(inner.as_str().unwrap_or("0")),
        "B" => base64_decoded_len(inner.as_str().unwrap_or_default()),
        "BOOL" | "NULL" => 1,
        "SS" => inner
            .as_array()
            .map_or(0, |l| l.iter().map(&text_len).sum()),
        "NS" => inner.as_array().map_or(0, |l| {
            l.iter()
                .map(|n| number_size(n.as_str().unwrap_or("0")))
                .sum()
        }),
        "BS" => inner.as_array().map_or(0, |l| {
            l.iter()
                .map(|b| base64_decoded_len(b.as_str().unwrap_or_default()))
                .sum()
        }),
        "L" => {
            3 + inner
                .as_array()
                .map_or(0, |l| l.iter().map(|v| attribute_size(v) + 1).sum())
        }
        "M" => {
            3 + inner.as_object().map_or(0, |m| {
                m.iter()
                    .map(|(k, v)| k.len() as u64 + attribute_size(v) + 1)
                    .sum()
            })
        }
        _ => 0,
    }
}

fn number_size(number: &str) -> u64 {
    let digits: String = number
        .chars()
        .take_while(|c| *c != 'e' && *c != 'E')
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len() as u64;
    significant.div_ceil(2) + 1
}

fn base64_decoded_len(text: &str) -> u64 {
    let padding = text.bytes().rev().take_while(|b| *b == b'=').count() as u64;
    (text.len() as u64 / 4 * 3).saturating_sub(padding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exchange<'a>(
        target: &'a str,
        request: &'a [u8],
        status: u16,
        response: &'a [u8],
    ) -> Exchange<'a> {
        Exchange {
            method: "POST",
            path: "/",
            target: Some(target),
            request,
            status,
            response,
        }
    }

    #[test]
    fn a_put_item_costs_one_write_unit_per_started_kilobyte() {
        let small = json!({"TableName": "bench-events", "Item": {"sessionId": {"S": "s1"}, "seq": {"N": "12"}}})
            .to_string();
        let call = price(
            &exchange("DynamoDB_20120810.PutItem", small.as_bytes(), 200, b"{}"),
            "bench-",
        );
        assert_eq!(
            (
                call.service,
                call.operation.as_str(),
                call.resource.as_str()
            ),
            (Service::DynamoDb, "PutItem", "events")
        );
        assert_eq!((call.read_units, call.write_units), (0.0, 1.0));

        let large =
            json!({"TableName": "t", "Item": {"json": {"S": "x".repeat(2500)}}}).to_string();
        let call = price(
            &exchange("DynamoDB_20120810.PutItem", large.as_bytes(), 200, b"{}"),
            "",
        );
        assert_eq!(call.write_units, 3.0, "4 + 2500 bytes is three 1 KB units");
    }

    #[test]
    fn a_strongly_consistent_scan_costs_one_read_unit_per_4_kb_returned() {
        let request = json!({"TableName": "p-sessions", "ConsistentRead": true}).to_string();
        let item = json!({"sessionId": {"S": "s"}, "json": {"S": "y".repeat(1000)}});
        let response = json!({"Items": vec![item; 10], "Count": 10}).to_string();
        let call = price(
            &exchange(
                "DynamoDB_20120810.Scan",
                request.as_bytes(),
                200,
                response.as_bytes(),
            ),
            "p-",
        );
        // 10 × (9 + 1 + 4 + 1000) = 10 140 bytes → 3 units of 4 KB.
        assert_eq!((call.resource.as_str(), call.read_units), ("sessions", 3.0));
        let eventual = json!({"TableName": "p-sessions"}).to_string();
        let call = price(
            &exchange(
                "DynamoDB_20120810.Scan",
                eventual.as_bytes(),
                200,
                response.as_bytes(),
            ),
            "p-",
        );
        assert_eq!(call.read_units, 1.5);
    }

    #[test]
    fn an_empty_query_still_costs_a_read_unit() {
        let request = json!({"TableName": "t", "ConsistentRead": true}).to_string();
        let call = price(
            &exchange(
                "DynamoDB_20120810.Query",
                request.as_bytes(),
                200,
                br#"{"Items":[],"Count":0}"#,
            ),
            "",
        );
        assert_eq!(call.read_units, 1.0);
    }

    #[test]
    fn a_failed_condition_is_billed_and_a_validation_error_is_not() {
        let request = json!({"TableName": "t", "Item": {"k": {"S": "v"}}}).to_string();
        let condition = price(
            &exchange(
                "DynamoDB_20120810.PutItem",
                request.as_bytes(),
                400,
                br#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}"#,
            ),
            "",
        );
        assert!(condition.failed);
        assert_eq!(condition.write_units, 1.0);
        let invalid = price(
            &exchange(
                "DynamoDB_20120810.PutItem",
                request.as_bytes(),
                400,
                br#"{"__type":"com.amazon.coral.validate#ValidationException"}"#,
            ),
            "",
        );
        assert_eq!(invalid.write_units, 0.0);
    }

    #[test]
    fn transactions_cost_double() {
        let request = json!({"TransactItems": [
            {"Put": {"TableName": "x-commands", "Item": {"k": {"S": "v"}}}},
            {"Put": {"TableName": "x-keys", "Item": {"k": {"S": "v"}}}},
        ]})
        .to_string();
        let call = price(
            &exchange(
                "DynamoDB_20120810.TransactWriteItems",
                request.as_bytes(),
                200,
                b"{}",
            ),
            "x-",
        );
        assert_eq!(
            (call.resource.as_str(), call.write_units),
            ("commands", 4.0)
        );
    }

    #[test]
    fn an_update_is_sized_by_its_key_and_the_values_it_sets() {
        let request = json!({
            "TableName": "t",
            "Key": {"sessionId": {"S": "s"}},
            "ExpressionAttributeNames": {"#json": "json"},
            "ExpressionAttributeValues": {":json": {"S": "z".repeat(1500)}},
        })
        .to_string();
        let call = price(
            &exchange(
                "DynamoDB_20120810.UpdateItem",
                request.as_bytes(),
                200,
                b"{}",
            ),
            "",
        );
        assert_eq!(call.write_units, 2.0);
    }

    #[test]
    fn sqs_calls_count_messages_and_empty_polls() {
        let send = json!({"QueueUrl": "q", "Entries": [
            {"Id": "0", "MessageBody": "a".repeat(100)},
            {"Id": "1", "MessageBody": "b".repeat(100)},
        ]})
        .to_string();
        let call = price(
            &exchange("AmazonSQS.SendMessageBatch", send.as_bytes(), 200, b"{}"),
            "",
        );
        assert_eq!(
            (call.service, call.messages, call.sqs_billed),
            (Service::Sqs, 2, 1.0)
        );
        let empty = price(
            &exchange(
                "AmazonSQS.ReceiveMessage",
                br#"{"QueueUrl":"q"}"#,
                200,
                b"{}",
            ),
            "",
        );
        assert!(empty.empty_receive);
        let big = json!({"Messages": [{"Body": "c".repeat(100 * 1024)}]}).to_string();
        let full = price(
            &exchange(
                "AmazonSQS.ReceiveMessage",
                br#"{"QueueUrl":"q"}"#,
                200,
                big.as_bytes(),
            ),
            "",
        );
        assert_eq!(
            (full.empty_receive, full.messages, full.sqs_billed),
            (false, 1, 2.0)
        );
    }

    #[test]
    fn the_query_protocol_is_read_from_the_action_field() {
        let call = price(
            &Exchange {
                method: "POST",
                path: "/",
                target: None,
                request: b"Action=DeleteMessageBatch&QueueUrl=x",
                status: 200,
                response: b"<xml/>",
            },
            "",
        );
        assert_eq!(
            (call.service, call.operation.as_str()),
            (Service::Sqs, "DeleteMessageBatch")
        );
    }

    #[test]
    fn s3_calls_are_named_by_method_and_priced_by_class() {
        let put = price(
            &Exchange {
                method: "PUT",
                path: "/bench/session-artifacts/0a1b2c3d-e5f6/patches/9f8e7d6c5b4a.diff?x-id=PutObject",
                target: None,
                request: b"diff",
                status: 200,
                response: b"",
            },
            "",
        );
        assert_eq!(
            (put.service, put.operation.as_str(), put.resource.as_str()),
            (
                Service::S3,
                "PUT object",
                "session-artifacts/*/patches/*.diff"
            )
        );
        // A million of each: USD 5 for writes, 0.40 for reads, nothing for deletes.
        let per_million = |operation: &str| (s3_usd_per_request(operation) * 1e6 * 100.0).round();
        assert_eq!(per_million("PUT object"), 500.0);
        assert_eq!(per_million("LIST bucket"), 500.0);
        assert_eq!(per_million("HEAD bucket"), 40.0);
        assert_eq!(per_million("DELETE object"), 0.0);
    }

    #[test]
    fn attribute_sizes_follow_dynamodbs_rules() {
        assert_eq!(attribute_size(&json!({"N": "12345"})), 4);
        assert_eq!(attribute_size(&json!({"N": "100"})), 2);
        assert_eq!(attribute_size(&json!({"B": "aGVsbG8="})), 5);
        assert_eq!(attribute_size(&json!({"BOOL": true})), 1);
        assert_eq!(
            attribute_size(&json!({"M": {"ab": {"S": "xyz"}}})),
            3 + 2 + 3 + 1
        );
        assert_eq!(
            attribute_size(&json!({"L": [{"S": "a"}, {"S": "bc"}]})),
            3 + 2 + 3
        );
    }
}
