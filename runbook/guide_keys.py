"""The keys of a guided walk: one place for the prompt and for ``guide --help``."""

from __future__ import annotations

from typing import Literal

Answer = Literal["apply", "done", "skip", "details", "quit"]

KEYS: dict[Answer, str] = {
    "apply": "a",
    "done": "d",
    "skip": "s",
    "details": "i",
    "quit": "q",
}
HELP = (
    "keys at each step (then Enter): a apply the plan (perform, then verify); d done by hand "
    "(verify; what cannot be verified is attested by you); s skip the step; i details "
    "(evidence, expected and actual, where in the console); q quit (run guide again to go on "
    "where you stopped). Ctrl-C stops at once; the journal keeps everything so far."
)
