"""Storage functions: keyword-only, session first, and the only place that commits.

One module per concept (catalogs, models, nodes, selections, flows). Routes call these and never
touch a session themselves; every function either commits its whole change or raises.
"""

from __future__ import annotations

__all__ = ["catalogs", "flows", "models", "nodes", "selections"]
