"""Loads the runbook's pytest plugin (options, run, report) and its step definitions."""

pytest_plugins = ["runbook.report.plugin", "steps.checks"]
