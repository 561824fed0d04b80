"""The checker's least-privilege IAM policy, generated from what the collections declare.

Every collection names the AWS operations it reads (``collected(..., reads=...)``); the
policy allows exactly those, the secret's value only for the profile's secret, and the
database's start and stop (``--start-database``) only for the profile's instance.
"""

from __future__ import annotations

import json
from typing import Any

import runbook.aws.inventory  # noqa: F401  (every collection declares its reads on import)
from runbook.aws.collected import DECLARED_READS
from runbook.aws.probe import IAM_WRITES as PROBE_WRITES
from runbook.aws.trail import LOOKUP
from runbook.hosts.access import START_STOP
from runbook.profile import Profile, partition_of

SECRET_VALUE = "secretsmanager:GetSecretValue"
SNS_PUBLISH = "sns:Publish"  # announcing a change of health (runbook/report/notify.py)


def checker_policy(
    profile: Profile, *, start_database: bool = True, blame: bool = False
) -> dict[str, Any]:
    """The policy a principal needs to run verify on this profile's deployment; without
    ``start_database``, for runs that never pass ``--start-database`` (the nightly one); with
    ``blame``, for runs that ask CloudTrail who changed a failing resource (``--blame``)."""
    partition = partition_of(profile.region)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadTheDeployment",
            "Effect": "Allow",
            "Action": sorted(DECLARED_READS - {SECRET_VALUE}),
            "Resource": "*",
        },
        {
            "Sid": "ReadTheNotifierSecret",
            "Effect": "Allow",
            "Action": [SECRET_VALUE],
            # Secrets Manager appends six random characters to a secret's name in its ARN.
            "Resource": f"arn:{partition}:secretsmanager:*:*:secret:{profile.secret.name}-??????",
        },
    ]
    if profile.variants.database == "ec2" and start_database:
        statements.append(
            {
                "Sid": "StartAndStopTheDatabaseForHostChecks",
                "Effect": "Allow",
                "Action": sorted(START_STOP),
                "Resource": f"arn:{partition}:ec2:*:*:instance/*",
                "Condition": {
                    "StringEquals": {"aws:ResourceTag/Name": profile.database.instance_name}
                },
            }
        )
    if profile.notify.sns_topic:
        statements.append(
            {
                "Sid": "PublishTheRunsChangesToItsTopic",
                "Effect": "Allow",
                "Action": [SNS_PUBLISH],
                "Resource": sns_topic_arn(profile.notify.sns_topic, profile.region),
            }
        )
    if profile.probe.enabled:
        statements.extend(_probe_statements(profile, partition))
    if blame:
        statements.append(
            {
                "Sid": "LookUpWhoChangedTheFailingResources",
                "Effect": "Allow",
                "Action": [LOOKUP],
                "Resource": "*",  # LookupEvents has no resource-level permissions
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def sns_topic_arn(topic: str, region: str, account: str = "*") -> str:
    """The ARN of the profile's ``notify.sns_topic``: an ARN as given, else a name in the
    profile's region (any account, for the policy; the run's own when it publishes)."""
    if topic.startswith("arn:"):
        return topic
    return f"arn:{partition_of(region)}:sns:{region}:{account}:{topic}"


def _probe_statements(profile: Profile, partition: str) -> list[dict[str, Any]]:
    """The egress probe's writes (``--probe-egress``): only on functions named with its prefix,
    and the notifier's role (any path) passed to Lambda only."""
    role = profile.function.role
    return [
        {
            "Sid": "CreateInvokeAndDeleteTheEgressProbe",
            "Effect": "Allow",
            "Action": sorted(PROBE_WRITES),
            "Resource": f"arn:{partition}:lambda:{profile.region}:*:function:"
            f"{profile.probe.name_prefix}-*",
        },
        {
            "Sid": "PassTheNotifierRoleToTheEgressProbe",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [
                f"arn:{partition}:iam::*:role/{role}",
                f"arn:{partition}:iam::*:role/*/{role}",
            ],
            "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        },
    ]


def policy_json(profile: Profile, *, start_database: bool = True, blame: bool = False) -> str:
    policy = checker_policy(profile, start_database=start_database, blame=blame)
    return json.dumps(policy, indent=2) + "\n"
