"""Bearer-token authentication and role checks.

Tokens are never stored: `RTFIT_TOKENS_FILE` lists their SHA-256 digests with a name, a role and,
for agents, the node they may write::

    tokens:
      - {name: ops, role: admin, sha256: 3a7b...}
      - {name: agent-edge-01, role: agent, node: edge-01, sha256: 9c1d...}

A presented token is hashed, looked up by digest and confirmed with `hmac.compare_digest`.
Roles: `admin` can do everything a `reader` can plus catalog/model/flow writes and any node's
heartbeat; `reader` reads and asks for selections; `agent` may only PUT its own node's heartbeat.
The file is re-read at most once a second and reloaded when its *content* changes (a SHA-256 of
the bytes; the modification time is not trusted: `cp -p`, `rsync -a` and `tar` keep it), so adding
or revoking a token needs no restart and takes effect within a second on every worker.
A file that becomes invalid is logged (ERROR, once per content) and the last valid set stays in
force, so a typo does not lock out the fleet; a file that is deleted revokes every token (logged)
until it is back. At startup either one stops the service.
Token values never reach a log line or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import Forbidden, InvalidInput, Unauthorized

__all__ = [
    "ROLES",
    "WEAK_SECRETS",
    "Principal",
    "TokenStore",
    "append_token",
    "digest",
    "new_token",
]

log = logging.getLogger("metadata_service")

ROLES = ("admin", "agent", "reader")
_PREFIX = 8
RELOAD_CHECK_S = 1.0  # how often a request may stat() the tokens file for changes
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # 10,000 agent tokens load in well under a second
WEAK_SECRETS = ("password", "changeme", "change-me", "admin", "secret", "token", "rtfit", "demo", "test", "reader",
                "agent", "default", "letmein", "123456")
_IMPLIES = {"admin": {"admin", "reader"}, "reader": {"reader"}, "agent": {"agent"}}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name, role and (agents) node."""

    name: str
    role: str
    node: str | None = None

    def has(self, role: str) -> bool:
        return role in _IMPLIES[self.role]

    def require(self, role: str) -> None:
        if not self.has(role):
            raise Forbidden(f"token '{self.name}' has role '{self.role}'; this needs '{role}'")

    def require_node_writer(self, node: str) -> None:
        """Admins write any node; an agent only the node its token names."""
        if self.role == "admin":
            return
        if self.role == "agent" and self.node == node:
            return
        if self.role == "agent":
            raise Forbidden(f"agent token '{self.name}' is for node '{self.node}', not '{node}'")
        raise Forbidden(f"token '{self.name}' has role '{self.role}'; heartbeats need an agent or admin token")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (shown once; only its digest is kept)."""
    return "rtfit_" + secrets.token_urlsafe(32)


class TokenStore:
    """Digest -> principal, loaded from the tokens file and reloaded when it changes."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._content: str | None = None  # SHA-256 of the bytes of the set in force
        self._refused: str | None = None  # SHA-256 of the last invalid content (logged once)
        self._checked = 0.0  # monotonic time of the last read of the file
        self._by_prefix: dict[str, list[tuple[str, Principal]]] = {}
        if path is not None:
            self._load(startup=True)

    @property
    def configured(self) -> bool:
        return self._path is not None

    def _load(self, *, startup: bool = False) -> None:
        """(Re)load the file if its content changed; see the module docstring for bad files."""
        assert self._path is not None
        try:
            data = self._path.read_bytes()
        except OSError as e:
            if startup:
                raise InvalidInput(f"tokens file {self._path} cannot be read: {e.strerror}",
                                   field="RTFIT_TOKENS_FILE") from e
            if self._content is not None:
                log.error("tokens file %s cannot be read (%s): every token is refused until it is back",
                          self._path, e.strerror)
            self._by_prefix, self._content, self._refused = {}, None, None
            return
        content = hashlib.sha256(data).hexdigest()
        if content == self._content or content == self._refused:
            return
        try:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InvalidInput(f"{self._path}: not UTF-8 text", field="tokens") from e
            parsed = parse_tokens(text, source=str(self._path))
        except InvalidInput as e:
            if startup:
                raise
            count = sum(len(group) for group in self._by_prefix.values())
            log.error("tokens file %s is invalid, not reloaded (%s); the %d tokens loaded before stay in force",
                      self._path, e, count)
            self._refused = content
            return
        by_prefix: dict[str, list[tuple[str, Principal]]] = {}
        for sha, principal in parsed.items():
            by_prefix.setdefault(sha[:_PREFIX], []).append((sha, principal))
        if not startup:
            log.info("tokens file %s reloaded: %d tokens", self._path, len(parsed))
        self._by_prefix, self._content, self._refused = by_prefix, content, None

    def weak_entries(self) -> list[str]:
        """Names of tokens production must refuse: `--demo` tokens and digests of well-known
        default secrets (e.g. `password`, `changeme`, `admin`)."""
        with self._lock:
            entries = [(sha, p) for group in self._by_prefix.values() for sha, p in group]
        weak_digests = {digest(w) for w in WEAK_SECRETS}
        return sorted(p.name for sha, p in entries if p.name.startswith("demo-") or sha in weak_digests)

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal for an `Authorization` header value, or `Unauthorized`."""
        if not authorization:
            raise Unauthorized("missing bearer token (send 'Authorization: Bearer <token>')")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("malformed Authorization header; expected 'Bearer <token>'")
        if self._path is None:
            raise Unauthorized("no tokens are configured on this server (RTFIT_TOKENS_FILE is unset)")
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= RELOAD_CHECK_S:
                self._checked = now
                self._load()
            by_prefix = self._by_prefix
        presented = digest(token)
        # Look up by a short prefix, then confirm the whole digest in constant time.
        for stored, principal in by_prefix.get(presented[:_PREFIX], ()):
            if hmac.compare_digest(presented, stored):
                return principal
        raise Unauthorized("unknown or revoked token")


def parse_tokens(text: str, *, source: str) -> dict[str, Principal]:
    """Parse a tokens file; every bad entry is an `InvalidInput` naming it."""
    try:
        data = yaml.load(text, Loader=_LOADER) or {}  # noqa: S506 - a safe loader (C or Python)
    except yaml.YAMLError as e:
        raise InvalidInput(f"{source}: not valid YAML: {e}", field="tokens") from e
    entries = data.get("tokens") if isinstance(data, dict) else None
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise InvalidInput(f"{source}: 'tokens' must be a list", field="tokens")
    out: dict[str, Principal] = {}
    for i, entry in enumerate(entries):
        where = f"tokens[{i}]"
        if not isinstance(entry, dict):
            raise InvalidInput(f"{source}: {where} must be a mapping", field=where)
        name, role, node, sha = entry.get("name"), entry.get("role"), entry.get("node"), entry.get("sha256")
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"{source}: {where}.name is required", field=f"{where}.name")
        if role not in ROLES:
            raise InvalidInput(f"{source}: {where}.role must be one of {', '.join(ROLES)}", field=f"{where}.role")
        if role == "agent" and not (isinstance(node, str) and node):
            raise InvalidInput(f"{source}: {where} is an agent token without 'node'", field=f"{where}.node")
        if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha.lower())):
            raise InvalidInput(f"{source}: {where}.sha256 must be 64 hex digits", field=f"{where}.sha256")
        out[sha.lower()] = Principal(name=name, role=role, node=node if role == "agent" else None)
    return out


def append_token(path: Path, *, name: str, role: str, node: str | None, token: str) -> None:
    """Add the digest of `token` to the tokens file at `path` (created with mode 0600 if missing)."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if role == "agent" and not node:
        raise InvalidInput("an agent token needs --node", field="node")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    existing = parse_tokens(text, source=str(path))
    if any(p.name == name for p in existing.values()):
        raise InvalidInput(f"{path} already has a token named '{name}'", field="name")
    data = yaml.safe_load(text) or {}
    entries = list(data.get("tokens") or [])
    entry: dict[str, str] = {"name": name, "role": role}
    if role == "agent" and node:
        entry["node"] = node
    entry["sha256"] = digest(token)
    entries.append(entry)
    data["tokens"] = entries
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    os.replace(tmp, path)
