"""Perform for the secret, the Lambda function, its permissions, VPC config and code."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from checks import lookup as L
from checks.functions import PROVENANCE_FIX, VPC_ACCESS_POLICY
from checks.lifecycle import INDEX_MEDIA_TYPES
from checks.policy import trusts
from runbook import redact
from runbook.actions.base import (
    Action,
    Ctx,
    Manual,
    call,
    ensure_role,
    fixes,
    json_policy,
    manual,
    with_new_role,
)
from runbook.aws.inventory import Inventory
from runbook.profile import SECRET_KEYS, Profile

SECRET_ENV = redact.SECRET_ENV


def _database_address(inv: Inventory, p: Profile) -> str | None:
    if p.variants.aurora:
        cluster = inv.db_cluster(p.database.cluster)
        return cluster.get("Endpoint") if cluster else None
    inst = L.db_instance(inv, p)
    return inst.get("PrivateIpAddress") if inst else None


@fixes("secret_holds_exactly_the_five_keys")
def create_secret(inv: Inventory, p: Profile) -> list[Action | Manual]:
    if inv.secret(p.secret.name) is not None:
        return [
            Manual(
                f"put a value with exactly the five keys into {p.secret.name} "
                "(Secrets Manager > Retrieve secret value > Edit)"
            )
        ]
    env = {k: os.environ.get(SECRET_ENV + k.upper()) for k in SECRET_KEYS}
    if not env["mysql_host"]:
        env["mysql_host"] = _database_address(inv, p)
    missing = [SECRET_ENV + k.upper() for k, v in env.items() if not v]
    if missing:
        return [
            Manual(
                f"set {', '.join(missing)} in the environment (values are read at run "
                "time, never from the profile), then run perform again"
            )
        ]

    def apply(ctx: Ctx) -> None:
        ctx.client("secretsmanager").create_secret(
            Name=p.secret.name, SecretString=json.dumps(env), Tags=ctx.tag_list()
        )

    return [
        Action(
            f"create secret {p.secret.name} from the RUNBOOK_SECRET_* environment "
            "(values not shown)",
            apply,
            (
                call(
                    "secretsmanager", "CreateSecret", Name=p.secret.name, SecretString="<not shown>"
                ),
            ),
        )
    ]


@fixes("secret_resource_policy_admits_only_the_account")
def secret_resource_policy(inv: Inventory, p: Profile) -> list[Action | Manual]:
    return [
        Manual(
            f"remove the resource policy of {p.secret.name} or its statements for other accounts "
            f"and against the function's role (aws secretsmanager delete-resource-policy "
            f"--secret-id {p.secret.name}; perform never deletes): the guide gives it none"
        )
    ]


@fixes("secret_mysql_host_is_the_database")
def point_secret(inv: Inventory, p: Profile) -> list[Action | Manual]:
    address = _database_address(inv, p)
    if address is None:
        return [Manual("create the database first")]

    def apply(ctx: Ctx) -> None:
        sm = ctx.client("secretsmanager")
        value = json.loads(sm.get_secret_value(SecretId=p.secret.name)["SecretString"])
        value["mysql_host"] = address
        sm.put_secret_value(SecretId=p.secret.name, SecretString=json.dumps(value))

    return [
        Action(
            f"set the secret's mysql_host to {address}",
            apply,
            (
                call(
                    "secretsmanager",
                    "PutSecretValue",
                    SecretId=p.secret.name,
                    SecretString="<the value, mysql_host changed; not shown>",
                ),
            ),
        )
    ]


def _placeholder_zip() -> bytes:
    """What 'Author from scratch' deploys: a handler that does nothing until redeployment."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lambda_function.py", "def lambda_handler(event, context):\n    return None\n")
    return buf.getvalue()


BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def _function_role(ctx: Ctx) -> str:
    role = ensure_role(ctx, ctx.p.function.role, "lambda.amazonaws.com")
    attached = {a["PolicyArn"] for a in role.get("AttachedPolicies", [])}
    # Also when a perform was interrupted between creating the role and this attach.
    if BASIC_EXECUTION not in attached:
        ctx.client("iam").attach_role_policy(
            RoleName=ctx.p.function.role, PolicyArn=BASIC_EXECUTION
        )
    return str(role["Role"]["Arn"])


def _image_uri(ctx: Ctx) -> str | None:
    name, tag = L.image_source(ctx.inv, ctx.p)
    repo = ctx.inv.repository(name)
    if repo is None or ctx.inv.image_digest(name, tag) is None:
        return None
    return f"{repo['repositoryUri']}:{tag}"


@fixes("function_active_and_last_update_successful")
def create_function(inv: Inventory, p: Profile) -> list[Action | Manual]:
    if L.function_config(inv, p) is not None:
        return [
            Manual(
                "the function is not Active or its last update failed: see its "
                "configuration in the Lambda console"
            )
        ]

    def apply(ctx: Ctx) -> None:
        common: dict[str, Any] = dict(
            FunctionName=p.function.function,
            Role=_function_role(ctx),
            MemorySize=p.function.memory_mb,
            Timeout=p.min_timeout_s,
            Tags={"ManagedBy": "notifier-runbook"},
        )
        lam = ctx.client("lambda")
        if p.variants.packaging == "image":
            uri = _image_uri(ctx)
            if uri is None:
                raise_missing_image(p)
            with_new_role(
                lambda: lam.create_function(PackageType="Image", Code={"ImageUri": uri}, **common)
            )
        else:
            code = (
                Path(p.redeployment.zip_path).read_bytes()
                if p.redeployment.zip_path
                else _placeholder_zip()
            )
            with_new_role(
                lambda: lam.create_function(
                    Runtime=p.function.runtime,
                    Handler=p.function.handler,
                    Code={"ZipFile": code},
                    **common,
                )
            )
        lam.get_waiter("function_active_v2").wait(FunctionName=p.function.function)

    source = (
        "the image behind the tag"
        if p.variants.packaging == "image"
        else "the local lambda.zip"
        if p.redeployment.zip_path
        else "a placeholder handler"
    )
    role = inv.role(p.function.role)
    attached = {a["PolicyArn"] for a in (role or {}).get("AttachedPolicies", [])}
    calls = [call("iam", "CreateRole", RoleName=p.function.role)] if role is None else []
    if BASIC_EXECUTION not in attached:
        calls.append(
            call("iam", "AttachRolePolicy", RoleName=p.function.role, PolicyArn=BASIC_EXECUTION)
        )
    calls.append(
        call(
            "lambda",
            "CreateFunction",
            FunctionName=p.function.function,
            PackageType="Image" if p.variants.packaging == "image" else "Zip",
            MemorySize=p.function.memory_mb,
            Timeout=p.min_timeout_s,
        )
    )
    return [
        Action(
            f"create function {p.function.function} ({p.variants.packaging}, from "
            f"{source}) with role {p.function.role} (basic execution)",
            apply,
            tuple(calls),
        )
    ]


def raise_missing_image(p: Profile) -> None:
    from botocore.exceptions import ClientError

    raise ClientError(
        {
            "Error": {
                "Code": "ImageNotFound",
                "Message": f"push the image to {p.redeployment.ecr_repository}:"
                f"{p.redeployment.image_tag} first (see Redeployment)",
            }
        },
        "CreateFunction",
    )


@fixes("function_package_matches_variant")
def package(inv: Inventory, p: Profile) -> list[Action | Manual]:
    cfg = L.function_config(inv, p)
    if cfg is None or cfg.get("PackageType", "Zip") != (
        "Image" if p.variants.packaging == "image" else "Zip"
    ):
        return [
            Manual(
                "the package type cannot change: delete and recreate the function "
                "(the guide's Redeployment > As a Docker container)"
            )
        ]

    def apply(ctx: Ctx) -> None:
        lam = ctx.client("lambda")
        lam.update_function_configuration(
            FunctionName=p.function.function, Runtime=p.function.runtime, Handler=p.function.handler
        )
        lam.get_waiter("function_updated_v2").wait(FunctionName=p.function.function)

    return [
        Action(
            f"set runtime {p.function.runtime} and handler {p.function.handler}",
            apply,
            (
                call(
                    "lambda",
                    "UpdateFunctionConfiguration",
                    FunctionName=p.function.function,
                    Runtime=p.function.runtime,
                    Handler=p.function.handler,
                ),
            ),
        )
    ]


@fixes("function_timeout_and_memory_match_profile")
def sizing(inv: Inventory, p: Profile) -> list[Action | Manual]:
    cfg = L.function_config(inv, p) or {}
    timeout = max(cfg.get("Timeout") or 0, p.min_timeout_s)

    def apply(ctx: Ctx) -> None:
        lam = ctx.client("lambda")
        lam.update_function_configuration(
            FunctionName=p.function.function, Timeout=timeout, MemorySize=p.function.memory_mb
        )
        lam.get_waiter("function_updated_v2").wait(FunctionName=p.function.function)

    return [
        Action(
            f"set timeout {timeout} s and memory {p.function.memory_mb} MB",
            apply,
            (
                call(
                    "lambda",
                    "UpdateFunctionConfiguration",
                    FunctionName=p.function.function,
                    Timeout=timeout,
                    MemorySize=p.function.memory_mb,
                ),
            ),
        )
    ]


@fixes("function_concurrency_one_without_async_retries")
def concurrency(inv: Inventory, p: Profile) -> list[Action | Manual]:
    name, reserve = p.function.function, p.function.reserved_concurrency
    reserved = inv.function_concurrency(name) == reserve
    invoke = inv.event_invoke_config(name)
    retry = None if invoke is None else invoke.get("MaximumRetryAttempts", 2)
    calls = (
        []
        if reserved
        else [
            call(
                "lambda",
                "PutFunctionConcurrency",
                FunctionName=name,
                ReservedConcurrentExecutions=reserve,
            )
        ]
    )
    if retry != 0:
        op = "PutFunctionEventInvokeConfig" if invoke is None else "UpdateFunctionEventInvokeConfig"
        calls.append(call("lambda", op, FunctionName=name, MaximumRetryAttempts=0))

    def apply(ctx: Ctx) -> None:
        lam = ctx.client("lambda")
        if not reserved:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserve)
        if invoke is None:
            lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
        elif retry != 0:
            lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)

    words = [f"reserve concurrency {reserve}"] if not reserved else []
    words += ["set asynchronous retry attempts to 0"] if retry != 0 else []
    return [Action("; ".join(words), apply, tuple(calls))] if calls else []


@fixes("secret_policy_grants_exactly_the_secret")
def secret_policy(inv: Inventory, p: Profile) -> list[Action | Manual]:
    secret = inv.secret(p.secret.name)
    if secret is None:
        return [Manual("create the secret first")]
    document = json_policy(
        [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret["ARN"]}]
    )
    existing = inv.local_policy(p.secret.policy)

    def apply(ctx: Ctx) -> None:
        iam = ctx.client("iam")
        if existing is None:
            iam.create_policy(
                PolicyName=p.secret.policy, PolicyDocument=document, Tags=ctx.tag_list()
            )
        else:
            iam.create_policy_version(
                PolicyArn=existing["Policy"]["Arn"], PolicyDocument=document, SetAsDefault=True
            )

    verb = "create" if existing is None else "set a new default version of"
    change = (
        call("iam", "CreatePolicy", PolicyName=p.secret.policy)
        if existing is None
        else call(
            "iam", "CreatePolicyVersion", PolicyArn=existing["Policy"]["Arn"], SetAsDefault=True
        )
    )
    return [
        Action(
            f"{verb} policy {p.secret.policy}: GetSecretValue on {secret['ARN']} only",
            apply,
            (change,),
        )
    ]


@fixes("function_role_has_secret_vpc_and_logging_policies")
def role_policies(inv: Inventory, p: Profile) -> list[Action | Manual]:
    cfg = L.function_config(inv, p)
    policy = inv.local_policy(p.secret.policy)
    if cfg is None or policy is None:
        return [Manual("create the function and the secret policy first")]
    role_name = cfg["Role"].rsplit("/", 1)[-1]
    role = inv.role(role_name)
    attached = {a["PolicyArn"] for a in (role or {}).get("AttachedPolicies", [])}
    wanted = [policy["Policy"]["Arn"], f"arn:aws:iam::aws:policy/service-role/{VPC_ACCESS_POLICY}"]
    todo = [arn for arn in wanted if arn not in attached]

    def apply(ctx: Ctx) -> None:
        for arn in todo:
            ctx.client("iam").attach_role_policy(RoleName=role_name, PolicyArn=arn)

    calls = tuple(
        call("iam", "AttachRolePolicy", RoleName=role_name, PolicyArn=arn) for arn in todo
    )
    names = ", ".join(a.rsplit("/", 1)[-1] for a in todo)
    return [Action(f"attach {names} to {role_name}", apply, calls)] if todo else []


REQUIRED_ACTIONS_POLICY = "notifier-runbook-required-actions"


@fixes("function_role_may_do_what_the_function_does")
def role_may_run(inv: Inventory, p: Profile) -> list[Action | Manual]:
    """The guide's attachments (secret policy, VPC access), and an inline policy for the
    profile's required calls; a role the Lambda service may not assume is the user's to fix."""
    cfg = L.function_config(inv, p)
    if cfg is None:
        return [Manual("create the function first")]
    steps = role_policies(inv, p)
    role_name = cfg["Role"].rsplit("/", 1)[-1]
    record = inv.role_record(role_name)
    trust = (record or {}).get("AssumeRolePolicyDocument") or {}
    if record is not None and not trusts(trust, "lambda.amazonaws.com")[0]:
        steps.append(
            Manual(
                f"let lambda.amazonaws.com assume {role_name} (IAM > Roles > {role_name} > "
                "Trust relationships): the function cannot run with it"
            )
        )
    wanted = [
        {"Effect": "Allow", "Action": r.action, "Resource": r.resource}
        for r in p.function.required_actions
    ]
    if wanted:

        def apply(ctx: Ctx) -> None:
            ctx.client("iam").put_role_policy(
                RoleName=role_name,
                PolicyName=REQUIRED_ACTIONS_POLICY,
                PolicyDocument=json_policy(wanted),
            )

        calls = ", ".join(f"{r.action} on {r.resource}" for r in p.function.required_actions)
        steps.append(
            Action(
                f"put inline policy {REQUIRED_ACTIONS_POLICY} on {role_name}: {calls}",
                apply,
                (
                    call(
                        "iam",
                        "PutRolePolicy",
                        RoleName=role_name,
                        PolicyName=REQUIRED_ACTIONS_POLICY,
                    ),
                ),
            )
        )
    return steps


@fixes("function_invoked_only_by_its_runner")
def only_runner(inv: Inventory, p: Profile) -> list[Action | Manual]:
    name = p.function.function
    return [
        Manual(
            f"remove what else invokes {name} (perform never removes): a destination back to "
            f"it (aws lambda update-function-event-invoke-config --function-name {name} "
            "--destination-config '{}'), event source mappings (aws lambda "
            "delete-event-source-mapping --uuid ...), a function URL without auth (aws lambda "
            f"delete-function-url-config --function-name {name}), resource-policy statements "
            f"for other accounts or anyone (aws lambda remove-permission --function-name {name} "
            "--statement-id ...)"
        )
    ]


@fixes("function_vpc_config_is_exactly_the_subnets_and_groups")
def vpc_config(inv: Inventory, p: Profile) -> list[Action | Manual]:
    def apply(ctx: Ctx) -> None:
        groups = [L.security_group(ctx.inv, p, r)["GroupId"] for r in ("database", "internet")]
        subnets = [s["SubnetId"] for s in L.lambda_subnets(ctx.inv, p)]
        lam = ctx.client("lambda")
        lam.update_function_configuration(
            FunctionName=p.function.function,
            VpcConfig={"SubnetIds": subnets, "SecurityGroupIds": groups},
        )
        lam.get_waiter("function_updated_v2").wait(FunctionName=p.function.function)

    return [
        Action(
            "put the function in the Lambda subnets and both security groups",
            apply,
            (
                call(
                    "lambda",
                    "UpdateFunctionConfiguration",
                    FunctionName=p.function.function,
                    VpcConfig=f"subnets {[s.name for s in p.vpc.lambda_subnets]}, groups "
                    f"{[p.security_groups.database, p.security_groups.internet]}",
                ),
            ),
        )
    ]


@fixes("function_code_matches_local_zip")
def upload_zip(inv: Inventory, p: Profile) -> list[Action | Manual]:
    def apply(ctx: Ctx) -> None:
        lam = ctx.client("lambda")
        lam.update_function_code(
            FunctionName=p.function.function, ZipFile=Path(p.redeployment.zip_path).read_bytes()
        )
        lam.get_waiter("function_updated_v2").wait(FunctionName=p.function.function)

    return [
        Action(
            f"upload {p.redeployment.zip_path} to {p.function.function}",
            apply,
            (
                call(
                    "lambda",
                    "UpdateFunctionCode",
                    FunctionName=p.function.function,
                    ZipFile=str(p.redeployment.zip_path),
                ),
            ),
        )
    ]


@fixes("ecr_repository_private_and_holds_tag")
def repository(inv: Inventory, p: Profile) -> list[Action | Manual]:
    name, tag = L.image_source(inv, p)
    push = Manual(
        f"build and push the image: docker build --target execute_lambda --provenance false "
        f"... and push it to {name}:{tag}"
    )
    if inv.repository(name) is not None:
        return [push]

    def apply(ctx: Ctx) -> None:
        ctx.client("ecr").create_repository(repositoryName=name, tags=ctx.tag_list())

    return [
        Action(
            f"create private ECR repository {name}",
            apply,
            (call("ecr", "CreateRepository", repositoryName=name),),
        ),
        push,
    ]


@fixes("function_runs_image_behind_tag", "image_behind_tag_is_one_manifest_lambda_runs")
def deploy_image(inv: Inventory, p: Profile) -> list[Action | Manual]:
    name, tag = L.image_source(inv, p)
    found = inv.image_detail(name, tag) if inv.repository(name) else None
    if found and found.get("imageManifestMediaType") in INDEX_MEDIA_TYPES:
        return [Manual(f"{name}:{tag} is an image index: {PROVENANCE_FIX}; then run perform again")]

    def apply(ctx: Ctx) -> None:
        uri = _image_uri(ctx)
        if uri is None:
            raise_missing_image(p)
        lam = ctx.client("lambda")
        lam.update_function_code(FunctionName=p.function.function, ImageUri=uri)
        lam.get_waiter("function_updated_v2").wait(FunctionName=p.function.function)

    return [
        Action(
            f"deploy {name}:{tag} to {p.function.function}",
            apply,
            (
                call(
                    "lambda",
                    "UpdateFunctionCode",
                    FunctionName=p.function.function,
                    ImageUri=f"<{name}:{tag}>",
                ),
            ),
        )
    ]


fixes("lifecycle_policy_keeps_the_running_image")(
    manual(
        "change the repository's lifecycle policy so that no rule selects the running image: "
        "expire untagged images only, or keep the newest N tagged (ECR > Repositories > "
        "Lifecycle policy); perform never edits it"
    )
)
fixes("administration_group_may_push_the_image")(
    manual(
        "allow the administration group ecr:GetAuthorizationToken on * and the push actions "
        "(ecr:BatchCheckLayerAvailability, InitiateLayerUpload, UploadLayerPart, "
        "CompleteLayerUpload, PutImage) on the repository, in its ECR policy"
    )
)
