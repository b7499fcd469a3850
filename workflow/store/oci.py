"""Components as OCI images: build, push to and stage from an OCI (Docker v2) registry.

A staged component `<kind>/<version>` ships as an ordinary OCI image with one gzip layer whose
root is the component folder (its `manifest.json` included). So the same image serves two paths:

- a Kubernetes ImageVolume mounts it read-only at `<mount_root>/<kind>/<version>` (the layer root
  is the component root, so the composed PATH / LD_LIBRARY_PATH / PYTHONPATH are valid there);
- `rtfit store pull REF` stages it into a node's store: it streams the layer, checks the blob
  digest and size against the registry manifest while unpacking, then checks the unpacked
  folder's content digest against the component manifest carried in the image annotation
  `io.rtfit.component.manifest`, and only then publishes the folder (atomically, as every stage).

Image references are `<prefix>/<kind>:<tag>`, `tag` = the version with characters a tag cannot
hold replaced by '_' (`2.13.0+cpu` -> `2.13.0_cpu`); the Kubernetes backend uses the same
function, so pod specs name exactly the images pushed here. Layers are deterministic (sorted
entries, owner 0:0, mtime 0, gzip without a timestamp): pushing the same component twice yields
the same digests.

The registry client speaks the distribution API over HTTP(S) without authentication (a node's
local or site registry); `http://` is used for loopback hosts and when `insecure=True`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import stat
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from workflow.errors import StageFailed, StoreError
from workflow.store.layout import Component, RuntimeStore
from workflow.store.manifest import MANIFEST_NAME, ComponentEnv, Manifest
from workflow.store.stage import _Staging

__all__ = [
    "ANNOTATION_MANIFEST",
    "MEDIA_CONFIG",
    "MEDIA_LAYER_GZIP",
    "MEDIA_MANIFEST",
    "Blob",
    "ImageRef",
    "RegistryClient",
    "component_image_ref",
    "image_config",
    "image_manifest",
    "image_tag",
    "parse_ref",
    "push_component",
    "stage_image",
    "write_layer",
]

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ANNOTATION_MANIFEST = "io.rtfit.component.manifest"
_CHUNK = 1 << 20


def image_tag(version: str) -> str:
    """The image tag of a component version: characters outside [A-Za-z0-9_.-] become '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", version)[:128]


def component_image_ref(prefix: str, kind: str, version: str) -> str:
    """`<prefix>/<kind>:<tag>`, the reference a component is pushed to and mounted from."""
    return f"{prefix.rstrip('/')}/{kind}:{image_tag(version)}"


@dataclass(frozen=True)
class ImageRef:
    """`registry/repository:tag` (or `@sha256:...`)."""

    registry: str
    repository: str
    reference: str

    def __str__(self) -> str:
        sep = "@" if self.reference.startswith("sha256:") else ":"
        return f"{self.registry}/{self.repository}{sep}{self.reference}"


def parse_ref(ref: str) -> ImageRef:
    """Split `host[:port]/repo/name[:tag|@digest]`; the registry part is required."""
    ref = ref.removeprefix("docker://").removeprefix("oci://")
    if "/" not in ref:
        raise StoreError(f"image reference {ref!r} needs a registry host, e.g. 127.0.0.1:5000/rtfit/cuda:13.0")
    registry, rest = ref.split("/", 1)
    if "@" in rest:
        repository, reference = rest.split("@", 1)
    elif ":" in rest.rsplit("/", 1)[-1]:
        repository, reference = rest.rsplit(":", 1)
    else:
        repository, reference = rest, "latest"
    if not re.fullmatch(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*", repository):
        raise StoreError(f"image reference {ref!r}: repository {repository!r} is not a valid OCI name")
    return ImageRef(registry, repository, reference)


@dataclass(frozen=True)
class Blob:
    """A content-addressed file: digest (`sha256:...`), size, media type, where it lies."""

    digest: str
    size: int
    media_type: str
    path: Path | None = None
    data: bytes | None = None

    def descriptor(self, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if annotations:
            d["annotations"] = dict(annotations)
        return d

    @staticmethod
    def of_bytes(data: bytes, media_type: str) -> Blob:
        return Blob("sha256:" + hashlib.sha256(data).hexdigest(), len(data), media_type, data=data)


class _HashingWriter(io.RawIOBase):
    """Write-through file object that hashes and counts what passes."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.target.write(b)
        self.sha.update(b)
        self.size += len(b)
        return len(b)


def _tar_entries(root: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(filenames + [d for d in dirnames if (base / d).is_symlink()] + dirnames):
            path = base / name
            yield path.relative_to(root).as_posix(), path


def write_layer(src: Path, out: Path, *, prefix: str = "", level: int = 6) -> tuple[Blob, str]:
    """Pack folder `src` as a deterministic gzip tar layer at `out` (entries under `prefix`).

    Returns the layer blob (digest of the compressed bytes) and its diff_id (digest of the tar).
    """
    prefix = prefix.strip("/")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as raw:
        outer = _HashingWriter(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=outer, compresslevel=level, mtime=0) as gz:  # type: ignore[arg-type]
            inner = _HashingWriter(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=inner, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
                if prefix:
                    parts = prefix.split("/")
                    for i in range(len(parts)):
                        ti = tarfile.TarInfo("/".join(parts[: i + 1]))
                        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
                        tf.addfile(ti)
                for rel, path in _tar_entries(src):
                    name = f"{prefix}/{rel}" if prefix else rel
                    ti = tf.gettarinfo(str(path), arcname=name)
                    ti.uid = ti.gid = 0
                    ti.uname = ti.gname = ""
                    ti.mtime = 0
                    if ti.isdir():
                        ti.mode = 0o755
                    elif ti.isreg():
                        ti.mode = 0o755 if ti.mode & stat.S_IXUSR else 0o644
                        with path.open("rb") as fh:
                            tf.addfile(ti, fh)
                        continue
                    tf.addfile(ti)
        diff_id = "sha256:" + inner.sha.hexdigest()
    return Blob("sha256:" + outer.sha.hexdigest(), outer.size, MEDIA_LAYER_GZIP, path=out), diff_id


def image_config(diff_ids: Sequence[str], *, env: Sequence[str] = (), cmd: Sequence[str] = (),
                 labels: Mapping[str, str] | None = None) -> Blob:
    """An OCI image config (linux/amd64) for these layers."""
    config: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "config": {},
    }
    if env:
        config["config"]["Env"] = list(env)
    if cmd:
        config["config"]["Cmd"] = list(cmd)
    if labels:
        config["config"]["Labels"] = dict(labels)
    data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return Blob.of_bytes(data, MEDIA_CONFIG)


def image_manifest(config: Blob, layers: Sequence[Blob], annotations: Mapping[str, str] | None = None) -> Blob:
    """An OCI image manifest over a config and layers."""
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    return Blob.of_bytes(data, MEDIA_MANIFEST)


class _StreamReader(io.RawIOBase):
    """A readable file over an HTTP body that hashes and counts every byte read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self.sha.update(self._buf[:n])
        self.size += n
        self._buf = self._buf[n:]
        return n

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


class RegistryClient:
    """Just enough of the OCI distribution API to push and pull images (no auth)."""

    def __init__(self, registry: str, *, insecure: bool | None = None, timeout: float = 60.0) -> None:
        host = registry.split(":")[0]
        plain = insecure if insecure is not None else host in ("127.0.0.1", "localhost", "::1", "[::1]")
        self.registry = registry
        self.base = f"{'http' if plain else 'https'}://{registry}/v2"
        self.http = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fail(self, what: str, r: httpx.Response) -> StoreError:
        return StoreError(f"registry {self.registry}: {what}: HTTP {r.status_code} {r.text[:300]}")

    def ping(self) -> bool:
        try:
            return self.http.get(f"{self.base}/").status_code in (200, 401)
        except httpx.HTTPError:
            return False

    def has_blob(self, repo: str, digest: str) -> bool:
        r = self.http.head(f"{self.base}/{repo}/blobs/{digest}")
        return r.status_code == 200

    def push_blob(self, repo: str, blob: Blob) -> bool:
        """Upload a blob unless the registry has it; True when bytes were sent."""
        if self.has_blob(repo, blob.digest):
            return False
        r = self.http.post(f"{self.base}/{repo}/blobs/uploads/")
        if r.status_code != 202 or "location" not in r.headers:
            raise self._fail(f"start upload to {repo}", r)
        location = httpx.URL(f"{self.base}/{repo}/").join(r.headers["location"])
        url = location.copy_merge_params({"digest": blob.digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(blob.size)}
        if blob.data is not None:
            r = self.http.put(url, content=blob.data, headers=headers)
        else:
            assert blob.path is not None
            with blob.path.open("rb") as fh:
                r = self.http.put(url, content=iter(lambda: fh.read(_CHUNK), b""), headers=headers)
        if r.status_code != 201:
            raise self._fail(f"upload {blob.digest} to {repo}", r)
        return True

    def push_manifest(self, repo: str, tag: str, manifest: Blob) -> str:
        r = self.http.put(f"{self.base}/{repo}/manifests/{tag}", content=manifest.data,
                          headers={"Content-Type": manifest.media_type})
        if r.status_code != 201:
            raise self._fail(f"put manifest {repo}:{tag}", r)
        return manifest.digest

    def push_image(self, repo: str, tag: str, config: Blob, layers: Sequence[Blob],
                   annotations: Mapping[str, str] | None = None) -> tuple[str, int]:
        """Push layers, config and manifest; return (manifest digest, bytes uploaded)."""
        sent = 0
        for blob in (*layers, config):
            if self.push_blob(repo, blob):
                sent += blob.size
        return self.push_manifest(repo, tag, image_manifest(config, layers, annotations)), sent

    def get_manifest(self, repo: str, reference: str) -> tuple[dict[str, Any], str]:
        r = self.http.get(f"{self.base}/{repo}/manifests/{reference}",
                          headers={"Accept": f"{MEDIA_MANIFEST}, {_DOCKER_MANIFEST}"})
        if r.status_code == 404:
            raise StoreError(f"registry {self.registry}: no image {repo}:{reference}")
        if r.status_code != 200:
            raise self._fail(f"get manifest {repo}:{reference}", r)
        digest = "sha256:" + hashlib.sha256(r.content).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise StoreError(f"registry {self.registry}: manifest {repo}@{reference} has digest {digest}")
        try:
            return json.loads(r.content), digest
        except json.JSONDecodeError as e:
            raise StoreError(f"registry {self.registry}: manifest {repo}:{reference} is not JSON: {e}") from e

    def open_blob(self, repo: str, digest: str) -> Any:
        """A streaming response context for a blob (follows redirects)."""
        return self.http.stream("GET", f"{self.base}/{repo}/blobs/{digest}", follow_redirects=True)

    def tags(self, repo: str) -> list[str]:
        r = self.http.get(f"{self.base}/{repo}/tags/list")
        if r.status_code == 404:
            return []
        if r.status_code != 200:
            raise self._fail(f"list tags of {repo}", r)
        return list(r.json().get("tags") or [])


def push_component(component: Component, ref: str, *, client: RegistryClient | None = None,
                   work: Path | None = None, level: int = 6) -> tuple[str, int]:
    """Push a staged component as a one-layer OCI image; return (manifest digest, bytes uploaded)."""
    image = parse_ref(ref)
    own = client is None
    client = client or RegistryClient(image.registry)
    work = work or component.path.parent / ".oci"
    work.mkdir(parents=True, exist_ok=True)
    layer_path = work / f"{component.kind}-{image_tag(component.version)}.tar.gz"
    try:
        layer, diff_id = write_layer(component.path, layer_path, level=level)
        manifest_json = json.dumps(component.manifest.to_dict(), sort_keys=True, separators=(",", ":"))
        labels = {"io.rtfit.component.kind": component.kind, "io.rtfit.component.version": component.version}
        config = image_config([diff_id], labels=labels)
        return client.push_image(image.repository, image.reference, config, [layer],
                                 annotations={ANNOTATION_MANIFEST: manifest_json, **labels})
    except httpx.HTTPError as e:
        raise StoreError(f"registry {image.registry}: cannot push {ref}: {e}") from e
    finally:
        layer_path.unlink(missing_ok=True)
        if own:
            client.close()


def _component_manifest(annotations: Mapping[str, str], ref: str) -> Manifest:
    text = annotations.get(ANNOTATION_MANIFEST)
    if not text:
        raise StoreError(f"{ref}: not an rtfit component image (no {ANNOTATION_MANIFEST} annotation)")
    try:
        data = json.loads(text)
        env = data.get("env") or {}
        return Manifest(kind=str(data["kind"]), version=str(data["version"]), size_bytes=int(data["size_bytes"]),
                        sha256=str(data["sha256"]),
                        env=ComponentEnv(tuple(env.get("bin", [])), tuple(env.get("lib", [])), tuple(env.get("python", []))),
                        source=dict(data.get("source") or {}))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise StoreError(f"{ref}: malformed {ANNOTATION_MANIFEST} annotation: {e}") from e


def stage_image(store: RuntimeStore, ref: str, *, client: RegistryClient | None = None) -> tuple[Component, int]:
    """Stage the component image `ref` into the store; return (component, bytes downloaded).

    Each layer is streamed, unpacked as it arrives (tar `data` filter) and its digest and size
    checked against the registry manifest; the unpacked folder must then hash to the component
    manifest's sha256. Any mismatch leaves the store untouched.
    """
    image = parse_ref(ref)
    own = client is None
    client = client or RegistryClient(image.registry)
    try:
        manifest, _digest = client.get_manifest(image.repository, image.reference)
        wanted = _component_manifest(manifest.get("annotations") or {}, ref)
        pulled = 0
        with _Staging(store, wanted.kind, wanted.version) as st:
            for layer in manifest.get("layers") or []:
                media = str(layer.get("mediaType", ""))
                if not media.endswith("tar+gzip") and not media.endswith("tar.gzip"):
                    raise StageFailed(f"{ref}: layer media type {media!r} is not a gzip tar")
                with client.open_blob(image.repository, layer["digest"]) as r:
                    if r.status_code != 200:
                        raise StageFailed(f"{ref}: blob {layer['digest']}: HTTP {r.status_code}")
                    reader = _StreamReader(r.iter_raw(_CHUNK))
                    try:
                        with tarfile.open(fileobj=io.BufferedReader(reader, _CHUNK), mode="r|gz") as tf:
                            tf.extractall(st.tmp, filter="data")
                    except (tarfile.TarError, OSError, EOFError) as e:
                        raise StageFailed(f"{ref}: cannot unpack layer {layer['digest']}: {e}") from e
                    reader.drain()
                got = "sha256:" + reader.sha.hexdigest()
                if got != layer["digest"] or reader.size != int(layer["size"]):
                    raise StageFailed(f"{ref}: layer {layer['digest']} arrived as {got} ({reader.size} bytes); refused")
                pulled += reader.size
            (st.tmp / MANIFEST_NAME).unlink(missing_ok=True)
            component = st.commit(env=wanted.env, source={**wanted.source, "image": str(image)},
                                  expect=(wanted.size_bytes, wanted.sha256))
        return component, pulled
    except httpx.HTTPError as e:
        raise StageFailed(f"registry {image.registry}: cannot pull {ref}: {e}") from e
    finally:
        if own:
            client.close()
