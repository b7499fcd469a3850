"""rtfit: metadata_service package."""
