"""EventBridge rules and Step Functions state machines (and their local simulation)."""

from __future__ import annotations

from typing import Any

from runbook.aws.collected import collected
from runbook.profile import partition_of


class ScheduleCollector:
    session: Any
    account: str | None
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

    @collected("stepfunctions", reads=("ListStateMachines",))
    def state_machine_arns(self) -> dict[str, str]:
        """Every state machine's ARN by name, listed once per run however many are read."""
        pages = self.session.client("stepfunctions").get_paginator("list_state_machines")
        return {
            m["name"]: m["stateMachineArn"]
            for page in pages.paginate()
            for m in page["stateMachines"]
        }

    def state_machine_arn(self, name: str) -> str | None:
        """A state machine's ARN: made from the account, the region and the name once the
        run knows its account (no listing to search, one read less in the chain), else found
        in the account's listing (None: there is none of that name)."""
        if self.account:
            region = self.session.region
            return f"arn:{partition_of(region)}:states:{region}:{self.account}:stateMachine:{name}"
        return self.state_machine_arns().get(name)

    @collected(
        "stepfunctions", absent=("StateMachineDoesNotExist",), reads=("DescribeStateMachine",)
    )
    def state_machine(self, name: str) -> dict[str, Any] | None:
        arn = self.state_machine_arn(name)
        if arn is None:
            return None
        got = self.session.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
        got.pop("ResponseMetadata", None)
        return {k: str(v) if k == "creationDate" else v for k, v in got.items()}

    @collected("events", reads=("ListRuleNamesByTarget",))
    def rules_targeting(self, arn: str) -> list[str]:
        """The rules (of the default bus) whose targets include ``arn``: how discover finds
        the rule from the state machine or the function it starts."""
        pages = self.session.client("events").get_paginator("list_rule_names_by_target")
        return [n for page in pages.paginate(TargetArn=arn) for n in page.get("RuleNames", [])]
