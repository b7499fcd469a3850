"""`rtfit model inspect ARTIFACT`: what a model file says about its size, and the GPU memory it needs.

Exit codes: 0 read, 2 not a readable model (one line on stderr, never a traceback).
"""

from __future__ import annotations

from pathlib import Path

import typer

from rtfit.output import COMPACT, OUTPUT, emit, output_format

__all__ = ["register"]

model_app = typer.Typer(help="Model artifacts: read sizes and estimate GPU memory without loading weights.",
                        no_args_is_help=True)


@model_app.command("inspect")
def inspect_command(
    artifact: Path = typer.Argument(..., help="A .safetensors/.gguf/.onnx file, or a Hugging Face model folder."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object: facts and estimate (same as -o json)."),
    output: str | None = OUTPUT,
    compact: bool = COMPACT,
    precision: str | None = typer.Option(None, "--precision", help="fp32|tf32|fp16|bf16|fp8|int8|fp4 "
                                         "(default: as stored)."),
    max_model_len: int | None = typer.Option(None, "--max-model-len", min=1, help="LLM serving: context length."),
    max_num_seqs: int = typer.Option(1, "--max-num-seqs", min=1, help="LLM serving: concurrent sequences."),
    tensor_parallel: int = typer.Option(1, "--tensor-parallel", min=1, help="GPUs one replica spans."),
) -> None:
    """Read an artifact's headers/metadata and estimate the GPU memory it needs per GPU."""
    from modelfile import ModelFileError, inspect_artifact
    from solver.sizing.estimate import PRECISION_BYTES, Serving, estimate_memory

    if precision is not None and precision not in PRECISION_BYTES:
        typer.echo(f"error: --precision must be one of {', '.join(PRECISION_BYTES)}, not {precision!r}", err=True)
        raise typer.Exit(2)
    try:
        facts = inspect_artifact(artifact)
    except ModelFileError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    est = estimate_memory(facts, precision=precision, serving=Serving(max_model_len, max_num_seqs, tensor_parallel))
    fmt = output_format(output, as_json)
    if fmt != "table":
        emit({"artifact": facts.to_dict(), "estimate": est.to_dict()}, fmt, compact=compact)
        return
    typer.echo(f"{facts.kind} {facts.source}")
    typer.echo(f"  parameters   {facts.parameters:,} ({', '.join(f'{k} {v:,}' for k, v in sorted(facts.dtypes.items()))})")
    typer.echo(f"  stored       {facts.stored_bytes / 1024**3:.2f} GiB")
    if facts.is_decoder:
        typer.echo(f"  decoder      {facts.layers} layers, {facts.attention_heads} heads, {facts.kv_heads} KV heads, "
                   f"head dim {facts.head_dim}, context {facts.max_position}")
    typer.echo(f"  needs        {est.per_gpu_gib:.2f} GiB per GPU")
    for line in est.how:
        typer.echo(f"    - {line}")


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
