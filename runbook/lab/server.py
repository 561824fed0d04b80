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
import json
import math
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from fnmatch import fnmatchcase
from fractions import Fraction
from pathlib import Path
from types import FrameType
from typing import Any

from runbook.lab.control import (
    HOST,
    OPERATIONS_PATH,
    PID_FILE,
    THROTTLE_PATH,
    URL_FILE,
    answers,
)
from runbook.lab.requests import AwsRequest, identify

LAMBDA_ENI_PREFIX = "AWS Lambda VPC ENI-"
# What AWS shows as RequesterId on Lambda's ENIs: the Lambda service role's id and a session.
LAMBDA_ENI_REQUESTER_ROLE = "AROAJLAMBDAVPCENIMOTO"
_UUID = r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}"
_LAMBDA_ENI_DESCRIPTION = re.compile(
    re.escape(LAMBDA_ENI_PREFIX) + rf"(?P<function>.+?)(?:-{_UUID})?$"
)
_PATCHED = "__lab_patch__"


def wrap_once(
    owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> None:
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

    wrap_once(NetworkInterfaceBackend, "create_network_interface", make)


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

    wrap_once(InstanceResponse, "run_instances", make_run)
    wrap_once(InstanceResponse, "describe_instance_credit_specifications", make_describe)
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

    wrap_once(LambdaFunction, "_set_function_code", make_set)
    wrap_once(LambdaFunction, "get_code", make_get_code)


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


def patch_event_invoke_config() -> None:
    """Put and update a function's asynchronous invocation config as AWS does.

    On AWS, PutFunctionEventInvokeConfig replaces the config and UpdateFunctionEventInvokeConfig
    changes only the fields given. moto's ``put_function_event_invoke_config`` appends a config
    to a list and its update does the same, while GetFunctionEventInvokeConfig answers the
    first: neither a put nor an update after the first changes what is read. This keeps one
    config per function (moto/awslambda/models.py, ``LambdaBackend``).
    """
    from moto.awslambda.models import LambdaBackend

    def make_put(original: Callable[..., Any]) -> Callable[..., Any]:
        def put_function_event_invoke_config(self: Any, name: str, config: dict[str, Any]) -> Any:
            self.get_function(name).event_invoke_config = []
            return original(self, name, config)

        return put_function_event_invoke_config

    def make_update(original: Callable[..., Any]) -> Callable[..., Any]:
        def update_function_event_invoke_config(
            self: Any, name: str, config: dict[str, Any]
        ) -> Any:
            current = self.get_function(name).event_invoke_config
            merged = {**(current[0].config if current else {}), **config}
            return self.put_function_event_invoke_config(name, merged)

        return update_function_event_invoke_config

    wrap_once(LambdaBackend, "put_function_event_invoke_config", make_put)
    wrap_once(LambdaBackend, "update_function_event_invoke_config", make_update)


def patch_ecr_tag_moves() -> None:
    """A push to a tag another image holds moves the tag, as ECR does.

    On ECR the image that held the tag stays in the repository, untagged (a function deployed
    from it keeps running it; lifecycle rules on untagged images may expire it later). moto's
    ``put_image`` deletes that image instead, so the lab would lose the running image at every
    new push (moto/ecr/models.py, ``ECRBackend.put_image``).
    """
    from moto.ecr.models import ECRBackend

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def put_image(
            self: Any, repository_name: str, image_manifest: str, image_tag: str, *a: Any, **k: Any
        ) -> Any:
            repository = self.repositories.get(repository_name)
            if repository is not None and image_tag:  # an immutable tag refuses, as on ECR
                self._resolve_image_tag_mutability(repository, image_tag)
            for image in repository.images if repository is not None else ():
                if image_tag in image.image_tags and image.image_manifest != image_manifest:
                    image.remove_tag(image_tag)
                    if not image.image_tags:
                        image.image_tag = None
            return original(self, repository_name, image_manifest, image_tag, *a, **k)

        return put_image

    wrap_once(ECRBackend, "put_image", make)


def apply_lab_patches() -> None:
    """Apply every lab-only patch to moto's in-process backends."""
    patch_event_invoke_config()
    patch_ecr_tag_moves()
    patch_lambda_vpc_id()
    patch_lambda_vpc_enis()
    patch_cpu_credits()
    patch_lambda_image_digest()
    from runbook.lab.access_paths import (
        patch_instance_connect_endpoints,
        patch_session_manager_agents,
    )
    from runbook.lab.iam_patches import apply_iam_patches

    patch_instance_connect_endpoints()
    patch_session_manager_agents()
    apply_iam_patches()


# --- Throttling, in front of moto ---------------------------------------------------------------

_RATE = "Rate exceeded"


def throttling_error(request: AwsRequest) -> tuple[str, list[tuple[str, str]], bytes]:
    """AWS's own throttling answer in the request's protocol: status, headers, body."""
    request_id = str(uuid.uuid4())
    ids = [("x-amzn-RequestId", request_id)]
    if request.protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            "<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return "503 Service Unavailable", [("Content-Type", "text/xml"), *ids], body.encode()
    if request.protocol in ("query", "rest-xml"):
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            f"<Message>{_RATE}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return "400 Bad Request", [("Content-Type", "text/xml"), *ids], body.encode()
    if request.protocol == "json":  # also CloudWatch's: botocore speaks JSON to it now
        body = json.dumps({"__type": "ThrottlingException", "message": _RATE}).encode()
        return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"), *ids], body
    # REST-JSON (Lambda, ...): the code travels in a header.
    body = json.dumps({"Type": "User", "message": _RATE, "Reason": "CallerRateLimitExceeded"})
    code = ("x-amzn-ErrorType", "TooManyRequestsException")
    return (
        "429 Too Many Requests",
        [("Content-Type", "application/json"), code, *ids],
        body.encode(),
    )


def throttled_at(index: int, fraction: Fraction) -> bool:
    """Whether the ``index``-th eligible request (from 0) is refused: exactly ``fraction`` of
    them, spread evenly and without chance, so no two in a row are refused while
    ``fraction`` <= 1/2 (a retry always goes through; ``Throttle`` keeps that per call when
    requests are made at once) and every one is at 1."""
    return math.floor((index + 1) * fraction) > math.floor(index * fraction)


class Throttle:
    """WSGI middleware in front of moto: refuses a share of AWS requests as AWS does when
    throttling, so that clients retry exactly as they do against AWS.

    Set at run time by ``POST /lab-api/throttle`` with JSON ``{"fraction": 0.3}`` (that share
    of every signed request) or ``{"operations": ["secretsmanager:GetSecretValue"]}`` (those
    calls always: ``fraction`` defaults to 1 then, and applies among them when given);
    ``{"fraction": 0}`` turns it off. ``GET`` answers the setting and, since it was set, the
    eligible requests seen and those refused. Operations are named as the report names them
    (botocore's ``service:Operation``; ``fnmatch`` patterns such as ``lambda:*`` allowed):
    from ``X-Amz-Target``, ``Action=``, or a REST request's method and path matched against
    botocore's model of the service (its ``requestUri`` templates).
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self._lock = threading.Lock()
        self.fraction = Fraction(0)
        self.operations: tuple[str, ...] = ()
        self.requests = 0
        self.throttled = 0
        self._refused_calls: set[str] = set()  # refused on their last attempt

    def state(self) -> dict[str, Any]:
        return {
            "fraction": float(self.fraction),
            "operations": list(self.operations),
            "requests": self.requests,
            "throttled": self.throttled,
        }

    def configure(self, setting: Any) -> None:
        """Apply a setting (the endpoint's JSON); ValueError says what is wrong with it."""
        if not isinstance(setting, dict) or set(setting) - {"fraction", "operations"}:
            raise ValueError('expected {"fraction": 0..1, "operations": ["service:Operation"]}')
        operations = setting.get("operations", [])
        if not isinstance(operations, list) or not all(
            isinstance(o, str) and ":" in o for o in operations
        ):
            raise ValueError('"operations" must be a list of "service:Operation" names')
        fraction = setting.get("fraction", 1 if operations else 0)
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            raise ValueError('"fraction" must be a number from 0 to 1')
        if not 0 <= fraction <= 1:
            raise ValueError(f'"fraction" must be from 0 to 1, not {fraction}')
        with self._lock:
            self.fraction = Fraction(str(fraction))
            self.operations = tuple(operations)
            self.requests = self.throttled = 0
            self._refused_calls.clear()

    def _refuses(self, request: AwsRequest, call: str | None) -> bool:
        """``call`` is botocore's id of the call (amz-sdk-invocation-id, the same on each of
        its attempts): while ``fraction`` <= 1/2 a call refused on one attempt goes through on
        the next even when other clients' requests came between (reads made at once), as a
        retry does when the calls are made one after the other."""
        if self.operations and not any(fnmatchcase(request.name, p) for p in self.operations):
            return False
        with self._lock:
            index, self.requests = self.requests, self.requests + 1
            if call in self._refused_calls and self.fraction <= Fraction(1, 2):
                self._refused_calls.discard(call)
                return False
            refused = throttled_at(index, self.fraction)
            self.throttled += refused
            if refused and call is not None:
                self._refused_calls.add(call)
        return refused

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == THROTTLE_PATH:
            return self._endpoint(environ, start_response)
        if self.fraction:
            request = identify(environ)
            call = environ.get("HTTP_AMZ_SDK_INVOCATION_ID")
            if request is not None and self._refuses(request, call):
                status, headers, body = throttling_error(request)
                start_response(status, [*headers, ("Content-Length", str(len(body)))])
                return [body]
        return self.app(environ, start_response)

    def _endpoint(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") != "POST":
            return json_answer(start_response, "200 OK", self.state())
        return lab_endpoint(environ, start_response, lambda s: self.configure(s) or self.state())


def json_answer(start_response: Callable[..., Any], status: str, answer: Any) -> list[bytes]:
    body = json.dumps(answer).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def lab_endpoint(
    environ: dict[str, Any], start_response: Callable[..., Any], handle: Callable[[Any], Any]
) -> list[bytes]:
    """A lab-api POST: its JSON body to ``handle``; a ValueError is the client's 400."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        answer = handle(json.loads(environ["wsgi.input"].read(length) or b"{}"))
    except ValueError as error:  # JSONDecodeError is one
        return json_answer(start_response, "400 Bad Request", {"error": str(error)})
    return json_answer(start_response, "200 OK", answer)


def with_operations(app: Callable[..., Any]) -> Callable[..., Any]:
    """``POST /lab-api/operations``: the hourly cycle's past (runbook/lab/past.py)."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == OPERATIONS_PATH:
            from runbook.lab.past import replace_operations

            return lab_endpoint(environ, start_response, replace_operations)
        return app(environ, start_response)

    return serve


def lab_app() -> Callable[..., Any]:
    """moto's WSGI application as its server builds it, behind the lab's throttle, endpoints
    and CloudTrail (what the throttle refuses never reaches AWS, nor its trail)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from runbook.lab.trail import Trail

    return Throttle(with_operations(Trail(DomainDispatcherApplication(create_backend_app))))


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
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from moto.server import ThreadedMotoServer
        from werkzeug.serving import make_server

        apply_lab_patches()
        # Same as POST /moto-api/config; Lambda's must be set before any function exists.
        moto_api_backend.set_config(
            {"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": False}}
        )

        class LabMotoServer(ThreadedMotoServer):
            """moto's server entry with its app behind the lab's throttle (``lab_app``).

            moto's ``start()`` waits forever when the bind fails; record it and go on.
            """

            error: BaseException | None = None

            def _server_entry(self) -> None:
                try:
                    self._server = make_server(
                        self._ip_address,
                        self._port,
                        lab_app(),
                        True,
                        request_handler=MotoRequestHandler,
                    )
                    self._server_ready_event.set()
                    self._server.serve_forever()
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
