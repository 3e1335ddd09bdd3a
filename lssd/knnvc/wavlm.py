"""WavLM Large as kNN-VC uses it: the output of transformer layer 6 for raw 16 kHz speech.

kNN-VC's vocoder was trained on features of the original (microsoft/unilm) checkpoint. transformers'
``WavLMModel`` computes the same network, so rather than reimplementing WavLM the original state dict is
renamed onto it (the table below mirrors transformers' own conversion script); a checkpoint already in
transformers format loads directly. Only the first six layers are built: the rest would be thrown away.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lssd.errors import LssdError
from lssd.store.safe_load import explain, load_weights

SAMPLE_RATE = 16_000
HOP = 320  # samples per feature frame (20 ms)
LAYER = 6  # kNN-VC's "speaker information" layer: matching and vocoding both use it

# original (unilm) name <-> transformers name; {i} a layer index, {p} weight|bias, {proj} an attention projection
_RENAMES: tuple[tuple[str, str], ...] = (
    ("mask_emb", "masked_spec_embed"),
    ("feature_extractor.conv_layers.{i}.0.{p}", "feature_extractor.conv_layers.{i}.conv.{p}"),
    ("feature_extractor.conv_layers.{i}.2.1.{p}", "feature_extractor.conv_layers.{i}.layer_norm.{p}"),
    ("layer_norm.{p}", "feature_projection.layer_norm.{p}"),
    ("post_extract_proj.{p}", "feature_projection.projection.{p}"),
    ("encoder.pos_conv.0.bias", "encoder.pos_conv_embed.conv.bias"),
    ("encoder.pos_conv.0.weight_g", "encoder.pos_conv_embed.conv.parametrizations.weight.original0"),
    ("encoder.pos_conv.0.weight_v", "encoder.pos_conv_embed.conv.parametrizations.weight.original1"),
    ("encoder.layer_norm.{p}", "encoder.layer_norm.{p}"),
    ("encoder.layers.{i}.self_attn.{proj}.{p}", "encoder.layers.{i}.attention.{proj}.{p}"),
    ("encoder.layers.{i}.self_attn.grep_linear.{p}", "encoder.layers.{i}.attention.gru_rel_pos_linear.{p}"),
    ("encoder.layers.{i}.self_attn.grep_a", "encoder.layers.{i}.attention.gru_rel_pos_const"),
    ("encoder.layers.{i}.self_attn.relative_attention_bias.weight",
     "encoder.layers.{i}.attention.rel_attn_embed.weight"),
    ("encoder.layers.{i}.self_attn_layer_norm.{p}", "encoder.layers.{i}.layer_norm.{p}"),
    ("encoder.layers.{i}.fc1.{p}", "encoder.layers.{i}.feed_forward.intermediate_dense.{p}"),
    ("encoder.layers.{i}.fc2.{p}", "encoder.layers.{i}.feed_forward.output_dense.{p}"),
    ("encoder.layers.{i}.final_layer_norm.{p}", "encoder.layers.{i}.final_layer_norm.{p}"),
)
_SLOTS = {"i": r"\d+", "p": r"weight|bias", "proj": r"q_proj|k_proj|v_proj|out_proj"}

# unilm WavLMConfig defaults for the fields read here (a checkpoint's cfg overrides them)
_ORIGINAL_DEFAULTS: dict[str, Any] = {
    "extractor_mode": "default", "encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12, "activation_fn": "gelu", "layer_norm_first": False,
    "conv_feature_layers": "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2", "conv_bias": False,
    "conv_pos": 128, "conv_pos_groups": 16, "relative_position_embedding": False, "num_buckets": 320,
    "max_distance": 1280, "gru_rel_pos": False,
}


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    body = "".join(re.escape(p) if n % 2 == 0 else f"(?P<{p}>{_SLOTS[p]})" for n, p in enumerate(parts))
    return re.compile(f"^{body}$")


_FORWARD = [(_pattern(a), b) for a, b in _RENAMES]
_BACKWARD = [(_pattern(b), a) for a, b in _RENAMES]


def _rename(state: dict[str, torch.Tensor], table: list[tuple[re.Pattern[str], str]]) -> dict[str, torch.Tensor]:
    out, unknown = {}, []
    for key, value in state.items():
        for pattern, target in table:
            if match := pattern.match(key):
                out[target.format(**match.groupdict())] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise LssdError(f"not a WavLM checkpoint kNN-VC can use: unknown weights {', '.join(unknown[:3])}")
    return out


def original_to_transformers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return _rename(state, _FORWARD)


def transformers_to_original(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse renaming, so tests can write checkpoints in the original layout."""
    return _rename(state, _BACKWARD)


def _conv_layers(spec: str) -> list[tuple[int, int, int]]:
    """Evaluate unilm's ``conv_feature_layers`` string ("[(512,10,5)] + [(512,3,2)] * 4 + ...") without eval()."""

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        return ast.literal_eval(node)

    try:
        layers = value(ast.parse(spec, mode="eval").body)
    except (ValueError, TypeError, SyntaxError):
        raise LssdError(f"not a WavLM checkpoint kNN-VC can use: conv_feature_layers {spec!r}") from None
    return [tuple(layer) for layer in layers]


def config_from_original(cfg: dict[str, Any], layers: int | None = None):
    """transformers' WavLMConfig for a unilm ``cfg`` dict (the Large layout: layer norms first, gated
    relative position bias)."""
    from transformers import WavLMConfig

    c = {**_ORIGINAL_DEFAULTS, **cfg}
    if not (c["layer_norm_first"] and c["extractor_mode"] == "layer_norm" and c["relative_position_embedding"]
            and c["gru_rel_pos"]):
        raise LssdError("not a WavLM checkpoint kNN-VC can use: it expects the WavLM Large layout")
    conv = _conv_layers(c["conv_feature_layers"])
    return WavLMConfig(
        hidden_size=c["encoder_embed_dim"], num_hidden_layers=layers or c["encoder_layers"],
        num_attention_heads=c["encoder_attention_heads"], intermediate_size=c["encoder_ffn_embed_dim"],
        hidden_act=c["activation_fn"], feat_extract_norm="layer", do_stable_layer_norm=True,
        conv_dim=[d for d, _, _ in conv], conv_kernel=[k for _, k, _ in conv], conv_stride=[s for _, _, s in conv],
        conv_bias=c["conv_bias"], num_conv_pos_embeddings=c["conv_pos"],
        num_conv_pos_embedding_groups=c["conv_pos_groups"], num_buckets=c["num_buckets"],
        max_bucket_distance=c["max_distance"],
    )


def _kept_layers(state: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    keep = re.compile(r"^encoder\.layers\.(\d+)\.")
    return {k: v for k, v in state.items() if not (m := keep.match(k)) or int(m.group(1)) < layers}


def load_wavlm(folder: Path, layers: int = LAYER) -> nn.Module:
    """transformers' WavLMModel with the first ``layers`` layers, from ``folder`` holding either a
    transformers checkpoint (``config.json``) or one original ``.pt`` (``{"cfg": ..., "model": ...}``)."""
    from transformers import WavLMModel

    folder = Path(folder)
    if (folder / "config.json").is_file():
        try:  # transformers reads safetensors, or a pytorch_model.bin through torch's restricted unpickler
            model = WavLMModel.from_pretrained(folder, num_hidden_layers=layers, weights_only=True)
        except Exception as exc:
            raise explain(folder / "pytorch_model.bin", exc) from None
    else:
        checkpoints = sorted(folder.glob("*.pt"))
        if len(checkpoints) != 1:
            raise LssdError(f"expected one WavLM .pt checkpoint in {folder}, found {len(checkpoints)}")
        ckpt = load_weights(checkpoints[0])  # the authors' file is tensors and plain data: nothing to allow
        model = WavLMModel(config_from_original(dict(ckpt["cfg"]), layers))
        state = _kept_layers(original_to_transformers(ckpt["model"]), layers)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise LssdError(f"not a WavLM checkpoint kNN-VC can use: {len(missing)} weights missing "
                            f"({', '.join(missing[:3])}), {len(unexpected)} unexpected")
    if len(model.encoder.layers) < layers:
        raise LssdError(f"WavLM in {folder} has {len(model.encoder.layers)} layers; kNN-VC needs layer {layers}")
    return model.eval()


@torch.inference_mode()
def layer_features(model: nn.Module, wav: torch.Tensor) -> torch.Tensor:
    """(samples,) 16 kHz speech → (frames, dim) output of the last kept layer.

    Zero-padded to a whole number of hops first, as kNN-VC's vocoder training data was.
    """
    wav = nn.functional.pad(wav, (0, HOP - wav.shape[-1] % HOP))
    captured: list[torch.Tensor] = []
    hook = model.encoder.layers[-1].register_forward_hook(lambda m, i, out: captured.append(out[0]))
    try:
        model(wav[None].to(next(model.parameters()).device))
    finally:
        hook.remove()
    return captured[0][0]
