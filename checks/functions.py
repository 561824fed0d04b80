"""Setting up the Lambda, its extra permissions, its VPC config, egress and redeployment."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from checks import lookup as L
from checks.evaluation import Need, decisions, not_allowed, role_may
from checks.lifecycle import INDEX_MEDIA_TYPES, LAMBDA_MEDIA_TYPES, expiry
from checks.operations import hour_of, name
from checks.policy import as_list, outsiders, statements
from runbook.findings import Outcome, Status, absent, failed, judged
from runbook.profile import Profile
from runbook.registry import check
from runbook.sections import egress_is, packaging_is

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory

# AWS's published deprecation dates for Lambda's Python runtimes (docs: "Lambda runtimes").
RUNTIME_DEPRECATION = {
    "python3.6": date(2022, 7, 18),
    "python3.7": date(2023, 12, 4),
    "python3.8": date(2024, 10, 14),
    "python3.9": date(2025, 12, 15),
    "python3.10": date(2026, 6, 30),
    "python3.11": date(2026, 6, 30),
    "python3.12": date(2028, 10, 31),
    "python3.13": date(2029, 6, 30),
    "python3.14": date(2030, 6, 30),
}
VPC_ACCESS_POLICY = "AWSLambdaVPCAccessExecutionRole"
BASIC_POLICY = "AWSLambdaBasicExecutionRole"
ADMIN_POLICIES = {"AdministratorAccess", "PowerUserAccess"}


def _no_function(p: Profile) -> Outcome:
    name = p.function.function
    return absent("function", name)


@check(
    id="function_active_and_last_update_successful",
    section="lambda",
    says="the function exists, Active, and its last update was successful",
    guide="create a new Lambda function, author from scratch",
    severity="high",
    risk="a function that is not Active, or whose update failed, does not run the notifier",
)
def function_state(inv: Inventory, p: Profile) -> Outcome:
    cfg = L.function_config(inv, p)
    if cfg is None:
        return _no_function(p)
    actual = {"state": cfg.get("State"), "last_update": cfg.get("LastUpdateStatus")}
    return judged(
        actual == {"state": "Active", "last_update": "Successful"},
        "function state",
        expected={"state": "Active", "last_update": "Successful"},
        actual=actual,
    )


@check(
    id="function_package_matches_variant",
    section="lambda",
    says="the function's package type, runtime and handler match the profile",
    guide="the .zip on the profile's runtime (the guide's Python 3.8, today's notifier 3.13); "
    "a container image for the Docker variant",
    severity="medium",
    risk="another package type, runtime or handler may not run the notifier's code",
)
def function_package(inv: Inventory, p: Profile) -> Outcome:
    cfg = L.function_config(inv, p)
    if cfg is None:
        return _no_function(p)
    package = cfg.get("PackageType", "Zip")
    if p.variants.packaging == "image":
        return judged(package == "Image", "package type", expected="Image", actual=package)
    actual = {"package": package, "runtime": cfg.get("Runtime"), "handler": cfg.get("Handler")}
    expected = {"package": "Zip", "runtime": p.function.runtime, "handler": p.function.handler}
    return judged(
        actual == expected,
        "package, runtime and handler",
        expected=expected,
        actual=actual,
        advisories=deprecation(actual["runtime"], datetime.now(UTC).date()),
    )


def deprecation(runtime: str | None, today: date) -> tuple[str, ...]:
    """An advisory once AWS has deprecated the runtime: no more security patches."""
    when = RUNTIME_DEPRECATION.get(runtime or "")
    if when is None or when > today:
        return ()
    current = [r for r, d in RUNTIME_DEPRECATION.items() if d > today]
    instead = f"move to {current[-1]}" if current else "move to a supported runtime"
    return (
        f"runtime {runtime} deprecated by AWS on {when}: {instead} (set lambda.runtime to match)",
    )


@check(
    id="function_timeout_and_memory_match_profile",
    section="lambda",
    says="the function's timeout suits the phase and its memory is the profile's",
    guide="increase the timeout: about 20 seconds for testing, at least 5 minutes in production",
    severity="high",
    risk="a short timeout kills runs before they finish",
)
def function_sizing(inv: Inventory, p: Profile) -> Outcome:
    cfg = L.function_config(inv, p)
    if cfg is None:
        return _no_function(p)
    actual = {"timeout_s": cfg.get("Timeout"), "memory_mb": cfg.get("MemorySize")}
    ok = (actual["timeout_s"] or 0) >= p.min_timeout_s and actual[
        "memory_mb"
    ] == p.function.memory_mb
    return judged(
        ok,
        "timeout and memory",
        expected={
            "timeout_s": f">= {p.min_timeout_s} ({p.deployment.phase})",
            "memory_mb": p.function.memory_mb,
        },
        actual=actual,
    )


@check(
    id="function_concurrency_one_without_async_retries",
    section="lambda",
    says="the function has reserved concurrency 1 and no asynchronous retries",
    guide="reserved concurrency 1; asynchronous invocation retry attempts 0",
    severity="high",
    risk="two notifiers at once, or a retried run, send notifications twice",
)
def function_concurrency(inv: Inventory, p: Profile) -> Outcome:
    if L.function_config(inv, p) is None:
        return _no_function(p)
    invoke = inv.event_invoke_config(p.function.function) or {}
    actual = {
        "reserved_concurrency": inv.function_concurrency(p.function.function),
        "async_retries": invoke.get("MaximumRetryAttempts", 2),
    }
    expected = {"reserved_concurrency": p.function.reserved_concurrency, "async_retries": 0}
    return judged(actual == expected, "concurrency and retries", expected=expected, actual=actual)


def _role_name(cfg: dict[str, Any]) -> str:
    return cfg["Role"].rsplit("/", 1)[-1]


def secret_resources(secret_arn: str) -> set[str]:
    """The forms that name exactly the secret: its ARN, or the ARN with the '-??????' suffix
    AWS documents for a secret whose random suffix is not known yet."""
    return {secret_arn, secret_arn[: -len("-XXXXXX")] + "-??????"}


@check(
    id="secret_policy_grants_exactly_the_secret",
    section="lambda_permissions",
    says="the secret policy grants GetSecretValue on exactly the secret's ARN",
    guide="a policy WikidotNotifierLambdaAccessToAuthSecret with GetSecretValue on the "
    "secret's ARN as a specific resource, and nothing else",
    severity="high",
    risk="a wider grant lets the function read, change or delete other secrets",
)
def secret_policy(inv: Inventory, p: Profile) -> Outcome:
    policy = inv.local_policy(p.secret.policy)
    secret = inv.secret(p.secret.name)
    if policy is None or secret is None:
        return failed(
            "policy or secret missing",
            expected="both exist",
            actual={"policy": bool(policy), "secret": bool(secret)},
        )
    grants = sorted(
        {
            f"{st.get('Effect')} {action} on {resource}"
            for st in statements(policy["Document"])
            for action in as_list(st.get("Action")) or [f"NotAction {st.get('NotAction')}"]
            for resource in as_list(st.get("Resource")) or [f"NotResource {st.get('NotResource')}"]
        }
    )
    wanted = {
        f"Allow secretsmanager:GetSecretValue on {r}" for r in secret_resources(secret["ARN"])
    }
    extra = [g for g in grants if g not in wanted]
    return judged(
        bool(grants) and not extra,
        f"grants beyond the guide's: {extra}" if extra else "GetSecretValue on the secret only",
        expected=[f"Allow secretsmanager:GetSecretValue on {secret['ARN']}"],
        actual=grants,
        evidence={"PolicyArn": policy["Policy"]["Arn"]},
    )


@check(
    id="function_role_has_secret_vpc_and_logging_policies",
    section="lambda_permissions",
    says="the function's role holds the secret policy, VPC access and basic execution",
    guide="attach WikidotNotifierLambdaAccessToAuthSecret and AWSLambdaVPCAccessExecutionRole "
    "to the Lambda's role",
    severity="medium",
    risk="the guide's attachments are missing (what the role may do is judged by the next check)",
)
def role_policies(inv: Inventory, p: Profile) -> Outcome:
    cfg = L.function_config(inv, p)
    if cfg is None:
        return _no_function(p)
    role = inv.role(_role_name(cfg))
    if role is None:
        return absent("the function's role", _role_name(cfg))
    attached = sorted(a["PolicyName"] for a in role["AttachedPolicies"])
    # The VPC access policy includes the basic execution permissions (CloudWatch Logs).
    wanted = {p.secret.policy, VPC_ACCESS_POLICY}
    advisories = tuple(
        f"role {_role_name(cfg)} holds {a}: more than the notifier needs"
        for a in attached
        if a in ADMIN_POLICIES
    )
    return judged(
        wanted <= set(attached),
        "attached policies",
        expected=sorted(wanted),
        actual=attached,
        advisories=advisories,
    )


ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
)
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def function_needs(inv: Inventory, p: Profile, cfg: dict[str, Any]) -> list[Need]:
    """Every call the function's role must allow: read the secret, manage the function's
    network interfaces, write its log, and the profile's ``lambda.required_actions``."""
    account, partition = cfg["FunctionArn"].split(":")[4], cfg["FunctionArn"].split(":")[1]
    group = L.log_group(p, cfg)
    stream = f"arn:{partition}:logs:{p.region}:{account}:log-group:{group}:log-stream:runbook"
    secret = inv.secret(p.secret.name)
    needs: list[Need] = [("secretsmanager:GetSecretValue", secret["ARN"])] if secret else []
    needs += [(action, "*") for action in ENI_ACTIONS]
    needs += [(action, stream) for action in LOG_ACTIONS]
    needs += [(r.action, r.resource) for r in p.function.required_actions]
    return needs


@check(
    id="function_role_may_do_what_the_function_does",
    section="lambda_permissions",
    says="the function's role may read the secret, manage its network interfaces, write its log "
    "and make the profile's required calls",
    guide="the Lambda's role, as IAM evaluates it, allows GetSecretValue on the secret, the VPC "
    "access and logging calls, and every call the notifier's code makes (lambda.required_actions)",
    severity="high",
    risk="IAM refuses a call the notifier makes at every run: the runs fail",
)
def role_may_run(inv: Inventory, p: Profile) -> Outcome:
    cfg = L.function_config(inv, p)
    if cfg is None:
        return _no_function(p)
    if inv.secret(p.secret.name) is None:
        return absent("secret", p.secret.name)
    return role_may(
        inv, cfg.get("Role"), "lambda.amazonaws.com", function_needs(inv, p, cfg), "the function"
    )


@check(
    id="function_invoked_only_by_its_runner",
    section="lambda",
    says="nothing but its runner invokes the function: no event source, no destination back to "
    "it, no open URL or outside invoker",
    guide="the function runs once an hour, from the trigger; a destination or event source that "
    "invokes it again is a retry by another name",
    severity="high",
    risk="runs outside the schedule send notifications again, with the database stopped; an "
    "open URL lets anyone start them",
)
def only_runner(inv: Inventory, p: Profile) -> Outcome:
    cfg = L.function_config(inv, p)
    if cfg is None:
        return _no_function(p)
    name = p.function.function
    inv.ahead(
        lambda: inv.function_url(name),
        lambda: inv.event_source_mappings(name),
        lambda: inv.function_policy(name),
    )
    fn_arn = cfg["FunctionArn"]
    invoke = inv.event_invoke_config(name) or {}
    destinations = {
        kind: (invoke.get("DestinationConfig") or {}).get(kind, {}).get("Destination")
        for kind in ("OnFailure", "OnSuccess")
    }
    account = fn_arn.split(":")[4]
    url = inv.function_url(p.function.function)
    actual = {
        "destinations_to_itself": sorted(
            kind for kind, arn in destinations.items() if arn and _same_function(arn, fn_arn)
        ),
        "event_sources": sorted(
            m["EventSourceArn"]
            for m in inv.event_source_mappings(p.function.function)
            if m.get("State") not in ("Disabled", "Disabling", "Deleting")
        ),
        "open_url": url["FunctionUrl"] if url and url.get("AuthType") == "NONE" else None,
        "outside_invokers": outsiders(inv.function_policy(p.function.function) or {}, account),
    }
    expected = {
        "destinations_to_itself": [],
        "event_sources": [],
        "open_url": None,
        "outside_invokers": [],
    }
    wrong = {k: v for k, v in actual.items() if v}
    return judged(
        not wrong,
        f"also invoked by {wrong}" if wrong else "invoked by its runner only",
        expected=expected,
        actual=actual,
        evidence={
            "destinations": destinations,
            "dead_letter": (cfg.get("DeadLetterConfig") or {}).get("TargetArn"),
        },
    )


def _same_function(arn: str, function_arn: str) -> bool:
    """The function itself, with or without a version or alias."""
    return arn == function_arn or arn.startswith(function_arn + ":")


@check(
    id="function_vpc_config_is_exactly_the_subnets_and_groups",
    section="lambda_vpc",
    says="the function runs in the VPC, in exactly the Lambda subnets and both security groups",
    guide="add the Lambda to the VPC, to both subnets and to both security groups",
    severity="high",
    risk="outside its subnets or groups the function cannot reach the database or the internet",
)
def function_vpc(inv: Inventory, p: Profile) -> Outcome:
    cfg = L.function_config(inv, p)
    if cfg is None:
        return _no_function(p)
    vpc_cfg = cfg.get("VpcConfig") or {}
    groups = [L.security_group(inv, p, r) for r in ("database", "internet")]
    expected = {
        "vpc": L.vpc_id(inv, p),
        "subnets": sorted(s["SubnetId"] for s in L.lambda_subnets(inv, p)),
        "security_groups": sorted(g["GroupId"] for g in groups if g),
    }
    actual = {
        "vpc": vpc_cfg.get("VpcId") or None,
        "subnets": sorted(vpc_cfg.get("SubnetIds", [])),
        "security_groups": sorted(vpc_cfg.get("SecurityGroupIds", [])),
    }
    ok = (
        actual == expected and expected["vpc"] is not None and len(expected["security_groups"]) == 2
    )
    return judged(ok, "VPC config", expected=expected, actual=actual)


@check(
    id="lambda_enis_have_one_elastic_ip_per_subnet",
    section="egress",
    says="every Lambda network interface has an Elastic IP, one per Lambda subnet",
    guide="associate one Elastic IP to each ENI in the internet security group",
    applies=egress_is("eip"),
    severity="high",
    risk="an interface without an Elastic IP has no way out: the runs placed there time out",
)
def lambda_eips(inv: Inventory, p: Profile) -> Outcome:
    enis = L.lambda_enis(inv, p.function.function)
    internet = L.security_group(inv, p, "internet")
    internet_id = internet["GroupId"] if internet else None
    subnets = {s["SubnetId"]: L.tag(s) for s in L.lambda_subnets(inv, p)}
    rows = {
        e["NetworkInterfaceId"]: {
            "subnet": subnets.get(e["SubnetId"], e["SubnetId"]),
            "in_internet_group": internet_id in {g["GroupId"] for g in e.get("Groups", [])},
            "elastic_ip": (e.get("Association") or {}).get("PublicIp"),
        }
        for e in sorted(enis, key=lambda e: e["NetworkInterfaceId"])
    }
    eips = {a.get("NetworkInterfaceId"): a["PublicIp"] for a in inv.addresses()}
    for eni_id, row in rows.items():
        row["elastic_ip"] = eips.get(eni_id)
    covered = {r["subnet"] for r in rows.values() if r["elastic_ip"] and r["in_internet_group"]}
    ok = (
        bool(rows)
        and all(r["elastic_ip"] and r["in_internet_group"] for r in rows.values())
        and covered == set(subnets.values())
    )
    return judged(
        ok,
        f"{len(rows)} Lambda ENI(s)",
        expected=f"an Elastic IP on the ENI in each of {sorted(subnets.values())}",
        actual=rows,
    )


def _nat_route_check(
    inv: Inventory, p: Profile, target_key: str
) -> tuple[dict, list[str], dict[str, list[str]]]:
    """For each Lambda subnet, the id its default route points at through ``target_key``, and
    the narrower routes that send part of the internet elsewhere."""
    routes, diverted = {}, {}
    for s in L.lambda_subnets(inv, p):
        table = L.route_table_of(inv, s)
        route = L.default_route(table)
        routes[L.tag(s)] = (route or {}).get(target_key)
        elsewhere = L.diverting_routes(table, routes[L.tag(s)])
        if elsewhere:
            diverted[L.tag(s)] = elsewhere
    return routes, [v for v in routes.values() if v], diverted


@check(
    id="lambda_subnets_route_to_available_nat_gateway",
    section="egress",
    says="the Lambda subnets route 0.0.0.0/0 to an available NAT gateway with an Elastic IP "
    "in a public subnet",
    guide="create a NAT gateway between the public and private subnets",
    applies=egress_is("nat-gateway"),
    severity="high",
    risk="the Lambda's traffic goes nowhere: runs time out",
)
def nat_gateway_route(inv: Inventory, p: Profile) -> Outcome:
    routes, targets, diverted = _nat_route_check(inv, p, "NatGatewayId")
    public = {
        s["SubnetId"]
        for s in (L.subnet(inv, p, x.name) for x in p.vpc.subnets if x.role == "public")
        if s
    }
    good = {
        n["NatGatewayId"]
        for n in inv.nat_gateways()
        if n.get("State") == "available"
        and n.get("SubnetId") in public
        and any(a.get("AllocationId") for a in n.get("NatGatewayAddresses", []))
    }
    ok = (
        bool(routes)
        and len(targets) == len(routes)
        and all(t in good for t in targets)
        and not diverted
    )
    return judged(
        ok,
        "Lambda subnets' default routes",
        expected={"default_routes": f"one of {sorted(good)}", "diverting_routes": {}},
        actual={"default_routes": routes, "diverting_routes": diverted},
    )


@check(
    id="lambda_subnets_route_to_nat_instance",
    section="egress",
    says="the Lambda subnets route 0.0.0.0/0 to the NAT instance, source/destination check off",
    guide="create and host your own NAT instance on EC2",
    applies=egress_is("nat-instance"),
    severity="high",
    risk="the Lambda's traffic goes nowhere: runs time out",
)
def nat_instance_route(inv: Inventory, p: Profile) -> Outcome:
    routes, targets, diverted = _nat_route_check(inv, p, "InstanceId")
    nat = L.instance_named(inv, p.egress.nat_instance_name)
    if nat is None:
        return failed("no NAT instance", expected=p.egress.nat_instance_name, actual=None)
    ok = (
        len(targets) == len(routes)
        and set(targets) == {nat["InstanceId"]}
        and nat.get("SourceDestCheck") is False
        and not diverted
    )
    return judged(
        ok,
        "Lambda subnets' default routes",
        expected={
            "route_to": nat["InstanceId"],
            "source_dest_check": False,
            "diverting_routes": {},
        },
        actual={
            "routes": routes,
            "source_dest_check": nat.get("SourceDestCheck"),
            "diverting_routes": diverted,
        },
    )


@check(
    id="function_logs_show_no_timeouts",
    section="egress",
    says="the notifier's recent logs show no time-outs",
    guide="you can tell the Lambda lacks internet access when its outbound HTTP connections "
    "simply time out",
    severity="high",
    risk="runs timed out: notifications were not sent",
)
def no_timeouts(inv: Inventory, p: Profile) -> Outcome:
    group = L.log_group(p, L.function_config(inv, p))
    hits: list[dict[str, str]] = []
    for term in L.TIMEOUT_TERMS:
        found = L.log_lines(inv, p, group, term)
        if found is None:  # no log at all says nothing either way
            return Outcome(
                Status.SKIP, f"log group {group} does not exist: the function has not logged yet"
            )
        hits.extend(found)
    hits.sort(key=lambda e: e["t"])
    return judged(
        not hits,
        f"{len(hits)} time-out line(s) in {p.operations.lookback_hours} h",
        expected=[],
        actual=[e["message"] for e in hits[:5]],
        evidence={"log_group": group},
        incidents=sorted({f"time-out {name(hour_of(e['t']))}" for e in hits}),
    )


@check(
    id="function_code_matches_local_zip",
    section="redeployment",
    says="the deployed code is the local lambda.zip",
    guide="run ./zip_lambda.sh and upload lambda.zip to the Lambda",
    applies=packaging_is("zip"),
    severity="medium",
    risk="the function runs other code than the one built",
)
def code_matches_zip(inv: Inventory, p: Profile) -> Outcome:
    cfg = L.function_config(inv, p)
    if cfg is None:
        return _no_function(p)
    if p.redeployment.zip_path is None:
        return Outcome(Status.SKIP, "no local lambda.zip given (redeployment.zip_path)")
    local = inv.local_zip_sha256(p.redeployment.zip_path)
    return judged(
        local == cfg.get("CodeSha256"),
        "CodeSha256 (base64 SHA-256)",
        expected=local,
        actual=cfg.get("CodeSha256"),
    )


PROVENANCE_FIX = (
    "rebuild and push it as one image: docker build --provenance false ... then docker push"
)


def _repository(inv: Inventory, p: Profile) -> tuple[str, str, dict | None, Outcome | None]:
    """The repository and tag the function's image comes from, the repository, and a failure
    when it is missing or is not the one the profile names."""
    repo_name, tag = L.image_source(inv, p)
    renamed = L.name_mismatch(
        p, "redeployment.ecr_repository", repo_name, "the repository of the function's image"
    )
    repo = inv.repository(repo_name)
    if renamed is None and repo is None:
        renamed = failed(
            f"no private repository {repo_name}",
            expected=repo_name,
            actual=None,
            resource=f"ECR {repo_name}",
        )
    return repo_name, tag, repo, renamed


@check(
    id="ecr_repository_private_and_holds_tag",
    section="redeployment",
    says="the private ECR repository holds the image tag",
    guide="create a private ECR repository and upload the image with its tag",
    applies=packaging_is("image"),
    severity="medium",
    risk="the next redeployment has no image to take",
)
def ecr_tag(inv: Inventory, p: Profile) -> Outcome:
    repo_name, tag, repo, missing = _repository(inv, p)
    if missing or repo is None:
        return missing or absent("repository", repo_name)
    found = inv.image_digest(repo_name, tag)
    return judged(
        found is not None,
        f"tag {tag}",
        expected=f"{repo['repositoryUri']}:{tag}",
        actual=found,
        resource=f"ECR {repo['repositoryUri']}",
    )


ECR_PUSH = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
)


@check(
    id="administration_group_may_push_the_image",
    section="redeployment",
    says="the administration group's policies let its user push the image to the repository",
    guide="a new IAM policy providing access to the specific ECR repository, attached to the "
    "administration group",
    applies=packaging_is("image"),
    severity="medium",
    risk="the administrator cannot push a new image: no redeployment",
)
def group_may_push(inv: Inventory, p: Profile) -> Outcome:
    repo_name, _, repo, missing = _repository(inv, p)
    if missing or repo is None:
        return missing or absent("repository", repo_name)
    group = inv.group(p.iam.group)
    if group is None:
        return absent("group", p.iam.group)
    needs = [(a, repo["repositoryArn"]) for a in ECR_PUSH] + [("ecr:GetAuthorizationToken", "*")]
    found = decisions(inv, group["Group"]["Arn"], needs)
    if found is None:
        return absent("group", p.iam.group)
    denied = not_allowed(found)
    return judged(
        not denied,
        f"{p.iam.group} may not: {'; '.join(denied)}"
        if denied
        else f"{p.iam.group} may push to {repo_name}",
        expected=[],
        actual=denied,
        resource=f"group {p.iam.group}",
        evidence={"evaluated": [f"{a} on {r}" for a, r in needs]},
    )


@check(
    id="image_behind_tag_is_one_manifest_lambda_runs",
    section="redeployment",
    says="the tag points to one image manifest of a type Lambda runs, not an image index",
    guide="build with docker build --provenance false (upstream's build_deploy_lambda.sh): "
    "one manifest, not an index with an attestation",
    applies=packaging_is("image"),
    severity="high",
    risk="Lambda rejects an image index: the next redeployment fails",
)
def image_manifest(inv: Inventory, p: Profile) -> Outcome:
    repo_name, tag, repo, missing = _repository(inv, p)
    if missing or repo is None:
        return missing or absent("repository", repo_name)
    detail = inv.image_detail(repo_name, tag)
    if detail is None:
        return absent("image", f"{repo_name}:{tag}")
    media = detail.get("imageManifestMediaType")
    summary = f"{repo_name}:{tag} is {media}"
    if media in INDEX_MEDIA_TYPES:
        summary = f"{repo_name}:{tag} is an image index, which Lambda rejects: {PROVENANCE_FIX}"
    return judged(
        media in LAMBDA_MEDIA_TYPES,
        summary,
        expected=sorted(LAMBDA_MEDIA_TYPES),
        actual=media,
        resource=f"ECR {repo['repositoryUri']}:{tag} ({detail['imageDigest']})",
    )


@check(
    id="lifecycle_policy_keeps_the_running_image",
    section="redeployment",
    says="the image the function runs is in the repository, and its lifecycle policy never "
    "expires it",
    guide="lifecycle rules may expire old and untagged images, never the one deployed",
    applies=packaging_is("image"),
    severity="high",
    risk="ECR deletes the running image: the function fails once Lambda needs it again",
)
def lifecycle_keeps_running_image(inv: Inventory, p: Profile) -> Outcome:
    repo_name, _, repo, missing = _repository(inv, p)
    fn = inv.function(p.function.function)
    if missing or repo is None:
        return missing or absent("repository", repo_name)
    if fn is None:
        return _no_function(p)
    running = (fn.get("Code") or {}).get("ResolvedImageUri", "").partition("@")[2]
    image = inv.image_detail(repo_name, running) if running else None
    if image is None:
        return failed(
            f"the function's image {running or '(none)'} is not in {repo_name}: already expired "
            "or deleted",
            expected="the running image in the repository",
            actual=None,
            resource=f"ECR {repo['repositoryUri']}",
        )
    policy = inv.lifecycle_policy(repo_name)
    why = expiry(policy, image, lambda: inv.repository_images(repo_name), datetime.now(UTC))
    rules = len((policy or {}).get("rules", []))
    return judged(
        why is None,
        why or f"kept by the lifecycle policy ({rules} rule(s))",
        expected="never expired",
        actual=why or "never expired",
        resource=f"ECR {repo['repositoryUri']}@{running}",
    )


@check(
    id="function_runs_image_behind_tag",
    section="redeployment",
    says="the function runs the image currently behind the tag",
    guide="if the image is replaced, redeploy the function from the repository",
    applies=packaging_is("image"),
    severity="medium",
    risk="the function runs another image than the one last pushed",
)
def image_current(inv: Inventory, p: Profile) -> Outcome:
    fn = inv.function(p.function.function)
    repo_name, tag, repo, missing = _repository(inv, p)
    if fn is None:
        return _no_function(p)
    if missing or repo is None:
        return missing or absent("repository", repo_name)
    code = fn.get("Code", {})
    uri = code.get("ImageUri", "")
    deployed = code.get("ResolvedImageUri", "").partition("@")[2] or None
    current = inv.image_detail(repo_name, tag)
    digest = current["imageDigest"] if current else None
    actual = {"image_uri": uri, "deployed_digest": deployed}
    expected = {"image_uri": f"{repo['repositoryUri']}:{tag}", "deployed_digest": digest}
    summary = "deployed digest"
    if current and current.get("imageManifestMediaType") in INDEX_MEDIA_TYPES:
        summary = f"{repo_name}:{tag} is an image index, Lambda cannot deploy it: {PROVENANCE_FIX}"
    elif deployed and digest and deployed != digest:
        summary = "an image was pushed to the tag but not deployed"
    return judged(actual == expected, summary, expected=expected, actual=actual)
