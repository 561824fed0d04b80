"""notifier-runbook: the lab, the demo, and pytest runs of the runbook.

``verify`` and ``perform`` are pytest runs of the feature files (the same as typing
``pytest --profile ... --mode ...``); ``lab`` manages the local lab; ``demo`` is the whole
story on one machine: lab up, build it with perform, verify it, report, lab down.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

from runbook.errors import CouldNotCheck, ExitStatus, UsageError
from runbook.fleet_cli import add_fleet_options, cmd_merge
from runbook.guide_keys import HELP as HELP_KEYS
from runbook.lab.control import LabError
from runbook.options import DEFAULT_PROFILE, RUN_OPTIONS
from runbook.redact import install_log_redaction

ROOT = Path(__file__).resolve().parent.parent
LAB_PROFILE = ROOT / "profiles" / "lab.toml"


FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _pytest(args: list[str], env: dict[str, str] | None = None) -> int:
    """pytest as a child in its own process group, each INT, TERM or HUP this process gets
    forwarded to it once, and waited for: the child stops a database it started and writes
    its report (Ctrl-C reaches the terminal's foreground group, this process alone)."""
    cmd = [sys.executable, "-m", "pytest", *args]
    child = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, process_group=0)

    def forward(signum: int, frame: object) -> None:
        child.send_signal(signum)

    before = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    try:
        code = child.wait()
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    return code if code >= 0 else 128 - code


def cmd_run(ns: argparse.Namespace, extra: list[str]) -> int:
    from runbook.fleet_cli import cmd_fleet, refusal

    why = refusal(ns, extra)
    if why:
        raise UsageError(why)
    if ns.fleet:
        return cmd_fleet(ns)
    # pytest runs in the checkout: a profile given here is found from where the user is, and
    # "--profile=" keeps pytest from taking a file outside the checkout for a test path (it
    # would then lose the checkout's pytest.ini and conftest.py).
    args = ["--mode", ns.command]
    if ns.profile:
        ns.profile = str(Path(ns.profile).absolute())
    if ns.reports_dir:
        ns.reports_dir = str(Path(ns.reports_dir).absolute())
    for option in RUN_OPTIONS:
        args += option.as_pytest_args(getattr(ns, option.dest, None))
    if ns.section:
        args += ["-m", ns.section]
    return _pytest(args + extra)


def lab_up(lab_dir: Path, profile_path: Path, *, empty: bool = False) -> tuple[str, list[str]]:
    """Start the lab's moto server, build the profile's deployment in it, and give it a
    day of healthy operation; ``empty``: the servers only, without any deployment (what a
    guided walk starts from)."""
    from runbook.lab import build, control, hosts
    from runbook.profile import load_profile

    profile = load_profile(profile_path)
    url = control.start(lab_dir)
    os.environ.update(hosts.start(lab_dir, load_profile(LAB_PROFILE)))
    if empty:
        build.empty(profile, url, lab_dir)
        return url, []
    run = build.build(profile, url)
    still = [cid for cid, f in run.findings.items() if f.status in ("fail", "error")]
    return url, still


def cmd_lab(ns: argparse.Namespace, extra: list[str]) -> int:
    from runbook.lab import control, hosts
    from runbook.lab.build import lab_environment

    lab_dir = Path(ns.lab_dir)
    if ns.action == "down":
        hosts.stop(lab_dir)
        stopped = control.stop(lab_dir)
        print("lab stopped" if stopped else "no lab was running")
        return 0
    url, still = lab_up(lab_dir, Path(ns.profile), empty=ns.empty)
    built = "empty: no deployment yet" if ns.empty else f"built from {ns.profile}"
    print(f"lab up at {url} ({built})")
    if still:
        print(f"not built: {', '.join(still)}")
    print("use it with (verify, perform and guide then use the lab's profile):")
    exports = {
        **lab_environment(url),
        **hosts.environment(lab_dir),
        "RUNBOOK_PROFILE": str(Path(ns.profile).absolute()),
    }
    for k, v in exports.items():
        if k == "RUNBOOK_MYSQL_ADMIN_PASSWORD":  # a secret: point at it, never print it
            v = f'"$(cat {hosts.folder(lab_dir) / "admin-password"})"'
        print(f"  export {k}={v}")
    # the values perform stores in the notifier's secret (the lab's canaries): from a file
    print(f"  set -a; . {secret_values_file(lab_dir)}; set +a")
    return 0 if not still else int(ExitStatus.UNHEALTHY)


def secret_values_file(lab_dir: Path) -> Path:
    """The RUNBOOK_SECRET_* values perform reads to create the lab's secret, as a file only
    its owner reads (a person's shell sources it; they are never printed)."""
    from runbook.lab.hosts import folder
    from runbook.lab.world import secret_environment

    path = folder(lab_dir) / "secret.env"
    path.touch(mode=0o600)
    path.write_text("".join(f"{k}={v}\n" for k, v in secret_environment().items()))
    return path


def cmd_demo(ns: argparse.Namespace, extra: list[str]) -> int:
    from runbook.lab import control, hosts
    from runbook.lab.build import lab_environment

    lab_dir = Path(ns.lab_dir)
    page, began = ROOT / "reports" / "report.html", time.time()
    try:
        print("== lab: starting moto and building the deployment with perform ==", flush=True)
        url, still = lab_up(lab_dir, LAB_PROFILE)
        if still:
            print(f"lab build left failing: {', '.join(still)}", flush=True)
        print("== verify: the runbook against the lab ==", flush=True)
        return _pytest(
            ["--profile", str(LAB_PROFILE), "--start-database", *extra],
            env={**lab_environment(url), **hosts.environment(lab_dir)},
        )
    finally:
        hosts.stop(lab_dir)
        control.stop(lab_dir)
        written = page.exists() and page.stat().st_mtime >= began  # by this demo's run
        opened = f"; open the report: {page}" if written else ""
        print(f"== lab stopped{opened} ==")


def cmd_guide(ns: argparse.Namespace, extra: list[str]) -> int:
    """Walk the guide step by step: verify first, do on approval, journal everything."""
    from runbook.guided import Guide, untimed
    from runbook.guided_ui import TerminalUI
    from runbook.journal import Journal, read, stamp
    from runbook.preflight import aws_identity, preflight_deadline
    from runbook.profile import load_profile
    from runbook.report.files import write_atomic
    from runbook.report.transcript import markdown
    from runbook.run import Run

    chosen = ns.profile or os.environ.get("RUNBOOK_PROFILE") or ROOT / DEFAULT_PROFILE
    profile = untimed(load_profile(chosen))
    run = Run(profile, start_database=ns.start_database)
    who = aws_identity(run.session, preflight_deadline(run.session, 60.0))
    run.identify(who)
    run.learn_secret()
    reports = Path(ns.reports_dir)
    journal = Journal(reports / "guide" / f"{stamp()}.jsonl")
    for signum in (signal.SIGTERM, signal.SIGHUP):  # a closed terminal ends it as Ctrl-C does
        signal.signal(signum, _interrupted)
    ui = TerminalUI()
    run.progress = ui.progress  # each AWS action as perform applies it
    walk = Guide(run, ui, journal, yes=ns.yes, identity=who, break_lease=ns.break_lease)
    try:
        if ns.plan_only:
            return int(walk.plan_only(Path(ns.plan_only)))
        if ns.approve:
            return int(walk.approve(Path(ns.approve)))
        return int(walk.walk())
    except UsageError as exc:  # a plan refused: the journal says so too
        journal.write("end", verdict="refused", why=str(exc), stopped_at=None)
        raise
    except KeyboardInterrupt:
        print(f"\ninterrupted: run `notifier-runbook guide` again to go on ({journal.path})")
        return int(ExitStatus.UNHEALTHY)
    finally:
        run.close()
        journal.close()
        write_atomic(reports / "guide.md", markdown(read(journal.path)))


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_checks(ns: argparse.Namespace, extra: list[str]) -> int:
    from runbook.registry import checks_in_guide_order, checks_markdown

    if ns.markdown:
        print(checks_markdown(), end="")
        return 0
    for c in checks_in_guide_order():
        print(f"{c.section:20} {c.severity:8} {c.id:58} {c.says}")
    return 0


def cmd_discover(ns: argparse.Namespace, extra: list[str]) -> int:
    """Write the profile of an existing deployment from one anchor, then verify it."""
    from runbook.aws.collected import CollectionError
    from runbook.aws.inventory import Inventory
    from runbook.aws.session import open_session
    from runbook.discover import discover
    from runbook.preflight import aws_identity, preflight_deadline
    from runbook.profile import load_profile
    from runbook.profile_writer import profile_text

    out = Path(ns.out)
    if out.exists() and not ns.force:
        raise UsageError(f"{out} exists: pass --force to replace it, or another --out")
    if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        raise UsageError(f"{out.parent}: not a writable folder; pass another --out")
    base = load_profile(ns.base or os.environ.get("RUNBOOK_PROFILE") or ROOT / DEFAULT_PROFILE)
    region = ns.region or base.region
    t = base.timeouts
    session = open_session(
        region, connect_timeout=t.connect_s, read_timeout=t.read_s, max_attempts=t.max_attempts
    )
    who = aws_identity(session, preflight_deadline(session, t.run_s))
    inv = Inventory(session)
    if region != base.region:
        data = base.model_dump(by_alias=True, exclude_unset=True)
        data["deployment"] = {**data.get("deployment", {}), "region": region}
        base = base.model_validate(data).model_copy(update={"source": base.source})
    try:
        found = discover(
            inv, base, function=ns.function, rule=ns.rule, state_machine=ns.state_machine
        )
    except CollectionError as exc:
        raise CouldNotCheck(f"discover: {exc}") from None
    found.found("deployment.region", region, "--region" if ns.region else "the base profile's")
    account = who.split(":")[4] if who.count(":") >= 5 else "?"
    header = [
        f"Written by notifier-runbook discover from {found.anchor} ({region}, account "
        f"{account}), read-only.",
        "Names are the deployment's, found through AWS's relationships; values only the guide",
        f"can say (runtime, memory, schedule, ...) are {base.source}'s. docs/profile.md lists",
        "every key.",
    ]
    text = profile_text(base, found, header)
    temporary = out.with_name(f".{out.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        load_profile(temporary)  # what discover writes must load: a defect here is ours
        temporary.replace(out)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the profile ({exc.strerror})") from None
    finally:
        temporary.unlink(missing_ok=True)
    print(f"discover: from {found.anchor} in {region} as {who}, read-only")
    for key, (value, where) in found.values.items():
        shown = ", ".join(s["name"] for s in value) if key == "vpc.subnets" else value
        print(f"  {key:32} {shown}  ({where})")
    if found.followed:
        print("followed at every run (written as comments):")
        for key, (value, where) in found.followed.items():
            print(f"  {key:32} {value}  ({where})")
    if found.unknown:
        print("could not infer:")
        for line in found.unknown:
            print(f"  - {line}")
    print(f"wrote {out} ({sum(session.log.calls.values())} AWS calls, all reads)")
    if ns.no_verify:
        return 0
    print(f"verifying it: notifier-runbook verify --profile {out}")
    args = ["--mode", "verify", f"--profile={out.absolute()}"]
    if ns.start_database:
        args.append("--start-database")
    if ns.reports_dir:
        args.append(f"--reports-dir={Path(ns.reports_dir).absolute()}")
    return _pytest(args + extra)


def cmd_keys(ns: argparse.Namespace, extra: list[str]) -> int:
    from runbook.profile_keys import KEYS, markdown, model_keys

    if ns.markdown:
        print(markdown(), end="")
        return 0
    defaults = model_keys()
    for key, (_, by, meaning) in KEYS.items():
        print(f"{key:38} {by:8} {defaults[key]!r:32.32} {meaning}")
    return 0


def cmd_policy(ns: argparse.Namespace, extra: list[str]) -> int:
    """The IAM policy the checking principal needs for this profile (verify, read-only)."""
    from runbook.aws.policy import policy_json
    from runbook.profile import load_profile

    profile = ns.profile or os.environ.get("RUNBOOK_PROFILE") or ROOT / DEFAULT_PROFILE
    policy = policy_json(load_profile(profile), start_database=ns.start_database, blame=ns.blame)
    print(policy, end="")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad invocation is one line and the documented usage-error status."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            int(ExitStatus.USAGE_ERROR),
            f"usage error: {self.prog}: {message} (see {self.prog} --help)\n",
        )


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="notifier-runbook", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("verify", "check the deployment, read-only (pytest run)"),
        ("perform", "fix what fails, then verify (pytest run)"),
    ):
        p = sub.add_parser(
            name,
            help=help_,
            epilog="pytest's own options go after --, e.g. -- -vv --log-level=DEBUG",
        )
        p.add_argument("-m", dest="section", help="sections (markers), e.g. 'vpc or trigger'")
        for option in RUN_OPTIONS:  # unset unless given: pytest applies the defaults
            if name == "perform" or not option.perform_only:
                p.add_argument(option.flag, help=option.help, **{**option.kwargs, "default": None})
        add_fleet_options(p)
        p.set_defaults(fn=cmd_run)
    merge = sub.add_parser(
        "merge", help="join the fleet summaries of a fleet's shards (verify --fleet --shard K/N)"
    )
    merge.add_argument("folders", nargs="+", metavar="DIR", help="a shard's --reports-dir")
    merge.add_argument(
        "--reports-dir", default="reports", help="where fleet.json and fleet.html go"
    )
    merge.set_defaults(fn=cmd_merge)
    lab = sub.add_parser("lab", help="start (and build) or stop the local lab")
    lab.add_argument("action", choices=("up", "down"))
    lab.add_argument("--lab-dir", default=".lab")
    lab.add_argument("--profile", default=str(LAB_PROFILE))
    lab.add_argument(
        "--empty",
        action="store_true",
        help="with up: the lab's servers without the deployment (a guided walk starts here)",
    )
    lab.set_defaults(fn=cmd_lab)
    demo = sub.add_parser("demo", help="lab up, build with perform, verify, report, lab down")
    demo.add_argument("--lab-dir", default=".lab")
    demo.set_defaults(fn=cmd_demo)
    guide = sub.add_parser(
        "guide",
        help="walk the guide step by step: verify first, do each step on approval, resume anywhere",
        epilog=HELP_KEYS,
    )
    guide.add_argument("--profile", help="default: $RUNBOOK_PROFILE, then profiles/notifier.toml")
    guide.add_argument(
        "--yes",
        action="store_true",
        help="apply every plan without asking; a manual step must already hold, else the "
        "walk stops (exit 1) naming it",
    )
    approval = guide.add_mutually_exclusive_group()
    approval.add_argument(
        "--plan-only",
        metavar="FILE",
        help="write what the walk would do (each unhealthy step's plan and AWS calls) to FILE "
        "for someone to approve; change nothing",
    )
    approval.add_argument(
        "--approve",
        metavar="FILE",
        help="apply exactly the plan in FILE (perform's steps; manual ones are left), or "
        "refuse in one line if the deployment changed so that the plan would differ",
    )
    guide.add_argument(
        "--start-database",
        action="store_true",
        help="start a stopped database instance for the host checks, and stop it after",
    )
    guide.add_argument(
        "--break-lease",
        action="store_true",
        help="take perform's lease from a holder that is gone (a killed walk or perform)",
    )
    guide.add_argument(
        "--reports-dir",
        default="reports",
        help="the journal goes to <dir>/guide/<time>.jsonl, the transcript to <dir>/guide.md",
    )
    guide.set_defaults(fn=cmd_guide)
    checks = sub.add_parser("checks", help="list every check in guide order")
    checks.add_argument(
        "--markdown",
        action="store_true",
        help="the table of docs/checks.md, with each severity's why",
    )
    checks.set_defaults(fn=cmd_checks)
    disc = sub.add_parser(
        "discover",
        help="write the profile of an existing deployment from its function, then verify it",
    )
    disc.add_argument("--out", required=True, help="the profile to write (TOML)")
    anchor = disc.add_mutually_exclusive_group()
    anchor.add_argument(
        "--function",
        help="the anchor: the notifier's function (default: the base profile's lambda.function)",
    )
    anchor.add_argument("--rule", help="anchor on the EventBridge rule instead")
    anchor.add_argument("--state-machine", help="anchor on the state machine instead")
    disc.add_argument(
        "--base",
        help="the profile whose values are kept (default $RUNBOOK_PROFILE, then "
        f"{DEFAULT_PROFILE}; e.g. profiles/notifier-current.toml)",
    )
    disc.add_argument("--region", help="default: the base profile's")
    disc.add_argument("--force", action="store_true", help="replace --out if it exists")
    disc.add_argument("--no-verify", action="store_true", help="write the profile only")
    disc.add_argument(
        "--start-database",
        action="store_true",
        help="the verify starts the database for the host checks and stops it again",
    )
    disc.add_argument("--reports-dir", help="where the verify writes its reports")
    disc.set_defaults(fn=cmd_discover)
    keys = sub.add_parser("keys", help="list every profile key: default, guide step, reader")
    keys.add_argument("--markdown", action="store_true", help="docs/profile.md")
    keys.set_defaults(fn=cmd_keys)
    policy = sub.add_parser("policy", help="print the checker's least-privilege IAM policy")
    policy.add_argument("--profile", help="default: $RUNBOOK_PROFILE, then profiles/notifier.toml")
    policy.add_argument(
        "--no-start-database",
        dest="start_database",
        action="store_false",
        help="for runs without --start-database (the nightly one): no start/stop statement",
    )
    policy.add_argument(
        "--blame",
        action="store_true",
        help="for runs with --blame: CloudTrail's LookupEvents (who changed a failing resource)",
    )
    policy.set_defaults(fn=cmd_policy)
    return top


def main(argv: list[str] | None = None) -> int:
    install_log_redaction(dict(os.environ))
    argv = sys.argv[1:] if argv is None else argv
    # After "--": pytest's own options, for verify and perform (e.g. -vv, --log-level=DEBUG).
    cut = argv.index("--") if "--" in argv else len(argv)
    ours, extra = argv[:cut], argv[cut + 1 :]
    ns, unknown = parser().parse_known_args(ours)
    try:
        if unknown:
            raise UsageError(
                f"notifier-runbook {ns.command}: unknown option {unknown[0]!r} (see "
                f"notifier-runbook {ns.command} --help; pytest's own options go after --)"
            )
        if extra and ns.fn not in (cmd_run, cmd_discover):
            raise UsageError(
                f"notifier-runbook {ns.command}: '--' passes pytest's options to verify, "
                "perform and discover's verify only"
            )
        code = ns.fn(ns, extra)
        sys.stdout.flush()  # a write that fails fails here, not in the interpreter's exit
        return code
    except BrokenPipeError:  # `notifier-runbook checks | head`: the reader had enough
        _stdout_to_devnull()
        return 0
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            print(f"error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
            return int(ExitStatus.COULD_NOT_CHECK)
        # output to a full disk (`> /dev/full`), a file that cannot be made
        where = exc.filename or "standard output"
        if exc.filename is None:
            _stdout_to_devnull()  # what is left in its buffer would fail again at exit
        print(f"could not write {where}: {exc.strerror or exc}", file=sys.stderr)
        return int(ExitStatus.COULD_NOT_CHECK)
    except UsageError as exc:
        print(f"usage error: {exc}", file=sys.stderr)
        return int(ExitStatus.USAGE_ERROR)
    except CouldNotCheck as exc:
        print(f"could not check: {exc}", file=sys.stderr)
        return int(ExitStatus.COULD_NOT_CHECK)
    except LabError as exc:
        print(f"lab error: {exc}", file=sys.stderr)
        return int(ExitStatus.COULD_NOT_CHECK)
    except KeyboardInterrupt:
        return int(ExitStatus.COULD_NOT_CHECK)


# What a write that cannot be made fails with: no space, no quota, too large, an I/O error,
# a read-only file system, no permission.
WRITE_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EFBIG,
    errno.EIO,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
}


def _stdout_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
