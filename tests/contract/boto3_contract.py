"""The emulator's contract, run with a second client: boto3.

The Rust SDK is lenient in its own ways (it ignores members it does not know,
reads timestamps of several shapes, maps errors by `__type` alone); botocore
parses responses against the service model and reads errors its own way, so a
protocol detail one client forgives the other catches. Each test resets the
emulator, so they run in any order.

Run by `tests/it/emulator_boto3.rs`, or by hand against a running emulator:

    EMULATOR_URL=http://127.0.0.1:4599 python -m unittest -v tests/contract/boto3_contract.py
"""

import datetime
import json
import os
import unittest
import urllib.request

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

URL = os.environ["EMULATOR_URL"]
ACCOUNT = os.environ.get("EMULATOR_ACCOUNT", "123456789012")
OTHER = "210987654321"
REGION = "us-east-1"
KEY, SECRET = "AKID", "SECRET"
# The emulator's stores settle after its transition delay; the tests move its
# clock past it instead of waiting.
SETTLE_SECONDS = int(os.environ.get("EMULATOR_TRANSITION_SECONDS", "3600")) + 1
# `total_max_attempts` counts the first attempt; botocore's `max_attempts`
# counts retries only.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def admin(method, path, body=None):
    """An admin route of the emulator: (HTTP status, parsed JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{URL}/_emulator/{path}",
        data=data,
        method=method,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def session(key=KEY, secret=SECRET, token=None):
    return boto3.session.Session(
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=REGION,
    )


def healthlake(region=REGION, key=KEY, secret=SECRET, token=None, config=NO_RETRIES):
    return session(key, secret, token).client(
        "healthlake", region_name=region, endpoint_url=URL, config=config
    )


def sts(key=KEY, secret=SECRET, token=None):
    return session(key, secret, token).client(
        "sts", endpoint_url=URL, config=NO_RETRIES
    )


def code_of(error):
    return error.response["Error"]["Code"]


class Contract(unittest.TestCase):
    def setUp(self):
        status, body = admin("POST", "reset", {})
        self.assertEqual(status, 200, body)
        self.client = healthlake()

    def settle(self):
        status, body = admin("POST", "clock", {"AdvanceSeconds": SETTLE_SECONDS})
        self.assertEqual(status, 200, body)

    def create(self, name, tags=()):
        answer = self.client.create_fhir_datastore(
            DatastoreName=name, DatastoreTypeVersion="R4", Tags=list(tags)
        )
        return answer["DatastoreId"]

    def describe(self, store_id):
        return self.client.describe_fhir_datastore(DatastoreId=store_id)[
            "DatastoreProperties"
        ]

    def assert_error(self, call, code, http_status, **kwargs):
        with self.assertRaises(ClientError) as caught:
            call(**kwargs)
        self.assertEqual(code_of(caught.exception), code, caught.exception.response)
        self.assertEqual(
            caught.exception.response["ResponseMetadata"]["HTTPStatusCode"],
            http_status,
        )
        message = caught.exception.response["Error"].get("Message", "")
        self.assertTrue(message, f"{code} carries a message")
        return caught.exception


class Datastores(Contract):
    def test_create_answers_the_model_members_and_the_store_settles_active(self):
        answer = self.client.create_fhir_datastore(
            DatastoreName="boto3-store", DatastoreTypeVersion="R4"
        )
        self.assertEqual(answer["DatastoreStatus"], "CREATING")
        store_id = answer["DatastoreId"]
        self.assertEqual(
            answer["DatastoreArn"],
            f"arn:aws:healthlake:{REGION}:{ACCOUNT}:datastore/fhir/{store_id}",
        )
        self.assertTrue(answer["DatastoreEndpoint"].startswith("https://"))
        self.assertTrue(answer["DatastoreEndpoint"].endswith(f"/datastore/{store_id}/r4/"))

        creating = self.describe(store_id)
        self.assertEqual(creating["DatastoreStatus"], "CREATING")
        self.assertEqual(creating["DatastoreName"], "boto3-store")
        self.assertEqual(creating["DatastoreTypeVersion"], "R4")
        # botocore parsed the timestamp against the model's shape.
        self.assertIsInstance(creating["CreatedAt"], datetime.datetime)
        self.assertIsNotNone(creating["CreatedAt"].tzinfo)

        self.settle()
        active = self.describe(store_id)
        self.assertEqual(active["DatastoreStatus"], "ACTIVE")
        self.assertNotIn("ErrorCause", active)
        listed = self.client.list_fhir_datastores()["DatastorePropertiesList"]
        self.assertEqual([store["DatastoreId"] for store in listed], [store_id])
        self.assertEqual(listed[0], active)

    def test_a_scripted_failure_shows_its_error_cause_in_describe_and_list(self):
        store_id = self.create(
            "boto3-failing",
            [{"Key": "emulator:outcome", "Value": "CREATE_FAILED:NON_RETRYABLE_ERROR:KMS key is disabled"}],
        )
        self.settle()
        failed = self.describe(store_id)
        self.assertEqual(failed["DatastoreStatus"], "CREATE_FAILED")
        self.assertEqual(
            failed["ErrorCause"],
            {"ErrorMessage": "KMS key is disabled", "ErrorCategory": "NON_RETRYABLE_ERROR"},
        )
        listed = self.client.list_fhir_datastores()["DatastorePropertiesList"]
        self.assertEqual(listed[0]["ErrorCause"], failed["ErrorCause"])

    def test_the_paginator_reads_every_page_once(self):
        ids = {self.create(f"page-{n}") for n in range(5)}
        # botocore has no paginator for this operation: NextToken by hand.
        pages = [self.client.list_fhir_datastores(MaxResults=2)]
        while "NextToken" in pages[-1]:
            pages.append(
                self.client.list_fhir_datastores(MaxResults=2, NextToken=pages[-1]["NextToken"])
            )
        self.assertEqual([len(page["DatastorePropertiesList"]) for page in pages], [2, 2, 1])
        seen = [
            store["DatastoreId"]
            for page in pages
            for store in page["DatastorePropertiesList"]
        ]
        self.assertEqual(len(seen), 5)
        self.assertEqual(set(seen), ids)
        self.assertNotIn("NextToken", pages[-1])

    def test_filters_by_status_and_name(self):
        active = self.create("kept")
        self.settle()
        creating = self.create("new")
        by_status = self.client.list_fhir_datastores(Filter={"DatastoreStatus": "CREATING"})
        self.assertEqual(
            [store["DatastoreId"] for store in by_status["DatastorePropertiesList"]],
            [creating],
        )
        by_name = self.client.list_fhir_datastores(Filter={"DatastoreName": "kept"})
        self.assertEqual(
            [store["DatastoreId"] for store in by_name["DatastorePropertiesList"]],
            [active],
        )

    def test_tags_are_added_listed_and_removed_by_arn(self):
        store_id = self.create("tagged", [{"Key": "team", "Value": "payments"}])
        arn = self.describe(store_id)["DatastoreArn"]
        self.client.tag_resource(ResourceARN=arn, Tags=[{"Key": "owner", "Value": "ops"}])
        tags = self.client.list_tags_for_resource(ResourceARN=arn)["Tags"]
        self.assertEqual(
            sorted((tag["Key"], tag["Value"]) for tag in tags),
            [("owner", "ops"), ("team", "payments")],
        )
        self.client.untag_resource(ResourceARN=arn, TagKeys=["team"])
        tags = self.client.list_tags_for_resource(ResourceARN=arn)["Tags"]
        self.assertEqual(tags, [{"Key": "owner", "Value": "ops"}])

    def test_delete_goes_through_deleting_to_deleted(self):
        store_id = self.create("doomed")
        self.settle()
        answer = self.client.delete_fhir_datastore(DatastoreId=store_id)
        self.assertEqual(answer["DatastoreStatus"], "DELETING")
        self.assertEqual(answer["DatastoreId"], store_id)
        self.settle()
        self.assertEqual(self.describe(store_id)["DatastoreStatus"], "DELETED")


class Errors(Contract):
    def test_an_unknown_store_is_resource_not_found_as_a_modeled_exception(self):
        with self.assertRaises(self.client.exceptions.ResourceNotFoundException) as caught:
            self.client.describe_fhir_datastore(DatastoreId="0" * 32)
        self.assertEqual(caught.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertTrue(caught.exception.response["Error"]["Message"])

    def test_an_injected_throttle_is_read_as_throttling_and_botocore_retries_it(self):
        status, body = admin(
            "POST",
            "faults",
            {"Operation": "ListFHIRDatastores", "Error": "ThrottlingException", "Count": 1},
        )
        self.assertEqual(status, 200, body)
        with self.assertRaises(self.client.exceptions.ThrottlingException):
            self.client.list_fhir_datastores()
        # The fault was used up by that call: botocore's standard retry mode
        # would have retried it, and the same client now succeeds.
        self.assertEqual(self.client.list_fhir_datastores()["DatastorePropertiesList"], [])

        status, body = admin(
            "POST",
            "faults",
            {"Operation": "ListFHIRDatastores", "Error": "ThrottlingException", "Count": 2},
        )
        self.assertEqual(status, 200, body)
        retrying = healthlake(config=Config(retries={"total_max_attempts": 3, "mode": "standard"}))
        self.assertEqual(retrying.list_fhir_datastores()["DatastorePropertiesList"], [])
        _, calls = admin("GET", "calls")
        self.assertEqual(calls["ListFHIRDatastores"], 5, calls)

    def test_an_invalid_member_is_a_validation_exception(self):
        # botocore validates parameters itself; turned off, the emulator's own
        # validation answers.
        unchecked = healthlake(
            config=Config(retries={"total_max_attempts": 1}, parameter_validation=False)
        )
        self.assert_error(
            unchecked.create_fhir_datastore,
            "ValidationException",
            400,
            DatastoreTypeVersion="R5",
        )


class Signatures(Contract):
    def test_an_unknown_key_is_unrecognized_client(self):
        self.assert_error(
            healthlake(key="AKIDNOTKNOWN").list_fhir_datastores,
            "UnrecognizedClientException",
            400,
        )

    def test_a_wrong_secret_is_an_invalid_signature(self):
        self.assert_error(
            healthlake(secret="not-the-secret").list_fhir_datastores,
            "InvalidSignatureException",
            400,
        )

    def test_an_unsigned_request_is_missing_authentication_token(self):
        unsigned = boto3.session.Session(region_name=REGION).client(
            "healthlake",
            endpoint_url=URL,
            config=Config(signature_version=botocore.UNSIGNED, retries={"total_max_attempts": 1}),
        )
        self.assert_error(
            unsigned.list_fhir_datastores, "MissingAuthenticationTokenException", 403
        )

    def test_a_wrong_secret_on_sts_is_signature_does_not_match(self):
        self.assert_error(
            sts(secret="not-the-secret").get_caller_identity, "SignatureDoesNotMatch", 403
        )


class Roles(Contract):
    ROLE = f"arn:aws:iam::{OTHER}:role/HealthLakeMonitor"

    def assume(self, **extra):
        answer = sts().assume_role(
            RoleArn=self.ROLE, RoleSessionName="healthlake-monitor", **extra
        )
        return answer["Credentials"]

    def test_assumed_credentials_read_the_roles_account(self):
        credentials = self.assume()
        self.assertTrue(credentials["AccessKeyId"].startswith("ASIA"))
        self.assertIsInstance(credentials["Expiration"], datetime.datetime)
        member = dict(
            key=credentials["AccessKeyId"],
            secret=credentials["SecretAccessKey"],
            token=credentials["SessionToken"],
        )
        identity = sts(**member).get_caller_identity()
        self.assertEqual(identity["Account"], OTHER)
        self.assertEqual(
            identity["Arn"],
            f"arn:aws:sts::{OTHER}:assumed-role/HealthLakeMonitor/healthlake-monitor",
        )

        client = healthlake(**member)
        store_id = client.create_fhir_datastore(DatastoreTypeVersion="R4")["DatastoreId"]
        arn = client.describe_fhir_datastore(DatastoreId=store_id)["DatastoreProperties"]["DatastoreArn"]
        self.assertIn(f":{OTHER}:", arn)
        # The default account does not see it.
        self.assertEqual(self.client.list_fhir_datastores()["DatastorePropertiesList"], [])

        # Without its session token, the issued key is not recognised.
        self.assert_error(
            healthlake(key=member["key"], secret=member["secret"]).list_fhir_datastores,
            "UnrecognizedClientException",
            400,
        )

        status, body = admin("POST", "credentials/expire", {"AccessKeyId": member["key"]})
        self.assertEqual(status, 200, body)
        self.assert_error(client.list_fhir_datastores, "ExpiredTokenException", 400)

    def test_a_denied_role_and_a_wrong_external_id_are_access_denied(self):
        status, body = admin("POST", "roles", {"RoleArn": self.ROLE, "ExternalId": "tenant-42"})
        self.assertEqual(status, 200, body)
        for extra in ({}, {"ExternalId": "tenant-41"}):
            error = self.assert_error(
                sts().assume_role,
                "AccessDenied",
                403,
                RoleArn=self.ROLE,
                RoleSessionName="healthlake-monitor",
                **extra,
            )
            self.assertIn(self.ROLE, error.response["Error"]["Message"])
        self.assertTrue(self.assume(ExternalId="tenant-42")["AccessKeyId"])

    def test_sts_validates_its_parameters(self):
        unchecked = session().client(
            "sts",
            endpoint_url=URL,
            config=Config(retries={"total_max_attempts": 1}, parameter_validation=False),
        )
        self.assert_error(
            unchecked.assume_role,
            "ValidationError",
            400,
            RoleArn="not-a-role",
            RoleSessionName="healthlake-monitor",
        )


if __name__ == "__main__":
    unittest.main()
