"""rtfit: solver package."""
