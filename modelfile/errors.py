"""Errors of the modelfile package: one root; every message names the file and what is wrong."""

from __future__ import annotations

__all__ = ["ModelFileError", "UnknownModelFormat", "UnreadableModel"]


class ModelFileError(Exception):
    """Root of every modelfile exception."""


class UnknownModelFormat(ModelFileError, ValueError):
    """The path is not a safetensors file, GGUF file, ONNX file or Hugging Face model folder."""


class UnreadableModel(ModelFileError, ValueError):
    """The file claims a format but its header or metadata cannot be read."""
