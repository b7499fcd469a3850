"""Rules: the selection rules (one definition each), their pair form and vectorised verdicts."""
