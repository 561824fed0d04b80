"""Adding secrets to Secrets Manager. Only the secret's shape is ever seen here."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from checks import lookup as L
from checks.policy import allows, names_any, outsiders, statements
from runbook.findings import Outcome, absent, failed, judged
from runbook.profile import SECRET_KEYS, Profile
from runbook.redact import digest
from runbook.registry import check

if TYPE_CHECKING:
    from runbook.aws.inventory import Inventory

READ = "secretsmanager:GetSecretValue"


@check(
    id="secret_holds_exactly_the_five_keys",
    section="secrets",
    says="the secret holds exactly the five keys, each a non-empty string",
    guide="create the secret WikidotNotifier/auth with wikidot_password, gmail_password, "
    "mysql_host, mysql_username and mysql_password",
    severity="high",
    risk="the notifier reads these five values at every run: one missing or empty and it fails",
)
def secret_keys(inv: Inventory, p: Profile) -> Outcome:
    secret = inv.secret(p.secret.name)
    if secret is None:
        return absent("secret", p.secret.name)
    if secret.get("DeletedDate"):
        return failed(
            "the secret is scheduled for deletion",
            expected="a live secret",
            actual=f"deleted on {secret['DeletedDate']}",
        )
    shape = inv.secret_shape(p.secret.name)
    if shape is None or not shape["is_json_object"]:
        return failed(
            "the secret's value is not a JSON object",
            expected="a JSON object",
            actual="not a JSON object",
        )
    keys = shape["keys"]
    bad = sorted(k for k, v in keys.items() if v["type"] != "str" or v["empty"])
    actual = {"keys": sorted(keys), "empty_or_not_string": bad}
    expected = {"keys": sorted(SECRET_KEYS), "empty_or_not_string": []}
    return judged(
        actual == expected,
        "secret keys (values never read into the report)",
        expected=expected,
        actual=actual,
    )


@check(
    id="secret_mysql_host_is_the_database",
    section="secrets",
    says="the secret's mysql_host is the database's private address",
    guide="mysql_host: the EC2 instance's internal IP (or the Aurora cluster's hostname)",
    severity="high",
    risk="the notifier connects to another host than its database",
)
def mysql_host(inv: Inventory, p: Profile) -> Outcome:
    shape = inv.secret_shape(p.secret.name)
    if shape is None or "mysql_host" not in shape.get("digests", {}):
        return failed("the secret has no mysql_host", expected="mysql_host", actual=None)
    if p.variants.aurora:
        cluster = inv.db_cluster(p.database.cluster)
        address = cluster.get("Endpoint") if cluster else None
        what = "the cluster endpoint"
    else:
        inst = L.db_instance(inv, p)
        address = inst.get("PrivateIpAddress") if inst else None
        what = "the instance's private IP"
    if address is None:
        return failed(f"{what} is unknown: the database does not exist", expected=what, actual=None)
    ok = shape["digests"]["mysql_host"] == digest(address)
    return judged(
        ok,
        f"mysql_host compared with {what} {address}",
        expected=address,
        actual="the same address" if ok else "a different value (not shown)",
    )


@check(
    id="secret_resource_policy_admits_only_the_account",
    section="secrets",
    says="the secret's own resource policy admits no one beyond the account and denies the "
    "function nothing",
    guide="the guide gives the secret no resource policy: access is the Lambda role's "
    "WikidotNotifierLambdaAccessToAuthSecret policy",
    severity="critical",
    risk="another account, or anyone, may read the notifier's passwords; or the function may not",
)
def secret_resource_policy(inv: Inventory, p: Profile) -> Outcome:
    inv.ahead(lambda: inv.secret_resource_policy(p.secret.name))
    secret = inv.secret(p.secret.name)
    if secret is None:
        return absent("secret", p.secret.name)
    document = inv.secret_resource_policy(p.secret.name) or {}
    account = secret["ARN"].split(":")[4]
    cfg = L.function_config(inv, p)
    role = (cfg or {}).get("Role")
    denying, unjudged = [], []
    # A Deny names the function's role by its ARN, its account, or anyone (or by leaving it
    # out of a NotPrincipal list).
    the_role = {p for p in (role, account, f"arn:aws:iam::{account}:root") if p}
    for st in statements(document):
        if st.get("Effect") != "Deny" or not names_any(st, the_role):
            continue
        if not allows([{"Statement": [{**st, "Effect": "Allow"}]}], READ, secret["ARN"]):
            continue
        (unjudged if st.get("Condition") else denying).append(st.get("Sid") or json.dumps(st)[:80])
    actual = {"outsiders": outsiders(document, account), "denies_the_function": denying}
    return judged(
        actual == {"outsiders": [], "denies_the_function": []},
        "no resource policy" if not document else f"resource policy: {actual}",
        expected={"outsiders": [], "denies_the_function": []},
        actual=actual,
        evidence={"ResourcePolicy": document or None},
        advisories=tuple(
            f"a Deny with a condition in the secret's policy was not evaluated: {s}"
            for s in unjudged
        ),
    )
