"""The egress probe's code, run by a throw-away function in the notifier's subnets and security
groups: it fetches its own public IP over HTTPS, the way the notifier reaches Wikidot and Gmail.

Standard library only and one file: ``runbook/aws/probe.py`` zips it as it is at run time.
"""

from __future__ import annotations

import ipaddress
import ssl
import urllib.error
import urllib.request
from typing import Any

DEFAULT_URL = "https://checkip.amazonaws.com"  # the profile's probe.url, which the caller sends
DEFAULT_TIMEOUT_S = 10.0
# Straight out, as the notifier connects: a proxy from the environment would hide the egress IP.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``{"ip": ...}``, the address the URL saw the request come from; else ``{"error": ...}``,
    with ``"unreachable": True`` when no answer came at all (no way out to the internet)."""
    url = event.get("url") or DEFAULT_URL
    timeout = float(event.get("timeout_s") or DEFAULT_TIMEOUT_S)
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            text = response.read(100).decode("ascii", "replace").strip()
    except urllib.error.HTTPError as exc:  # an answer came: the way out works, the IP is unknown
        return {"error": f"{url} answered HTTP {exc.code} {exc.reason}"}
    except urllib.error.URLError as exc:
        if not isinstance(exc.reason, ssl.SSLCertVerificationError):
            return {"error": f"{url}: {type(exc).__name__}: {exc}"[:300], "unreachable": True}
        # something answered, not with the URL's certificate (a proxy that intercepts TLS?)
        return {"error": f"{url}: its TLS certificate was not accepted: {exc.reason}"[:300]}
    except OSError as exc:  # refused, no route, DNS, TLS, time-out
        return {"error": f"{url}: {type(exc).__name__}: {exc}"[:300], "unreachable": True}
    except ValueError as exc:  # not a URL urllib can open
        return {"error": f"{url}: {exc}"[:300]}
    try:
        return {"ip": str(ipaddress.ip_address(text))}
    except ValueError:
        return {"error": f"{url} answered {text[:60]!r}, not an IP address"}
