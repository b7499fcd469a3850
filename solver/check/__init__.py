"""Check: the independent validator (executable spec) and the brute-force reference."""
