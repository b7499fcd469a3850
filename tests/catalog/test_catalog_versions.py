"""Property tests for version and range handling (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from catalog import load_catalog
from catalog.compat import binary_path
from catalog.model import FrameworkBuild
from catalog.versions import (
    DriverVersion,
    cuda_from_variant,
    is_prefix,
    parse_driver,
    parse_spec,
    same_series,
    series,
    spec_allows,
)

nums = st.integers(min_value=0, max_value=999)
releases = st.lists(nums, min_size=1, max_size=4)


def v(parts: list[int]) -> Version:
    return Version(".".join(map(str, parts)))


@given(releases, releases)
def test_prefix_is_consistent_with_release_tuples(a, b):
    assert is_prefix(v(a), v(a + b))
    if is_prefix(v(a), v(b)):
        assert len(a) <= len(b) and tuple(b[: len(a)]) == tuple(a)


@given(releases)
def test_series_pads_and_truncates(parts):
    s = series(v(parts))
    assert len(s) == 2
    assert s[0] == parts[0]
    assert same_series(v(parts), v(list(s)))


@given(st.integers(1, 13), st.integers(0, 9))
def test_cuda_variant_round_trip(major, minor):
    assert cuda_from_variant(f"cu{major}{minor}") == Version(f"{major}.{minor}")


@given(releases, releases)
def test_lower_and_upper_bounds(lo, x):
    spec = parse_spec(f">={v(lo)}")
    assert spec_allows(spec, v(x)) == (v(x) >= v(lo))
    spec = parse_spec(f"<{v(lo)}")
    assert spec_allows(spec, v(x)) == (v(x) < v(lo))


@given(releases)
def test_bare_version_means_equality(parts):
    assert spec_allows(parse_spec(str(v(parts))), v(parts))
    assert not spec_allows(parse_spec(str(v(parts))), v([*parts[:-1], parts[-1] + 1]))


@given(st.integers(400, 700), st.integers(0, 200), st.integers(0, 99))
def test_driver_versions_keep_their_spelling_and_order(major, minor, patch):
    text = f"{major}.{minor}.{patch:02d}"
    d = parse_driver(text)
    assert str(d) == text
    assert d == Version(text) and hash(d) == hash(Version(text))
    assert (d < DriverVersion(f"{major + 1}.0")) is True


ccs = st.sampled_from(["3.7", "5.0", "6.0", "6.1", "7.0", "7.2", "7.5", "8.0", "8.6", "8.7", "8.9", "9.0",
                       "10.0", "10.3", "11.0", "12.0", "12.1"]).map(Version)


@given(st.lists(ccs, max_size=5), st.lists(ccs, max_size=2), ccs)
def test_binary_compatibility_rules(sass, ptx, cc):
    build = FrameworkBuild(variant="cu128", platforms=("x86_64",), sass=tuple(sass), ptx=tuple(ptx))
    path = binary_path(build, cc)
    same_major_older = any(s.major == cc.major and s <= cc for s in sass)
    jit = any(p <= cc for p in ptx)
    assert (path == "sass") == same_major_older
    assert (path == "ptx") == (not same_major_older and jit)
    assert (path is None) == (not same_major_older and not jit)


def test_arbitrary_equality_compares_a_label_as_a_version_local_part_included() -> None:
    """`===2.0.0+nv23.05` is the label `rtfit catalog list` prints for NVIDIA's JetPack 5 wheel;
    packaging normalises the version to 2.0.0+nv23.5, so a string comparison refused the build
    the user named."""
    assert spec_allows(parse_spec("===2.0.0+nv23.05"), Version("2.0.0+nv23.05"))
    assert not spec_allows(parse_spec("===2.0.0+nv23.05"), Version("2.0.0"))
    assert not spec_allows(parse_spec("===2.0.0"), Version("2.0.0+nv23.05"))
    assert spec_allows(parse_spec("===2.0.0"), Version("2.0.0"))
    assert not spec_allows(parse_spec("===2.0.0+nv23.05, <2"), Version("2.0.0+nv23.05"))


def test_find_build_takes_a_label_with_a_leading_zero() -> None:
    """`rtfit catalog why pytorch 2.0.0+nv23.05 Orin` said "no pytorch build 2.0.0+nv23.05"."""
    cat = load_catalog()
    ref = cat.find_build("pytorch", "2.0.0+nv23.05")
    assert ref is not None and ref.label == "2.0.0+nv23.05"
    assert cat.find_build("pytorch", "2.0.0+nv23.5") == ref
