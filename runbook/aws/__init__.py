"""AWS access: the guarded session and the inventory collected through it."""
