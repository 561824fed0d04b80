"""discover: the profile of a deployment that exists, found from one anchor by AWS's own
relationships, never by guessing names.

From the function (or the rule, or the state machine): its role, VPC, subnets, groups and
image; the state machine whose definition invokes it and the rule that starts that; the
instance the rule's input names and its group; the NAT or gateway the function's subnets route
to; the secret the function's role may read and the policy that lets it; the administration
group by the guide's policies, and its user. Names are the deployment's; values only the guide
can say (runtime, memory, schedule, ...) stay the base profile's, and each is marked so.

Everything is read through the inventory's collections (declared reads: the checker's
least-privilege policy covers them) in a read-only session.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from checks import lookup as L
from checks.access_paths import admits_ssh
from checks.policy import as_list, statements
from runbook.errors import UsageError
from runbook.profile import Profile, partition_of
from runbook.stepfunctions.graph import DefinitionError, analyse, parse_definition

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory

# The names AWS's relationships give the checks at every run: written as comments only, so
# the profile does not turn them into assertions (docs/profile.md).
FOLLOWED = ("step_functions.state_machine", "redeployment.ecr_repository", "iam.ecr_policy")
_SECRET_SUFFIX = re.compile(r"(-[A-Za-z0-9]{6}|-\?{6}|-?\*)$")
READ = "secretsmanager:getsecretvalue"


@dataclass
class Discovery:
    """What was found: each key's value and where it came from; what could not be."""

    anchor: str
    values: dict[str, tuple[Any, str]] = field(default_factory=dict)
    followed: dict[str, tuple[str, str]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    def found(self, key: str, value: Any, where: str) -> None:
        if key in FOLLOWED:
            self.followed[key] = (value, where)
        else:
            self.values[key] = (value, where)

    def missing(self, key: str, why: str) -> None:
        self.unknown.append(f"{key}: {why}")


def discover(
    inv: Inventory,
    base: Profile,
    *,
    function: str | None = None,
    rule: str | None = None,
    state_machine: str | None = None,
) -> Discovery:
    """Follow the deployment from its anchor; raises UsageError when the anchor is not there."""
    if rule:
        name = _function_of_rule(inv, base, rule)
        found = Discovery(f"rule {rule}")
    elif state_machine:
        name = _function_of_machine(inv, state_machine)
        found = Discovery(f"state machine {state_machine}")
    else:
        name = function or base.function.function
        found = Discovery(f"function {name}")
    fn = inv.function(name)
    if fn is None:
        raise UsageError(
            f"no Lambda function {name!r} in {base.region}: pass --function NAME (or --rule, "
            "--state-machine), or --region"
        )
    cfg = fn["Configuration"]
    found.found("lambda.function", cfg["FunctionName"], cfg["FunctionArn"])
    image = cfg.get("PackageType") == "Image"
    found.found(
        "variants.packaging",
        "image" if image else "zip",
        f"PackageType {cfg.get('PackageType', 'Zip')}",
    )
    role = cfg["Role"].rsplit("/", 1)[-1]
    found.found("lambda.role", role, cfg["Role"])
    if image:
        _image(found, fn)
    vpc_id = _network(inv, found, cfg)
    machine = _schedule(inv, found, cfg, rule, state_machine)
    if machine:
        _database(inv, found, machine)
    elif not _aurora(inv, found, cfg):
        found.missing(
            "variants.database",
            "no state machine invokes the function, and no Aurora cluster carries one of its "
            "security groups: set variants.database and database.cluster by hand",
        )
    if vpc_id:
        _function_group(inv, found, cfg)
        _access_host(inv, found, vpc_id)
    _secret(inv, found, role)
    _administration(inv, base, found)
    return found


def _function_of_rule(inv: Inventory, base: Profile, rule: str) -> str:
    if inv.rule(rule) is None:
        raise UsageError(f"no EventBridge rule {rule!r} in {base.region}: check --rule")
    for target in inv.rule_targets(rule):
        arn = target["Arn"]
        if ":function:" in arn:
            return arn.split(":function:", 1)[1].split(":")[0]
        if ":stateMachine:" in arn:
            return _function_of_machine(inv, arn.rsplit(":", 1)[1])
    raise UsageError(f"rule {rule!r} targets neither a state machine nor a function")


def _function_of_machine(inv: Inventory, name: str) -> str:
    machine = inv.state_machine(name)
    if machine is None:
        raise UsageError(f"no state machine {name!r}: check --state-machine")
    invoked = _invoked(machine)
    if not invoked:
        raise UsageError(f"state machine {name!r} invokes no Lambda function")
    return invoked[0]


def _invoked(machine: dict[str, Any]) -> list[str]:
    """The function names a definition invokes (its analysis strips ARNs and qualifiers)."""
    try:
        return list(analyse(parse_definition(machine["definition"])).invoked_functions)
    except DefinitionError:
        return []


def _image(found: Discovery, fn: dict[str, Any]) -> None:
    uri = (fn.get("Code") or {}).get("ImageUri") or ""
    ref = L.image_reference(uri)
    if ref is None:
        found.missing(
            "redeployment.ecr_repository", f"the image URI {uri!r} is not a private ECR one"
        )
        return
    repository, tag = ref
    found.found("redeployment.ecr_repository", repository, "the repository of the function's image")
    if tag:
        found.found("redeployment.image_tag", tag, uri)


def _network(inv: Inventory, found: Discovery, cfg: dict[str, Any]) -> str | None:
    vpc_cfg = cfg.get("VpcConfig") or {}
    ids = vpc_cfg.get("SubnetIds") or []
    if not ids:
        found.missing("vpc", "the function is in no VPC: the guide's 'Lambda VPC config' step")
        return None
    subnets = [s for s in inv.subnets() if s["SubnetId"] in ids]
    vpc = (
        next((v for v in inv.vpcs() if v["VpcId"] == subnets[0]["VpcId"]), None)
        if subnets
        else None
    )
    if vpc is None:
        found.missing("vpc", f"the function's subnets {ids} are not readable")
        return None
    _named(found, "vpc.name", vpc, vpc["VpcId"], "the function's VPC")
    listed: list[dict[str, str]] = []
    for s in subnets:
        if L.tag(s) is None:
            found.missing(
                "vpc.subnets",
                f"{s['SubnetId']} has no Name tag: tag it (subnets are found by Name)",
            )
            continue
        listed.append({"name": L.tag(s), "cidr": s["CidrBlock"]})
    _egress(inv, found, subnets[0], listed)
    if len(listed) - sum(x.get("role") == "public" for x in listed) == len(ids) >= 2:
        found.found("vpc.cidr", vpc["CidrBlock"], vpc["VpcId"])  # with its subnets only
        found.found("vpc.subnets", listed, "the function's subnets: " + ", ".join(ids))
    elif len(ids) < 2:
        found.missing("vpc.subnets", f"the function runs in {len(ids)} subnet; the guide: two")
    return vpc["VpcId"]


def _function_group(inv: Inventory, found: Discovery, cfg: dict[str, Any]) -> None:
    """The function's own group: the one it carries besides the database's."""
    database = found.values.get("security_groups.database", (None,))[0]
    ids = (cfg.get("VpcConfig") or {}).get("SecurityGroupIds") or []
    own = [g for g in inv.security_groups() if g["GroupId"] in ids and g["GroupName"] != database]
    if len(own) == 1:
        where = f"{own[0]['GroupId']}, the function's group besides the database's"
        found.found("security_groups.internet", own[0]["GroupName"], where)
    else:
        found.missing(
            "security_groups.internet",
            f"the function carries {len(own)} groups besides the database's; the guide: one",
        )


def _egress(
    inv: Inventory, found: Discovery, subnet: dict[str, Any], listed: list[dict[str, str]]
) -> None:
    route = L.default_route(L.route_table_of(inv, subnet))
    target = L.route_target(route) if route else None
    if target is None:
        found.missing("variants.egress", f"{subnet['SubnetId']} has no default route")
        return
    public = None
    if target.startswith("igw-"):
        found.found("variants.egress", "eip", f"{subnet['SubnetId']} routes 0.0.0.0/0 to {target}")
    elif target.startswith("nat-"):
        found.found("variants.egress", "nat-gateway", f"0.0.0.0/0 → {target}")
        nat = next((n for n in inv.nat_gateways() if n["NatGatewayId"] == target), None)
        public = nat["SubnetId"] if nat else None
    elif target.startswith("i-"):
        found.found("variants.egress", "nat-instance", f"0.0.0.0/0 → {target}")
        nat = next((i for i in inv.instances() if i["InstanceId"] == target), None)
        if nat is not None:
            _named(found, "egress.nat_instance_name", nat, target, "the NAT instance")
            public = nat.get("SubnetId")
    else:
        found.missing("variants.egress", f"the default route goes to {target}: not a guide variant")
    subnet_res = next((s for s in inv.subnets() if s["SubnetId"] == public), None)
    if subnet_res is not None and L.tag(subnet_res):
        listed.append(
            {"name": L.tag(subnet_res), "cidr": subnet_res["CidrBlock"], "role": "public"}
        )


def _schedule(
    inv: Inventory,
    found: Discovery,
    cfg: dict[str, Any],
    rule: str | None,
    state_machine: str | None,
) -> dict[str, Any] | None:
    """The state machine invoking the function and the rule starting it (EC2 variant), or the
    rule targeting the function itself (Aurora). An anchor machine is the one followed."""
    machines = [
        m
        for m in (
            inv.state_machine(n)
            for n in ([state_machine] if state_machine else inv.state_machine_arns())
        )
        if m is not None and cfg["FunctionName"] in _invoked(m)
    ]
    for machine in machines:
        rules = inv.rules_targeting(machine["stateMachineArn"])
        if rules and (rule is None or rule in rules):
            found.found(
                "step_functions.state_machine", machine["name"], "the state machine the rule starts"
            )
            found.found("trigger.rule", rule or rules[0], f"targets {machine['stateMachineArn']}")
            found.found("variants.database", "ec2", "the rule starts a state machine")
            return machine
    rules = inv.rules_targeting(cfg["FunctionArn"])
    if rules:
        found.found("trigger.rule", rule or rules[0], f"targets {cfg['FunctionArn']}")
    elif machines:
        found.missing("trigger.rule", f"no rule starts state machine {machines[0]['name']}")
    else:
        found.missing("trigger.rule", "no rule starts the function or a state machine invoking it")
    return None


def _aurora(inv: Inventory, found: Discovery, cfg: dict[str, Any]) -> bool:
    """The Aurora cluster in one of the function's groups (the guide's database group): the
    variant from how it scales (v1: serverless engine mode; v2: its v2 scaling)."""
    ids = set((cfg.get("VpcConfig") or {}).get("SecurityGroupIds") or [])
    clusters = [
        c
        for c in inv.db_clusters()
        if ids & {g["VpcSecurityGroupId"] for g in c.get("VpcSecurityGroups", [])}
    ]
    if len(clusters) != 1:
        return False
    cluster = clusters[0]
    where = cluster.get("DBClusterArn", cluster["DBClusterIdentifier"])
    version = (
        "aurora-serverless-v1"
        if cluster.get("EngineMode") == "serverless"
        else "aurora-serverless-v2"
        if cluster.get("ServerlessV2ScalingConfiguration")
        else None
    )
    if version is None:
        found.missing("variants.database", f"cluster {where} is neither Serverless v1 nor v2")
        return True
    found.found("variants.database", version, f"{where} carries the function's group")
    found.found("database.cluster", cluster["DBClusterIdentifier"], where)
    shared = [g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]]
    groups = [g for g in inv.security_groups() if g["GroupId"] in shared and g["GroupId"] in ids]
    if len(groups) == 1:
        found.found(
            "security_groups.database",
            groups[0]["GroupName"],
            f"{groups[0]['GroupId']}, the group the cluster and the function share",
        )
    return True


def _database(inv: Inventory, found: Discovery, machine: dict[str, Any]) -> None:
    rule = found.values["trigger.rule"][0]
    target = next((t for t in inv.rule_targets(rule) if t["Arn"] == machine["stateMachineArn"]), {})
    try:
        instance_id = json.loads(target.get("Input") or "{}").get("db_instance_id")
    except (ValueError, AttributeError):
        instance_id = None
    inst = next((i for i in inv.instances() if i["InstanceId"] == instance_id), None)
    if inst is None:
        found.missing(
            "database.instance_name", f"the rule's input names no instance there ({instance_id})"
        )
        return
    _named(
        found, "database.instance_name", inst, instance_id, "the instance the rule's input names"
    )
    groups = inst.get("SecurityGroups", [])
    if len(groups) == 1:
        found.found(
            "security_groups.database",
            groups[0]["GroupName"],
            f"{groups[0]['GroupId']}, the instance's group",
        )
    else:
        found.missing(
            "security_groups.database",
            f"the instance carries {len(groups)} groups; the guide gives it one",
        )


def _access_host(inv: Inventory, found: Discovery, vpc_id: str) -> None:
    taken = {
        found.values.get(k, (None,))[0]
        for k in ("database.instance_name", "egress.nat_instance_name")
    }
    hosts = [
        i
        for i in inv.instances()
        if i.get("VpcId") == vpc_id
        and (i.get("State") or {}).get("Name") != "terminated"
        and L.tag(i) not in taken
    ]
    if _tunnelled_access(inv, found, vpc_id, hosts):
        return
    cloud9 = [i for i in hosts if (L.tag(i) or "").startswith("aws-cloud9-")]
    if cloud9:
        environment = L.tag(cloud9[0])[len("aws-cloud9-") :].rsplit("-", 1)[0]
        found.found("variants.access_host", "cloud9", cloud9[0]["InstanceId"])
        found.found(
            "access_host.cloud9_environment",
            environment,
            f"{cloud9[0]['InstanceId']} ({L.tag(cloud9[0])})",
        )
    elif len(hosts) == 1 and L.tag(hosts[0]):
        found.found("variants.access_host", "bastion", hosts[0]["InstanceId"])
        found.found("access_host.bastion_name", L.tag(hosts[0]), hosts[0]["InstanceId"])
    else:
        found.missing(
            "variants.access_host",
            f"{len(hosts)} other instances in the VPC, none a Cloud9 one: name the bastion",
        )


def _tunnelled_access(
    inv: Inventory, found: Discovery, vpc_id: str, others: list[dict[str, Any]]
) -> bool:
    """An Instance Connect Endpoint whose group is admitted on SSH by an instance, or (with
    no other instance in the VPC) a database instance carrying an instance profile: the ways
    in that replaced Cloud9. The database instance is the default target, others are named."""
    db_name = found.values.get("database.instance_name", (None,))[0]
    db = L.instance_named(inv, db_name) if db_name else None
    candidates = ([db] if db else []) + others
    endpoints = [
        e
        for e in inv.instance_connect_endpoints()
        if e.get("VpcId") == vpc_id and e.get("State") not in L.ENDPOINT_GONE
    ]
    groups = {g["GroupId"]: g for g in inv.security_groups()}
    for endpoint in endpoints:
        for host in candidates:
            if any(
                admits_ssh(groups[g["GroupId"]], endpoint["SecurityGroupIds"])
                for g in host.get("SecurityGroups", [])
                if g["GroupId"] in groups
            ):
                found.found(
                    "variants.access_host",
                    "instance-connect-endpoint",
                    endpoint["InstanceConnectEndpointId"],
                )
                if host is not db:
                    found.found("access_host.target_instance", L.tag(host), host["InstanceId"])
                return True
    if db is not None and not others and db.get("IamInstanceProfile"):
        found.found(
            "variants.access_host",
            "ssm",
            f"{db['InstanceId']} carries {db['IamInstanceProfile']['Arn']} (Session Manager)",
        )
        return True
    return False


def _secret(inv: Inventory, found: Discovery, role: str) -> None:
    record = inv.role(role)
    if record is None:
        found.missing("secret.name", f"the function's role {role} is not readable")
        return
    inline = inv.role_inline_policies(role) or {}
    documents = [(n, "inline", d) for n, d in inline.items()]
    documents += [
        (a["PolicyName"], a["PolicyArn"], inv.managed_policy_document(a["PolicyArn"]))
        for a in record["AttachedPolicies"]
        if ":iam::aws:policy/" not in a["PolicyArn"]
    ]
    for policy, arn, document in documents:
        for st in statements(document):
            actions = [a.lower() for a in as_list(st.get("Action"))]
            reads = any(fnmatch.fnmatchcase(READ, a) for a in actions)  # Get*, *, ...
            if st.get("Effect") != "Allow" or not reads:
                continue
            for resource in as_list(st.get("Resource")):
                # the secret's ARN, with its suffix, '-??????', or a trailing '-*' / '*'
                name = _SECRET_SUFFIX.sub("", resource.partition(":secret:")[2])
                if not name or "*" in name or "?" in name or inv.secret(name) is None:
                    continue
                found.found("secret.name", name, resource)
                if arn == "inline":
                    found.missing(
                        "secret.policy",
                        f"the role grants it inline ({policy}), not by a policy of its own",
                    )
                else:
                    found.found("secret.policy", policy, arn)
                return
    found.missing(
        "secret.name", f"no policy of {role} allows secretsmanager:GetSecretValue on one secret"
    )


def _administration(inv: Inventory, base: Profile, found: Discovery) -> None:
    partition = partition_of(base.region)
    holders: set[str] | None = None
    for policy in base.iam.group_policies:
        groups = set(inv.groups_with_policy(f"arn:{partition}:iam::aws:policy/{policy}"))
        holders = groups if holders is None else holders & groups
    if not holders or len(holders) > 1:
        found.missing(
            "iam.group",
            f"{len(holders or ())} groups hold all the guide's policies "
            f"({', '.join(sorted(holders or ())) or 'none'}): name the administration group",
        )
        return
    (group,) = holders
    found.found("iam.group", group, "the group holding the guide's policies")
    users = [u["UserName"] for u in (inv.group(group) or {}).get("Users", [])]
    if len(users) == 1:
        found.found("iam.user", users[0], f"the one user of {group}")
    else:
        found.missing("iam.user", f"{group} has {len(users)} users: name the administrator")


def _named(found: Discovery, key: str, resource: dict[str, Any], rid: str, what: str) -> None:
    name = L.tag(resource)
    if name is None:
        found.missing(key, f"{what} {rid} has no Name tag: tag it (the checks find it by Name)")
    else:
        found.found(key, name, f"{rid}, {what}")
