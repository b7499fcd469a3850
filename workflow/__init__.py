"""rtfit: workflow package."""
