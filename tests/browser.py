"""Pages opened as a person opens them: Debian's headless chromium, with no network at all."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium")
# No network at all: every connection goes to a proxy on a closed loopback port, every name
# resolves to nothing.
OFFLINE = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]


def browse(page: Path, query: str = "", *, screenshot: Path | None = None) -> str:
    """The DOM after the page's script ran, as headless chromium renders it."""
    assert CHROMIUM, "chromium is not installed: run `make setup` (scripts/lab-packages.sh)"
    shot = [f"--screenshot={screenshot}", "--window-size=1200,1600"] if screenshot else []
    what = shot or ["--dump-dom"]
    url = f"{page.as_uri()}{query}"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *OFFLINE, *what, url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout
