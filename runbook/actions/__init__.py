"""Perform: the fixes for failing checks, applied through a writable session."""
