"""The builder's long work does not stall the event loop, and `where` views outlive a round of clusters.

- `_background_work` (around a warm-up): the cyclic collector is off while it runs, so no full
  collection of the heap (200-250 ms holding the GIL, measured) lands on a heartbeat mid-warm-up;
  the switch interval is lowered; both are restored after, and nothing is frozen.
- The builder's warm-up runs inside it.
- `SCOPES`: 100 clusters asked round-robin keep their views (64 missed every time).
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

from fastapi.testclient import TestClient

from metadata_service import selection
from metadata_service.schemas import Where

from .conftest import Tokens, node_entry
from .test_service_index_warm import _register, _wait_warm


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_background_work_keeps_the_collector_off_then_restores_it() -> None:
    switch = sys.getswitchinterval()
    frozen = gc.get_freeze_count()
    collections: list[int] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        with selection._background_work():
            assert not gc.isenabled()
            assert sys.getswitchinterval() <= selection.WARM_SWITCH_S
            kept = [_Cycle() for _ in range(200_000)]   # far past every generation's threshold
        assert 2 not in collections     # no full collection while it ran (another thread's explicit
                                        # gc.collect(0) may still run: the collector's state is global)
        assert gc.isenabled()
        assert sys.getswitchinterval() == switch
        assert gc.get_freeze_count() < frozen + len(kept)   # nothing frozen (frozen objects may be freed meanwhile)
        assert len(kept) == 200_000
    finally:
        gc.callbacks.remove(seen)


def test_the_builder_warms_inside_background_work(make_client: Any, tokens: Tokens, monkeypatch: Any) -> None:
    entered: list[bool] = []
    real = selection._background_work

    def recorded() -> Any:
        entered.append(True)
        return real()

    monkeypatch.setattr(selection, "_background_work", recorded)
    client: TestClient = make_client()
    _wait_warm(client)                       # the start's own warm-up (no nodes yet) is over
    entered.clear()
    _register(client, tokens, "n0")          # a new target: the builder warms it, nobody asking
    _wait_warm(client)
    assert entered                            # that warm-up ran with the collector off


def test_a_hundred_clusters_asked_in_turn_keep_their_views() -> None:
    import solver
    from catalog import load_catalog

    cat = load_catalog()
    entries = [node_entry(f"n{i:03d}", cluster=f"c{i:03d}") for i in range(100)]
    index = solver.CatalogIndex(cat)
    fleet = solver.FleetIndex(index, solver.parse_inventory({"nodes": entries}))
    state = selection._Indexes(cat, index, 1, entries, fleet)
    first = [state.scoped(Where(cluster=f"c{i:03d}")) for i in range(100)]
    again = [state.scoped(Where(cluster=f"c{i:03d}")) for i in range(100)]
    assert all(a is b for a, b in zip(first, again, strict=True))   # no view made twice


def test_closing_the_app_ends_its_builder_thread(db_url: str, tokens: Tokens, tmp_path: Any,
                                                monkeypatch: Any) -> None:
    """A closed app's builder thread has ended when the lifespan returns: a warm-up that went on
    (and froze the heap) after its app shut down would land in whatever runs next (it made a
    memory test of the solver fail when run after the service tests)."""
    import threading

    import solver
    from metadata_service.app import create_app
    from metadata_service.settings import Settings

    entered = threading.Event()
    real = solver.CatalogIndex.warm

    def slow_warm(self: Any, *args: Any, **kwargs: Any) -> Any:   # a warm-up busy when the app closes
        entered.set()
        time.sleep(1.5)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(solver.CatalogIndex, "warm", slow_warm)
    client = TestClient(create_app(Settings(database_url=db_url, data_dir=tmp_path / "d", tokens_file=tokens.path)))
    with client:
        _register(client, tokens, "n0")
        assert entered.wait(60), "no warm-up started"
        thread = client.app.state.rtfit.selection._builder._thread
        assert thread is not None
    assert not thread.is_alive()
