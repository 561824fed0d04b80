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
from runbook.hosts.access import START_STOP
from runbook.profile import Profile, partition_of

SECRET_VALUE = "secretsmanager:GetSecretValue"


def checker_policy(profile: Profile) -> dict[str, Any]:
    """The policy a principal needs to run verify on this profile's deployment."""
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
    if profile.variants.database == "ec2":
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
    return {"Version": "2012-10-17", "Statement": statements}


def policy_json(profile: Profile) -> str:
    return json.dumps(checker_policy(profile), indent=2) + "\n"
