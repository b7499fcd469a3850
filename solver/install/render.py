"""Text forms of a recipe: requirements.txt, a uv command, pixi.toml, a Dockerfile, stage commands.

Each takes the plain pieces the recipe derived (pip lines, conda specs, image) and returns text a
user can paste; none adds a fact of its own.
"""

from __future__ import annotations

import shlex

from solver.install.pip import PipRecipe

__all__ = ["dockerfile", "pixi_toml", "requirements_txt", "stage_commands", "uv_command"]


def requirements_txt(pip: PipRecipe) -> str:
    return "\n".join(pip.lines()) + "\n"


def uv_command(pip: PipRecipe, python: str | None) -> str:
    args = ["uv", "pip", "install", *pip.index_args(), *pip.requirements]
    venv = f"uv venv --python {shlex.quote(python)} && " if python else ""
    return venv + " ".join(shlex.quote(a) for a in args)


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pixi_toml(*, name: str, platform: str, cuda: str | None, conda: list[tuple[str, str, str | None]]) -> str:
    """A pixi manifest on conda-forge; `conda` = (package, version spec, build glob or None)."""
    lines = ["[workspace]", f"name = {_toml_str(name)}", 'channels = ["conda-forge"]',
             f"platforms = [{_toml_str(platform)}]", ""]
    if cuda:
        lines += ["[system-requirements]", f"cuda = {_toml_str(cuda)}", ""]
    lines.append("[dependencies]")
    for package, version, build in conda:
        if build:
            lines.append(f"{package} = {{ version = {_toml_str(version)}, build = {_toml_str(build)} }}")
        else:
            lines.append(f"{package} = {_toml_str(version)}")
    return "\n".join(lines) + "\n"


def dockerfile(*, image: str, pip: PipRecipe | None, gpu: bool, labels: dict[str, str],
               comments: list[str] | None = None, after_from: list[str] | None = None,
               before_pip: list[str] | None = None) -> str:
    """`after_from`: instructions right after FROM (e.g. COPY --from of a tool image); `before_pip`:
    instructions between the environment and the pip line (e.g. creating the interpreter)."""
    lines = [f"# {c}" for c in comments or ()]
    lines.append(f"FROM {image}")
    lines += after_from or []
    for key, value in labels.items():
        lines.append(f"LABEL {key}={shlex.quote(value)}")
    if gpu:
        lines.append("ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility")
    lines += before_pip or []
    if pip is not None:
        args = " ".join(shlex.quote(a) for a in [*pip.index_args(), *pip.requirements])
        lines.append(f"RUN python -m pip install --no-cache-dir {args}")
    return "\n".join(lines) + "\n"


def stage_commands(components: list[tuple[str, str, PipRecipe | None]], *, python: str | None) -> list[str]:
    """`rtfit store stage KIND VERSION --pip ...` per component; a component without pip lines
    (the interpreter itself) becomes a comment saying where it comes from."""
    out = []
    interpreter = ["--python", f"python{python}"] if python else []
    for kind, version, pip in components:
        if pip is None:
            out.append(f"# {kind} {version}: provided by the base environment (the runner's interpreter)")
            continue
        args = ["rtfit", "store", "stage", kind, version]
        for req in pip.requirements:
            args += ["--pip", req]
        args += pip.index_args() + interpreter
        out.append(" ".join(shlex.quote(a) for a in args))
    return out
