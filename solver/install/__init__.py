"""Install recipes: how to obtain, stage and schedule the runtime a selection chose.

`install_recipe(catalog, framework, choice)` turns one Contract-3 choice into pip lines with
their package indexes, a uv command, a pixi/conda-forge environment, a container base image and
Dockerfile, `rtfit store stage` commands and Kubernetes GPU scheduling — all derived from the
catalog's `pip_channels` / `nvidia_wheels` rows (catalog/data/install.yaml) and citing them.
"""

from solver.install.errors import NoRecipe
from solver.install.kube import gfd_product, gpu_scheduling
from solver.install.pip import PipRecipe, find_build, pin, pip_recipe
from solver.install.recipe import (
    EMIT_FORMATS,
    InstallRecipe,
    choice_platform,
    emit_text,
    install_for_answer,
    install_recipe,
)

__all__ = [
    "EMIT_FORMATS",
    "InstallRecipe",
    "NoRecipe",
    "PipRecipe",
    "choice_platform",
    "emit_text",
    "find_build",
    "gfd_product",
    "gpu_scheduling",
    "install_for_answer",
    "install_recipe",
    "pin",
    "pip_recipe",
]
