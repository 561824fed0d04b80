"""EventBridge rules and Step Functions state machines (and their local simulation)."""

from __future__ import annotations

from typing import Any

from runbook.aws.collected import collected


class ScheduleCollector:
    session: Any
    _cache: dict[str, Any]

    @collected("events", absent=("ResourceNotFoundException",), reads=("DescribeRule",))
    def rule(self, name: str) -> dict[str, Any] | None:
        got = self.session.client("events").describe_rule(Name=name)
        got.pop("ResponseMetadata", None)
        return got

    @collected("events", reads=("ListTargetsByRule",))
    def rule_targets(self, name: str) -> list[dict[str, Any]]:
        client = self.session.client("events")
        return client.list_targets_by_rule(Rule=name).get("Targets", [])

    @collected(
        "stepfunctions",
        absent=("StateMachineDoesNotExist",),
        reads=("ListStateMachines", "DescribeStateMachine"),
    )
    def state_machine(self, name: str) -> dict[str, Any] | None:
        client = self.session.client("stepfunctions")
        for page in client.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                if machine["name"] == name:
                    got = client.describe_state_machine(stateMachineArn=machine["stateMachineArn"])
                    got.pop("ResponseMetadata", None)
                    return {k: str(v) if k == "creationDate" else v for k, v in got.items()}
        return None

    @collected("events", reads=("ListRuleNamesByTarget",))
    def rules_targeting(self, arn: str) -> list[str]:
        """The rules (of the default bus) whose targets include ``arn``: how discover finds
        the rule from the state machine or the function it starts."""
        pages = self.session.client("events").get_paginator("list_rule_names_by_target")
        return [n for page in pages.paginate(TargetArn=arn) for n in page.get("RuleNames", [])]

    @collected("stepfunctions", reads=("ListStateMachines",))
    def state_machine_names(self) -> list[str]:
        """Every state machine's name: discover reads each definition for the function."""
        pages = self.session.client("stepfunctions").get_paginator("list_state_machines")
        return [m["name"] for page in pages.paginate() for m in page["stateMachines"]]
