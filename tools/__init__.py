"""Operator tools that run outside Pulumi (they use components/, nothing uses them)."""
