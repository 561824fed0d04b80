"""Creating the database (EC2 or Aurora Serverless) and accessing it (AWS side)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checks import lookup as L
from checks import rules as R
from runbook.findings import Outcome, absent, failed, judged
from runbook.profile import Profile
from runbook.registry import check

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory


def _no_instance(p: Profile) -> Outcome:
    name = p.database.instance_name
    return absent("instance", name)


@check(
    id="database_instance_in_vpc_subnet_and_group",
    section="database_ec2",
    says="the database instance runs in one of the notifier's subnets, in the database security "
    "group only",
    guide="create the instance in one of the notifier's subnets, in "
    "WikidotNotifierDatabaseSecurityGroup (and no other group)",
    severity="high",
    risk="outside the notifier's subnets or group the Lambda cannot reach it, or others can",
)
def instance_placement(inv: Inventory, p: Profile) -> Outcome:
    inst = L.db_instance(inv, p)
    if inst is None:
        return _no_instance(p)
    ours = {s["SubnetId"]: L.tag(s) for s in (L.subnet(inv, p, x.name) for x in p.vpc.subnets) if s}
    others = {s["SubnetId"]: L.tag(s) or s["SubnetId"] for s in inv.subnets()}
    group = L.security_group(inv, p, "database")
    actual = {
        "subnet": others.get(inst.get("SubnetId"), inst.get("SubnetId")),
        "security_groups": L.database_groups(inv, p),
    }
    expected = {
        "subnet": f"one of {sorted(ours.values())}",
        "security_groups": [group["GroupId"] if group else p.security_groups.database],
    }
    ok = inst.get("SubnetId") in ours and actual["security_groups"] == expected["security_groups"]
    return judged(
        ok,
        f"instance {inst['InstanceId']} in {actual['subnet']}, groups {actual['security_groups']}",
        expected=expected,
        actual=actual,
        evidence={"InstanceId": inst["InstanceId"], "SubnetId": inst.get("SubnetId")},
    )


@check(
    id="database_burstable_instance_has_unlimited_credits",
    section="database_ec2",
    says="a burstable database instance has unlimited CPU credits",
    guide="t3.nano runs MySQL fine provided that you set the CPU burst limit to unlimited",
    severity="medium",
    risk="with standard credits a t3 database is throttled to a crawl once they are spent: "
    "runs time out",
)
def unlimited_credits(inv: Inventory, p: Profile) -> Outcome:
    inst = L.db_instance(inv, p)
    if inst is None:
        return _no_instance(p)
    kind = inst["InstanceType"]
    if not kind.startswith("t"):
        return judged(True, f"{kind} is not burstable", expected="n/a", actual=kind)
    credits = inv.credit_specification(inst["InstanceId"])
    return judged(
        credits == "unlimited", f"{kind} CPU credits", expected="unlimited", actual=credits
    )


@check(
    id="database_root_volume_is_gp3_of_profile_size",
    section="database_ec2",
    says="the database instance is EBS-backed with a gp3 root volume of the profile's size",
    guide="make sure the instance is EBS-backed; a gp3-type EBS is fine (8 GB)",
    severity="low",
    risk="another volume type or size costs more than the guide's 8 GB gp3",
)
def root_volume(inv: Inventory, p: Profile) -> Outcome:
    inst = L.db_instance(inv, p)
    if inst is None:
        return _no_instance(p)
    root = inst.get("RootDeviceName")
    vol_ids = [
        m["Ebs"]["VolumeId"]
        for m in inst.get("BlockDeviceMappings", [])
        if m.get("DeviceName") == root and "Ebs" in m
    ]
    vols = [v for v in inv.volumes() if v["VolumeId"] in vol_ids]
    actual = {
        "root_device_type": inst.get("RootDeviceType"),
        "volume_type": vols[0].get("VolumeType") if vols else None,
        "size_gb": vols[0].get("Size") if vols else None,
    }
    expected = {
        "root_device_type": "ebs",
        "volume_type": p.database.root_volume_type,
        "size_gb": p.database.root_volume_size_gb,
    }
    return judged(actual == expected, "root volume", expected=expected, actual=actual)


@check(
    id="database_image_is_amazon_linux",
    section="database_ec2",
    says="the database instance runs an Amazon Linux image",
    guide="for the image, a standard Amazon Linux 2 will be fine",
    severity="low",
    risk="the guide's instructions (packages, services) assume Amazon Linux",
)
def amazon_linux(inv: Inventory, p: Profile) -> Outcome:
    inst = L.db_instance(inv, p)
    if inst is None:
        return _no_instance(p)
    image = inv.image(inst["ImageId"])
    text = " ".join(str((image or {}).get(k, "")) for k in ("Name", "Description")).lower()
    ok = image is not None and ("amzn" in text or "amazon linux" in text or "al2023" in text)
    return judged(
        ok,
        f"image {inst['ImageId']}",
        expected="an Amazon Linux AMI",
        actual=(image or {}).get("Name"),
    )


@check(
    id="database_instance_has_no_elastic_ip",
    section="database_ec2",
    says="no Elastic IP is left associated with the database instance",
    guide="dissociate and release the temporary Elastic IP when you're done",
    severity="high",
    risk="an Elastic IP gives the database a public address, and bills",
)
def no_eip(inv: Inventory, p: Profile) -> Outcome:
    inst = L.db_instance(inv, p)
    if inst is None:
        return _no_instance(p)
    eni_ids = {n["NetworkInterfaceId"] for n in inst.get("NetworkInterfaces", [])}
    eips = [
        a["PublicIp"]
        for a in inv.addresses()
        if a.get("InstanceId") == inst["InstanceId"] or a.get("NetworkInterfaceId") in eni_ids
    ]
    return judged(not eips, "Elastic IPs on the instance", expected=[], actual=eips)


def _cluster_or_fail(inv: Inventory, p: Profile) -> tuple[dict | None, Outcome | None]:
    cluster = inv.db_cluster(p.database.cluster)
    if cluster is None:
        return None, absent("cluster", p.database.cluster)
    return cluster, None


@check(
    id="aurora_cluster_serverless_pauses_when_idle",
    section="database_aurora",
    says="the Aurora cluster is serverless MySQL with the profile's capacity and pauses when idle",
    guide="Aurora MySQL 5.7, capacity type serverless, min 1 ACU, max per profile, scale to 0 "
    "ACUs when idle",
    severity="medium",
    risk="without auto-pause the cluster bills its minimum capacity around the clock",
)
def aurora_scaling(inv: Inventory, p: Profile) -> Outcome:
    cluster, missing = _cluster_or_fail(inv, p)
    if missing:
        return missing
    if p.variants.database == "aurora-serverless-v1":
        cfg = cluster.get("ScalingConfigurationInfo") or {}
        actual = {
            "engine": cluster.get("Engine"),
            "mode": cluster.get("EngineMode"),
            "min": cfg.get("MinCapacity"),
            "max": cfg.get("MaxCapacity"),
            "auto_pause": cfg.get("AutoPause"),
        }
        expected = {
            "engine": "aurora-mysql",
            "mode": "serverless",
            "min": p.database.min_capacity,
            "max": p.database.max_capacity,
            "auto_pause": True,
        }
        advisories = ("Aurora Serverless v1 is past end of support; v2 can now pause at 0 ACU",)
    else:
        cfg = cluster.get("ServerlessV2ScalingConfiguration") or {}
        instances = inv.db_cluster_instances(p.database.cluster)
        actual = {
            "engine": cluster.get("Engine"),
            "min": cfg.get("MinCapacity"),
            "max": cfg.get("MaxCapacity"),
            "serverless_instance": any(
                i.get("DBInstanceClass") == "db.serverless" for i in instances
            ),
        }
        # v2 pauses only at a minimum of 0 ACU.
        expected = {
            "engine": "aurora-mysql",
            "min": 0,
            "max": p.database.max_capacity,
            "serverless_instance": True,
        }
        advisories = ()
    ok = all(_same(actual[k], v) for k, v in expected.items())
    return judged(ok, "engine and scaling", expected=expected, actual=actual, advisories=advisories)


def _same(a: object, b: object) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return a == b


@check(
    id="aurora_cluster_private_in_database_group_over_both_subnets",
    section="database_aurora",
    says="the Aurora cluster is private, only in the database security group, over the subnets",
    guide="create it into the VPC, in WikidotNotifierDatabaseSecurityGroup only, with a subnet "
    "group holding both subnets",
    severity="high",
    risk="a public cluster, or one in other groups or subnets, is reachable by others or not "
    "by the Lambda",
)
def aurora_network(inv: Inventory, p: Profile) -> Outcome:
    cluster, missing = _cluster_or_fail(inv, p)
    if missing:
        return missing
    group = L.security_group(inv, p, "database")
    groups = sorted(g["VpcSecurityGroupId"] for g in cluster.get("VpcSecurityGroups", []))
    subnet_group = inv.db_subnet_group(cluster.get("DBSubnetGroup", ""))
    in_group = sorted(s["SubnetIdentifier"] for s in (subnet_group or {}).get("Subnets", []))
    want_subnets = sorted(s["SubnetId"] for s in L.lambda_subnets(inv, p))
    actual = {
        "security_groups": groups,
        "subnets": in_group,
        # Aurora reports public access per instance (v2 writers), not on the cluster.
        "publicly_accessible": bool(cluster.get("PubliclyAccessible"))
        or any(i.get("PubliclyAccessible") for i in inv.db_cluster_instances(p.database.cluster)),
    }
    expected = {
        "security_groups": [group["GroupId"]] if group else ["(database group)"],
        "subnets": want_subnets,
        "publicly_accessible": False,
    }
    return judged(actual == expected, "cluster networking", expected=expected, actual=actual)


@check(
    id="aurora_cluster_has_no_initial_database",
    section="database_aurora",
    says="the Aurora cluster was created without an initial database name",
    guide="do not specify an initial database name; leave the field blank",
    severity="low",
    risk="an extra initial database does no harm but is not the guide's",
)
def aurora_no_initial_db(inv: Inventory, p: Profile) -> Outcome:
    cluster, missing = _cluster_or_fail(inv, p)
    if missing:
        return missing
    name = cluster.get("DatabaseName")
    return judged(not name, "initial database name", expected=None, actual=name)


@check(
    id="access_host_exists_in_vpc",
    section="database_access",
    says="the access host exists in the VPC",
    guide="create the Cloud9 environment (t3a.nano) into the VPC, in either subnet (or the "
    "profile's bastion; with an Instance Connect Endpoint or Session Manager, the instance they "
    "reach: by default the database instance)",
    severity="medium",
    risk="without it nobody can reach the database to administer it (the notifier still runs)",
)
def access_host(inv: Inventory, p: Profile) -> Outcome:
    host = L.access_host(inv, p)
    if p.variants.access_host == "cloud9":
        want = {
            "name": f"aws-cloud9-{p.access_host.cloud9_environment}-*",
            "type": p.access_host.cloud9_instance_type,
        }
    elif p.variants.access_host in L.TUNNELLED:  # the instance's type is not the guide's
        target = p.access_host.target_instance or p.database.instance_name
        want = {"name": target, "type": host["InstanceType"] if host else None}
    else:
        want = {"name": p.access_host.bastion_name, "type": p.access_host.bastion_instance_type}
    if host is None:
        return failed("no access host", expected=want, actual=None)
    vpc_id = L.vpc_id(inv, p)
    actual = {
        "name": L.tag(host),
        "type": host["InstanceType"],
        "in_vpc": host.get("VpcId") == vpc_id and vpc_id is not None,
    }
    ok = actual["in_vpc"] and actual["type"] == want["type"]
    return judged(
        ok, f"access host {host['InstanceId']}", expected={**want, "in_vpc": True}, actual=actual
    )


@check(
    id="database_sg_admits_access_host",
    section="database_access",
    says="the database security group admits TCP 3306 from the access host's security group",
    guide="add to WikidotNotifierDatabaseSecurityGroup an inbound MYSQL/Aurora rule from the "
    "Cloud9 security group",
    severity="medium",
    risk="the access host cannot reach MySQL to administer it",
)
def admits_access_host(inv: Inventory, p: Profile) -> Outcome:
    host = L.access_host(inv, p)
    group = L.security_group(inv, p, "database")
    if host is None or group is None:
        return failed(
            "access host or database group missing",
            expected="both exist",
            actual={"host": bool(host), "group": bool(group)},
        )
    host_groups = L.access_host_groups(inv, p) or []
    port = p.database.mysql_port
    admitted = [g for g in host_groups if R.tcp(port, g) in R.flat(L.ingress_rules(group))]
    return judged(
        bool(admitted),
        f"inbound {port} from the access host's group",
        expected=f"tcp {port}-{port} from one of {host_groups}",
        actual=R.texts(L.ingress_rules(group)),
    )
