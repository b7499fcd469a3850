"""The runtime store (Contract 6): staged component folders, their manifests, composition."""

from workflow.store.compose import ComposedRuntime, Mount, compose, kind_rank
from workflow.store.layout import DEFAULT_STORE, Component, RuntimeStore, VerifyResult, default_store_path
from workflow.store.manifest import ComponentEnv, Manifest, check_segment, content_digest, read_manifest
from workflow.store.stage import detect_env, stage_archive, stage_folder, stage_pip

__all__ = [
    "DEFAULT_STORE",
    "Component",
    "ComponentEnv",
    "ComposedRuntime",
    "Manifest",
    "Mount",
    "RuntimeStore",
    "VerifyResult",
    "check_segment",
    "compose",
    "content_digest",
    "default_store_path",
    "detect_env",
    "kind_rank",
    "read_manifest",
    "stage_archive",
    "stage_folder",
    "stage_pip",
]
