"""Session Manager: whether the access host's SSM agent is registered and online."""

from __future__ import annotations

import time
from typing import Any

from runbook.aws.collected import CollectionError, collected

RETRY_S = 5.0


class SessionManagerCollector:
    session: Any
    hosts: Any
    _cache: dict[str, Any]

    @collected("ssm", reads=("DescribeInstanceInformation",), sequential=True)  # may start a host
    def session_manager_instance(self) -> dict[str, Any]:
        """The access host as Systems Manager knows it (``{}``: not a managed instance).

        The agent reports only while the instance runs: a stopped database instance reached
        this way is started as for the host checks, and an instance this run started is
        given the profile's start wait to come online (the agent registers after the boot)."""
        if self.hosts is None:
            raise CollectionError("not-configured", "this check needs a run with host access")
        host = self.hosts.access_running(self)
        instance_id = host["InstanceId"]
        ssm = self.session.client("ssm")
        deadline = time.monotonic() + self.hosts.profile.hosts.start_wait_s
        while True:
            got = ssm.describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
            ).get("InstanceInformationList", [])
            found = {
                k: str(v) if "Date" in k or "Time" in k else v for k, v in (got or [{}])[0].items()
            }
            waiting = self.hosts.started == instance_id and time.monotonic() < deadline
            if found.get("PingStatus") == "Online" or not waiting:
                return found
            time.sleep(RETRY_S)
