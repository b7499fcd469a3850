"""Indexes: per-revision precomputed views shared by every selection (cached-set best runtimes)."""
