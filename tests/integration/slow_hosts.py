"""A pytest plugin for one test: the host scenarios take long enough to be interrupted."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    if item.get_closest_marker("hosts"):
        time.sleep(60)
    return result
