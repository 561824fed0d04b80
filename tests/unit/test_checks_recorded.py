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


def _key(s: dict, prefix: str) -> str:
    return next(k for k in s if k.startswith(prefix))


def _group(s: dict, name: str) -> dict:
    return _one(s, "security_groups()", lambda g: g["GroupName"] == name)


DB_GROUP, WEB_GROUP = (
    "WikidotNotifierDatabaseSecurityGroup",
    "WikidotNotifierLambdaAccessToInternet",
)
SECRET_POLICY = 'local_policy("WikidotNotifierLambdaAccessToAuthSecret")'
FUNCTION = 'function("WikidotNotifier")'


def _secret_policy_partial_arn(s: dict) -> None:
    """The secret's ARN without its random suffix, in the form AWS documents ('-??????')."""
    statement = s[SECRET_POLICY]["Document"]["Statement"][0]
    statement["Resource"] = s['secret("WikidotNotifier/auth")']["ARN"][:-7] + "-??????"


def _secret_policy_second_statement(s: dict) -> None:
    s[SECRET_POLICY]["Document"]["Statement"].append(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    )


def _resource_policy_denies_the_role(s: dict) -> None:
    role = s[FUNCTION]["Configuration"]["Role"]
    s['secret_resource_policy("WikidotNotifier/auth")'] = {
        "Statement": [
            {"Effect": "Deny", "Principal": {"AWS": role}, "Action": "*", "Resource": "*"}
        ]
    }


def _dead_letter_queue(s: dict) -> None:
    s[FUNCTION]["Configuration"]["DeadLetterConfig"] = {
        "TargetArn": "arn:aws:sqs:eu-west-2:123456789012:notifier-dlq"
    }


def _event_source(state: str) -> Callable[[dict], None]:
    def mutate(s: dict) -> None:
        s['event_source_mappings("WikidotNotifier")'] = [
            {"UUID": "u-1", "EventSourceArn": "arn:aws:sqs:eu-west-2:1:q", "State": state}
        ]

    return mutate


def _anyone_may_invoke(s: dict) -> None:
    s['function_policy("WikidotNotifier")'] = {
        "Statement": [
            {
                "Sid": "open",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "lambda:InvokeFunction",
                "Resource": s[FUNCTION]["Configuration"]["FunctionArn"],
            }
        ]
    }


def _mysql_from_anywhere_ipv6(s: dict) -> None:
    _group(s, DB_GROUP)["IpPermissions"].append(
        {
            "IpProtocol": "tcp",
            "FromPort": 3306,
            "ToPort": 3306,
            "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
        }
    )


def _https_from_a_prefix_list(s: dict) -> None:
    _group(s, WEB_GROUP)["IpPermissions"].append(
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "PrefixListIds": [{"PrefixListId": "pl-1"}],
        }
    )


def _secret_denied_to_the_function(s: dict) -> None:
    key = _key(s, 'simulation("' + s[FUNCTION]["Configuration"]["Role"])
    decisions = s[key]["decisions"]["secretsmanager:GetSecretValue"]
    for resource in decisions:
        decisions[resource] = "explicitDeny"


def _route(destination: str, **target: str) -> Callable[[dict], None]:
    def mutate(s: dict) -> None:
        subnet = _one(s, "subnets()", lambda x: L.tag(x) == "Public subnet 2")
        inv = Inventory.from_snapshot(s)
        table = L.route_table_of(inv, subnet)
        _one(s, "route_tables()", lambda t: t["RouteTableId"] == table["RouteTableId"])[
            "Routes"
        ].append({"DestinationCidrBlock": destination, **target})

    return mutate


def _ssh_from_the_access_host(s: dict) -> None:
    """How MySQL got onto the instance (scp from Cloud9): the guide's, not an extra."""
    host = L.access_host(Inventory.from_snapshot(s), PROFILE)
    _group(s, DB_GROUP)["IpPermissions"].append(
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "UserIdGroupPairs": [{"GroupId": host["SecurityGroups"][0]["GroupId"]}],
        }
    )


def _console_password_reset_policy(s: dict) -> None:
    s['user("WikidotNotifierAdmin")']["AttachedPolicies"] = [
        {
            "PolicyName": "IAMUserChangePassword",
            "PolicyArn": "arn:aws:iam::aws:policy/IAMUserChangePassword",
        }
    ]


def _web_from_anywhere_ipv6_too(s: dict) -> None:
    """The older console's 'Anywhere' also added ::/0 for inbound HTTP and HTTPS."""
    for permission in _group(s, WEB_GROUP)["IpPermissions"]:
        permission["Ipv6Ranges"] = [{"CidrIpv6": "::/0"}]


def _no_inbound_web_rules(s: dict) -> None:
    """The advisory followed: the internet group admits nothing."""
    _group(s, WEB_GROUP)["IpPermissions"] = []


def _mysql_from_half_the_internet(s: dict) -> None:
    _group(s, DB_GROUP)["IpPermissions"].append(
        {
            "IpProtocol": "tcp",
            "FromPort": 3306,
            "ToPort": 3306,
            "IpRanges": [{"CidrIp": "0.0.0.0/1"}],
        }
    )


def _anti_spoofing_acl(s: dict) -> None:
    """Inbound denies of private ranges before allow-all: the internet still gets through."""
    for acl in s["network_acls()"]:
        acl["Entries"] += [
            {
                "RuleNumber": n,
                "Protocol": "-1",
                "RuleAction": "deny",
                "Egress": False,
                "CidrBlock": c,
            }
            for n, c in ((10, "192.168.0.0/16"), (11, "172.16.0.0/12"))
        ]


def _secret_denied_to_all_but_an_admin(s: dict) -> None:
    """'Deny everyone but the admin role', written with NotPrincipal: it denies the function."""
    s['secret_resource_policy("WikidotNotifier/auth")'] = {
        "Statement": [
            {
                "Effect": "Deny",
                "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:role/admin"},
                "Action": "secretsmanager:*",
                "Resource": "*",
            }
        ]
    }


MUTATIONS: dict[str, tuple[Callable[[dict], None], set[str]]] = {
    "SSH from the access host on the database group": (_ssh_from_the_access_host, set()),
    "the console's password-reset policy on the user": (_console_password_reset_policy, set()),
    "inbound web rules also from ::/0": (_web_from_anywhere_ipv6_too, set()),
    "no inbound web rules": (_no_inbound_web_rules, set()),
    "MySQL from 0.0.0.0/1": (
        _mysql_from_half_the_internet,
        {
            "database_sg_admits_only_mysql_from_itself_and_access_host",
            "no_security_group_admits_internet_to_database_or_lambda",
        },
    ),
    "an anti-spoofing network ACL": (_anti_spoofing_acl, set()),
    "the secret denied to all but an admin": (
        _secret_denied_to_all_but_an_admin,
        {"secret_resource_policy_admits_only_the_account"},
    ),
    "secret policy on the partial ARN": (_secret_policy_partial_arn, set()),
    "secret policy with a second statement": (
        _secret_policy_second_statement,
        {"secret_policy_grants_exactly_the_secret"},
    ),
    "secret's resource policy denies the function": (
        _resource_policy_denies_the_role,
        {"secret_resource_policy_admits_only_the_account"},
    ),
    "a dead-letter queue": (_dead_letter_queue, set()),
    "an enabled event source": (_event_source("Enabled"), {"function_invoked_only_by_its_runner"}),
    "a disabled event source": (_event_source("Disabled"), set()),
    "anyone may invoke the function": (_anyone_may_invoke, {"function_invoked_only_by_its_runner"}),
    "MySQL from ::/0": (
        _mysql_from_anywhere_ipv6,
        {
            "database_sg_admits_only_mysql_from_itself_and_access_host",
            "no_security_group_admits_internet_to_database_or_lambda",
        },
    ),
    "HTTPS from a prefix list": (_https_from_a_prefix_list, {"internet_sg_admits_only_http_https"}),
    "the secret denied to the function's role": (
        _secret_denied_to_the_function,
        {"function_role_may_do_what_the_function_does"},
    ),
    "a blackholed public route": (
        _route("8.8.8.0/24", NetworkInterfaceId="eni-gone", State="blackhole"),
        {"public_subnets_route_to_internet_gateway"},
    ),
    "a route to a peered network": (_route("172.16.0.0/12", VpcPeeringConnectionId="pcx-1"), set()),
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


def test_a_conditioned_deny_in_the_secrets_policy_is_an_advisory_not_a_verdict() -> None:
    """'Deny everyone but the function's role' is common; its condition is not evaluated here,
    so it neither fails the check nor passes unseen."""
    snap = recorded()
    role = snap[FUNCTION]["Configuration"]["Role"]
    snap['secret_resource_policy("WikidotNotifier/auth")'] = {
        "Statement": [
            {
                "Sid": "OnlyTheNotifier",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:PrincipalArn": role}},
            }
        ]
    }
    check = next(
        c
        for c in checks_in_guide_order()
        if c.id == "secret_resource_policy_admits_only_the_account"
    )
    found = evaluate(check, Inventory.from_snapshot(snap), PROFILE)
    assert found.status == Status.PASS
    assert found.advisories == (
        "a Deny with a condition in the secret's policy was not evaluated: OnlyTheNotifier",
    )
