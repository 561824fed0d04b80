"""What the hosts are: the database host seen with testinfra, MySQL seen from the access host.

These are inventory collections like the AWS ones (made once per run, failures cached as
CollectionError for exactly the checks that need them). The notifier's credentials are read
from the secret at the moment of login and never kept: only the outcome is.
"""

from __future__ import annotations

from typing import Any

from runbook.aws.collected import CollectionError, collected
from runbook.hosts.access import HostAccess


class HostsCollector:
    hosts: HostAccess | None
    _cache: dict[str, Any]

    def database_started_by_this_run(self) -> str | None:
        """The instance this run started (``--start-database``) and stops at its end: its
        state now is the run's doing, not the deployment's. Not a collection: the run's own
        state, never recorded."""
        return self.hosts.started if self.hosts is not None else None

    def _access(self) -> HostAccess:
        if self.hosts is None:
            raise CollectionError("not-configured", "host checks need a run with host access")
        return self.hosts

    @collected("ssh")
    def database_host(self) -> dict[str, Any]:
        """The MySQL server on the database host, with testinfra's resource objects."""
        from runbook.hosts import remote

        return remote.database_host(self._access(), self)

    @collected("ssh")
    def database_port_from_access_host(self) -> dict[str, Any]:
        """TCP to the database's port from the access host: a forwarded channel, opened and
        closed (the access host's own connect() decides)."""
        from runbook.hosts import remote

        return remote.port_from_access_host(self._access(), self)

    @collected("mysql", reads=("secretsmanager:GetSecretValue",))
    def database_from_access_host(self) -> dict[str, Any]:
        """A login with the notifier's credentials, through the access host."""
        from runbook.hosts import remote

        reach = self.database_port_from_access_host()
        if not reach["reachable"]:
            raise CollectionError(
                "unreachable",
                f"MySQL at {reach['database']} is not reachable from {reach['access_host']}",
            )
        return remote.login(self._access(), self, reach)
