"""The TOML files a person hands the product (profiles, waivers): read and parsed with every
failure as one UsageError line naming the file, never a hang or a traceback."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from runbook.errors import UsageError

MAX_BYTES = 1024 * 1024  # far larger than any profile or waivers file


def read_toml(path: Path, what: str, option: str) -> dict[str, Any]:
    """``path``'s TOML, where ``what`` names the file for the person and ``option`` is how they
    give another. Not a regular file (a FIFO would block the read for ever) or far too large
    is refused before reading; nesting deep enough to recurse is refused after."""
    try:
        if path.exists() and not path.is_file():
            raise UsageError(f"{path}: not a regular file; pass {option} with a TOML file")
        if path.exists() and path.stat().st_size > MAX_BYTES:
            raise UsageError(
                f"{path}: {path.stat().st_size} bytes, not a {what} (at most "
                f"{MAX_BYTES // 1024} KiB)"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"{path}: {what} not found (pass {option} with an existing file)"
        ) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except ValueError:  # a NUL in the path: no file can be named so
        raise UsageError(f"{str(path)!r}: not a file name (it holds a NUL byte)") from None
    try:
        # A byte-order mark (Notepad's "UTF-8 with BOM") is not TOML, but not a mistake either.
        return tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply to be a {what}") from None
