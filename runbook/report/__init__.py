"""The section-health report: model, writers, and the pytest plugin that drives them."""
