"""Engines: direct evaluation (fast), CP-SAT single selection (+ its model), batch placement."""
