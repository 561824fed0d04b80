"""The lab's local AWS API: moto in server mode on loopback, with a few lab-only patches.

Run as ``python -m runbook.lab.server --port PORT --state-dir DIR`` (``runbook.lab.control``
does it). moto is imported only after the environment it reads is set, so importing this
module has no side effects; ``apply_lab_patches`` can also be used in-process.

The patches make moto report what real AWS reports where the project's checks depend on it.
They change moto's behaviour, never the project's checks, and each says what AWS does.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from runbook.lab.control import HOST, PID_FILE, URL_FILE, answers

LAMBDA_ENI_PREFIX = "AWS Lambda VPC ENI-"
# What AWS shows as RequesterId on Lambda's ENIs: the Lambda service role's id and a session.
LAMBDA_ENI_REQUESTER_ROLE = "AROAJLAMBDAVPCENIMOTO"
_UUID = r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}"
_LAMBDA_ENI_DESCRIPTION = re.compile(
    re.escape(LAMBDA_ENI_PREFIX) + rf"(?P<function>.+?)(?:-{_UUID})?$"
)
_PATCHED = "__lab_patch__"


def _wrap(owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``owner.name`` by ``make(original)``, once: applying the patches twice is a no-op."""
    original = getattr(owner, name)
    if getattr(original, _PATCHED, False):
        return
    wrapper = functools.wraps(original)(make(original))
    setattr(wrapper, _PATCHED, True)
    setattr(owner, name, wrapper)


def patch_lambda_vpc_enis() -> None:
    """Report Lambda's VPC ENIs as AWS does: InterfaceType ``lambda``, requester-managed.

    On AWS, a function with a VpcConfig gets ENIs that the Lambda service creates, described
    ``AWS Lambda VPC ENI-<function>-<uuid>``, with InterfaceType ``lambda``, RequesterManaged
    true and the service's role as RequesterId. moto creates none, and CreateNetworkInterface
    ignores ``InterfaceType=lambda``; so the lab creates them through the normal API with that
    description, and this patch (on ``NetworkInterfaceBackend.create_network_interface`` in
    moto/ec2/models/elastic_network_interfaces.py) gives them the attributes Lambda's have.
    """
    from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def create_network_interface(self: Any, *args: Any, **kwargs: Any) -> Any:
            eni = original(self, *args, **kwargs)
            match = _LAMBDA_ENI_DESCRIPTION.match(eni.description)
            if match:
                eni.interface_type = "lambda"
                eni.requester_managed = True
                eni.requester_id = f"{LAMBDA_ENI_REQUESTER_ROLE}:{match['function']}"
            return eni

        return create_network_interface

    _wrap(NetworkInterfaceBackend, "create_network_interface", make)


def patch_cpu_credits() -> None:
    """Remember an instance's CPU credit option and report it, as AWS does.

    AWS keeps ``CreditSpecification.CpuCredits`` given to RunInstances (or changed later with
    ModifyInstanceCreditSpecification) and DescribeInstanceCreditSpecifications reports it.
    moto accepts the parameter but drops it, always answers ``standard``, and has no
    ModifyInstanceCreditSpecification (HTTP 500). This wraps ``InstanceResponse.run_instances``
    and ``describe_instance_credit_specifications`` (moto/ec2/responses/instances.py) and adds
    ``modify_instance_credit_specification``. An instance launched without the option keeps
    moto's answer (``standard``; AWS's default is ``unlimited`` for T3/T3a/T4g).
    """
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import InvalidInstanceIdError
    from moto.ec2.responses.instances import InstanceResponse

    def make_run(original: Callable[..., Any]) -> Callable[..., Any]:
        def run_instances(self: Any) -> Any:
            result = original(self)
            credits = self._get_param("CreditSpecification.CpuCredits")
            if credits:
                for instance in result.result.instances:
                    instance.lab_cpu_credits = credits.lower()
            return result

        return run_instances

    def make_describe(original: Callable[..., Any]) -> Callable[..., Any]:
        def describe_instance_credit_specifications(self: Any) -> Any:
            result = original(self)
            for item in result.result["InstanceCreditSpecifications"]:
                instance = self.ec2_backend.get_instance(item["InstanceId"])
                item["CpuCredits"] = getattr(instance, "lab_cpu_credits", item["CpuCredits"])
            return result

        return describe_instance_credit_specifications

    def modify_instance_credit_specification(self: Any) -> Any:
        specifications = self._get_param("InstanceCreditSpecifications", [])
        self.error_on_dryrun()
        successful, unsuccessful = [], []
        for specification in specifications:
            instance_id = specification["InstanceId"]
            try:
                instance = self.ec2_backend.get_instance(instance_id)
            except InvalidInstanceIdError:
                error = {
                    "Code": "InvalidInstanceID.NotFound",
                    "Message": f"The instance ID '{instance_id}' does not exist",
                }
                unsuccessful.append({"InstanceId": instance_id, "Error": error})
                continue
            instance.lab_cpu_credits = specification["CpuCredits"].lower()
            successful.append({"InstanceId": instance_id})
        return ActionResult(
            {
                "SuccessfulInstanceCreditSpecifications": successful,
                "UnsuccessfulInstanceCreditSpecifications": unsuccessful,
            }
        )

    _wrap(InstanceResponse, "run_instances", make_run)
    _wrap(InstanceResponse, "describe_instance_credit_specifications", make_describe)
    if not hasattr(InstanceResponse, "modify_instance_credit_specification"):
        InstanceResponse.modify_instance_credit_specification = (  # type: ignore[attr-defined]
            modify_instance_credit_specification
        )


def _split_image_uri(image_uri: str) -> tuple[str, str | None, str | None]:
    """``<registry>/<repo>[:tag][@digest]`` → (repository URI, tag, digest)."""
    uri, _, digest = image_uri.partition("@")
    registry, _, path = uri.partition("/")
    path, _, tag = path.partition(":")
    return f"{registry}/{path}", tag or None, digest or None


def patch_lambda_image_digest() -> None:
    """Resolve an image function's tag to the ECR image's digest at deploy time, as AWS does.

    AWS resolves ``ImageUri``'s tag when the function is created or its code updated, and
    reports ``CodeSha256`` = that digest and ``ResolvedImageUri`` = ``<repository>@<digest>``.
    moto (with its default ``MOTO_LAMBDA_STUB_ECR``) hashes the URI string instead, and
    renders a digest-form ``ImageUri`` as ``<repository>@sha256@sha256:...``. This wraps
    ``LambdaFunction._set_function_code`` and ``LambdaFunction.get_code``
    (moto/awslambda/models.py). A digest-form ``ImageUri`` resolves to its own digest; a tag
    that is not in moto's ECR keeps moto's stub digest (AWS would refuse the deployment).
    """
    from moto.awslambda.models import LambdaFunction
    from moto.ecr.exceptions import RepositoryNotFoundException
    from moto.ecr.models import ecr_backends

    def resolve(function: Any, image_uri: str) -> str | None:
        """The digest AWS would deploy: the one given, or the one behind the tag now."""
        repository_uri, tag, digest = _split_image_uri(image_uri)
        if digest:
            return digest
        backend = ecr_backends[function.account_id][function.region]
        try:
            images = backend.batch_get_image(
                repository_name=repository_uri.split("/", 1)[1],
                image_ids=[{"imageTag": tag or "latest"}],
            )["images"]
        except RepositoryNotFoundException:
            return None
        return images[0].get_image_digest() if images else None

    def make_set(original: Callable[..., Any]) -> Callable[..., Any]:
        def _set_function_code(self: Any, updated_spec: dict[str, Any]) -> None:
            original(self, updated_spec)
            image_uri = updated_spec.get("ImageUri")
            if image_uri and not updated_spec.get("DryRun"):
                digest = resolve(self, image_uri)
                if digest:
                    self.code_sha_256 = digest.removeprefix("sha256:")

        return _set_function_code

    def make_get_code(original: Callable[..., Any]) -> Callable[..., Any]:
        def get_code(self: Any) -> dict[str, Any]:
            code = original(self)
            if "ImageUri" in code.get("Code", {}):
                repository_uri = _split_image_uri(code["Code"]["ImageUri"])[0]
                code["Code"]["ResolvedImageUri"] = f"{repository_uri}@sha256:{self.code_sha_256}"
            return code

        return get_code

    _wrap(LambdaFunction, "_set_function_code", make_set)
    _wrap(LambdaFunction, "get_code", make_get_code)


def patch_lambda_vpc_id() -> None:
    """Report a function's VpcConfig.VpcId as the VPC of its subnets, as AWS does.

    moto's ``LambdaFunction.vpc_config`` (moto/awslambda/models.py) answers the constant
    ``vpc-123abc`` whenever security groups are set.
    """
    from moto.awslambda.models import LambdaFunction
    from moto.ec2.models import ec2_backends

    original = LambdaFunction.vpc_config
    if getattr(original.fget, _PATCHED, False):
        return

    def vpc_config(self: Any) -> dict[str, Any] | None:
        config = original.fget(self)
        subnets = (config or {}).get("SubnetIds") or []
        if config and subnets:
            ec2 = ec2_backends[self.account_id][self.region]
            config["VpcId"] = ec2.get_subnet(subnets[0]).vpc_id
        return config

    patched = property(vpc_config)
    setattr(vpc_config, _PATCHED, True)
    LambdaFunction.vpc_config = patched  # type: ignore[method-assign]


def apply_lab_patches() -> None:
    """Apply every lab-only patch to moto's in-process backends."""
    patch_lambda_vpc_id()
    patch_lambda_vpc_enis()
    patch_cpu_credits()
    patch_lambda_image_digest()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="loopback port (0: any free one)")
    parser.add_argument("--state-dir", type=Path, required=True, help="where moto.pid/url go")
    return parser.parse_args(argv)


def _remove_if_ours(path: Path, content: str) -> None:
    """Remove a state file unless another server has since written its own there."""
    try:
        if path.read_text().strip() == content:
            path.unlink()
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; the pid file exists while running, the URL once it answers."""
    args = _parse_args(argv)
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    pid = str(os.getpid())
    (state_dir / PID_FILE).write_text(pid + "\n")
    url = ""
    try:
        # Read by moto when its IAM backend is created: AWS-managed policies must exist.
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        from moto.moto_api._internal.models import moto_api_backend
        from moto.server import ThreadedMotoServer

        apply_lab_patches()
        # Same as POST /moto-api/config; Lambda's must be set before any function exists.
        moto_api_backend.set_config(
            {"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": False}}
        )

        class LabMotoServer(ThreadedMotoServer):
            """moto's ``start()`` waits forever when the bind fails; record it and go on."""

            error: BaseException | None = None

            def _server_entry(self) -> None:
                try:
                    super()._server_entry()
                except BaseException as error:
                    self.error = error
                    self._server_ready_event.set()
                    raise

        server = LabMotoServer(ip_address=HOST, port=args.port, verbose=False)
        server.start()
        if server.error is not None:
            print(f"lab moto server: cannot listen on {HOST}:{args.port} ({server.error!r})")
            return 1
        port = server.get_host_and_port()[1]
        # Step Functions' aws-sdk tasks call back into moto at localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(port)
        url = f"http://{HOST}:{port}"
        while not answers(url) and not stopping.is_set():
            time.sleep(0.05)
        if not stopping.is_set():
            (state_dir / URL_FILE).write_text(url + "\n")
            print(f"lab moto server {pid} listening on {url}", flush=True)
            stopping.wait()
        server.stop()
        print(f"lab moto server {pid} stopped", flush=True)
        return 0
    finally:
        if url:
            _remove_if_ours(state_dir / URL_FILE, url)
        _remove_if_ours(state_dir / PID_FILE, pid)


if __name__ == "__main__":
    status = main()
    # Tearing down moto's interpreter state takes seconds and nothing in it needs saving.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
