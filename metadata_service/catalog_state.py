"""The active catalog of this process: bootstrapped once, stored in the database, cached in memory.

The database holds every revision and which one is active; each worker process keeps the parsed
`Catalog` of the revision it last saw and reloads it from the stored documents when the active
revision changes (so an upload through one worker is picked up by all). Uploads are validated
completely before anything is written; a rejected upload leaves the active revision untouched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import catalog
from catalog import Catalog, CatalogError, CatalogInvalid

from .db import Database
from .errors import CatalogRejected, NotReady
from .storage import catalogs as catalog_store

__all__ = ["CatalogHolder"]

log = logging.getLogger("metadata_service")


class CatalogHolder:
    def __init__(self, db: Database, *, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock
        self._lock = threading.Lock()
        self._current: tuple[str, Catalog] | None = None  # (stored revision, parsed)

    def bootstrap(self, path: Path | None) -> None:
        """Store the bundled (or `path`) catalog as the first revision if none is stored yet.

        An invalid catalog on disk is logged, not raised: the service starts, `/readyz` says 503
        until an admin uploads a valid catalog with `PUT /v1/catalog`.
        """
        with self._db.read_session() as session:
            active = catalog_store.get_active(session)
        if active is not None:
            log.info("catalog revision %s is active (%s)", active.revision[:12], active.source)
            return
        try:
            loaded = catalog.load_catalog(path)
        except CatalogError as e:
            log.error("no catalog stored and the catalog at %s does not load: %s", path or "(bundled)", e)
            return
        source = str(path) if path else "bundled"
        self._store(loaded, source=source)
        log.info("stored the %s catalog as revision %s", source, loaded.revision[:12])

    def adopt(self, path: Path | None) -> bool:
        """`rtfit serve --demo` (`make run`): activate the catalog on disk (bundled, or `path`) when it
        differs from the active revision, so the demo service answers as the CLI of the same checkout
        does. `bootstrap` alone kept the revision stored at the first start: after a `git pull` the
        CLI used the new catalog and the service the old one. True when it switched."""
        with self._db.read_session() as session:
            active = catalog_store.get_active(session)
        try:
            loaded = catalog.load_catalog(path)
        except CatalogError as e:
            log.error("the catalog at %s does not load, the active revision stays: %s", path or "(bundled)", e)
            return False
        if active is not None and active.revision == loaded.revision:
            return False
        source = str(path) if path else "bundled"
        self._store(loaded, source=source)
        log.info("stored the %s catalog as revision %s (it differs from the active revision %s)", source,
                 loaded.revision[:12], active.revision[:12] if active is not None else "-")
        return True

    def upload(self, files: dict[str, Any], *, source: str) -> catalog_store.ActiveCatalog:
        """Validate `files` as a whole catalog and activate it atomically, or raise `CatalogRejected`."""
        documents = catalog_store.json_documents(files)
        try:
            loaded = catalog.load_catalog_from_documents(documents)
        except CatalogInvalid as e:
            problems = [p.to_dict() for p in e.problems]
            raise CatalogRejected(
                f"the uploaded catalog has {len(problems)} problem(s); the active revision is unchanged",
                problems=problems,
            ) from e
        except CatalogError as e:
            raise CatalogRejected(f"the uploaded catalog was refused: {e}", problems=[]) from e
        return self._store(loaded, source=source)

    def _store(self, loaded: Catalog, *, source: str) -> catalog_store.ActiveCatalog:
        documents = catalog_store.json_documents(loaded.to_documents())
        with self._db.write_session() as session:
            active = catalog_store.activate(
                session,
                revision=loaded.revision,
                documents=documents,
                counts=dict(loaded.counts()),
                source=source,
                now=self._clock(),
            )
        with self._lock:
            self._current = (active.revision, loaded)
        return active

    def for_revision(self, revision: str | None, session: Any) -> Catalog:
        """The active catalog when the caller has just read its revision (`storage.revisions`):
        no query when it is the one in memory."""
        if revision is None:
            raise NotReady("no catalog is loaded; an admin must PUT /v1/catalog")
        cached = self._current
        if cached is not None and cached[0] == revision:
            return cached[1]
        return self.current(session)

    def in_memory(self, revision: str | None) -> Catalog | None:
        """The parsed catalog of `revision` if it is the one in memory (no query), else None."""
        cached = self._current
        return cached[1] if cached is not None and revision is not None and cached[0] == revision else None

    def current(self, session: Any = None) -> Catalog:
        """The active catalog, reloaded from the database if another process switched it.

        `session`: an open read session to use (a request that reads other state too saves a
        round trip); otherwise one is opened here.
        """
        if session is None:
            with self._db.read_session() as own:
                return self.current(own)
        active = catalog_store.get_active(session)
        if active is None:
            raise NotReady("no catalog is loaded; an admin must PUT /v1/catalog")
        cached = self._current
        if cached is not None and cached[0] == active.revision:
            return cached[1]
        found = catalog_store.get_active_documents(session)
        with self._lock:
            if self._current is not None and found is not None and self._current[0] == found[0]:
                return self._current[1]
            if found is None:
                raise NotReady("no catalog is loaded; an admin must PUT /v1/catalog")
            try:
                loaded = catalog.load_catalog_from_documents(found[1])
            except CatalogError as e:
                raise NotReady(f"the stored catalog revision {found[0][:12]} no longer loads: {e}") from e
            if loaded.revision != found[0]:
                log.warning(
                    "stored catalog %s reloads as revision %s (catalog code changed?)", found[0][:12], loaded.revision[:12]
                )
            self._current = (found[0], loaded)
            return loaded

    def active_revision(self) -> str:
        """The active revision string (from the database; no parse)."""
        with self._db.read_session() as session:
            active = catalog_store.get_active(session)
        if active is None:
            raise NotReady("no catalog is loaded; an admin must PUT /v1/catalog")
        return active.revision
