"""The collection cache: absence is a fact (None), any other AWS error a cached could-not-check."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from runbook.aws.collected import CollectionError, SharedReads, classify, collected


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "GetThing")


class Collector:
    session = object()

    def __init__(self, code: str) -> None:
        self._cache: dict[str, Any] = {}
        self.code = code
        self.calls = 0

    @collected("lambda", absent=("ResourceNotFoundException",))
    def thing(self, name: str) -> dict[str, Any] | None:
        self.calls += 1
        raise _error(self.code)


def test_an_absent_resource_is_none_and_asked_once() -> None:
    c = Collector("ResourceNotFoundException")
    assert c.thing("x") is None
    assert c.thing("x") is None
    assert c.calls == 1


@pytest.mark.parametrize(
    ("code", "kind"), [("AccessDeniedException", "access-denied"), ("Boom", "aws-error")]
)
def test_other_errors_are_cached_could_not_check(code: str, kind: str) -> None:
    c = Collector(code)
    for _ in range(2):
        with pytest.raises(CollectionError) as got:
            c.thing("x")
        assert got.value.kind == kind
    assert c.calls == 1
    if kind == "access-denied":
        assert got.value.permission == "lambda:GetThing"


MOTO_REST_DENIAL = (
    '<?xml version="1.0" encoding="utf-8"?>\n<ErrorResponse><Errors><Error><Code>AccessDenied'
    "</Code><Message>User: arn:aws:iam::123456789012:user/checker is not authorized to perform:"
    " lambda:GetPolicy</Message></Error></Errors></ErrorResponse>"
)


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        ("403", MOTO_REST_DENIAL, "access-denied"),
        (
            "403",
            MOTO_REST_DENIAL.replace("AccessDenied", "SignatureDoesNotMatch"),
            "credentials-refused",
        ),
        ("AuthFailure", "m", "credentials-refused"),
        ("InvalidClientTokenId", "m", "credentials-refused"),
        ("UnauthorizedOperation", "m", "access-denied"),
    ],
)
def test_denials_and_refused_credentials_are_told_apart(code: str, message: str, kind: str) -> None:
    error = classify(
        "lambda", ClientError({"Error": {"Code": code, "Message": message}}, "GetPolicy")
    )
    assert error.kind == kind
    assert ("lambda:GetPolicy" in str(error)) and (error.permission is not None) == (
        kind == "access-denied"
    )


class Deployment:
    """A fleet's deployment: its own cache, the account's shared reads."""

    session = object()

    def __init__(self, shared: SharedReads, answers: list[str | None]) -> None:
        self._cache: dict[str, Any] = {}
        self.shared = shared
        self.answers = answers  # the account's answers in turn: an error code, or None (data)
        self.calls = 0

    @collected("logs")
    def lines(self, group: str) -> list[str]:
        self.calls += 1
        code = self.answers.pop(0)
        if code:
            raise _error(code)
        return [f"read by {id(self)}"]


@pytest.mark.parametrize(
    ("first", "shared_kind"),
    [("ThrottlingException", None), ("AccessDeniedException", "access-denied"), (None, "data")],
)
def test_a_fleets_deployments_share_answers_but_not_failures_that_may_pass(
    first: str | None, shared_kind: str | None
) -> None:
    shared, answers = SharedReads(), [first, None]
    one, two = Deployment(shared, answers), Deployment(shared, answers)
    got_one: Any
    try:
        got_one = one.lines("g")
    except CollectionError as exc:
        got_one = exc.kind
    got_two: Any
    try:
        got_two = two.lines("g")
    except CollectionError as exc:
        got_two = exc.kind
    if shared_kind is None:  # throttled for the first: the second asks again and gets the data
        assert got_one == "throttled" and two.calls == 1 and isinstance(got_two, list)
    else:  # a fact or data: asked once for both
        assert got_two == got_one and two.calls == 0
    assert one.calls == 1
