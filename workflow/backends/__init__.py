"""Backends that launch tasks: local subprocesses, Kubernetes Jobs, and the Argo export."""

from workflow.backends.base import Backend, Handle, Launch, Outcome, task_env

__all__ = ["Backend", "Handle", "Launch", "Outcome", "task_env"]
