"""Executable runbook for the notifier's AWS deployment guide."""

__version__ = "0.1.0"
