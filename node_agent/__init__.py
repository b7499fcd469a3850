"""rtfit: node_agent package."""
