"""Explain: failure sets, the conflict core and sentences, verified suggestions."""
