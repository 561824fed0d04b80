"""Lambda and its image repository (ECR)."""

from __future__ import annotations

import json
from typing import Any

from runbook.aws.collected import collected


class FunctionsCollector:
    session: Any
    _cache: dict[str, Any]

    @property
    def _lambda(self) -> Any:
        return self.session.client("lambda")

    @collected("lambda", absent=("ResourceNotFoundException",), reads=("GetFunction",))
    def function(self, name: str) -> dict[str, Any] | None:
        got = self._lambda.get_function(FunctionName=name)
        return _without_secrets(
            {k: got[k] for k in ("Configuration", "Code", "Concurrency", "Tags") if k in got}
        )

    def function_concurrency(self, name: str) -> int | None:
        """The reserved concurrency, as GetFunction answers it (``Concurrency``, when one is
        reserved): no call of its own."""
        got = self.function(name) or {}
        return got.get("Concurrency", {}).get("ReservedConcurrentExecutions")

    @collected(
        "lambda", absent=("ResourceNotFoundException",), reads=("GetFunctionEventInvokeConfig",)
    )
    def event_invoke_config(self, name: str) -> dict[str, Any] | None:
        got = self._lambda.get_function_event_invoke_config(FunctionName=name)
        got.pop("ResponseMetadata", None)
        return got

    @collected("lambda", absent=("ResourceNotFoundException",), reads=("GetPolicy",))
    def function_policy(self, name: str) -> dict[str, Any] | None:
        got = self._lambda.get_policy(FunctionName=name)
        return json.loads(got["Policy"])

    @collected("lambda", reads=("ListEventSourceMappings",))
    def event_source_mappings(self, name: str) -> list[dict[str, Any]]:
        """What else invokes the function: queues, streams, ... (the guide has none)."""
        pages = self._lambda.get_paginator("list_event_source_mappings").paginate(FunctionName=name)
        return [
            {k: m.get(k) for k in ("UUID", "EventSourceArn", "State")}
            for page in pages
            for m in page.get("EventSourceMappings", [])
        ]

    @collected("lambda", absent=("ResourceNotFoundException",), reads=("GetFunctionUrlConfig",))
    def function_url(self, name: str) -> dict[str, Any] | None:
        """The function's URL, if it has one: who may call it over HTTPS (``AuthType``)."""
        got = self._lambda.get_function_url_config(FunctionName=name)
        return {k: got.get(k) for k in ("FunctionUrl", "AuthType")}

    @collected("lambda", absent=("ResourceNotFoundException",), reads=("GetFunctionConfiguration",))
    def function_version(self, name: str, qualifier: str) -> dict[str, Any] | None:
        """The code a version or alias runs (what a caller naming it gets)."""
        got = self._lambda.get_function_configuration(FunctionName=name, Qualifier=qualifier)
        return {k: got.get(k) for k in ("FunctionArn", "Version", "CodeSha256", "PackageType")}

    @collected("ecr", absent=("RepositoryNotFoundException",), reads=("DescribeRepositories",))
    def repository(self, name: str) -> dict[str, Any] | None:
        repos = self.session.client("ecr").describe_repositories(repositoryNames=[name])
        return repos["repositories"][0]

    @collected(
        "ecr",
        absent=("ImageNotFoundException", "RepositoryNotFoundException"),
        reads=("DescribeImages",),
    )
    def image_digest(self, repository: str, tag: str) -> str | None:
        found = self.image_detail(repository, tag)
        return found["imageDigest"] if found else None

    @collected(
        "ecr",
        absent=("ImageNotFoundException", "RepositoryNotFoundException"),
        reads=("DescribeImages",),
    )
    def image_detail(self, repository: str, image: str) -> dict[str, Any] | None:
        """One image by tag or by digest (``sha256:...``): its digest, tags, push date and
        manifest media type (an image index is not something Lambda runs)."""
        wanted = {"imageDigest" if image.startswith("sha256:") else "imageTag": image}
        got = self.session.client("ecr").describe_images(
            repositoryName=repository, imageIds=[wanted]
        )
        details = got.get("imageDetails", [])
        if not details:
            return None
        keep = ("imageDigest", "imageTags", "imagePushedAt", "imageManifestMediaType")
        out = {k: details[0].get(k) for k in keep}
        out["imagePushedAt"] = str(out["imagePushedAt"]) if out["imagePushedAt"] else None
        return out

    @collected("ecr", reads=("DescribeImages",))
    def repository_images(self, repository: str) -> list[dict[str, Any]]:
        """Every image of the repository with its tags and push date: what a lifecycle rule
        counts when it keeps the newest N."""
        pages = self.session.client("ecr").get_paginator("describe_images")
        return [
            {
                "imageDigest": d["imageDigest"],
                "imageTags": d.get("imageTags", []),
                "imagePushedAt": str(d.get("imagePushedAt")),
            }
            for page in pages.paginate(repositoryName=repository)
            for d in page.get("imageDetails", [])
        ]

    @collected(
        "ecr",
        absent=("LifecyclePolicyNotFoundException", "RepositoryNotFoundException"),
        reads=("GetLifecyclePolicy",),
    )
    def lifecycle_policy(self, repository: str) -> dict[str, Any] | None:
        """The repository's lifecycle policy (which images ECR expires), None without one."""
        got = self.session.client("ecr").get_lifecycle_policy(repositoryName=repository)
        return json.loads(got["lifecyclePolicyText"])


def _without_secrets(function: dict[str, Any]) -> dict[str, Any]:
    """Environment values often hold credentials and Code.Location is a presigned URL: keep
    the variable names only, and drop the URL, before anything can store or print them."""
    config = function.get("Configuration", {})
    variables = (config.get("Environment") or {}).get("Variables")
    if variables:
        config["Environment"] = {"Variables": dict.fromkeys(variables, "<redacted>")}
    function.get("Code", {}).pop("Location", None)
    return function
