"""Which EC2 instance is which part of the deployment, by the names the profile gives: the
database's and the access host's.

The checks judge these instances and the host access connects to them; the host access must
not import the checks, so both take them from here. All they need is a list of instances.
"""

from __future__ import annotations

from typing import Any, Protocol

from runbook.profile import Profile

Resource = dict[str, Any]


class HasInstances(Protocol):
    def instances(self) -> list[Resource]: ...


def tag(resource: Resource, key: str = "Name") -> str | None:
    for t in resource.get("Tags") or []:
        if t.get("Key") == key:
            return t.get("Value")
    return None


def instance_named(inv: HasInstances, name: str) -> Resource | None:
    found = [i for i in inv.instances() if tag(i) == name]
    return found[0] if found else None


def db_instance(inv: HasInstances, p: Profile) -> Resource | None:
    return instance_named(inv, p.database.instance_name)


def cloud9_instance(inv: HasInstances, p: Profile) -> Resource | None:
    """Cloud9 names its EC2 instance ``aws-cloud9-<environment>-<environment id>``."""
    prefix = f"aws-cloud9-{p.access_host.cloud9_environment}-"
    found = [i for i in inv.instances() if (tag(i) or "").startswith(prefix)]
    return found[0] if found else None


TUNNELLED = ("instance-connect-endpoint", "ssm")  # access variants that reach an instance


def access_host(inv: HasInstances, p: Profile) -> Resource | None:
    """The instance the operator works from: Cloud9's, the bastion, or the instance an
    Instance Connect Endpoint or Session Manager reaches (by default the database's)."""
    if p.variants.access_host == "cloud9":
        return cloud9_instance(inv, p)
    if p.variants.access_host in TUNNELLED:
        target = p.access_host.target_instance
        return instance_named(inv, target) if target else db_instance(inv, p)
    return instance_named(inv, p.access_host.bastion_name)
