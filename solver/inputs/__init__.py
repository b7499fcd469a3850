"""Inputs: parse and freeze what the caller gives (request, inventory, policy)."""
