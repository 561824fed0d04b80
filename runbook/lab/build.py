"""Build the lab with the project's own perform mode, in the passes a person would take.

Perform walks the guide's sections in order; between passes the lab plays the parts of
the AWS services and the person (see world.py): Cloud9 after the VPC exists, the image
push before the function is created, the Lambda ENIs once the function is in the VPC.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from runbook.aws.session import AwsSession, open_session
from runbook.findings import Status
from runbook.lab import control, history, world
from runbook.profile import Profile
from runbook.registry import checks_in_guide_order
from runbook.run import Run

BEFORE_ACCESS = ("costs", "iam", "vpc", "security_groups", "database_ec2", "database_aurora")


def lab_environment(url: str) -> dict[str, str]:
    """What a process needs to talk to the lab through boto3's standard settings."""
    return {"AWS_ACCESS_KEY_ID": "lab", "AWS_SECRET_ACCESS_KEY": "lab", "AWS_ENDPOINT_URL": url}


def lab_hand(profile: Profile) -> AwsSession:
    """The session of the lab's own hand: it plays AWS's services and breaks things."""
    return open_session(profile.region, writable=True, may_delete=True)


# What the deployment did, not how it is built: the lab seeds it (runbook/lab/history.py).
NOT_BUILT = ("operations",)


def perform(run: Run, sections: Iterable[str] | None = None) -> list[str]:
    """Perform every check of the given sections (default: all that are built) in guide
    order; the checks still failing. A check perform can only describe a manual step for
    (MySQL installed on the host, ...) is left to the verify after: the build cannot act on it."""
    from runbook.actions.base import only_manual
    from runbook.actions.executor import load_fixers

    load_fixers()
    wanted = set(sections) if sections is not None else None
    failing = []
    for check in checks_in_guide_order():
        selected = check.section not in NOT_BUILT if wanted is None else check.section in wanted
        if (
            selected
            and not only_manual(check.id)
            and run.check(check).status
            in (
                Status.FAIL,
                Status.ERROR,
            )
        ):
            failing.append(check.id)
    return failing


def verify(profile: Profile, *, start_database: bool = False) -> Run:
    """A fresh read-only run over every check, as pytest's steps would run them."""
    run = Run(profile, start_database=start_database)
    try:
        run.prefetch(checks_in_guide_order())
        run.learn_secret()
        for check in checks_in_guide_order():
            run.check(check)
    finally:
        run.close()
    return run


def build(profile: Profile, url: str, *, reset: bool = True) -> Run:
    """Reset the lab's moto server, build the profile's deployment into it and give it a day
    of healthy operation (runbook/lab/history.py). Without
    ``reset`` the build goes on from what is there: an interrupted build, run again."""
    os.environ.update(lab_environment(url))
    os.environ.update(world.secret_environment())
    if reset:
        control.reset(url)
        # Before any function exists: moto drops the functions made before this setting.
        control.set_config(url, {"lambda": {"use_docker": False}})
    # The database instance is stopped between runs: perform starts it for the work inside
    # MySQL, and stops it again when the build is done.
    run = Run(profile, mode="perform", start_database=True)
    try:
        _build(run, profile)
    finally:
        run.close()
    # A database this run found running (a killed build started it) is not the run's to stop.
    run.inventory.invalidate()
    world.database_stopped(open_session(profile.region, writable=True), run.inventory, profile)
    history.seed(lab_hand(profile), url, profile)
    return run


def empty(profile: Profile, url: str, state_dir: Path) -> None:
    """The lab with nothing deployed: moto wiped, the notifier's databases and MySQL user
    gone from the lab's MariaDB (its administrator stays: the guide's MySQL install made it)."""
    from runbook.lab import hosts

    os.environ.update(lab_environment(url))
    control.reset(url)
    control.set_config(url, {"lambda": {"use_docker": False}})
    user = profile.database.mysql_user_host
    name = world.LAB_SECRET_VALUES["mysql_username"]
    hosts.admin_sql(
        state_dir,
        *(f"DROP DATABASE IF EXISTS `{db}`" for db in profile.database.mysql_databases),
        f"DROP USER IF EXISTS '{name}'@'{user}'",
    )


def _build(run: Run, profile: Profile) -> None:
    people = open_session(profile.region, writable=True)
    perform(run, BEFORE_ACCESS)
    run.inventory.invalidate()
    if profile.variants.access_host == "cloud9":
        world.cloud9_environment(people, run.inventory, profile)
    if profile.variants.packaging == "image":
        world.push_image(people, run.inventory, profile)
    run.inventory.invalidate()
    perform(run)
    run.inventory.invalidate()
    world.lambda_enis(people, run.inventory, profile)
    if profile.variants.egress == "nat-instance":
        world.nat_instance(people, run.inventory, profile)
    run.inventory.invalidate()
    perform(run)
