"""Checks on the recorded inventory of the healthy lab, with one mutation per broken state.

These cover what the lab cannot reach (moto cannot change a subnet's zone or an instance's
image, its functions are always Active, ...) and prove could-not-check stays local.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from checks import lookup as L
from runbook.aws.inventory import Inventory
from runbook.engine import evaluate
from runbook.findings import Status
from runbook.profile import Profile, Redeployment, Variants, load_profile
from runbook.redact import digest
from runbook.registry import checks_in_guide_order

ROOT = Path(__file__).resolve().parents[2]
RECORDED = json.loads((ROOT / "tests" / "data" / "lab-inventory.json").read_text())
PROFILE = load_profile(ROOT / "profiles" / "lab.toml")


def recorded() -> dict[str, Any]:
    """The recording, with mysql_host's digest redone under this process's key."""
    snap = copy.deepcopy(RECORDED)
    inv = Inventory.from_snapshot(snap)
    ip = L.db_instance(inv, PROFILE)["PrivateIpAddress"]
    snap['secret_shape("WikidotNotifier/auth")']["digests"]["mysql_host"] = digest(ip)
    return snap


def verdicts(snap: dict[str, Any], profile: Profile = PROFILE) -> dict[str, Status]:
    inv = Inventory.from_snapshot(snap)
    return {c.id: evaluate(c, inv, profile).status for c in checks_in_guide_order()}


BASELINE = verdicts(recorded())


def changed_by(mutate: Callable[[dict], None]) -> dict[str, Status]:
    """The verdicts a mutation of the healthy recording changes, and to what."""
    snap = recorded()
    mutate(snap)
    return {c: s for c, s in verdicts(snap).items() if s != BASELINE[c]}


def test_recorded_healthy_lab_passes() -> None:
    assert {c for c, s in BASELINE.items() if s not in (Status.PASS, Status.SKIP)} == set()


def _one(snap: dict, key: str, where: Callable[[dict], bool]) -> dict:
    return next(x for x in snap[key] if where(x))


def _root_keys(s: dict) -> None:
    s["account_summary()"]["AccountAccessKeysPresent"] = 1


def _subnet_cidr(s: dict) -> None:
    _one(s, "subnets()", lambda x: L.tag(x) == "Public subnet 2")["CidrBlock"] = "10.0.9.0/24"


def _same_zone(s: dict) -> None:
    for subnet in s["subnets()"]:
        subnet["AvailabilityZone"] = "eu-west-2a"


def _ubuntu(s: dict) -> None:
    key = next(k for k in s if k.startswith("image("))
    s[key].update(Name="ubuntu-jammy-22.04", Description="Canonical Ubuntu")


def _function_failed_update(s: dict) -> None:
    s['function("WikidotNotifier")']["Configuration"]["LastUpdateStatus"] = "Failed"


def _function_zip(s: dict) -> None:
    s['function("WikidotNotifier")']["Configuration"]["PackageType"] = "Zip"


def _machine_deleting(s: dict) -> None:
    s['state_machine("WikidotNotifierDatabaseStartStop")']["status"] = "DELETING"


def _policy_resource_list_with_star(s: dict) -> None:
    doc = s['local_policy("WikidotNotifierLambdaAccessToAuthSecret")']["Document"]
    arn = s['secret("WikidotNotifier/auth")']["ARN"]
    doc["Statement"] = [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": [arn, "*"]}
    ]


def _enis_reordered(s: dict) -> None:
    s["network_interfaces()"].reverse()


def _target_input_not_json(s: dict) -> None:
    s['rule_targets("WikidotNotifierExecutor")'][0]["Input"] = "db_instance_id=i-1"


def _schedule_invalid(s: dict) -> None:
    s['rule("WikidotNotifierExecutor")']["ScheduleExpression"] = "cron(0 * * * * *)"


def _non_lambda_eni_with_lambda_description(s: dict) -> None:
    """An ENI someone described like Lambda's but that Lambda did not create: not counted."""
    eni = copy.deepcopy(s["network_interfaces()"][0])
    eni.update(NetworkInterfaceId="eni-fake", RequesterManaged=False, Association=None)
    s["network_interfaces()"].append(eni)


def _enis_without_suffix(s: dict) -> None:
    """Real AWS also describes them 'AWS Lambda VPC ENI-<function>' with nothing after."""
    for eni in s["network_interfaces()"]:
        if (eni.get("Description") or "").startswith("AWS Lambda VPC ENI-"):
            eni["Description"] = "AWS Lambda VPC ENI-WikidotNotifier"


def _other_functions_eni(s: dict) -> None:
    """Another function's ENI (no Elastic IP) whose name starts like ours: not ours."""
    eni = copy.deepcopy(s["network_interfaces()"][0])
    eni.update(
        NetworkInterfaceId="eni-staging",
        Association=None,
        Description="AWS Lambda VPC ENI-WikidotNotifier-staging-"
        "3f1c2a4e-1b2c-4d5e-8f90-123456789abc",
    )
    s["network_interfaces()"].append(eni)


def _egress_to_prefix_list(s: dict) -> None:
    group = _one(
        s, "security_groups()", lambda g: g["GroupName"] == "WikidotNotifierLambdaAccessToInternet"
    )
    group["IpPermissionsEgress"].append(
        {"IpProtocol": "-1", "IpRanges": [], "PrefixListIds": [{"PrefixListId": "pl-123"}]}
    )


def _secret_pending_deletion(s: dict) -> None:
    s['secret("WikidotNotifier/auth")']["DeletedDate"] = "2026-11-20T00:00:00+00:00"


MUTATIONS: dict[str, tuple[Callable[[dict], None], set[str]]] = {
    "ENIs described without suffix": (_enis_without_suffix, set()),
    "another function's ENI": (_other_functions_eni, set()),
    "egress to a prefix list": (_egress_to_prefix_list, {"internet_sg_sends_only_http_https"}),
    "secret pending deletion": (_secret_pending_deletion, {"secret_holds_exactly_the_five_keys"}),
    "root access keys": (_root_keys, {"root_account_has_no_access_keys"}),
    "subnet CIDR": (_subnet_cidr, {"subnets_exist_with_profile_cidrs"}),
    "subnets in one zone": (_same_zone, {"subnets_in_different_zones"}),
    "not Amazon Linux": (_ubuntu, {"database_image_is_amazon_linux"}),
    "failed update": (_function_failed_update, {"function_active_and_last_update_successful"}),
    "zip instead of image": (_function_zip, {"function_package_matches_variant"}),
    "state machine deleting": (_machine_deleting, {"state_machine_active"}),
    "policy ARN and *": (
        _policy_resource_list_with_star,
        {"secret_policy_grants_exactly_the_secret"},
    ),
    "ENIs in another order": (_enis_reordered, set()),
    "target input not JSON": (_target_input_not_json, {"rule_input_names_actual_instance"}),
    "schedule AWS refuses": (_schedule_invalid, {"rule_fires_hourly_and_is_enabled"}),
    "look-alike ENI": (_non_lambda_eni_with_lambda_description, set()),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_mutation_fails_exactly_its_checks(case: str) -> None:
    mutate, breaks = MUTATIONS[case]
    assert changed_by(mutate) == dict.fromkeys(breaks, Status.FAIL)


def test_budget_below_the_estimate_fails_only_the_budget() -> None:
    tight = PROFILE.model_copy(
        update={"costs": PROFILE.costs.model_copy(update={"budget_usd_month": 5.0})}
    )
    after = verdicts(recorded(), tight)
    assert {c for c, s in after.items() if s == Status.FAIL} == {
        "monthly_cost_estimate_within_budget"
    }


def test_zip_variant_compares_the_local_package(tmp_path: Path) -> None:
    import base64
    import hashlib

    package = tmp_path / "lambda.zip"
    package.write_bytes(b"the local build")
    local = base64.b64encode(hashlib.sha256(package.read_bytes()).digest()).decode()
    zipped = PROFILE.model_copy(
        update={
            "variants": Variants(packaging="zip"),
            "redeployment": Redeployment(zip_path=str(package)),
        }
    )
    snap = recorded()
    snap[f'local_zip_sha256("{package}")'] = local
    config = snap['function("WikidotNotifier")']["Configuration"]
    config.update(PackageType="Zip", Runtime="python3.8", Handler="lambda_function.lambda_handler")
    assert verdicts(snap, zipped)["function_code_matches_local_zip"] == Status.FAIL
    config["CodeSha256"] = local
    assert verdicts(snap, zipped)["function_code_matches_local_zip"] == Status.PASS


def test_a_collection_that_failed_errors_only_the_checks_that_needed_it() -> None:
    snap = recorded()
    snap["addresses()"] = {
        "collection_error": "access-denied",
        "message": "access denied to ec2:DescribeAddresses",
    }
    after = verdicts(snap)
    errored = {c for c, s in after.items() if s == Status.ERROR}
    assert errored == {
        "region_has_no_idle_elastic_ip",
        "monthly_cost_estimate_within_budget",
        "database_instance_has_no_elastic_ip",
        "lambda_enis_have_one_elastic_ip_per_subnet",
    }
    assert {c for c, s in after.items() if s != BASELINE[c]} == errored


def test_a_crashing_check_is_an_error_never_a_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    check = next(c for c in checks_in_guide_order() if c.id == "vpc_exists_with_profile_cidr")

    def broken(inv: Inventory, p: Profile) -> None:
        raise AttributeError("'str' object has no attribute 'get'")

    found = evaluate(
        dataclasses.replace(check, fn=broken), Inventory.from_snapshot(recorded()), PROFILE
    )
    assert found.status == Status.ERROR
    assert "check crashed (AttributeError" in found.summary


def test_function_environment_values_never_reach_the_inventory() -> None:
    from runbook.aws.functions import _without_secrets

    got = _without_secrets(
        {
            "Configuration": {"Environment": {"Variables": {"API_TOKEN": "canary-env-9d2f"}}},
            "Code": {"Location": "https://bucket.s3/?X-Amz-Signature=canary-sig", "ImageUri": "x"},
        }
    )
    assert "canary" not in json.dumps(got)
    assert got["Configuration"]["Environment"]["Variables"] == {"API_TOKEN": "<redacted>"}
