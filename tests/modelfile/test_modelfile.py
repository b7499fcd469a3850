"""Reading model artifacts without loading weights: files written by the real libraries
(safetensors, onnx, gguf), a Hugging Face folder, and public model configs checked against
their published memory figures (sources: tests/modelfile/data/SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from modelfile import UnknownModelFormat, UnreadableModel, inspect_artifact, resolve_request
from modelfile.facts import ModelFacts
from solver.sizing import Serving, estimate_memory

DATA = Path(__file__).parent / "data"
GIB, GB = 1024**3, 1e9


def within(value: float, published: float, tolerance: float = 0.10) -> bool:
    return abs(value - published) <= tolerance * published


# -- files written by the real libraries ------------------------------------------------------

def test_safetensors_header_counts_every_tensor(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    tensors = {"a": np.zeros((64, 32), dtype=np.float16), "b": np.zeros((10,), dtype=np.float32),
               "c": np.zeros((3, 5, 7), dtype=np.int8)}
    path = tmp_path / "m.safetensors"
    save_file(tensors, str(path), metadata={"format": "np"})
    facts = inspect_artifact(path)
    assert facts.kind == "safetensors"
    assert facts.parameters == 64 * 32 + 10 + 105
    assert facts.stored_bytes == 64 * 32 * 2 + 10 * 4 + 105
    assert dict(facts.dtypes) == {"F16": 2048, "F32": 10, "I8": 105}


def _tiny_llama(tmp_path: Path, *, layers: int = 2, hidden: int = 64, heads: int = 4, kv: int = 2,
                inter: int = 128, vocab: int = 100) -> tuple[Path, int]:
    """A Hugging Face folder: config.json plus two safetensors shards with a Llama layout."""
    from safetensors.numpy import save_file

    hd = hidden // heads
    config = {"architectures": ["LlamaForCausalLM"], "hidden_size": hidden, "intermediate_size": inter,
              "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv,
              "vocab_size": vocab, "max_position_embeddings": 256, "torch_dtype": "float16",
              "tie_word_embeddings": False}
    folder = tmp_path / "tiny-llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    t: dict[str, np.ndarray] = {"model.embed_tokens.weight": np.zeros((vocab, hidden), np.float16),
                                "lm_head.weight": np.zeros((vocab, hidden), np.float16),
                                "model.norm.weight": np.zeros((hidden,), np.float16)}
    for i in range(layers):
        p = f"model.layers.{i}."
        t |= {p + "self_attn.q_proj.weight": np.zeros((heads * hd, hidden), np.float16),
              p + "self_attn.k_proj.weight": np.zeros((kv * hd, hidden), np.float16),
              p + "self_attn.v_proj.weight": np.zeros((kv * hd, hidden), np.float16),
              p + "self_attn.o_proj.weight": np.zeros((hidden, heads * hd), np.float16),
              p + "mlp.gate_proj.weight": np.zeros((inter, hidden), np.float16),
              p + "mlp.up_proj.weight": np.zeros((inter, hidden), np.float16),
              p + "mlp.down_proj.weight": np.zeros((hidden, inter), np.float16),
              p + "input_layernorm.weight": np.zeros((hidden,), np.float16),
              p + "post_attention_layernorm.weight": np.zeros((hidden,), np.float16)}
    names = sorted(t)
    half = len(names) // 2
    save_file({n: t[n] for n in names[:half]}, str(folder / "model-00001-of-00002.safetensors"))
    save_file({n: t[n] for n in names[half:]}, str(folder / "model-00002-of-00002.safetensors"))
    return folder, sum(int(a.size) for a in t.values())


def test_hf_folder_reads_config_and_every_shard_header(tmp_path: Path) -> None:
    folder, total = _tiny_llama(tmp_path)
    facts = inspect_artifact(folder)
    assert facts.kind == "hf-folder" and facts.parameters == total and facts.stored_bytes == total * 2
    assert (facts.layers, facts.attention_heads, facts.kv_heads, facts.head_dim) == (2, 4, 2, 16)
    # the config formula agrees with the headers on a Llama layout
    (folder / "model-00001-of-00002.safetensors").unlink()
    (folder / "model-00002-of-00002.safetensors").unlink()
    assert inspect_artifact(folder).parameters == total
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total * 2}}))
    by_index = inspect_artifact(folder)
    assert by_index.parameters == total and any("index" in r for r in by_index.read)


def test_gguf_metadata_and_tensor_infos(tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "m.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(3)
    w.add_context_length(4096)
    w.add_embedding_length(256)
    w.add_head_count(8)
    w.add_head_count_kv(2)
    w.add_tensor("tok_embd.weight", np.zeros((100, 256), dtype=np.float16))
    q8 = gguf.quants.quantize(np.zeros((64, 256), dtype=np.float32), gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.ffn_up.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    facts = inspect_artifact(path)
    assert facts.kind == "gguf" and facts.architecture == "llama"
    assert (facts.layers, facts.attention_heads, facts.kv_heads, facts.head_dim, facts.max_position) == (
        3, 8, 2, 32, 4096)
    assert facts.parameters == 100 * 256 + 64 * 256
    assert facts.stored_bytes == 100 * 256 * 2 + 64 * 256 // 32 * 34  # Q8_0: 34 bytes per 32 values
    assert set(facts.dtypes) == {"F16", "Q8_0"}


def _resnet50_initializers() -> list[tuple[str, list[int]]]:
    """torchvision ResNet-50 (v1.5) weights, BatchNormalization as ONNX keeps it (scale, B, mean, var)."""
    out: list[tuple[str, list[int]]] = [("conv1.weight", [64, 3, 7, 7])]

    def bn(name: str, c: int) -> None:
        out.extend((f"{name}.{k}", [c]) for k in ("weight", "bias", "running_mean", "running_var"))

    bn("bn1", 64)
    inplanes = 64
    for li, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True), start=1):
        for b in range(blocks):
            p = f"layer{li}.{b}"
            out.append((f"{p}.conv1.weight", [width, inplanes, 1, 1]))
            bn(f"{p}.bn1", width)
            out.append((f"{p}.conv2.weight", [width, width, 3, 3]))
            bn(f"{p}.bn2", width)
            out.append((f"{p}.conv3.weight", [width * 4, width, 1, 1]))
            bn(f"{p}.bn3", width * 4)
            if b == 0:
                out.append((f"{p}.downsample.0.weight", [width * 4, inplanes, 1, 1]))
                bn(f"{p}.downsample.1", width * 4)
            inplanes = width * 4
    out += [("fc.weight", [1000, 2048]), ("fc.bias", [1000])]
    return out


def _write_resnet50(tmp_path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    inits, offset = [], 0
    for name, dims in _resnet50_initializers():
        t = TensorProto(name=name, dims=dims, data_type=TensorProto.FLOAT, data_location=TensorProto.EXTERNAL)
        length = int(np.prod(dims)) * 4
        for key, value in (("location", "weights.bin"), ("offset", str(offset)), ("length", str(length))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        offset += length
        inits.append(t)
    with open(tmp_path / "weights.bin", "wb") as f:  # sparse: the bytes exist, nothing is written
        f.truncate(offset)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "resnet50",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 224, 224])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 224, 224])],
                              initializer=inits)
    path = tmp_path / "resnet50.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_onnx_resnet50_within_10_percent_of_torchvisions_card(tmp_path: Path) -> None:
    facts = inspect_artifact(_write_resnet50(tmp_path))
    trainable = facts.parameters - 2 * sum(d[0] for n, d in _resnet50_initializers() if n.endswith("running_var"))
    assert trainable == 25_557_032                       # the card's num_params, exactly
    assert within(facts.stored_bytes / 1024**2, 97.8)    # the card's file size (MB as torchvision counts: MiB)
    est = estimate_memory(facts, precision="fp16")
    assert within(est.weights_bytes / 1024**2, 97.8 / 2)


# -- public decoder configs vs published figures ----------------------------------------------

@pytest.mark.parametrize(("model", "params", "fp16_gb", "fp8_gb", "int4_gb", "kv_gib"), [
    ("llama-3.1-8b", 8_030_261_248, 16, 8, 4, {1024: 0.125, 16000: 1.95, 128000: 15.62}),
    ("llama-3.1-70b", 70_553_706_496, 140, 70, 35, {1024: 0.313, 16000: 4.88, 128000: 39.06}),
])
def test_llama_31_configs_match_published_memory(model: str, params: int, fp16_gb: float, fp8_gb: float,
                                                 int4_gb: float, kv_gib: dict[int, float]) -> None:
    facts = inspect_artifact(DATA / model)
    assert facts.parameters == params
    for precision, published in (("bf16", fp16_gb), ("fp8", fp8_gb), ("fp4", int4_gb)):
        weights = estimate_memory(facts, precision=precision).weights_bytes / GB
        assert within(weights, published), (model, precision, weights, published)
    for tokens, published in kv_gib.items():
        kv = estimate_memory(facts, precision="bf16", serving=Serving(max_model_len=tokens)).kv_cache_bytes / GIB
        assert within(kv, published), (model, tokens, kv, published)


def test_tensor_parallel_splits_weights_and_kv_not_the_overhead() -> None:
    facts = inspect_artifact(DATA / "llama-3.1-70b")
    one = estimate_memory(facts, precision="bf16", serving=Serving(8192, 16, 1))
    four = estimate_memory(facts, precision="bf16", serving=Serving(8192, 16, 4))
    assert four.weights_bytes == one.weights_bytes and four.kv_cache_bytes == one.kv_cache_bytes
    assert abs(four.per_gpu_bytes - (one.weights_bytes + one.kv_cache_bytes) / 4 - 1 * GIB
               - 0.10 * one.weights_bytes / 4) < 16
    assert any("tensor_parallel = 4" in line for line in four.how)


def test_gpt2_style_config_gives_the_decoder_shape_and_a_kv_cache(tmp_path: Path) -> None:
    """GPT-2-style config.json keys (n_layer, n_head, n_embd, n_positions: transformers' GPT2Config
    attribute_map) give the decoder shape, so a serving request counts the KV cache. A fresh-clone
    trial's GPT-2 folder got no KV cache for --max-model-len 1024, and no word about it."""
    from safetensors.numpy import save_file

    folder = tmp_path / "gpt2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
                                                    "n_layer": 2, "n_head": 4, "n_embd": 64, "n_positions": 1024,
                                                    "vocab_size": 500}))
    save_file({"wte.weight": np.zeros((500, 64), np.float32)}, str(folder / "model.safetensors"))
    facts = inspect_artifact(folder)
    assert (facts.layers, facts.attention_heads, facts.kv_heads, facts.head_dim, facts.max_position) == (2, 4, 4, 16, 1024)
    est = estimate_memory(facts, serving=Serving(1024, 2, 1))
    assert est.kv_cache_bytes == 2 * 2 * 4 * 16 * 2 * 1024 * 2


def test_a_serving_shape_on_an_artifact_without_a_decoder_shape_says_no_kv_cache(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "m.safetensors"
    save_file({"w": np.zeros((8, 8), np.float16)}, str(path))
    est = estimate_memory(inspect_artifact(path), serving=Serving(4096, 1, 1))
    assert est.kv_cache_bytes == 0
    assert any(line.startswith("no KV cache counted:") and "max_model_len 4096" in line for line in est.how), est.how


# -- bad input ----------------------------------------------------------------------------------

def test_unreadable_and_unknown_artifacts(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelFormat, match="no such file"):
        inspect_artifact(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((10**12).to_bytes(8, "little") + b"{}")
    with pytest.raises(UnreadableModel, match="header length"):
        inspect_artifact(bad)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff" * 64)
    with pytest.raises(UnreadableModel, match="not a readable ONNX"):
        inspect_artifact(junk)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UnknownModelFormat):
        inspect_artifact(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="unknown field"):
        ModelFacts.from_dict({"kind": "onnx", "source": "x", "parameters": 1, "stored_bytes": 4, "weights": 1})


def test_resolve_request_reads_paths_relative_to_the_request(tmp_path: Path) -> None:
    folder, total = _tiny_llama(tmp_path)
    out = resolve_request({"framework": "pytorch", "artifact": folder.name}, tmp_path)
    assert out["artifact"]["parameters"] == total
    assert resolve_request({"framework": "pytorch"}, tmp_path) == {"framework": "pytorch"}


def test_cli_model_inspect(tmp_path: Path) -> None:
    from rtfit.cli import app

    r = CliRunner().invoke(app, ["model", "inspect", str(DATA / "llama-3.1-8b"), "--json", "--precision", "bf16",
                                 "--max-model-len", "8192", "--max-num-seqs", "4"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["artifact"]["parameters"] == 8_030_261_248
    assert out["estimate"]["kv_cache_gib"] == 4.0 and out["estimate"]["per_gpu_gib"] > 15
    text = CliRunner().invoke(app, ["model", "inspect", str(DATA / "llama-3.1-8b")])
    assert text.exit_code == 0 and "GiB per GPU" in text.stdout
    bad = CliRunner().invoke(app, ["model", "inspect", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "no such file" in bad.output
