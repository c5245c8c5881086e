"""A sentence-transformers BERT model (weights, config, pooling) written out as one ONNX graph.

The graph is built from the model's own files (``config.json``, ``model.safetensors``,
``1_Pooling/config.json``, ``modules.json``), so the vectors ONNX Runtime computes are the model's,
with no PyTorch and no export step anyone has to trust: ids and attention mask in, the pooled (and,
when the model says so, L2-normalized) sentence vector out. Supported: ``model_type`` ``bert`` with
absolute positions, GELU, and mean or CLS pooling (all-MiniLM-*, multi-qa-MiniLM-*, paraphrase-MiniLM-*,
bge-*-en-v1.5, e5-small-v2, ...). Single-segment input only (token type 0), which is what embedding
one text needs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_HEADS = [0, 2, 1, 3]
_KEYS = [0, 2, 3, 1]


class UnsupportedModelError(ValueError):
    """The model directory does not hold a model this builder can convert."""


@dataclass(frozen=True, slots=True)
class BertSpec:
    hidden: int
    heads: int
    layers: int
    eps: float
    pooling: str  # "mean" or "cls"
    normalize: bool
    max_length: int


def read_spec(directory: Path) -> BertSpec:
    config = _json(directory / "config.json")
    if config.get("model_type") != "bert":
        raise UnsupportedModelError(
            f"{directory.name}: model_type {config.get('model_type')!r} is not supported (only bert)"
        )
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise UnsupportedModelError(f"{directory.name}: only absolute position embeddings are supported")
    if config.get("hidden_act", "gelu") != "gelu":
        raise UnsupportedModelError(f"{directory.name}: activation {config.get('hidden_act')!r} unsupported")
    pooling = "mean"
    pooling_file = directory / "1_Pooling" / "config.json"
    if pooling_file.exists():
        modes = {key for key, on in _json(pooling_file).items() if key.startswith("pooling_mode") and on}
        if modes == {"pooling_mode_cls_token"}:
            pooling = "cls"
        elif modes != {"pooling_mode_mean_tokens"}:
            raise UnsupportedModelError(f"{directory.name}: pooling {sorted(modes)} unsupported")
    modules_file = directory / "modules.json"
    normalize = modules_file.exists() and any(
        module.get("type", "").endswith("Normalize") for module in _json(modules_file)
    )
    max_length = int(config.get("max_position_embeddings", 512))
    st_config = directory / "sentence_bert_config.json"
    if st_config.exists():
        max_length = min(max_length, int(_json(st_config).get("max_seq_length", max_length)))
    return BertSpec(
        hidden=int(config["hidden_size"]),
        heads=int(config["num_attention_heads"]),
        layers=int(config["num_hidden_layers"]),
        eps=float(config.get("layer_norm_eps", 1e-12)),
        pooling=pooling,
        normalize=normalize,
        max_length=max_length,
    )


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def build(directory: Path) -> bytes:
    """The serialized ONNX model of the sentence-transformers model in ``directory``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    spec = read_spec(directory)
    raw = load_file(str(directory / "model.safetensors"))
    # Checkpoints name their tensors with or without the "bert." prefix.
    weights = {name.removeprefix("bert."): value for name, value in raw.items()}

    def weight(name: str) -> np.ndarray[Any, Any]:
        try:
            return np.asarray(weights[name], dtype=np.float32)
        except KeyError:
            raise UnsupportedModelError(f"{directory.name}: model.safetensors has no {name!r}") from None

    initializers: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray[Any, Any]) -> str:
        initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def linear(x: str, prefix: str, out: str) -> str:
        w = const(f"{prefix}.wT", np.ascontiguousarray(weight(f"{prefix}.weight").T))
        b = const(f"{prefix}.b", weight(f"{prefix}.bias"))
        return node("Add", [node("MatMul", [x, w], f"{out}.mm"), b], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        g = const(f"{prefix}.g", weight(f"{prefix}.weight"))
        b = const(f"{prefix}.b", weight(f"{prefix}.bias"))
        return node("LayerNormalization", [x, g, b], out, axis=-1, epsilon=spec.eps)

    hidden, heads = spec.hidden, spec.heads
    head_dim = hidden // heads
    # Positions and the (single) token type folded into one table: row p = position p + type 0.
    positions = (
        weight("embeddings.position_embeddings.weight") + weight("embeddings.token_type_embeddings.weight")[0]
    )
    const("positions", positions)
    const("words", weight("embeddings.word_embeddings.weight"))
    const("zero", np.array([0], dtype=np.int64))
    const("one", np.array([1], dtype=np.int64))
    const("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    const("merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    const("scale", np.array(1 / math.sqrt(head_dim), dtype=np.float32))
    const("half", np.array(0.5, dtype=np.float32))
    const("f_one", np.array(1.0, dtype=np.float32))
    const("rsqrt2", np.array(1 / math.sqrt(2), dtype=np.float32))
    const("neg_big", np.array(-1e9, dtype=np.float32))
    const("tiny", np.array(1e-9, dtype=np.float32))
    const("norm_eps", np.array(1e-12, dtype=np.float32))

    const("two", np.array([2], dtype=np.int64))
    length = node("Slice", [node("Shape", ["input_ids"], "ids_shape"), "one", "two"], "seq_len")
    pos = node("Slice", ["positions", "zero", length], "pos")
    x = node("Add", [node("Gather", ["words", "input_ids"], "tok"), pos], "emb")
    x = layer_norm(x, "embeddings.LayerNorm", "emb.ln")

    mask = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    # [B, S] -> [B, 1, 1, S]: 0 where attended, a large negative number on padding.
    const("mask_axes", np.array([1, 2], dtype=np.int64))
    bias = node(
        "Mul",
        [node("Sub", ["f_one", node("Unsqueeze", [mask, "mask_axes"], "mask4")], "inv_mask"), "neg_big"],
        "mask_bias",
    )
    for i in range(spec.layers):
        p = f"encoder.layer.{i}"
        q = node("Mul", [linear(x, f"{p}.attention.self.query", f"l{i}.q"), "scale"], f"l{i}.qs")
        k = linear(x, f"{p}.attention.self.key", f"l{i}.k")
        v = linear(x, f"{p}.attention.self.value", f"l{i}.v")
        # [B, S, H] -> [B, heads, S, head_dim]; keys transposed to [B, heads, head_dim, S] for q @ k.
        q = node("Transpose", [node("Reshape", [q, "split_heads"], f"l{i}.q4")], f"l{i}.qt", perm=_HEADS)
        k = node("Transpose", [node("Reshape", [k, "split_heads"], f"l{i}.k4")], f"l{i}.kt", perm=_KEYS)
        v = node("Transpose", [node("Reshape", [v, "split_heads"], f"l{i}.v4")], f"l{i}.vt", perm=_HEADS)
        scores = node("Add", [node("MatMul", [q, k], f"l{i}.qk"), bias], f"l{i}.scores")
        probs = node("Softmax", [scores], f"l{i}.probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], f"l{i}.ctx4")], f"l{i}.ctxt", perm=_HEADS)
        ctx = node("Reshape", [ctx, "merge_heads"], f"l{i}.ctx")
        attn = linear(ctx, f"{p}.attention.output.dense", f"l{i}.attn")
        x = layer_norm(node("Add", [attn, x], f"l{i}.res1"), f"{p}.attention.output.LayerNorm", f"l{i}.ln1")
        h = linear(x, f"{p}.intermediate.dense", f"l{i}.up")
        # Exact GELU, as BERT's "gelu": x * 0.5 * (1 + erf(x / sqrt 2)).
        erf = node("Erf", [node("Mul", [h, "rsqrt2"], f"l{i}.hs")], f"l{i}.erf")
        gate = node("Mul", [node("Add", [erf, "f_one"], f"l{i}.erf1"), "half"], f"l{i}.gate")
        h = node("Mul", [h, gate], f"l{i}.gelu")
        out = linear(h, f"{p}.output.dense", f"l{i}.down")
        x = layer_norm(node("Add", [out, x], f"l{i}.res2"), f"{p}.output.LayerNorm", f"l{i}.ln2")

    if spec.pooling == "cls":
        const("zero_scalar", np.array(0, dtype=np.int64))
        pooled = node("Gather", [x, "zero_scalar"], "pooled", axis=1)
    else:
        const("last_axis", np.array([2], dtype=np.int64))
        mask3 = node("Unsqueeze", [mask, "last_axis"], "mask3")
        summed = node("ReduceSum", [node("Mul", [x, mask3], "masked"), "one"], "summed", keepdims=0)
        counts = node("Max", [node("ReduceSum", [mask3, "one"], "counts_raw", keepdims=0), "tiny"], "counts")
        pooled = node("Div", [summed, counts], "pooled")
    if spec.normalize:
        norm = node("ReduceL2", [pooled], "norm_raw", axes=[1], keepdims=1)
        pooled = node("Div", [pooled, node("Max", [norm, "norm_eps"], "norm")], "normalized")
    nodes.append(helper.make_node("Identity", [pooled], ["embedding"], name="embedding"))

    graph = helper.make_graph(
        nodes,
        "sentence_embedding",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="chatmem")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=False)
    return bytes(model.SerializeToString())
