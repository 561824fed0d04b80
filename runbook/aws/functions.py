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

    @collected("lambda", reads=("GetFunctionConcurrency",))
    def function_concurrency(self, name: str) -> int | None:
        got = self._lambda.get_function_concurrency(FunctionName=name)
        return got.get("ReservedConcurrentExecutions")

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
        got = self.session.client("ecr").describe_images(
            repositoryName=repository, imageIds=[{"imageTag": tag}]
        )
        details = got.get("imageDetails", [])
        return details[0]["imageDigest"] if details else None


def _without_secrets(function: dict[str, Any]) -> dict[str, Any]:
    """Environment values often hold credentials and Code.Location is a presigned URL: keep
    the variable names only, and drop the URL, before anything can store or print them."""
    config = function.get("Configuration", {})
    variables = (config.get("Environment") or {}).get("Variables")
    if variables:
        config["Environment"] = {"Variables": dict.fromkeys(variables, "<redacted>")}
    function.get("Code", {}).pop("Location", None)
    return function
