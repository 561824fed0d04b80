"""Before any check: does AWS answer, and does it accept the run's credentials?

Without this, missing credentials or a dead endpoint end every check in *error*, one line per
check. One ``sts:GetCallerIdentity`` (a read the verify guard allows, needing no permission)
through the run's own session, so it has exactly the profile's time-outs and attempts and
appears in the call log like any other call.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConfigParseError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import ConnectionError as EndpointError
from botocore.parsers import ResponseParserError

from runbook.aws.collected import CREDENTIALS_REFUSED, error_code
from runbook.aws.session import AwsSession
from runbook.errors import CouldNotCheck, UsageError

SET_CREDENTIALS = "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"


def preflight_deadline(session: AwsSession, run_s: float) -> float:
    """How long the preflight may take in all: every attempt's connect and read, not more
    than the whole run may."""
    per_attempt = session.connect_timeout + session.read_timeout
    return min(run_s, per_attempt * session.max_attempts)


def aws_identity(session: AwsSession, deadline_s: float | None = None) -> str:
    """The ARN the run acts as, within ``deadline_s`` of wall-clock time (botocore's read
    time-out is per socket read, so an endpoint answering one byte at a time, or a
    ``credential_process`` that hangs, would hold the run for ever). On the deadline the
    question is abandoned (the daemon thread dies with the process) and the run stops."""
    deadline_s = preflight_deadline(session, 1e9) if deadline_s is None else deadline_s
    answer: dict[str, Any] = {}

    def ask() -> None:
        try:
            answer["arn"] = _identity(session)
        except BaseException as exc:  # handed to the caller's thread
            answer["error"] = exc

    worker = threading.Thread(target=ask, name="preflight", daemon=True)
    worker.start()
    worker.join(deadline_s)
    if worker.is_alive():
        raise CouldNotCheck(
            f"sts:GetCallerIdentity: no complete answer within {deadline_s:g} s (an endpoint "
            "that trickles, or a credential_process that hangs): check AWS_ENDPOINT_URL, the "
            "network and the credentials; [timeouts] bound the wait"
        )
    if "error" in answer:
        raise answer["error"]
    return str(answer["arn"])


def _identity(session: AwsSession) -> str:
    """The ARN the run acts as.

    Raises UsageError (exit 4) when the credentials are missing, unknown or rejected, and
    CouldNotCheck (exit 2) when the endpoint cannot be reached in the profile's bounds; each
    message is one line with the cause and the variable or key to fix, never a secret.
    """
    try:
        return str(session.client("sts").get_caller_identity()["Arn"])
    except ValueError as exc:  # botocore's "Invalid endpoint: ..." for a malformed URL
        raise UsageError(
            f"{exc}: set AWS_ENDPOINT_URL to a URL (http://host:port), or unset it for AWS"
        ) from None
    except ClientError as exc:
        code = error_code(exc)
        if code in CREDENTIALS_REFUSED:
            raise UsageError(
                f"AWS rejected the run's credentials ({code}): {SET_CREDENTIALS} "
                "(and AWS_SESSION_TOKEN for temporary ones) to valid, current credentials"
            ) from None
        raise CouldNotCheck(
            f"sts:GetCallerIdentity failed ({code}): check the account and AWS_ENDPOINT_URL"
        ) from None
    except ProfileNotFound as exc:
        raise UsageError(
            f"AWS profile {exc.kwargs.get('profile')!r} is not in the AWS config files "
            "(AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE): set AWS_PROFILE to one that "
            "`aws configure list-profiles` shows"
        ) from None
    except NoCredentialsError:
        raise UsageError(f"no AWS credentials found: {SET_CREDENTIALS}") from None
    except PartialCredentialsError as exc:
        raise UsageError(
            f"incomplete AWS credentials (missing {exc.kwargs.get('cred_var')}): {SET_CREDENTIALS}"
        ) from None
    except (ResponseParserError, KeyError, TypeError) as exc:  # not STS's answer
        raise CouldNotCheck(
            "sts:GetCallerIdentity: the endpoint's answer is not AWS's ("
            + _first_line(exc)
            + "): check that AWS_ENDPOINT_URL points at AWS or the lab"
        ) from None
    except (EndpointError, HTTPClientError) as exc:
        raise CouldNotCheck(
            f"{exc}: check AWS_ENDPOINT_URL and the network (the profile's [timeouts] bound "
            f"the wait: connect_s = {session.connect_timeout:g}, read_s = "
            f"{session.read_timeout:g}, max_attempts = {session.max_attempts})"
        ) from None
    except ConfigParseError as exc:
        raise UsageError(
            f"cannot parse the AWS config file {exc.kwargs.get('path')}: fix it, or set "
            "AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE to well-formed files"
        ) from None
    except BotoCoreError as exc:  # SSO, credential_process...
        if type(exc).__name__.startswith("Invalid") and "Config" in type(exc).__name__:
            # a setting's value (AWS_STS_REGIONAL_ENDPOINTS, AWS_RETRY_MODE, ...): botocore's
            # own words name the setting and its valid values
            raise UsageError(
                f"an AWS setting is invalid ({_first_line(exc)}): fix it in the environment "
                "or the AWS config file"
            ) from None
        raise UsageError(
            f"AWS credentials could not be loaded ({type(exc).__name__}): fix the "
            "configuration AWS_PROFILE names (or `aws sso login`)"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    cause = text[0] if text else type(exc).__name__
    return (
        f"{type(exc).__name__}: {cause[:160]}" if not isinstance(exc, KeyError) else f"no {cause}"
    )
