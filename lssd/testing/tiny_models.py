"""Tiny random models in each library's own on-disk format, like demucs' ``demucs_unittest``.

The real loading code runs on them unchanged; only the sizes differ, and what they say or sing is noise.
Each ``build_*`` writes a folder; :func:`write_catalog_entry` describes a folder as a catalog entry
(files with sha256 and size), so a test can install it with ``store.import_`` — the route an air-gapped
user takes — and select backends through the registry as a user would.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lssd.hashing import sha256_file

# SeamlessM4T v2 ------------------------------------------------------------------------------------------

# Languages the tiny SeamlessM4T reads/writes as text, and the subset it speaks: Korean is text-only and
# Dutch unknown, so tests can see a backend refuse a language for the right reason.
SEAMLESS_TEXT_LANGS = ("eng", "spa", "fra", "deu", "ita", "jpn", "kor", "por", "cat", "rus", "cmn")
SEAMLESS_SPEECH_LANGS = ("eng", "spa", "fra", "deu", "ita", "jpn", "por", "cat", "rus", "cmn")
_CORPUS = (
    "Good morning, my name is Anna and I like to read books.", "Thank you very much for your help.",
    "Buenos días, me llamo Ana y me gusta leer libros.", "Muchas gracias por tu ayuda.",
    "Bonjour, je m'appelle Anna et j'aime lire des livres.", "Merci beaucoup pour votre aide.",
    "Guten Morgen, ich heiße Anna und lese gern Bücher.", "Vielen Dank für Ihre Hilfe.",
    "Buongiorno, mi chiamo Anna e mi piace leggere.", "Grazie mille per il tuo aiuto.",
    "Bom dia, o meu nome é Ana.", "Bon dia, em dic Anna.", "Доброе утро, меня зовут Анна.",
    "おはようございます、アンナです。", "안녕하세요, 저는 안나입니다.", "早上好，我叫安娜。",
)


INIT_RANGE = 0.5  # far above the default 0.02, so that what the random model says depends on its input


def _train_sentencepiece(folder: Path) -> Path:
    """A BPE model laid out like Meta's ``sentencepiece.bpe.model`` (unk 0, bos 1, eos 2, no pad), which
    ``SeamlessM4TTokenizer`` shifts by one to put ``<pad>`` at 0."""
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS * 4), model_prefix=str(folder / "sentencepiece.bpe"), vocab_size=256,
        model_type="bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=1.0,
        hard_vocab_limit=False, minloglevel=2,
    )
    (folder / "sentencepiece.bpe.vocab").unlink()
    return folder / "sentencepiece.bpe.model"


def build_seamless(folder: Path, seed: int = 0) -> Path:
    """A SeamlessM4Tv2Model with hidden size 32 and one layer per stack (~0.2 M parameters), saved with the
    file names of facebook/seamless-m4t-v2-large: config, generation config (with the language and
    character maps generation needs), safetensors, feature extractor, sentencepiece model, tokenizer config."""
    import torch
    from transformers import (GenerationConfig, SeamlessM4TFeatureExtractor, SeamlessM4TTokenizer,
                              SeamlessM4Tv2Config, SeamlessM4Tv2Model)

    from lssd.hf import quiet_transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _train_sentencepiece(folder)
    with quiet_transformers():
        lang_tokens = [f"__{c}__" for c in SEAMLESS_TEXT_LANGS]
        tok = SeamlessM4TTokenizer.from_pretrained(folder, additional_special_tokens=lang_tokens)
    units = 24  # t2u vocabulary: 4 control symbols + 20 units
    cfg = SeamlessM4Tv2Config(
        vocab_size=len(tok), t2u_vocab_size=units, unit_hifi_gan_vocab_size=units, char_vocab_size=128,
        hidden_size=32, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=64, decoder_ffn_dim=64,
        encoder_attention_heads=2, decoder_attention_heads=2, speech_encoder_layers=1,
        speech_encoder_attention_heads=2, speech_encoder_intermediate_size=64, conv_depthwise_kernel_size=3,
        t2u_encoder_layers=1, t2u_decoder_layers=1, t2u_encoder_ffn_dim=64, t2u_decoder_ffn_dim=64,
        t2u_encoder_attention_heads=2, t2u_decoder_attention_heads=2, t2u_variance_predictor_embed_dim=32,
        t2u_variance_predictor_hidden_dim=32, variance_predictor_kernel_size=3, upsample_initial_channel=32,
        unit_embed_dim=16, lang_embed_dim=8, spkr_embed_dim=8, vocoder_num_langs=len(SEAMLESS_SPEECH_LANGS),
        vocoder_num_spkrs=1, max_position_embeddings=256, t2u_max_position_embeddings=256,
        left_max_position_embeddings=8, right_max_position_embeddings=4,
        initializer_range=INIT_RANGE,
    )
    torch.manual_seed(seed)
    with quiet_transformers():
        model = SeamlessM4Tv2Model(cfg).eval()
    with torch.no_grad():
        # Random text-to-unit weights can pick control symbols (ids below vocoder_offset), which index the
        # vocoder's embedding negatively. A trained model never does; here one hidden unit is made constant
        # and the control symbols' logits very negative along it.
        norm = model.t2u_model.model.decoder.layer_norm
        norm.weight[0], norm.bias[0] = 0.0, 1.0
        head = model.t2u_model.lm_head.weight
        head[:, 0] = 0.0
        head[: cfg.vocoder_offset, 0] = -1e4
        # Random duration predictors would stretch a word to minutes; fixed durations make speech length
        # follow text length: 2 units per character, one 20 ms vocoder frame per unit.
        for predictor, units_per_step in ((model.t2u_model.model.decoder.duration_predictor, 2),
                                          (model.vocoder.dur_predictor, 1)):
            predictor.proj.weight.zero_()
            predictor.proj.bias.fill_(math.log1p(units_per_step))
    vocab = tok.get_vocab()
    gen = GenerationConfig.from_model_config(cfg)
    gen.text_decoder_lang_to_code_id = {c: tok.convert_tokens_to_ids(f"__{c}__") for c in SEAMLESS_TEXT_LANGS}
    gen.t2u_lang_code_to_id = {c: i for i, c in enumerate(SEAMLESS_SPEECH_LANGS)}
    gen.vocoder_lang_code_to_id = {c: i for i, c in enumerate(SEAMLESS_SPEECH_LANGS)}
    gen.id_to_text = {str(i): t for t, i in vocab.items()}
    gen.char_to_id = {c: i + 4 for i, c in enumerate(sorted({c for t in vocab for c in t}))}
    gen.max_new_tokens = 10  # keeps generation fast; the real config allows 256
    gen._from_model_config = False  # else save_pretrained drops the maps above
    model.generation_config = gen
    with quiet_transformers():
        model.save_pretrained(folder)
        SeamlessM4TFeatureExtractor().save_pretrained(folder)
        tok.save_pretrained(folder)
    (folder / "tokenizer.json").unlink()  # the real repository ships the sentencepiece model instead
    return folder


# kNN-VC: WavLM and the HiFi-GAN vocoder --------------------------------------------------------------------

WAVLM_HIDDEN = 32
_WAVLM_ORIGINAL_CFG = {  # a unilm WavLMConfig dict in the Large layout, tiny
    "extractor_mode": "layer_norm", "encoder_layers": 6, "encoder_embed_dim": WAVLM_HIDDEN,
    "encoder_ffn_embed_dim": 64, "encoder_attention_heads": 2, "activation_fn": "gelu", "layer_norm_first": True,
    "conv_feature_layers": "[(24,10,5)] + [(24,3,2)] * 4 + [(24,2,2)] * 2", "conv_bias": True, "conv_pos": 16,
    "conv_pos_groups": 4, "relative_position_embedding": True, "num_buckets": 32, "max_distance": 64,
    "gru_rel_pos": True, "normalize": True,
}


def build_wavlm(folder: Path, original_format: bool, seed: int = 0) -> Path:
    """A six-layer WavLM with hidden size 32: ``WavLM-Large.pt`` in the unilm layout that kNN-VC's release
    ships (``{"cfg", "model"}``), or a transformers ``save_pretrained`` folder."""
    import torch
    from transformers import WavLMModel

    from lssd.hf import quiet_transformers
    from lssd.knnvc.wavlm import config_from_original, transformers_to_original

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = WavLMModel(config_from_original(_WAVLM_ORIGINAL_CFG)).eval()
    if original_format:
        torch.save({"cfg": dict(_WAVLM_ORIGINAL_CFG), "model": transformers_to_original(model.state_dict())},
                   folder / "WavLM-Large.pt")
    else:
        with quiet_transformers():
            model.save_pretrained(folder)
    return folder


def build_knn_vocoder(folder: Path, feature_dim: int = WAVLM_HIDDEN, seed: int = 0) -> Path:
    """A HiFi-GAN with the real strides (320 samples per frame) and 32 channels, saved as the authors' release
    is: ``prematch_g_02500000.pt`` = ``{"generator": weight-normed state dict}`` + ``config_v1_wavlm.json``."""
    import torch

    from lssd.knnvc.hifigan import Generator, HifiGanConfig, unfold_weight_norm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    h = HifiGanConfig(upsample_initial_channel=32, resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 3, 5),),
                      hubert_dim=feature_dim, hifi_dim=16)
    torch.manual_seed(seed)
    torch.save({"generator": unfold_weight_norm(Generator(h))}, folder / "prematch_g_02500000.pt")
    config = {f: getattr(h, f) for f in h.__dataclass_fields__} | {"hop_size": h.hop, "num_gpus": 0}
    (folder / "config_v1_wavlm.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


# Catalog entries ------------------------------------------------------------------------------------------


def write_catalog_entry(catalog: Path, name: str, folder: Path, *, stage: str, library: str,
                        stages: Iterable[str] = (), requires: Iterable[str] = (), licence: str = "MIT",
                        non_commercial: bool = False) -> Path:
    """``<catalog>/<name>.toml`` listing every file of ``folder`` (sha256, size, a file:// URL)."""
    catalog = Path(catalog)
    catalog.mkdir(parents=True, exist_ok=True)
    lines = [
        f'name = "{name}"', f'title = "Tiny {name}"', f'stage = "{stage}"',
        f"stages = {json.dumps(list(stages) or [stage])}", f'library = "{library}"',
        'description = "A tiny random model for tests: real format, meaningless output."',
        f'licence = "{licence}"', 'licence_url = "https://example.invalid/licence"',
        f"non_commercial = {'true' if non_commercial else 'false'}", f'source = "{Path(folder).as_uri()}"',
        f"requires = {json.dumps(list(requires))}", "",
    ]
    for file in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        rel = file.relative_to(folder).as_posix()
        lines += ["[[files]]", f'name = "{rel}"', f'url = "{file.as_uri()}"', f'sha256 = "{sha256_file(file)}"',
                  f"size = {file.stat().st_size}", ""]
    path = catalog / f"{name}.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# Demucs ---------------------------------------------------------------------------------------------------

DEMUCS_SOURCES = ["drums", "bass", "other", "vocals"]
DEMUCS_SEGMENT = 2.0  # seconds per model segment (the real ones use 7.8-44 s): every chunk is padded to it


def _demucs_model(bagged: bool):
    """A tiny HTDemucs (the htdemucs architecture, ~0.3 M parameters) or HDemucs (the mdx bags', ~60 k)."""
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs

    if bagged:
        return HDemucs(DEMUCS_SOURCES, channels=4, depth=4, nfft=1024, segment=DEMUCS_SEGMENT)
    return HTDemucs(DEMUCS_SOURCES, channels=8, depth=4, nfft=1024, t_layers=1, t_heads=2, segment=DEMUCS_SEGMENT)


def build_demucs(folder: Path, name: str, models: int = 1, seed: int = 0) -> Path:
    """``<name>.yaml`` listing ``models`` signatures and one ``<sig>-<sha256[:8]>.th`` package per model: the
    layout of demucs' remote folder, which ``demucs.pretrained.get_model(name, repo=folder)`` reads. One model
    is a tiny HTDemucs (like htdemucs), several a bag of tiny HDemucs (like mdx_extra)."""
    import torch
    from demucs.states import save_with_checksum

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    signatures = []
    for i in range(models):
        torch.manual_seed(seed + i)
        model = _demucs_model(bagged=models > 1)
        args, kwargs = model._init_args_kwargs
        package = {"klass": type(model), "args": args, "kwargs": kwargs, "state": model.state_dict()}
        signature = hashlib.sha256(f"{name}/{seed}/{i}".encode()).hexdigest()[:8]
        save_with_checksum(package, folder / f"{signature}.th")
        signatures.append(signature)
    bag = f"models: {json.dumps(signatures)}\n" + (f"segment: {DEMUCS_SEGMENT:g}\n" if models > 1 else "")
    (folder / f"{name}.yaml").write_text(bag, encoding="utf-8")
    return folder


# openai-whisper -------------------------------------------------------------------------------------------


def build_whisper(folder: Path, filename: str, seed: int = 0) -> Path:
    """``<folder>/<filename>``: a checkpoint as ``whisper.load_model(path)`` reads it, ``{"dims", "model_state_dict"}``
    in float16 like OpenAI's. Multilingual vocabulary (51865 tokens), so the real tokenizer, language detection
    and word timestamps all run; one layer, width 64, and a 16-token text context, so decoding takes 8 steps."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51865, n_text_ctx=16, n_text_state=64, n_text_head=2, n_text_layer=1)
    torch.manual_seed(seed)
    model = Whisper(dims)
    torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)  # torch.empty otherwise: not reproducible
    state = {k: v.half() for k, v in model.state_dict().items()}
    path = folder / filename
    torch.save({"dims": dims.__dict__, "model_state_dict": state}, path)
    return path


# Installing -----------------------------------------------------------------------------------------------


def install(catalog: Path, model_dir: Path, name: str, folder: Path, *, stage: str, library: str,
            **entry: Any) -> Path:
    """Describe ``folder`` as catalog entry ``name`` (replacing a real entry of that name; ``entry`` goes to
    :func:`write_catalog_entry`) and import it into the store at ``model_dir`` the way ``lssd models import``
    does; returns the installed folder."""
    from lssd.store import get_store

    write_catalog_entry(catalog, name, folder, stage=stage, library=library, **entry)
    store = get_store(catalog_dir=Path(catalog), model_dir=Path(model_dir), echo=lambda msg: None)
    return store.import_(name, folder).path


def copy_catalog(dest: Path) -> Path:
    """lssd's own catalog copied to ``dest``, so a test can replace real entries with tiny ones of the same name
    (and point ``LSSD_CATALOG_DIR`` there) while every other model keeps its real entry."""
    import shutil

    from lssd import paths

    return Path(shutil.copytree(paths.data_dir("models"), dest))
