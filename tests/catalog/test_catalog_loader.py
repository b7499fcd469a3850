"""Loader and validation: a valid catalog loads; every kind of breakage is named precisely."""

from __future__ import annotations

import pytest
from packaging.version import Version

from catalog import CatalogInvalid, load_catalog, load_catalog_from_documents
from tests.catalog.conftest import write_catalog


def problems_of(docs) -> list[tuple[str, str, str, str]]:
    with pytest.raises(CatalogInvalid) as info:
        load_catalog_from_documents(docs)
    return [(p.file, p.record, p.field, p.message) for p in info.value.problems]


def test_mini_catalog_loads_with_revision_and_counts(mini_docs):
    cat = load_catalog_from_documents(mini_docs)
    assert len(cat.revision) == 64
    assert cat.counts()["gpus"] == 2
    assert cat.counts()["framework_builds"] == 2  # 2.4.0 and 2.4.1, one variant each
    assert cat.gpu("t4").name == "Tesla T4"
    assert cat.gpu("nvidia l4").cc == Version("8.9")
    assert cat.native_min_driver(Version("12.4"))[0] == Version("550.54.14")
    assert cat.driver_max_cuda(Version("545.23.08"))[0] == Version("12.2")  # unknown R545 -> older known R535
    assert cat.cudnn_release(Version("9.1.0.70")).id == "cudnn.9.1.0"


def test_revision_changes_with_content_only(mini_docs):
    a = load_catalog_from_documents(mini_docs)
    b = load_catalog_from_documents(dict(reversed(list(mini_docs.items()))))
    assert a.revision == b.revision
    mini_docs["drivers.yaml"]["driver_branches"][0]["max_cuda"] = "12.1"
    mini_docs["cuda.yaml"]["cuda_toolkits"][0]["label"] = "12.0 GA (edited)"
    assert load_catalog_from_documents(mini_docs).revision != a.revision


def test_bad_version_names_file_record_field(mini_docs):
    mini_docs["cuda.yaml"]["cuda_toolkits"][1]["min_driver"] = "535.x.03"
    assert ("cuda.yaml", "cuda.12.2.0", "min_driver") in [p[:3] for p in problems_of(mini_docs)]


def test_unquoted_number_version_is_refused(mini_docs):
    mini_docs["drivers.yaml"]["driver_branches"][0]["max_cuda"] = 12.1
    found = problems_of(mini_docs)
    assert any(p[:3] == ("drivers.yaml", "branch.r525", "max_cuda") and "quoted" in p[3] for p in found)


def test_missing_source_and_dangling_source_reference(mini_docs):
    del mini_docs["gpus.yaml"]["gpus"][0]["source"]
    mini_docs["gpus.yaml"]["gpus"][1]["source"] = ["no_such_doc"]
    found = problems_of(mini_docs)
    assert ("gpus.yaml", "gpu.l4", "source", "is required") in found
    assert any(p[:3] == ("gpus.yaml", "gpu.t4", "source") and "no_such_doc" in p[3] for p in found)


def test_every_problem_is_reported_at_once(mini_docs):
    mini_docs["cuda.yaml"]["cuda_toolkits"][0]["min_driver"] = "bad"
    mini_docs["gpus.yaml"]["gpus"][0]["cc"] = "8.7"            # no architecture record
    mini_docs["pytorch.yaml"]["framework_releases"][0]["builds"][0]["bundled"]["cudnn"] = "8.9.2.26"
    mini_docs["python.yaml"]["python"].append({"id": "python.3.10", "version": "3.10", "source": ["rn"]})
    found = {p[:3] for p in problems_of(mini_docs)}
    assert {("cuda.yaml", "cuda.12.0.0", "min_driver"), ("gpus.yaml", "gpu.l4", "cc"),
            ("pytorch.yaml", "pytorch.2.4", "builds[0].bundled.cudnn"), ("python.yaml", "python.3.10", "id")} <= found


def test_unknown_field_and_section_are_typos(mini_docs):
    mini_docs["drivers.yaml"]["driver_branches"][0]["max_cdua"] = "12.0"
    mini_docs["drivers.yaml"]["driver_brances"] = []
    found = {p[:3] for p in problems_of(mini_docs)}
    assert ("drivers.yaml", "branch.r525", "max_cdua") in found
    assert ("drivers.yaml", "", "driver_brances") in found


def test_unsatisfiable_ranges(mini_docs):
    rel = mini_docs["pytorch.yaml"]["framework_releases"][0]
    rel["python"] = ">=3.13,<3.12"
    mini_docs["cudnn.yaml"]["cudnn"][0]["builds"].append({"cuda": ">=11.0,<12"})
    found = {p[:3] for p in problems_of(mini_docs)}
    assert ("pytorch.yaml", "pytorch.2.4", "python") in found
    assert ("cudnn.yaml", "cudnn.9.1.0", "builds[1].cuda") in found


def test_contradictions_between_records(mini_docs):
    build = mini_docs["pytorch.yaml"]["framework_releases"][0]["builds"][0]
    build["bundled"]["cuda"] = "12.2"              # label says cu124
    build["sass"] = ["7.5", "8.0", "9.9"]          # unknown arch
    mini_docs["cuda.yaml"]["cuda_toolkits"].append(
        {"id": "cuda.12.6.0", "version": "12.6.0", "label": "12.6 GA", "min_driver": "550.1", "source": ["rn"]})
    found = problems_of(mini_docs)
    fields = {p[:3] for p in found}
    assert ("pytorch.yaml", "pytorch.2.4", "builds[0].variant") in fields
    assert ("pytorch.yaml", "pytorch.2.4", "builds[0].sass") in fields
    # a toolkit whose minimum driver's branch cannot run it
    assert any(p[1] == "cuda.12.6.0" and "R550" in p[3] for p in found)


def test_build_needing_cuda_no_driver_supports(mini_docs):
    mini_docs["cuda.yaml"]["cuda_toolkits"].append(
        {"id": "cuda.12.8.0", "version": "12.8.0", "label": "12.8 GA", "min_driver": "570.26", "source": ["rn"]})
    build = mini_docs["pytorch.yaml"]["framework_releases"][0]["builds"][0]
    build.update({"variant": "cu128", "bundled": {"cuda": "12.8", "cudnn": "9.1.0.70"}})
    found = problems_of(mini_docs)
    assert any(p[2] == "builds[0].bundled.cuda" and "no driver branch supports" in p[3] for p in found)


def test_folder_loading_and_yaml_refusals(tmp_path, mini_docs):
    folder = write_catalog(tmp_path / "cat", mini_docs)
    assert load_catalog(folder).revision == load_catalog_from_documents(mini_docs).revision
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i-1}'] * 10)}]" for i in range(1, 9)]
    (folder / "evil.yaml").write_text("\n".join(bomb) + "\n")
    (folder / "loop.yaml").write_text("a: &x [1, *x]\n")
    (folder / "tags.yaml").write_text("sources: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(CatalogInvalid) as info:
        load_catalog(folder)
    by_file = {p.file: p.message for p in info.value.problems}
    assert "anchor bomb" in by_file["evil.yaml"]
    assert "recursive" in by_file["loop.yaml"]
    assert "line 1" in by_file["tags.yaml"]


def test_upload_must_be_named_yaml_files(mini_docs):
    mini_docs["notes.txt"] = {}
    assert ("notes.txt", "", "", "file name must end in .yaml") in problems_of(mini_docs)
