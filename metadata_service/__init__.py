"""rtfit metadata service: catalog revisions, model registry, node inventory, selection, flow runs.

`create_app(Settings())` builds the FastAPI app; `rtfit serve` runs it under uvicorn; the client
functions in `metadata_service.client` talk to a running one.
"""

from typing import Any

__all__ = ["Settings", "create_app"]


def create_app(*args, **kwargs):  # noqa: ANN002, ANN003 - lazy: importing the package stays cheap
    from metadata_service.app import create_app as _create_app

    return _create_app(*args, **kwargs)


def __getattr__(name: str) -> Any:
    """`Settings` (pydantic-settings) is imported on first use: the CLI's start-up does not pay for it."""
    if name == "Settings":
        from metadata_service.settings import Settings

        return Settings
    raise AttributeError(f"module 'metadata_service' has no attribute {name!r}")
