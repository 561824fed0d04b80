"""Runs one check against the inventory and turns its outcome, or its failure, into a Finding."""

from __future__ import annotations

from runbook.aws.collected import CollectionError
from runbook.aws.inventory import Inventory
from runbook.findings import Finding, Outcome, Status
from runbook.profile import Profile
from runbook.redact import scrub, scrub_data
from runbook.registry import Check
from runbook.sections import SECTION_BY_ID


def not_applicable(check: Check, profile: Profile) -> str | None:
    """Why a check does not apply to this profile's variants, or None."""
    return SECTION_BY_ID[check.section].applies(profile) or check.applies(profile)


def evaluate(check: Check, inventory: Inventory, profile: Profile) -> Finding:
    reason = not_applicable(check, profile)
    if reason:
        return finding(check, Outcome(Status.SKIP, reason), profile)
    try:
        outcome = check.fn(inventory, profile)
    except CollectionError as exc:
        outcome = (
            Outcome(Status.SKIP, exc.args[0])
            if exc.kind == "skip"
            else Outcome(
                Status.ERROR,
                f"could not check: {exc}",
                evidence={"cause": exc.kind, "permission": exc.permission},
            )
        )
    except Exception as exc:  # a defect in the check: never a pass, a fail or a silent skip
        outcome = Outcome(
            Status.ERROR,
            f"could not check: the check crashed ({type(exc).__name__}: {scrub(str(exc))[:200]}); "
            "please report it",
            evidence={"cause": "check-crashed"},
        )
    return finding(check, outcome, profile)


# What a section's checks judge, by the profile's names, when a check names nothing closer.
SECTION_RESOURCE = {
    "costs": lambda p: f"region {p.region}",
    "iam": lambda p: f"group {p.iam.group}, user {p.iam.user}",
    "vpc": lambda p: f"VPC {p.vpc.name}",
    "security_groups": lambda p: (
        f"security groups {p.security_groups.database}, {p.security_groups.internet}"
    ),
    "database_ec2": lambda p: f"instance {p.database.instance_name}",
    "database_aurora": lambda p: f"cluster {p.database.cluster}",
    "database_access": lambda p: f"the access host ({p.variants.access_host}) and the database",
    "secrets": lambda p: f"secret {p.secret.name}",
    "lambda": lambda p: f"function {p.function.function}",
    # followed, not named: the profile's name may not be the deployment's (checks/lookup.py)
    "step_functions": lambda p: f"the state machine rule {p.trigger.rule} starts",
    "trigger": lambda p: f"rule {p.trigger.rule}",
    "egress": lambda p: f"function {p.function.function}'s network path",
    "lambda_permissions": lambda p: f"function {p.function.function}'s role",
    "lambda_vpc": lambda p: f"function {p.function.function}",
    "redeployment": lambda p: f"function {p.function.function} and its image's repository",
    "operations": lambda p: f"rule {p.trigger.rule}, function {p.function.function}",
}
# Ids in a check's evidence that name what it judged, most precise first.
EVIDENCE_IDS = ("GroupId", "InstanceId", "PolicyArn", "arn", "role", "VpcId")


def resource_of(check: Check, outcome: Outcome, profile: Profile | None) -> str | None:
    """The resource a finding is about: the check's own word, an id its evidence holds, else
    what its section is about, by the profile's names."""
    if outcome.resource:
        return outcome.resource
    if isinstance(outcome.evidence, dict):
        for key in EVIDENCE_IDS:
            if isinstance(outcome.evidence.get(key), str):
                return outcome.evidence[key]
    return SECTION_RESOURCE[check.section](profile) if profile is not None else None


def finding(check: Check, outcome: Outcome, profile: Profile | None = None) -> Finding:
    """The finding of one check; no secret value met in the run survives in what it says."""
    console = check.console or SECTION_BY_ID[check.section].console
    resource = resource_of(check, outcome, profile)
    return Finding(
        check_id=check.id,
        section=check.section,
        says=check.says,
        status=outcome.status,
        summary=scrub(outcome.summary),
        guide=f"{SECTION_BY_ID[check.section].guide}: {check.guide}",
        expected=scrub_data(outcome.expected),
        actual=scrub_data(outcome.actual),
        evidence=scrub_data(outcome.evidence),
        advisories=tuple(scrub(a) for a in outcome.advisories),
        details=scrub_data(outcome.details),
        severity=check.severity,
        risk=check.risk,
        resource=resource,
        differs=scrub_data(outcome.differs),
        console=console.replace("{resource}", resource or "...") if console else None,
    )
