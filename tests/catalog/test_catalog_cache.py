"""The compiled catalog cache: hits skip the YAML, any changed byte rebuilds, failures never cache."""

from __future__ import annotations

import os
import stat

import pytest
import yaml

import catalog.loader as loader
from catalog import CatalogInvalid, load_catalog
from catalog.cache import cache_key

from .conftest import write_catalog


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("RTFIT_CACHE_DIR", str(d))
    return d


def _count_parses(monkeypatch) -> list[int]:
    calls = [0]
    real = loader.read_documents

    def counting(path):
        calls[0] += 1
        return real(path)

    monkeypatch.setattr(loader, "read_documents", counting)
    return calls


def test_second_load_comes_from_the_cache_and_is_the_same_catalog(tmp_path, mini_docs, cache, monkeypatch):
    folder = write_catalog(tmp_path / "cat", mini_docs)
    calls = _count_parses(monkeypatch)
    first = load_catalog(folder)
    second = load_catalog(folder)
    assert calls[0] == 1
    assert len(list(cache.glob("catalog-*.pickle"))) == 1
    assert second is not first and second.revision == first.revision
    assert [g.name for g in second.gpus] == [g.name for g in first.gpus]
    assert [str(b.min_driver) for b in second.cuda_toolkits] == [str(b.min_driver) for b in first.cuda_toolkits]
    assert second.gpu(first.gpus[0].name) is not None  # indexes survive


def test_a_changed_file_is_parsed_again(tmp_path, mini_docs, cache, monkeypatch):
    folder = write_catalog(tmp_path / "cat", mini_docs)
    calls = _count_parses(monkeypatch)
    before = load_catalog(folder)
    key = cache_key(folder)
    mini_docs["cuda.yaml"]["cuda_toolkits"][0]["label"] = "12.0 GA (edited)"
    write_catalog(folder, mini_docs)
    assert cache_key(folder) != key
    after = load_catalog(folder)
    assert calls[0] == 2 and after.revision != before.revision
    assert after.record("cuda.12.0.0").label == "12.0 GA (edited)"


def test_an_invalid_catalog_is_never_cached(tmp_path, mini_docs, cache, monkeypatch):
    mini_docs["cuda.yaml"]["cuda_toolkits"][0]["min_driver"] = 525
    folder = write_catalog(tmp_path / "cat", mini_docs)
    for _ in range(2):
        with pytest.raises(CatalogInvalid):
            load_catalog(folder)
    assert not list(cache.glob("catalog-*.pickle")) if cache.exists() else True


def test_a_read_only_cache_folder_still_loads(tmp_path, mini_docs, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv("RTFIT_CACHE_DIR", str(ro / "rtfit"))
    folder = write_catalog(tmp_path / "cat", mini_docs)
    try:
        assert load_catalog(folder).gpus
        if os.geteuid() != 0:
            assert not (ro / "rtfit").exists()
    finally:
        ro.chmod(stat.S_IRWXU)


def test_a_corrupt_entry_is_a_miss(tmp_path, mini_docs, cache):
    folder = write_catalog(tmp_path / "cat", mini_docs)
    load_catalog(folder)
    (entry,) = cache.glob("catalog-*.pickle")
    entry.write_bytes(b"not a pickle")
    assert load_catalog(folder).gpus


def test_cache_off(tmp_path, mini_docs, monkeypatch):
    monkeypatch.setenv("RTFIT_CACHE_DIR", "off")
    calls = _count_parses(monkeypatch)
    folder = write_catalog(tmp_path / "cat", mini_docs)
    load_catalog(folder)
    load_catalog(folder)
    assert calls[0] == 2


def test_the_bundled_catalog_round_trips(cache):
    a = load_catalog()
    b = load_catalog()
    assert yaml.safe_dump(dict(a.documents)) == yaml.safe_dump(dict(b.documents))
    assert a.counts() == b.counts()
