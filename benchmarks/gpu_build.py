"""How a GPU would be used by ``lssd build-dataset``, ready for a lent GPU node (issue 20).

The node cannot download weights either, so the paper's model stages are built at their real sizes with
random weights (random weights cost what trained ones cost: the work is the same matrix products):

    separate       htdemucs (42 M parameters, 7.8 s segments; the CLI's default separator — --profile
                   paper's mdx_extra is a bag of four models and costs more), fp32 as lssd runs it
    transcribe     Whisper large-v3's dimensions (openai-whisper, lssd's --asr whisper): encoder per 30 s
                   window, greedy decoding with a KV cache, fp16 on a GPU
    translate      SeamlessM4T v2 large's config (the whole 2.3 B model is loaded, fp16 on a GPU, as
                   lssd.backends.seamless does): text encoder + greedy text decoding with a cache, a batch of
                   8 segments
    synthesize     its unit HiFi-GAN vocoder, 50 units per second of speech (the non-autoregressive
                   text-to-unit model is not timed: its length comes from a duration predictor that random
                   weights make arbitrary)
    voice-convert  WavLM-Large's first 6 layers on the segment and the speaker's reference, kNN matching,
                   kNN-VC's HiFi-GAN

Generation is capped at realistic lengths (3.5 tokens per second of speech, speech 60 % of the audio,
4 s segments), so random weights never decode unboundedly.

What it prints:

* per model stage: device seconds per minute of audio, parameters, peak memory;
* the CPU stages of a worker, measured by a real offline build of a generated clip on this machine
  (decode, diarize, align, loudness, remux, QC: what a worker does between model stages), and the share
  of that worker's wall time in model stages vs CPU stages — always, also on a CPU;
* the projection: with the model stages as measured on ``--device``, the share of a worker's time in
  model stages, which bounds how idle one worker per GPU leaves the GPU;
* clips/hour per GPU, GPU utilisation and memory at 1, 2 and 4 workers per GPU, and the LVU-M estimate
  (≈370 h of video, es+fr+ja) each implies. On a GPU these are measured: N processes each load the models
  and loop over clips, each worker's CPU stages stood in for by a pause of their measured length (the
  GPU is free meanwhile, as it is while a real worker aligns or remuxes; a 16-core node has cores enough
  for 4 workers' CPU stages), utilisation and memory sampled from nvidia-smi. Without ``--measure`` (the
  default on a CPU) they are a model: N workers overlap their CPU stages with the GPU until it is busy.

    python benchmarks/gpu_build.py                     # on a GPU node: real sizes, measured (≤ 8 minutes)
    python benchmarks/gpu_build.py --size tiny         # on a CPU: tiny sizes, a smoke run (≈30 s)
    python benchmarks/gpu_build.py --cpu-profile benchmarks/gpu_build_cpu_profile.json   # a GPU node without
                                                       # ffmpeg/espeak-ng/offline models: CPU stages from a file

The model stages need torch, transformers, demucs and openai-whisper (and lssd on PYTHONPATH); measuring
the CPU stages needs lssd's whole offline stack. ``--save-cpu-profile FILE`` writes what was measured;
benchmarks/gpu_build_cpu_profile.json holds a 30 s clip's CPU stages from the project's 2-core CPU
machine (slower than a GPU node's cores: an upper bound on their time).

No GPU was lent to the session that wrote this, so it has never run on one. What a CPU can check is checked
(tests/dataset/test_gpu_build.py): the real sizes' parameter counts against the published ones, and, in a
slow test, every real-size stage's code (SeamlessM4T and WavLM-Large on the meta device, htdemucs and the
vocoder on the CPU, Whisper at large-v3's widths with one layer); the measured-workers path runs on a CPU.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import torch

from lssd import stages as lssd_stages
from lssd.dataset.gpus import CUDA_CONTEXT_BYTES
from lssd.dub.paper_profile import STACK

warnings.filterwarnings("ignore", message="pkg_resources is deprecated")  # pyworld's import, in the CPU stages

# speech rates that cap generation (Whisper and SeamlessM4T tokens, SeamlessM4T units)
TOKENS_PER_S = 3.5  # BPE tokens per second of speech (≈2.5 words/s)
UNITS_PER_S = 50  # SeamlessM4T's discrete units: 20 ms each
SPEECH_SHARE = 0.6  # of a clip's audio is speech
SEGMENT_S = 4.0  # mean dubbed segment
SEAMLESS_BATCH = 8  # lssd batches SeamlessM4T over 8 segments
LVU_M_HOURS = 370.0
LVU_M_LANGS = 3  # es, fr, ja
LVU_IDS = 9_996  # ids in LVU's split files: 370 h over them is a mean clip of ≈133 s
MODEL_STAGES = tuple(s.stage for s in STACK)  # the paper's model stages: on the GPU on a GPU node
WORKERS = (1, 2, 4)
SOURCES = ["drums", "bass", "other", "vocals"]
SIZES = {
    "real": {"whisper": dict(n_mels=128, n_audio_ctx=1500, n_audio_state=1280, n_audio_head=20, n_audio_layer=32,
                             n_vocab=51866, n_text_ctx=448, n_text_state=1280, n_text_head=20, n_text_layer=32),
             "seamless": {},  # SeamlessM4Tv2Config's defaults are facebook/seamless-m4t-v2-large
             # htdemucs (955717e8): 42 M parameters (its 80 MiB fp16 checkpoint), 7.8 s segments
             "demucs": dict(channels=48, depth=4, nfft=4096, dconv_mode=3, t_layers=5, t_heads=8, bottom_channels=512,
                            segment=Fraction(39, 5)),
             "wavlm": dict(encoder_layers=24, encoder_embed_dim=1024, encoder_ffn_embed_dim=4096,
                           encoder_attention_heads=16),
             "hifigan": {}},  # kNN-VC's prematch_g_02500000 generator
    "tiny": {"whisper": dict(n_mels=80, n_audio_ctx=1500, n_audio_state=32, n_audio_head=2, n_audio_layer=1,
                             n_vocab=51865, n_text_ctx=448, n_text_state=32, n_text_head=2, n_text_layer=1),
             "seamless": dict(hidden_size=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                              decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=1000,
                              speech_encoder_layers=1, t2u_encoder_layers=1, t2u_decoder_layers=1,
                              upsample_initial_channel=32, unit_embed_dim=32, lang_embed_dim=8, spkr_embed_dim=8),
             # lssd.testing.tiny_models' htdemucs: depth 4 as the real one (a shallower net leaves its
             # transformer a sequence so long that one attention matrix needs ~24 GB), 2 s segments
             "demucs": dict(channels=8, depth=4, nfft=1024, t_layers=1, t_heads=2, segment=2.0),
             "wavlm": dict(encoder_embed_dim=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_embed_dim=64,
                           conv_feature_layers="[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2", conv_pos_groups=2),
             "hifigan": dict(upsample_initial_channel=32, hubert_dim=32, hifi_dim=32)},
}


@dataclass
class ModelStage:
    name: str
    models: list[torch.nn.Module]
    run: Callable[[float], None]  # the stage's model work for that many seconds of audio

    @property
    def params(self) -> int:
        return sum(p.numel() for m in self.models for p in m.parameters())


def _segments(audio_s: float) -> int:
    return max(1, round(audio_s * SPEECH_SHARE / SEGMENT_S))


def separate(size: str, device: torch.device) -> list[ModelStage]:
    from demucs.apply import apply_model
    from demucs.htdemucs import HTDemucs

    model = HTDemucs(sources=SOURCES, **SIZES[size]["demucs"]).to(device).eval()

    def run(audio_s: float) -> None:
        mix = torch.randn(1, 2, int(44_100 * audio_s), device=device) * 0.1
        apply_model(model, mix, shifts=1, split=True, overlap=0.25, progress=False, device=device)

    return [ModelStage(lssd_stages.SEPARATE, [model], run)]


def whisper_model(size: str, device: torch.device):
    from whisper.model import ModelDimensions, Whisper

    with torch.device(device):
        model = Whisper(ModelDimensions(**SIZES[size]["whisper"]))
        torch.nn.init.normal_(model.decoder.positional_embedding, std=0.01)  # torch.empty: garbage, maybe NaN
    return (model.half() if device.type == "cuda" else model).eval()  # whisper's fp16 on a GPU


def transcribe(size: str, device: torch.device) -> list[ModelStage]:
    import whisper

    model = whisper_model(size, device)
    dtype = next(model.parameters()).dtype
    audio = torch.randn(16_000 * 30, device=device) * 0.1
    prompt = torch.tensor([[50258, 50259, 50360]], device=device)  # sot, language, transcribe

    def run(audio_s: float) -> None:
        for w in range(math.ceil(audio_s / 30)):
            window = min(30.0, audio_s - 30 * w)
            mel = whisper.log_mel_spectrogram(audio, model.dims.n_mels).to(dtype)[None]
            features = model.encoder(mel)
            cache, hooks = model.install_kv_cache_hooks()
            tok = prompt
            logits = model.decoder(tok, features, kv_cache=cache)
            for _ in range(max(1, int(TOKENS_PER_S * window * SPEECH_SHARE))):
                tok = torch.cat([tok, logits[:, -1:].argmax(-1)], dim=1)
                logits = model.decoder(tok[:, -1:], features, kv_cache=cache)
            for hook in hooks:
                hook.remove()

    return [ModelStage(lssd_stages.TRANSCRIBE, [model], run)]


def seamless_model(size: str, device: torch.device):
    from transformers import SeamlessM4Tv2Config, SeamlessM4Tv2Model

    from lssd.hf import quiet_transformers

    dtype = torch.float16 if device.type == "cuda" else torch.float32  # lssd.backends.seamless: fp16 on a GPU
    with quiet_transformers(), torch.device(device):
        return SeamlessM4Tv2Model(SeamlessM4Tv2Config(**SIZES[size]["seamless"])).to(dtype).eval()


def seamless(size: str, device: torch.device) -> list[ModelStage]:
    """One SeamlessM4T v2 per worker serves translate (text decoding) and synthesize (the vocoder)."""
    from lssd.hf import quiet_transformers

    model = seamless_model(size, device)
    config = model.config
    tokens = max(1, int(TOKENS_PER_S * SEGMENT_S))
    units = int(UNITS_PER_S * SEGMENT_S)
    # transformers ≥ 5.2x names the decoder cache `cache`; earlier releases (a GPU image's) `past_key_values`
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    def batches(audio_s: float) -> list[int]:
        n = _segments(audio_s)
        return [min(SEAMLESS_BATCH, n - start) for start in range(0, n, SEAMLESS_BATCH)]

    def translate(audio_s: float) -> None:
        with quiet_transformers():
            for n in batches(audio_s):
                ids = torch.randint(4, config.vocab_size, (n, tokens), device=device)
                enc = model.text_encoder(input_ids=ids)
                out = model(input_ids=ids, encoder_outputs=enc, use_cache=True,
                            decoder_input_ids=torch.full((n, 1), 2, device=device))
                for _ in range(tokens):
                    past = out.cache if cache_kw == "cache" else out.past_key_values
                    out = model(input_ids=ids, encoder_outputs=enc, decoder_input_ids=out.logits[:, -1:].argmax(-1),
                                use_cache=True, **{cache_kw: past})

    def synthesize(audio_s: float) -> None:
        for n in batches(audio_s):
            ids = torch.randint(0, config.unit_hifi_gan_vocab_size, (n, units), device=device)
            zero = torch.zeros(n, 1, dtype=torch.long, device=device)
            model.vocoder(input_ids=ids, speaker_id=zero, lang_id=zero)

    # the whole model's weights count once, under translate
    return [ModelStage(lssd_stages.TRANSLATE, [model], translate), ModelStage(lssd_stages.SYNTHESIZE, [], synthesize)]


WAVLM_LARGE = {"layer_norm_first": True, "extractor_mode": "layer_norm", "relative_position_embedding": True,
               "gru_rel_pos": True}  # WavLM-Large's layout (unilm config names)


def knn_vc_models(size: str, device: torch.device):
    from transformers import WavLMModel

    from lssd.knnvc.hifigan import Generator, HifiGanConfig
    from lssd.knnvc.wavlm import LAYER, config_from_original

    with torch.device(device):
        wavlm = WavLMModel(config_from_original({**WAVLM_LARGE, **SIZES[size]["wavlm"]}, layers=LAYER)).eval()
        vocoder = Generator(HifiGanConfig(**SIZES[size]["hifigan"])).eval()
    return wavlm, vocoder


def voice_convert(size: str, device: torch.device) -> list[ModelStage]:
    from lssd.knnvc.matching import knn_match
    from lssd.knnvc.wavlm import LAYER

    wavlm, vocoder = knn_vc_models(size, device)

    def run(audio_s: float) -> None:
        speech = torch.randn(1, int(16_000 * audio_s * SPEECH_SHARE), device=device) * 0.1
        reference = torch.randn(1, int(16_000 * min(audio_s, 60.0) * SPEECH_SHARE), device=device) * 0.1
        matching = wavlm(reference, output_hidden_states=True).hidden_states[LAYER][0]
        query = wavlm(speech, output_hidden_states=True).hidden_states[LAYER][0]
        vocoder(knn_match(query, matching)[None])

    return [ModelStage(lssd_stages.VOICE_CONVERT, [wavlm, vocoder], run)]


def build(size: str, device: torch.device) -> list[ModelStage]:
    """All model stages of one worker, loaded at once as a worker holds them, in the stages' order."""
    built = [s for make in (separate, transcribe, seamless, voice_convert) for s in make(size, device)]
    return sorted(built, key=lambda s: lssd_stages.NAMES.index(s.name))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_stages(built: list[ModelStage], device: torch.device, audio_s: float) -> dict[str, float]:
    """Seconds of each stage's model work on ``audio_s`` of audio, after a short warm-up (kernel choice,
    allocator growth)."""
    seconds = {}
    with torch.inference_mode():
        for stage in built:
            stage.run(min(audio_s, 4.0))
            sync(device)
            t0 = time.perf_counter()
            stage.run(audio_s)
            sync(device)
            seconds[stage.name] = time.perf_counter() - t0
    return seconds


def cpu_stages(clip_s: float) -> tuple[dict[str, float], float]:
    """A real offline build of one generated clip by a dataset worker, in-process, after a warm-up clip
    (imports and model loads happen once per worker): seconds per minute of audio per stage (+ QC, + the
    rest of the worker's wall time) and the clip's wall seconds. Its model stages run the offline stack's
    backends here; its CPU stages are the ones a GPU worker runs."""
    from lssd.dataset.worker import ClipWorker, Job, WorkerSpec
    from lssd.samples import make_sample_clip

    with tempfile.TemporaryDirectory(prefix="lssd-gpu-build-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        lines = tuple((0.5 + t, "The boats come back before the evening storm.")
                      for t in range(0, max(1, int(clip_s) - 3), 5))
        make_sample_clip(clip, duration=clip_s, lines=lines, seed=0)
        worker = ClipWorker(WorkerSpec(str(Path(tmp) / "out"), ["spa"], {"source_language": "en", "threads": 1}, qc=True))
        worker.run(Job("warm-up", str(clip)))
        shutil.rmtree(Path(tmp) / "out", ignore_errors=True)
        row = worker.run(Job("clip", str(clip)))
    if row["status"] != "done":
        raise SystemExit(f"the offline build of the generated clip failed: {row.get('reason')}")
    per_min = 60.0 / clip_s
    per_stage: dict[str, float] = {}
    for key, value in row["stage_seconds"].items():  # "translate:spa" → translate
        name = key.split(":")[0]
        per_stage[name] = per_stage.get(name, 0.0) + value * per_min
    per_stage["qc"] = json.loads(row["qc"]).get("seconds", 0.0) * per_min if row.get("qc") else 0.0
    per_stage["other"] = max(0.0, row["wall_seconds"] * per_min - sum(per_stage.values()))
    return per_stage, float(row["wall_seconds"])


def cpu_work(cpu_per_min: dict[str, float], langs: int) -> float:
    """Seconds per minute of audio a worker spends outside model stages for ``langs`` target languages
    (measured with one: per-language stages and QC scale)."""
    scaled = set(lssd_stages.PER_LANGUAGE) | {"qc"}
    return sum(v * (langs if k in scaled else 1) for k, v in cpu_per_min.items() if k not in MODEL_STAGES)


def model_work(gpu_per_min: dict[str, float], langs: int) -> float:
    return sum(v * (langs if k in lssd_stages.PER_LANGUAGE else 1) for k, v in gpu_per_min.items())


def one_round(built: list[ModelStage], audio_s: float, langs: int) -> None:
    """One clip's model work: global stages once, per-language stages once per target language."""
    for stage in built:
        for _ in range(langs if stage.name in lssd_stages.PER_LANGUAGE else 1):
            stage.run(audio_s)


def _worker(index: int, workers: int, size: str, device_name: str, audio_s: float, langs: int, rounds: int,
            pause_s: float, start, results) -> None:
    """One measured GPU worker: load the models, wait for the others, then ``rounds`` clips of model work
    each followed by the CPU stages' pause. Worker ``i`` first waits ``i/N`` of a pause, so the workers are
    out of step as in a running build, and its rate is timed from then."""
    device = torch.device(device_name)
    torch.manual_seed(index)
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        built = build(size, device)
        if device.type == "cuda":  # the fp32 copies models were made in: a real worker loads fp16 files
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode():
            one_round(built, min(audio_s, 4.0), 1)  # warm-up
            sync(device)
            start.wait()
            time.sleep(pause_s * index / workers)
            t_start, model_s = time.perf_counter(), 0.0
            for _ in range(rounds):
                t0 = time.perf_counter()
                one_round(built, audio_s, langs)
                sync(device)
                model_s += time.perf_counter() - t0
                time.sleep(pause_s)
        peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
        results.put({"worker": index, "model_s": model_s, "rate": rounds * audio_s / (time.perf_counter() - t_start),
                     "peak_bytes": peak, "error": None})
    except Exception as exc:  # an out-of-memory GPU is a result: N workers do not fit
        start.abort()
        results.put({"worker": index, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})


class GpuSampler:
    """nvidia-smi's utilisation and memory of one GPU, sampled every ``every`` seconds in a thread."""

    def __init__(self, index: int, every: float = 0.5) -> None:
        self.index, self.every = index, every
        self.util: list[float] = []
        self.used_mib: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi"):
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        query = ["nvidia-smi", f"--id={self.index}", "--query-gpu=utilization.gpu,memory.used",
                 "--format=csv,noheader,nounits"]
        while not self._stop.wait(self.every):
            try:
                util, used = subprocess.run(query, capture_output=True, text=True, timeout=5).stdout.split(",")[:2]
                self.util.append(float(util))
                self.used_mib.append(float(used))
            except (ValueError, subprocess.SubprocessError, OSError):
                pass


def measure_workers(n: int, args, audio_s: float, pause_s: float) -> dict:
    """``n`` worker processes sharing the device: audio seconds per wall second, GPU utilisation, memory."""
    ctx = mp.get_context("spawn")  # CUDA cannot be forked
    start, results = ctx.Barrier(n + 1), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(i, n, args.size, args.device, audio_s, LVU_M_LANGS, args.rounds,
                                               pause_s, start, results)) for i in range(n)]
    for p in procs:
        p.start()
    index = torch.device(args.device).index or 0
    try:
        start.wait(timeout=args.budget_s)
    except threading.BrokenBarrierError:
        pass
    t0 = time.perf_counter()
    with GpuSampler(index) as sampler:
        try:
            rows = [results.get(timeout=args.budget_s) for _ in procs]
        except queue.Empty:  # a worker killed outright (the kernel's OOM killer) sends nothing
            rows = [{"error": "a worker process died without a result"}]
        wall = time.perf_counter() - t0
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    errors = [r["error"] for r in rows if r["error"]]
    if errors:
        return {"workers": n, "error": errors[0]}
    return {"workers": n, "audio_s_per_s": sum(r["rate"] for r in rows), "wall_s": wall,
            "model_s_per_round": sum(r["model_s"] for r in rows) / (n * args.rounds),
            "gpu_util": sum(sampler.util) / len(sampler.util) if sampler.util else None,
            "gpu_used_GiB": max(sampler.used_mib) / 1024 if sampler.used_mib else None,
            "peak_GiB_per_worker": max(r["peak_bytes"] for r in rows) / 2**30}


def estimate_line(n: int, audio_s_per_s: float, busy: float | None, memory: str, clip_s: float) -> str:
    clips_h = audio_s_per_s * 3600 / clip_s
    lvu_h = LVU_M_HOURS / audio_s_per_s
    util = "n/a" if busy is None else f"{100 * busy:.0f} %"
    return (f"  {n} worker(s)/GPU: {clips_h:.0f} clips/h of {clip_s:.0f} s, GPU busy {util}, {memory}; "
            f"LVU-M ({LVU_M_HOURS:g} h of video, {LVU_M_LANGS} languages) ≈ {lvu_h:.1f} h on one GPU")


def main() -> int:
    cuda = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=tuple(SIZES), default="real" if cuda else "tiny")
    ap.add_argument("--device", default="cuda" if cuda else "cpu")
    ap.add_argument("--audio-s", type=float, default=None, help="audio per model stage [default: 60 real, 8 tiny]")
    ap.add_argument("--clip-s", type=float, default=8.0, help="length of the clip the CPU stages are measured on")
    ap.add_argument("--measure", action=argparse.BooleanOptionalAction, default=None,
                    help="measure 1, 2, 4 concurrent workers [default: on a GPU]")
    ap.add_argument("--cpu-profile", default=None,
                    help="the CPU stages from this file instead of measuring them (a node without lssd's offline stack)")
    ap.add_argument("--save-cpu-profile", default=None, help="write the CPU stages measured here to this file")
    ap.add_argument("--rounds", type=int, default=2, help="clips per measured worker")
    ap.add_argument("--budget-s", type=float, default=440.0,
                    help="measure no more worker counts once the next would end past this many seconds")
    args = ap.parse_args()
    device = torch.device(args.device)
    audio_s = args.audio_s or (60.0 if args.size == "real" else 8.0)
    measure = device.type == "cuda" if args.measure is None else args.measure
    mean_clip_s = LVU_M_HOURS * 3600 / LVU_IDS
    cpu0, t_start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"size {args.size} on {device} ({name}), {audio_s:g} s of audio per model stage, random weights", flush=True)

    torch.manual_seed(0)
    if device.type == "cpu":  # one thread, as a dataset worker on a shared machine: no spinning thread pools
        torch.set_num_threads(1)
    built = build(args.size, device)
    if device.type == "cuda":  # peak memory from here: the loaded models and their work, not their making
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    seconds = time_stages(built, device, audio_s)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    for stage in built:
        print(json.dumps({"stage": stage.name, "params_M": round(stage.params / 1e6, 1),
                          "device_s_per_min": round(seconds[stage.name] * 60 / audio_s, 3)}), flush=True)
    gpu_per_min = {k: v * 60 / audio_s for k, v in seconds.items()}
    print(f"one worker's models: {sum(s.params for s in built) / 1e6:.0f} M parameters"
          + ("" if peak is None else f", peak {peak:.1f} GiB allocated on the GPU"), flush=True)
    del built
    if device.type == "cuda":
        torch.cuda.empty_cache()

    if args.cpu_profile:
        profile = json.loads(Path(args.cpu_profile).read_text(encoding="utf-8"))
        where = f"from {args.cpu_profile}, measured on {profile['machine']}"
    else:
        try:
            per_min, clip_wall = cpu_stages(args.clip_s)
        except (ImportError, OSError) as exc:  # no ffmpeg, espeak-ng or offline models on this node
            raise SystemExit(f"cannot measure the CPU stages here ({type(exc).__name__}: {exc}): pass --cpu-profile "
                             "FILE, written on a machine with lssd's offline stack by --save-cpu-profile FILE") from None
        profile = {"machine": f"{platform.node()} ({os.cpu_count()} cores)", "clip_s": args.clip_s,
                   "clip_wall_s": round(clip_wall, 2), "per_min": {k: round(v, 3) for k, v in per_min.items()}}
        where = "measured here"
        if args.save_cpu_profile:
            Path(args.save_cpu_profile).write_text(json.dumps(profile, indent=1) + "\n", encoding="utf-8")
    cpu_per_min = profile["per_min"]
    print(f"CPU stages of a worker, s per minute of audio (a real offline build of a generated {profile['clip_s']:g} s "
          f"clip, 1 language, {where}): "
          + json.dumps({k: round(v, 2) for k, v in cpu_per_min.items() if k not in MODEL_STAGES}))
    total = sum(cpu_per_min.values())
    share = {"model stages": sum(v for k, v in cpu_per_min.items() if k in MODEL_STAGES) / total,
             "CPU stages": cpu_work(cpu_per_min, 1) / total}
    print(f"worker wall time ({profile['clip_wall_s']:.1f} s for the clip, offline stack, {where}): "
          + ", ".join(f"{k} {100 * v:.0f} %" for k, v in share.items()) + " (QC and the worker's own upkeep "
          "count as CPU stages)")
    for langs in (1, LVU_M_LANGS):
        model, cpu = model_work(gpu_per_min, langs), cpu_work(cpu_per_min, langs)
        print(f"projected, {args.size} models on {device.type}, {langs} language(s): {model:.1f} s in model stages + "
              f"{cpu:.1f} s in CPU stages per minute of audio — a worker spends {100 * model / (model + cpu):.0f} % "
              f"of its time in model stages, so one worker per GPU leaves it idle ≥ {100 * cpu / (model + cpu):.0f} %")

    model, cpu = model_work(gpu_per_min, LVU_M_LANGS), cpu_work(cpu_per_min, LVU_M_LANGS)
    if measure:
        print(f"measured: N worker processes on {device}, {args.rounds} clip(s) of {audio_s:g} s each, "
              f"{LVU_M_LANGS} languages, CPU stages stood in for by a {cpu * audio_s / 60:.1f} s pause per clip")
        took = 0.0
        for n in WORKERS:
            if time.perf_counter() - t_start + 1.5 * took > args.budget_s:  # more workers take longer
                print(f"  {n} worker(s)/GPU: skipped, it would end past --budget-s {args.budget_s:g}")
                continue
            t0 = time.perf_counter()
            r = measure_workers(n, args, audio_s, cpu * audio_s / 60)
            took = time.perf_counter() - t0
            if r.get("error"):
                print(f"  {n} worker(s)/GPU: failed — {r['error']}")
                continue
            memory = ("memory n/a on a CPU" if device.type == "cpu" else f"{r['gpu_used_GiB']:.1f} GiB used"
                      if r["gpu_used_GiB"] is not None else f"{r['peak_GiB_per_worker']:.1f} GiB peak per worker")
            busy = None if r["gpu_util"] is None else r["gpu_util"] / 100
            print(estimate_line(n, r["audio_s_per_s"], busy, memory, mean_clip_s), flush=True)
    else:
        print(f"modelled (not measured; --measure on a GPU measures): N workers overlap CPU stages with the "
              f"model stages until the device is busy, {LVU_M_LANGS} languages")
        for n in WORKERS:
            per_min_wall = max(model, (model + cpu) / n)
            memory = ("memory n/a on a CPU" if peak is None else
                      f"≈{n * (peak + CUDA_CONTEXT_BYTES / 2**30):.1f} GiB for {n} worker(s)")
            print(estimate_line(n, 60 / per_min_wall, model / per_min_wall, memory, mean_clip_s))
    used = resource.getrusage(resource.RUSAGE_SELF)
    print(f"took {time.perf_counter() - t_start:.0f} s wall, "
          f"{used.ru_utime + used.ru_stime - cpu0.ru_utime - cpu0.ru_stime:.0f} s CPU (this process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
