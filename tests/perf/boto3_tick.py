"""The status monitor's tick written plainly with boto3: the baseline that the
benchmark (`bash infra/scripts/bench.sh`, `tests/src/bin/perf.rs`) measures
the Rust function against, on the same stand-ins behind the same proxies.

For each region, one after the other: every page of ListFHIRDatastores (500
stores a page); the snapshot of that account and region from DynamoDB (a
Query on its partition key, every page, strongly consistent as the function
reads it); then, for each store that is new or whose status or error cause
changed, a PutItem conditional on the version read (`attribute_not_exists(pk)`
for a new store, `version = :v` otherwise), and a Publish for each store that
entered CREATE_FAILED or UPDATE_FAILED. No threads, no retries beyond boto3's
defaults.

    python tests/perf/boto3_tick.py --table TABLE --topic-arn ARN \\
        --regions us-east-1,eu-west-1 --account 123456789012 TICKS

Endpoints and credentials come from the environment, as for any boto3 program
(AWS_ENDPOINT_URL_HEALTHLAKE, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SNS,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION). It prints
`ready` once its clients are built, then one JSON line per tick:
`{"tick": N, "duration_ms": ..., "calls": {"ListFHIRDatastores": ...},
"changes": ..., "published": ..., "vmhwm_kib": ...}`, where vmhwm_kib is the
process's peak resident memory so far (VmHWM of /proc/self/status).
"""

import argparse
import json
import os
import sys
import time
from collections import Counter

import boto3
from botocore.exceptions import ClientError

FAILED = {"CREATE_FAILED", "UPDATE_FAILED"}
PAGE_SIZE = 500


def vmhwm_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def list_stores(client, calls):
    """Every store of the client's region, by id."""
    stores, token = {}, None
    while True:
        request = {"MaxResults": PAGE_SIZE}
        if token:
            request["NextToken"] = token
        page = client.list_fhir_datastores(**request)
        calls["ListFHIRDatastores"] += 1
        for store in page.get("DatastorePropertiesList", []):
            stores[store["DatastoreId"]] = store
        token = page.get("NextToken")
        if not token:
            return stores


def load_snapshot(dynamodb, table, pk, calls):
    """The stored items of one account and region, by store id."""
    items, start = {}, None
    while True:
        request = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        if start:
            request["ExclusiveStartKey"] = start
        page = dynamodb.query(**request)
        calls["Query"] += 1
        for item in page.get("Items", []):
            items[item["sk"]["S"]] = item
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def cause_of(store):
    cause = store.get("ErrorCause") or {}
    return cause.get("ErrorCategory", ""), cause.get("ErrorMessage", "")


def put_record(dynamodb, table, pk, store, old, calls):
    """Writes the store's new state; False when another writer got there first."""
    category, message = cause_of(store)
    version = int(old["version"]["N"]) + 1 if old else 1
    item = {
        "pk": {"S": pk},
        "sk": {"S": store["DatastoreId"]},
        "name": {"S": store.get("DatastoreName", "")},
        "status": {"S": store["DatastoreStatus"]},
        "error_category": {"S": category},
        "error_message": {"S": message},
        "version": {"N": str(version)},
        "observed_at": {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    request = {"TableName": table, "Item": item}
    if old:
        request["ConditionExpression"] = "version = :v"
        request["ExpressionAttributeValues"] = {":v": old["version"]}
    else:
        request["ConditionExpression"] = "attribute_not_exists(pk)"
    try:
        dynamodb.put_item(**request)
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    finally:
        calls["PutItem"] += 1


def publish(sns, topic_arn, account, region, store, previous, calls):
    category, message = cause_of(store)
    document = {
        "account": account,
        "region": region,
        "datastore_id": store["DatastoreId"],
        "datastore_name": store.get("DatastoreName", ""),
        "status": store["DatastoreStatus"],
        "previous_status": previous,
        "error_cause": {"category": category, "message": message},
    }
    subject = f"[CRITICAL] HealthLake {store.get('DatastoreName', '')} {store['DatastoreStatus']}"
    sns.publish(
        TopicArn=topic_arn,
        Subject=subject[:99],
        Message=json.dumps(document),
        MessageAttributes={
            "severity": {"DataType": "String", "StringValue": "critical"},
            "status": {"DataType": "String", "StringValue": store["DatastoreStatus"]},
            "region": {"DataType": "String", "StringValue": region},
            "account": {"DataType": "String", "StringValue": account},
        },
    )
    calls["Publish"] += 1


def tick(clients, dynamodb, sns, args, calls):
    changes = published = 0
    for region, client in clients.items():
        pk = f"{args.account}#{region}"
        stores = list_stores(client, calls)
        snapshot = load_snapshot(dynamodb, args.table, pk, calls)
        for store_id, store in stores.items():
            old = snapshot.get(store_id)
            status = store["DatastoreStatus"]
            previous = old["status"]["S"] if old else None
            old_cause = (
                (old["error_category"]["S"], old["error_message"]["S"]) if old else ("", "")
            )
            if old and previous == status and old_cause == cause_of(store):
                continue
            changes += 1
            if not put_record(dynamodb, args.table, pk, store, old, calls):
                continue
            if status in FAILED and previous != status:
                publish(sns, args.topic_arn, args.account, region, store, previous, calls)
                published += 1
    return changes, published


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", required=True)
    parser.add_argument("--topic-arn", required=True)
    parser.add_argument("--regions", required=True, help="comma-separated")
    parser.add_argument("--account", required=True)
    parser.add_argument("ticks", type=int)
    args = parser.parse_args()
    home = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    clients = {region: boto3.client("healthlake", region_name=region) for region in regions}
    dynamodb = boto3.client("dynamodb", region_name=home)
    sns = boto3.client("sns", region_name=args.topic_arn.split(":")[3])
    print("ready", flush=True)
    for n in range(1, args.ticks + 1):
        calls = Counter()
        started = time.perf_counter()
        changes, published = tick(clients, dynamodb, sns, args, calls)
        duration_ms = (time.perf_counter() - started) * 1000
        line = {
            "tick": n,
            "duration_ms": duration_ms,
            "calls": dict(calls),
            "changes": changes,
            "published": published,
            "vmhwm_kib": vmhwm_kib(),
        }
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
