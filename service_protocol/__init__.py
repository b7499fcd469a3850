"""The metadata service's HTTP protocol, shared by the service and every client of it.

The node agent, the flow runner and the `rtfit` CLI talk to the service through one client
(`ServiceClient`); the service and the agent compute the same inventory hash with one function.
This package imports nothing else of rtfit, so any package may depend on it:

| module | what it holds |
|---|---|
| `tokens.py` | the one rule for a bearer-token file (`read_token`, `resolve_token`) |
| `inventory.py` | `inventory_hash`: the digest the agent sends and the service checks |
| `problems.py` | `Problem`: an RFC 9457 problem body (or whatever an error answer held), parsed once |
| `retry.py` | `Backoff` (exponential, equal jitter) and `RetryPolicy` (which answers to retry, for how long) |
| `client.py` | `ServiceClient`: requests, errors, retries, the resource calls, `fetch_inventory` |
| `errors.py` | one root class, `ProtocolError` |
"""

from service_protocol.client import DEFAULT_SERVER, Reply, ServiceClient, fetch_inventory
from service_protocol.errors import (
    ProtocolConfigError,
    ProtocolError,
    ServiceCallError,
    ServiceRefused,
    ServiceUnreachable,
    TokenFileInvalid,
)
from service_protocol.inventory import VOLATILE_KEYS, inventory_hash
from service_protocol.problems import Problem, parse_problem
from service_protocol.retry import NO_RETRY, Backoff, RetryPolicy
from service_protocol.tokens import read_token, resolve_token

__all__ = [
    "DEFAULT_SERVER",
    "NO_RETRY",
    "VOLATILE_KEYS",
    "Backoff",
    "Problem",
    "ProtocolConfigError",
    "ProtocolError",
    "Reply",
    "RetryPolicy",
    "ServiceCallError",
    "ServiceClient",
    "ServiceRefused",
    "ServiceUnreachable",
    "TokenFileInvalid",
    "fetch_inventory",
    "inventory_hash",
    "parse_problem",
    "read_token",
    "resolve_token",
]
