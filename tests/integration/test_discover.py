"""discover on a deployment whose names are not the profile's: the lab, then the lab renamed
by plain boto3 the way the console and a person name things (a role with the console's random
suffix, a state machine, repository, rule and ECR policy the guide never names, other Name
tags). The written profile verifies all pass with no hand edit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runbook.lab import build, control, history, hosts, world
from runbook.lab.host_faults import ACCESS, DB_HOST
from runbook.profile import Profile, load_profile
from runbook.run import Run

from .conftest import LAB_PROFILE, ROOT, in_the_lab, lab_base
from .independent import build as build_independently

pytestmark = pytest.mark.lab

CLI = Path(sys.executable).with_name("notifier-runbook")
RENAMED = {
    "vpc": "notifier-vpc",
    "subnets": ("notifier-a", "notifier-b"),
    "instance": "notifier-mysql",
    "cloud9": "notifier-access",
    "role": "WikidotNotifier-role-x7k2p9qa",
    "machine": "NotifierFlow-7f3a",
    "rule": "notifier-hourly",
    "repository": "wikidot_notifier",
    "ecr_policy": "notifier-ecr-push",
}


def _discover(
    env: dict[str, str], out: Path, *args: str, base: str = str(LAB_PROFILE)
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(CLI),
            "discover",
            "--base",
            base,
            "--out",
            str(out / "found.toml"),
            "--reports-dir",
            str(out / "reports"),
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _healthy(out: Path) -> dict[str, str]:
    summary = json.loads((out / "reports" / "summary.json").read_text())
    return {
        c["id"]: c["summary"]
        for s in summary["sections"]
        for c in s["checks"]
        if c["status"] in ("fail", "error")
    }


def test_discover_on_the_lab_finds_its_names(
    built_lab: Run, lab_profile: Profile, lab_env: dict[str, str], tmp_path: Path
) -> None:
    proc = _discover(lab_env, tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    written = tomllib.loads((tmp_path / "found.toml").read_text())
    found = load_profile(tmp_path / "found.toml")
    assert found.iam.group == lab_profile.iam.group and found.iam.user == lab_profile.iam.user
    assert found.vpc.subnets == lab_profile.vpc.subnets
    assert found.database.instance_name == lab_profile.database.instance_name
    assert found.access_host.cloud9_environment == lab_profile.access_host.cloud9_environment
    assert found.function.role == "WikidotNotifier-role"
    # followed names stay comments: not assertions
    assert "state_machine" not in written.get("step_functions", {})
    text = (tmp_path / "found.toml").read_text()
    assert '# state_machine = "WikidotNotifierDatabaseStartStop"  # found: ' in text
    assert "AWS calls, all reads" in proc.stdout
    assert _healthy(tmp_path) == {}


@pytest.fixture
def renamed_lab(built_lab: Run, lab_profile: Profile, lab_url: str) -> Iterator[Profile]:
    hand = build.lab_hand(lab_profile)
    try:
        yield _rename(hand, lab_profile, lab_url)
    finally:
        build.build(lab_profile, lab_url)


def _rename(hand: Any, p: Profile, url: str) -> Profile:
    """What a person and the console would have named otherwise, by plain boto3 calls."""
    ec2, iam, sfn = hand.client("ec2"), hand.client("iam"), hand.client("stepfunctions")
    events, ecr, lam = hand.client("events"), hand.client("ecr"), hand.client("lambda")

    def tag(resource: str, name: str) -> None:
        ec2.create_tags(Resources=[resource], Tags=[{"Key": "Name", "Value": name}])

    def named(items: list[dict], name: str) -> dict:
        return next(i for i in items if {"Key": "Name", "Value": name} in i.get("Tags", []))

    vpc = named(ec2.describe_vpcs()["Vpcs"], p.vpc.name)
    tag(vpc["VpcId"], RENAMED["vpc"])
    subnets = ec2.describe_subnets()["Subnets"]
    for old, new in zip(p.vpc.subnets, RENAMED["subnets"], strict=True):
        tag(named(subnets, old.name)["SubnetId"], new)
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    tag(named(instances, p.database.instance_name)["InstanceId"], RENAMED["instance"])
    for inst in instances:
        name = next((t["Value"] for t in inst.get("Tags", []) if t["Key"] == "Name"), "")
        if name.startswith(f"aws-cloud9-{p.access_host.cloud9_environment}-"):
            suffix = name.rsplit("-", 1)[1]
            tag(inst["InstanceId"], f"aws-cloud9-{RENAMED['cloud9']}-{suffix}")

    # the console's role for a new function: a random suffix
    old_role = lam.get_function(FunctionName=p.function.function)["Configuration"]["Role"]
    old_name = old_role.rsplit("/", 1)[1]
    trust = iam.get_role(RoleName=old_name)["Role"]["AssumeRolePolicyDocument"]
    role = iam.create_role(RoleName=RENAMED["role"], AssumeRolePolicyDocument=json.dumps(trust))
    for attached in iam.list_attached_role_policies(RoleName=old_name)["AttachedPolicies"]:
        iam.attach_role_policy(RoleName=RENAMED["role"], PolicyArn=attached["PolicyArn"])
    for policy in iam.list_role_policies(RoleName=old_name)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=old_name, PolicyName=policy)["PolicyDocument"]
        iam.put_role_policy(
            RoleName=RENAMED["role"], PolicyName=policy, PolicyDocument=json.dumps(doc)
        )
    lam.update_function_configuration(FunctionName=p.function.function, Role=role["Role"]["Arn"])

    # the image in a repository named as upstream's, deployed from there
    ecr.create_repository(repositoryName=RENAMED["repository"])
    ecr.put_image(
        repositoryName=RENAMED["repository"],
        imageTag="latest",
        imageManifest=json.dumps(world.image_manifest("1")),
    )
    uri = ecr.describe_repositories(repositoryNames=[RENAMED["repository"]])["repositories"][0]
    lam.update_function_code(
        FunctionName=p.function.function, ImageUri=f"{uri['repositoryUri']}:latest"
    )

    # the group's ECR policy under the name its author chose, for the new repository
    group = p.iam.group
    for attached in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]:
        if attached["PolicyName"] == p.iam.ecr_policy:
            iam.detach_group_policy(GroupName=group, PolicyArn=attached["PolicyArn"])
    policy = iam.create_policy(
        PolicyName=RENAMED["ecr_policy"],
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                    {"Effect": "Allow", "Action": "ecr:*", "Resource": uri["repositoryArn"]},
                ],
            }
        ),
    )
    iam.attach_group_policy(GroupName=group, PolicyArn=policy["Policy"]["Arn"])

    # the state machine and the rule under other names; the old ones gone
    machines = sfn.list_state_machines()["stateMachines"]
    old_machine = next(m for m in machines if m["name"] == p.step_functions.state_machine)
    described = sfn.describe_state_machine(stateMachineArn=old_machine["stateMachineArn"])
    machine = sfn.create_state_machine(
        name=RENAMED["machine"], definition=described["definition"], roleArn=described["roleArn"]
    )
    sfn.delete_state_machine(stateMachineArn=old_machine["stateMachineArn"])
    old_rule = events.describe_rule(Name=p.trigger.rule)
    (target,) = events.list_targets_by_rule(Rule=p.trigger.rule)["Targets"]
    events.put_rule(
        Name=RENAMED["rule"],
        ScheduleExpression=old_rule["ScheduleExpression"],
        State=old_rule["State"],
    )
    events.put_targets(
        Rule=RENAMED["rule"], Targets=[{**target, "Arn": machine["stateMachineArn"]}]
    )
    events.remove_targets(Rule=p.trigger.rule, Ids=[target["Id"]])
    events.delete_rule(Name=p.trigger.rule)
    # its role may start the new machine (the console's "create a new role" does this)
    role_name = target["RoleArn"].rsplit("/", 1)[1]
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="start-execution",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "states:StartExecution",
                        "Resource": machine["stateMachineArn"],
                    }
                ],
            }
        ),
    )
    data = p.model_dump(by_alias=True, exclude_unset=True)
    data["vpc"] = {
        **data.get("vpc", {}),
        "name": RENAMED["vpc"],
        "subnets": [
            {"name": n, "cidr": s.cidr}
            for n, s in zip(RENAMED["subnets"], p.vpc.subnets, strict=True)
        ],
    }
    data["database"] = {**data.get("database", {}), "instance_name": RENAMED["instance"]}
    data["step_functions"] = {"state_machine": RENAMED["machine"]}
    data["trigger"] = {"rule": RENAMED["rule"]}
    truth = Profile.model_validate(data)
    history.seed(hand, url, truth)  # the hourly runs AWS would have recorded under the new names
    return truth


def test_discover_follows_a_deployment_named_otherwise(
    renamed_lab: Profile, lab_env: dict[str, str], tmp_path: Path
) -> None:
    proc = _discover(lab_env, tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    found = load_profile(tmp_path / "found.toml")
    assert found.vpc.name == RENAMED["vpc"]
    assert [s.name for s in found.vpc.subnets] == list(RENAMED["subnets"])
    assert found.database.instance_name == RENAMED["instance"]
    assert found.access_host.cloud9_environment == RENAMED["cloud9"]
    assert found.function.role == RENAMED["role"]
    assert found.trigger.rule == RENAMED["rule"]
    text = (tmp_path / "found.toml").read_text()
    assert f'# state_machine = "{RENAMED["machine"]}"' in text
    assert f'# ecr_repository = "{RENAMED["repository"]}"' in text
    assert _healthy(tmp_path) == {}


def test_discover_refuses_bad_input_in_one_line_and_writes_nothing(
    built_lab: Run, lab_env: dict[str, str], tmp_path: Path
) -> None:
    for args, says in (
        (("--function", "Nope"), "no Lambda function 'Nope' in eu-west-2"),
        (("--rule", "Nope"), "no EventBridge rule 'Nope' in eu-west-2"),
        (("--state-machine", "Nope"), "no state machine 'Nope'"),
    ):
        proc = _discover(lab_env, tmp_path, *args)
        assert proc.returncode == 4, proc.stderr
        assert proc.stderr.startswith(f"usage error: {says}") and proc.stderr.count("\n") == 1
        assert not (tmp_path / "found.toml").exists()
    (tmp_path / "found.toml").write_text("# mine\n")
    proc = _discover(lab_env, tmp_path, "--no-verify")
    assert proc.returncode == 4 and "exists: pass --force" in proc.stderr
    assert (tmp_path / "found.toml").read_text() == "# mine\n"


def test_discover_on_an_independent_build_verifies_all_pass(
    lab_profile: Profile, lab_url: str, lab_state: Path, tmp_path: Path
) -> None:
    """A deployment built by plain boto3, not by perform, named as a person and the console
    name things (tests/integration/independent.py): discover finds every name, and the verify
    it runs (the database started for the host checks) has no fail and no error."""
    try:
        os.environ.update(build.lab_environment(lab_url))
        control.reset(lab_url)
        control.set_config(lab_url, {"lambda": {"use_docker": False}})
        truth = build_independently(lab_profile, lab_url)
        env = {**os.environ, **hosts.environment(lab_state)}
        proc = _discover(env, tmp_path, "--start-database")
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        found = load_profile(tmp_path / "found.toml")
        sections = ("variants", "iam", "vpc", "security_groups", "access_host", "secret", "trigger")
        assert [s for s in sections if getattr(found, s) != getattr(truth, s)] == []
        assert found.database.instance_name == truth.database.instance_name
        assert found.function.function == truth.function.function
        assert found.function.role == truth.function.role
        text = (tmp_path / "found.toml").read_text()
        machine, repository = truth.step_functions.state_machine, truth.redeployment.ecr_repository
        assert f'# state_machine = "{machine}"' in text
        assert f'# ecr_repository = "{repository}"' in text
        assert _healthy(tmp_path) == {}
        summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
        status = {c["id"]: c["status"] for sec in summary["sections"] for c in sec["checks"]}
        assert {c: status[c] for c in DB_HOST | ACCESS} == dict.fromkeys(DB_HOST | ACCESS, "pass")
    finally:
        build.build(lab_profile, lab_url)


def test_discover_on_the_current_notifier_lab_keeps_its_values(
    built_lab: Run, lab_profile: Profile, lab_url: str, lab_env: dict[str, str], tmp_path: Path
) -> None:
    """The lab built as today's notifier (profiles/notifier-current.toml): discover with it as
    the base keeps its runtime and required S3 action, and the written profile verifies."""
    current = load_profile(ROOT / "profiles" / "notifier-current.toml")
    as_lab = in_the_lab(current, lab_profile)
    try:
        build.build(as_lab, lab_url)
        proc = _discover(lab_env, tmp_path, base="profiles/notifier-current.toml")
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        found = load_profile(tmp_path / "found.toml")
        assert found.function.runtime == "python3.13"
        assert found.function.required_actions == current.function.required_actions
        assert _healthy(tmp_path) == {}
    finally:
        build.build(lab_profile, lab_url)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_discover_finds_the_aurora_cluster_by_the_group_it_shares_with_the_function(
    version: str,
    built_lab: Run,
    lab_profile: Profile,
    lab_url: str,
    lab_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """The rule starts the function itself: the database is the cluster carrying one of the
    function's groups, its version how it scales; from a base that says EC2 and another
    cluster name, the written profile verifies."""
    name = f"example-aurora-serverless-{version}"
    try:
        build.build(
            in_the_lab(load_profile(ROOT / "profiles" / f"{name}.toml"), lab_profile), lab_url
        )
        base = lab_base(
            name,
            tmp_path,
            {
                f'database = "aurora-serverless-{version}"': 'database = "ec2"',
                'cluster = "wikidotnotifierbdcluster"': 'cluster = "another"',
            },
        )
        proc = _discover(lab_env, tmp_path, base=str(base))
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        found = load_profile(tmp_path / "found.toml")
        assert found.variants.database == f"aurora-serverless-{version}"
        assert found.database.cluster == "wikidotnotifierbdcluster"
        assert _healthy(tmp_path) == {}
    finally:
        build.build(lab_profile, lab_url)
