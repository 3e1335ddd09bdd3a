"""A controlled experiment that shows the mechanism (App. B.3 in miniature, on a CPU).

    .venv/bin/python examples/controlled_experiment.py OUT [--titles 24] [--steps 300] [--seeds 0,1,2]

The world: "movies" whose shots each show a scene (one of five pictures; its soundtrack one of five
generated ambiences, :mod:`lssd.testing.scenes`) and a sign of what is being said (a coloured box per
sentence, as lips would show it), with a speaker saying that sentence over the scene sound. Every
title has the English original and dubs in Spanish, French and Japanese (espeak-ng, the same times,
the same speaker pitch, the same background), and a speech-removed copy (the ground-truth background:
the ideal separator, where the paper uses Demucs). Speech is louder than the scene sound, so audio that
matches the picture can do so through the words (the box) or through the ambience.

Three variants of the ``tiny`` recipe, cross-modal loss only as in App. B.3, trained for the same
steps from the same seeds, and the untrained initialisation as the reference:

* ``no-dub`` (B.3 EN): a_s is the English track again, differently augmented;
* ``dub`` (B.3 EFJ): a_s cycles through the Spanish, French and Japanese dubs;
* ``SEP`` (B.3 SEP): one video-audio pair per shot, the audio speech-removed.

Each run's audio backbone is scored with ``lssd eval hear``'s protocol (hear-eval-kit's MLP grid,
5 folds) on two generated tasks: the scene class of clips that also hold speech in a random language,
and the language of clips of held-out phrases over a random scene sound. The paper predicts: dub
augmentation raises the scene probe and lowers language ID; SEP sees no speech. The table (mean ± std
over seeds, the fold-mean per seed) is printed and written to ``OUT/table.md``; wall and CPU seconds
are printed. Media, index, runs and embeddings are reused when present: a killed run resumes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from lssd import sidecar
from lssd.dsp.testsignals import espeak
from lssd.eval.hear_tasks import run_hear
from lssd.eval.probes import HEAR_GRID
from lssd.languages import get_language
from lssd.testing.scenes import PICTURES, SAMPLE_RATE, SCENES, TaskItem, scene_sound, write_hear_task
from lssd.train.index import build_index, write_index
from lssd.train.build import build_model
from lssd.train.checkpoint import save_checkpoint
from lssd.train.loop import train
from lssd.train.recipes import load_recipe, to_dict
from lssd.train.toy import SENTENCES as TOY_SENTENCES

LANGS = ("eng", "spa", "fra", "jpn")
SCENE_NAMES = tuple(SCENES)
SENTENCES = {lang: TOY_SENTENCES[lang] + extra for lang, extra in {
    "eng": ("The train is late again.", "My sister likes green tea.", "Turn left after the bridge."),
    "spa": ("El tren llega tarde otra vez.", "A mi hermana le gusta el té verde.", "Gira a la izquierda después del puente."),
    "fra": ("Le train est encore en retard.", "Ma sœur aime le thé vert.", "Tourne à gauche après le pont."),
    "jpn": ("でんしゃが また おくれて いる。", "いもうとは りょくちゃが すき です。", "はしの あとで ひだりに まがって。"),
}.items()}
# held-out phrases for the language-ID task (never heard in pretraining)
PHRASES = {
    "eng": ("one two three four five", "the weather is fine today", "please call me tomorrow", "where is the station"),
    "spa": ("uno dos tres cuatro cinco", "hoy hace buen tiempo", "llámame mañana por favor", "dónde está la estación"),
    "fra": ("un deux trois quatre cinq", "il fait beau aujourd'hui", "appelle-moi demain s'il te plaît", "où est la gare"),
    "jpn": ("いち に さん し ご", "きょうは いい てんき です", "あした でんわ して ください", "えきは どこ です か"),
}
GLYPHS = ("red", "lime", "blue", "yellow", "cyan", "magenta", "white", "black")
SIZE = (72, 40)
FPS = 25
SHOT = 4.0  # seconds
SPEECH_RMS, SCENE_GAIN = 0.15, 0.5  # speech louder than the scene sound (RMS 0.05)
VARIANTS = {
    # the reference: the initial weights every variant starts from (seeded as `lssd train` seeds them), never updated
    "untrained": ["data.policy=none", "model.separate_audio_heads=true"],
    "no-dub": ["data.policy=none", "model.separate_audio_heads=true"],
    "dub": ["data.policy=round_robin:spa,fra,jpn", "model.separate_audio_heads=true"],
    "SEP": ["data.policy=none", "data.secondary=false", "data.has_languages=[eng]"],
}


@dataclass(frozen=True)
class Title:
    index: int
    pitch: int  # the speaker's espeak pitch
    hue: int
    shots: tuple[tuple[int, int], ...]  # (scene class, sentence) per shot


def plan(n_titles: int, n_shots: int, seed: int) -> list[Title]:
    rng = np.random.default_rng(seed)
    titles = []
    for i in range(n_titles):
        shots, last = [], -1
        for _ in range(n_shots):
            scene = int(rng.choice([c for c in range(len(SCENE_NAMES)) if c != last]))  # a cut the detector sees
            shots.append((scene, int(rng.integers(len(GLYPHS)))))
            last = scene
        titles.append(Title(i, int(rng.integers(20, 80)), int(rng.integers(0, 360)), tuple(shots)))
    return titles


def _speech(text: str, lang: str, pitch: int) -> np.ndarray:
    wave = espeak(text, get_language(lang).espeak_voice, pitch=pitch)
    active = np.abs(wave) > 0.01
    return wave * SPEECH_RMS / max(float(np.sqrt(np.mean(wave[active] ** 2))) if active.any() else 1.0, 1e-9)


def _place(track: np.ndarray, wave: np.ndarray, at: int) -> None:
    seg = wave[: max(0, track.size - at)]
    track[at:at + seg.size] += seg


def _video_graph(title: Title) -> str:
    w, h = SIZE
    parts = []
    for k, (scene, glyph) in enumerate(title.shots):
        picture = PICTURES[scene]
        source = (f"{picture}=s={w}x{h}:r={FPS},trim=duration={SHOT}" if picture in ("mandelbrot", "cellauto")
                  else f"{picture}=s={w}x{h}:r={FPS}:d={SHOT}")
        parts.append(f"{source},hue=h={title.hue},drawbox=x={w // 2 - 8}:y={h // 2 - 8}:w=16:h=16:"
                     f"color={GLYPHS[glyph]}:t=fill,setsar=1,format=yuv420p[s{k}]")
    labels = "".join(f"[s{k}]" for k in range(len(title.shots)))
    return ";".join(parts) + f";{labels}concat=n={len(title.shots)}:v=1:a=0[v]"


def render(title: Title, media: Path, sep: Path, seed: int) -> None:
    """One title twice: four language tracks, and the speech-removed copy (background only)."""
    name = f"title_{title.index:03d}.mkv"
    if (media / name).is_file() and (sep / name).is_file():
        return
    n_shot = int(SHOT * SAMPLE_RATE)
    background = np.concatenate([SCENE_GAIN * scene_sound(SCENE_NAMES[c], SHOT, [seed, title.index, k])
                                 for k, (c, _) in enumerate(title.shots)])
    tracks = {}
    for lang in LANGS:
        track = background.copy()
        for k, (_, sentence) in enumerate(title.shots):
            _place(track, _speech(SENTENCES[lang][sentence], lang, title.pitch), k * n_shot + int(0.3 * SAMPLE_RATE))
        tracks[lang] = track
    _mux(title, media / name, tracks, dubs=True)
    _mux(title, sep / name, {"eng": background}, dubs=False)


def _mux(title: Title, target: Path, tracks: dict[str, np.ndarray], dubs: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.mkv")
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-filter_complex", _video_graph(title)]
    wavs = []
    for i, (lang, wave) in enumerate(tracks.items()):
        wav = target.with_suffix(f".{lang}.tmp.wav")
        sf.write(wav, np.clip(wave, -1, 1), SAMPLE_RATE, subtype="PCM_16")
        wavs.append(wav)
        cmd += ["-i", str(wav)]
    cmd += ["-map", "[v]"] + [x for i in range(len(tracks)) for x in ("-map", f"{i}:a")]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(2 * FPS), "-c:a", "flac"]
    entries = []
    for i, lang in enumerate(tracks):
        label = get_language(lang).name if dubs else "English (speech removed: ground-truth background)"
        cmd += [f"-metadata:s:a:{i}", f"language={lang}", f"-metadata:s:a:{i}", f"title={label}",
                f"-disposition:a:{i}", "default" if i == 0 else "0"]
        entries.append(sidecar.track_entry(i, lang, sidecar.KIND_ORIGINAL if i == 0 else sidecar.KIND_SYNTHETIC_DUB,
                                           label, None if i == 0 else sidecar.TEXT_TRANSLATION))
    cmd += ["-t", f"{SHOT * len(title.shots):.3f}", str(tmp)]
    try:
        subprocess.run(cmd, check=True, capture_output=True)
    finally:
        for wav in wavs:
            wav.unlink(missing_ok=True)
    sidecar.write(sidecar.path_for(target), {"format": sidecar.FORMAT, "source_language": "eng",
                                             "duration": SHOT * len(title.shots), "tracks": entries})
    tmp.rename(target)


def eval_tasks(root: Path, seed: int, per_fold: int = 4, folds: int = 5, duration: float = 2.0) -> Path:
    """``scene`` (5 classes, speech in a random language over it) and ``language`` (4 languages,
    held-out phrases over a random scene), k-fold, in hear-eval-kit's layout."""
    if all((root / t / "task_metadata.json").is_file() for t in ("scene", "language")):
        return root
    rng = np.random.default_rng([seed, 99])
    n = int(duration * SAMPLE_RATE)

    def clip(scene: str, lang: str, key: list[int]) -> np.ndarray:
        audio = SCENE_GAIN * scene_sound(scene, duration, key)
        phrase = PHRASES[lang][int(rng.integers(len(PHRASES[lang])))]
        _place(audio, _speech(phrase, lang, int(rng.integers(20, 80))), int(rng.uniform(0, 0.5) * SAMPLE_RATE))
        return audio[:n]

    scene_items, lang_items = [], []
    for fold in range(folds):
        for k in range(per_fold):
            for c, scene in enumerate(SCENE_NAMES):
                lang = LANGS[int(rng.integers(len(LANGS)))]
                scene_items.append(TaskItem(f"s{fold}_{k}_{scene}.wav", f"fold{fold:02d}", (scene,),
                                            clip(scene, lang, [seed, 1, fold, k, c])))
            for j, lang in enumerate(LANGS):
                scene = SCENE_NAMES[int(rng.integers(len(SCENE_NAMES)))]
                lang_items += [TaskItem(f"l{fold}_{k}_{lang}.wav", f"fold{fold:02d}", (lang,),
                                        clip(scene, lang, [seed, 2, fold, k, j]))]
    write_hear_task(root, "scene", scene_items, folds=True)
    write_hear_task(root, "language", lang_items, folds=True)
    return root


def pretrain(variant: str, seed: int, index: Path, out: Path, steps: int, batch: int) -> Path:
    if (out / "done").is_file():
        return out
    overrides = [f"optim.steps={steps}", f"optim.warmup_steps={max(1, steps // 10)}", f"train.seed={seed}",
                 "loss.lambda_v=0", "loss.lambda_a=0", f"data.batch_size={batch}", "data.group_size=4", "data.num_workers=1",
                 f"train.ckpt_every={steps}", "train.keep_checkpoints=1", f"train.log_every={max(1, steps // 10)}",
                 *VARIANTS[variant]]
    recipe = load_recipe("tiny", overrides)
    if variant == "untrained":
        torch.manual_seed(seed)  # as lssd.train.loop.setup does before it builds the model
        save_checkpoint({"step": 0, "recipe": to_dict(recipe), "model": build_model(recipe).state_dict()}, out, 1)
    else:
        train(recipe, index, out, resume=True, device="cpu", progress=False)
    (out / "done").write_text("")
    return out


def summarise(results: dict, runs: dict[tuple[str, int], str]) -> tuple[str, dict]:
    """Markdown table: per task, mean ± std over seeds of each seed's fold-mean (%)."""
    table: dict[str, dict[str, list[float]]] = {}
    for (variant, _), name in runs.items():
        for task, score in results["runs"][name]["tasks"].items():
            table.setdefault(task, {}).setdefault(variant, []).append(score["mean"])
    variants = [v for v in VARIANTS if v in {variant for variant, _ in runs}]
    chance = {"scene": 100 / len(SCENE_NAMES), "language": 100 / len(LANGS)}
    lines = ["| task (top-1 %, chance) | " + " | ".join(variants) + " |", "|---" * (len(variants) + 1) + "|"]
    for task in ("scene", "language"):
        cells = [f"{np.mean(table[task][v]):.1f} ± {np.std(table[task][v], ddof=1) if len(table[task][v]) > 1 else 0:.1f}"
                 for v in variants]
        lines.append(f"| {task} ({chance[task]:.0f}) | " + " | ".join(cells) + " |")
    return "\n".join(lines), table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--titles", type=int, default=24)
    parser.add_argument("--shots", type=int, default=6, help="shots per title (4 s each)")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--per-fold", type=int, default=4, help="eval clips per class per fold")
    parser.add_argument("--grid-points", type=int, default=HEAR_GRID.grid_points)
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny tensors: one thread computes while a loader worker decodes
    start = time.perf_counter()
    out: Path = args.out
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [v for v in args.variants.split(",") if v]

    titles = plan(args.titles, args.shots, seed=0)
    for title in titles:
        render(title, out / "media", out / "media_sep", seed=0)
    indexes = {}
    for name, folder in (("media", out / "media"), ("sep", out / "media_sep")):
        path = out / f"{name}.parquet"
        if not path.is_file():
            write_index(build_index(folder, split_long=True), path)
        indexes[name] = path
    tasks = eval_tasks(out / "tasks", seed=0, per_fold=args.per_fold)
    print(f"data ready: {len(titles)} titles, {time.perf_counter() - start:.0f} s", flush=True)

    runs: dict[tuple[str, int], str] = {}
    for seed in seeds:
        for variant in variants:
            t0 = time.perf_counter()
            run = pretrain(variant, seed, indexes["sep" if variant == "SEP" else "media"],
                           out / "runs" / f"{variant}-s{seed}", args.steps, args.batch)
            runs[(variant, seed)] = run.name
            print(f"trained {run.name}: {time.perf_counter() - t0:.0f} s", flush=True)
    grid = HEAR_GRID if args.grid_points == HEAR_GRID.grid_points else \
        __import__("dataclasses").replace(HEAR_GRID, grid_points=args.grid_points)
    run_hear([out / "runs" / name for name in runs.values()], tasks, out / "hear", grid=grid, device="cpu",
             progress=False)
    results = json.loads((out / "hear" / "hear_results.json").read_text())
    markdown, table = summarise(results, runs)
    usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)
    wall = time.perf_counter() - start
    footer = (f"{len(seeds)} seeds x {args.steps} steps, batch {args.batch}, {len(titles)} titles; "
              f"wall {wall:.0f} s, CPU {cpu:.0f} s")
    (out / "table.md").write_text(markdown + "\n\n" + footer + "\n")
    (out / "table.json").write_text(json.dumps({"per_seed": table, "wall_s": wall, "cpu_s": cpu,
                                                "args": vars(args) | {"out": str(out)}}, indent=2))
    print(markdown)
    print(footer)


if __name__ == "__main__":
    main()
