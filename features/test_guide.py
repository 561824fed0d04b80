"""Binds every feature file to pytest (the only place scenarios are bound)."""

from pytest_bdd import scenarios

scenarios(".")
