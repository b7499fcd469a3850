"""rtfit metadata service: catalog revisions, model registry, node inventory, selection, flow runs.

`create_app(Settings())` builds the FastAPI app; `rtfit serve` runs it under uvicorn; the client
functions in `metadata_service.client` talk to a running one.
"""

from metadata_service.settings import Settings

__all__ = ["Settings", "create_app"]


def create_app(*args, **kwargs):  # noqa: ANN002, ANN003 - lazy: importing the package stays cheap
    from metadata_service.app import create_app as _create_app

    return _create_app(*args, **kwargs)
