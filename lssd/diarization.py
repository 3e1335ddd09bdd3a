"""Who speaks when: speaker turns of a clip, and transcript segments split so each has one speaker.

The offline method (no download): Silero VAD gives the speech; the GE2E speaker encoder
(:mod:`lssd.speaker`, Resemblyzer's weights) embeds sliding :data:`WINDOW_S` windows of it every
:data:`HOP_S`. The number of speakers (:func:`cluster`): SciPy's agglomerative clustering (cosine distance,
average linkage) cut at a distance threshold, counting only clusters with at least :data:`MIN_SPEAKER_S`
of windows, bounds it from above; within that bound the eigengap search of NME-SC chooses it, and spectral
clustering (:func:`spectral`) groups the windows (``speakers`` fixes the count, ``min_speakers`` /
``max_speakers`` bound it). Every window is then reassigned to its nearest speaker centroid, and every
10 ms of speech takes the speaker of the window centred nearest to it.

Why not the threshold alone: residual music in separated vocals spreads each voice's windows, and a fixed
threshold then splits one voice in two (two_speakers.wav with a music bed at 10 dB below the speech, through
the dsp separator: 3 speakers, DER 13 %; two men's espeak voices under a louder bed: 3 speakers, DER 35 %);
the eigengap is relative to the spread, and found 2 in all of those (DER 3–6 % and 0 %). SciPy rather than
scikit-learn: the same methods, without scikit-learn's import, which cost more CPU than the clustering.

Overlapped speech gets one speaker: the one whose window is nearest (in practice the louder voice). A dub
has one voice at a time per segment, so a second, overlapping speaker is not dubbed separately.

Why these numbers: measured on ``two_speakers.wav`` (pyannote's real 2-speaker sample), 1.2 s windows
resolve its sub-second turns better than GE2E's 1.6 s partials, and a threshold of 0.3 (similarity 0.7)
keeps its two voices apart and, on generated clips, espeak-ng voices of different pitch. A hop of 0.5 s
(not 0.25 s) halves the windows to embed and scored no worse (``benchmarks/diarize_der.py --hop``:
two_speakers.wav DER 0.9 % vs 5.4 %, generated 2- and 3-speaker clips 0.0–0.7 % either way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from lssd.segments import Segment, Word

WINDOW_S = 1.2  # seconds of speech per embedding
HOP_S = 0.5  # seconds between window centres (the resolution of a speaker change)
THRESHOLD = 0.3  # cosine distance (average linkage) under which two groups of windows are one speaker
MIN_SPEAKER_S = 2.0  # a threshold cluster with less speech than this is noise: it does not count as a speaker
P_SEARCH = 20  # sparsities tried by the eigengap search (NME-SC's search volume)
P_SHARE = 0.25  # the densest graph tried joins each window to this share of all windows (NME-SC's bound)
MAX_WINDOWS = 3000  # beyond this the hop grows (clustering memory is quadratic in windows; the eigengap
# search takes ≈44 CPU s at 3000 windows, ≈2 s at 1000, 0.6 s at 300)
FRAME_S = 0.01  # resolution of the turns
MIN_PIECE_S = 0.3  # a run of words shorter than this stays with its neighbours' speaker
BATCH = 256  # windows per encoder call
SPEAKER_PREFIX = "S"  # speaker ids S1, S2, … in order of first appearance


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Settings:
    speakers: int = 0  # 0 = estimate
    min_speakers: int = 1
    max_speakers: int = 8
    window_s: float = WINDOW_S
    hop_s: float = HOP_S
    threshold: float = THRESHOLD


def speaker_name(index: int) -> str:
    return f"{SPEAKER_PREFIX}{index + 1}"


def window_centres(spans: Sequence[tuple[float, float]], window_s: float, hop_s: float) -> list[float]:
    """Centres of the windows covering each speech span: one per span shorter than a window, else every
    ``hop_s`` from the first whole window to the last (which ends at the span's end)."""
    centres: list[float] = []
    for a, b in spans:
        if b - a <= window_s:
            centres.append((a + b) / 2)
            continue
        first, last = a + window_s / 2, b - window_s / 2
        n = int(np.floor((last - first) / hop_s + 1e-9)) + 1
        centres += [first + i * hop_s for i in range(n)]
        if last - centres[-1] > 1e-3:
            centres.append(last)
    return centres


def embed_windows(read: Callable[[float, float], np.ndarray], spans: Sequence[tuple[float, float]],
                  centres: Sequence[float], window_s: float) -> np.ndarray:
    """GE2E embedding (n, 256) of the ``window_s`` around each centre, clipped to its span. ``read(a, b)``
    returns mono 16 kHz audio of [a, b] s; each span is read once and its level set to Resemblyzer's
    −30 dBFS, as :func:`lssd.speaker.embed` does for a whole utterance."""
    from lssd import speaker

    frames = int(round(window_s * 100))  # mel frames are 10 ms
    mels, out = [], []
    spans = list(spans)
    c = 0
    for a, b in spans:
        wav = np.asarray(read(a, b), dtype=np.float32)
        rms = float(np.sqrt(np.mean(wav ** 2))) if wav.size else 0.0
        mel = speaker._mel(wav * (10 ** (-30 / 20) / (rms + 1e-12)))
        if mel.shape[0] < frames:
            mel = np.pad(mel, ((0, frames - mel.shape[0]), (0, 0)))
        while c < len(centres) and centres[c] <= b + 1e-6:
            s = int(round((centres[c] - window_s / 2 - a) * 100))
            s = min(max(s, 0), mel.shape[0] - frames)
            mels.append(mel[s:s + frames])
            c += 1
    for i in range(0, len(mels), BATCH):
        out.append(speaker.forward(np.stack(mels[i:i + BATCH])))
    return np.concatenate(out) if out else np.zeros((0, speaker.HIDDEN), dtype=np.float32)


def cluster(embeddings: np.ndarray, hop_s: float, settings: Settings) -> np.ndarray:
    """A speaker index per window, 0..k-1 numbered by first appearance.

    The count: agglomerative clustering cut at the distance threshold, counting only clusters with at least
    :data:`MIN_SPEAKER_S` of windows, gives an upper bound (residual music or noise in separated vocals
    only splits a voice further); between 2 and that bound, :func:`spectral` picks the count by the eigengap
    of the windows' nearest-neighbour graph, which, unlike a fixed threshold, is relative to how noisy
    the embeddings are. ``speakers`` fixes it; ``min_speakers``/``max_speakers`` bound it."""
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(embeddings)
    lo, hi = max(1, settings.min_speakers), max(1, settings.max_speakers)
    if settings.speakers:
        lo = hi = settings.speakers
    if n < 2:
        return np.zeros(n, dtype=int)
    e = embeddings.astype(np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True) + 1e-12
    if lo == hi:
        top = bottom = lo
    else:
        tree = linkage(e, method="average", metric="cosine")
        counts = np.bincount(fcluster(tree, settings.threshold, criterion="distance"))
        voices = int(np.sum(counts * hop_s >= MIN_SPEAKER_S))
        top, bottom = int(np.clip(max(voices, 1), lo, hi)), max(lo, 2)
    labels = np.zeros(n, dtype=int) if top == 1 else spectral(e, min(bottom, top), top)[1]
    centroids = np.stack([e[labels == k].mean(axis=0) for k in np.unique(labels)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-12
    labels = np.argmax(e @ centroids.T, axis=1)  # one reassignment to the nearest speaker
    order = {k: i for i, k in enumerate(dict.fromkeys(labels.tolist()))}  # first appearance
    return np.array([order[k] for k in labels.tolist()], dtype=int)


def spectral(e: np.ndarray, kmin: int, kmax: int) -> tuple[int, np.ndarray]:
    """Spectral clustering of unit rows ``e`` into k ∈ [kmin, kmax] groups, k and the graph chosen by the
    eigengap search of NME-SC (Park et al., "Auto-tuning spectral clustering for speaker diarization using
    normalized maximum eigengap", 2019): for each sparsity p (each window joined to its p most similar
    windows, symmetrised), k is where the Laplacian's eigengap within [kmin, kmax] is largest, and the p
    with the smallest p / gap wins — a clear gap on a sparse graph. k-means (SciPy, k-means++, seeded: the
    same input gives the same labels) on the row-normalised first k eigenvectors gives the groups."""
    from scipy.cluster.vq import kmeans2
    from scipy.linalg import eigh

    n = len(e)
    if n <= kmin:
        return n, np.arange(n)
    kmax = min(kmax, n - 1)
    similarity = e @ e.T
    nearest = np.argsort(-similarity, axis=1, kind="stable")
    best: tuple[float, int, np.ndarray] | None = None
    for p in sorted({int(round(x)) for x in np.linspace(2, max(3, n * P_SHARE), P_SEARCH)} - {0, 1}):
        graph = np.zeros((n, n))
        np.put_along_axis(graph, nearest[:, :min(p, n)], 1.0, axis=1)
        graph = (graph + graph.T) / 2
        values, vectors = eigh(np.diag(graph.sum(axis=1)) - graph, subset_by_index=[0, kmax])
        gaps = np.diff(values)[kmin - 1:kmax]  # gaps[i]: between the (kmin+i)-th and the next eigenvalue
        k = kmin + int(np.argmax(gaps))
        ratio = p / (float(gaps.max()) + 1e-10)
        if best is None or ratio < best[0]:
            best = (ratio, k, vectors[:, :k])
    _, k, vectors = best
    vectors = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)
    _, labels = kmeans2(vectors, k, minit="++", seed=0)
    return k, labels


def turns_from_windows(spans: Sequence[tuple[float, float]], centres: Sequence[float],
                       labels: np.ndarray) -> list[Turn]:
    """Every ``FRAME_S`` of each span takes the label of the nearest window centre; runs become turns."""
    centres_a = np.asarray(centres, dtype=np.float64)
    turns: list[Turn] = []
    for a, b in spans:
        t = np.arange(a, b, FRAME_S) + FRAME_S / 2
        if t.size == 0 or centres_a.size == 0:
            continue
        idx = np.clip(np.searchsorted(centres_a, t), 1, centres_a.size - 1) if centres_a.size > 1 else np.zeros(t.size, int)
        if centres_a.size > 1:
            left = idx - 1
            idx = np.where(np.abs(t - centres_a[left]) <= np.abs(centres_a[idx] - t), left, idx)
        lab = labels[idx]
        cuts = np.flatnonzero(np.diff(lab)) + 1
        bounds = [a, *(a + c * FRAME_S for c in cuts), b]
        for (s, e), k in zip(zip(bounds[:-1], bounds[1:]), lab[np.r_[0, cuts]], strict=True):
            turns.append(Turn(round(float(s), 3), round(float(e), 3), speaker_name(int(k))))
    return turns


def diarize(read: Callable[[float, float], np.ndarray], spans: Sequence[tuple[float, float]],
            settings: Settings = Settings()) -> list[Turn]:
    """Speaker turns over the speech ``spans`` (seconds) of a clip read by ``read(a, b)`` (mono 16 kHz)."""
    spans = [(a, b) for a, b in spans if b > a]
    speech = sum(b - a for a, b in spans)
    if not spans:
        return []
    hop = max(settings.hop_s, speech / MAX_WINDOWS)
    centres = window_centres(spans, settings.window_s, hop)
    embeddings = embed_windows(read, spans, centres, settings.window_s)
    return turns_from_windows(spans, centres, cluster(embeddings, hop, settings))


def one_speaker(segments: Sequence[Segment]) -> list[Turn]:
    """``--diarizer none``: every segment is speaker S1's turn."""
    return [Turn(s.start, s.end, speaker_name(0)) for s in segments]


def overlap(turns: Sequence[Turn], start: float, end: float) -> dict[str, float]:
    """Seconds of [start, end] each speaker holds."""
    held: dict[str, float] = {}
    for t in turns:
        d = min(end, t.end) - max(start, t.start)
        if d > 0:
            held[t.speaker] = held.get(t.speaker, 0.0) + d
    return held


def speaker_at(turns: Sequence[Turn], start: float, end: float) -> str | None:
    """The speaker holding most of [start, end]; the nearest turn's when none overlaps it; None without turns."""
    held = overlap(turns, start, end)
    if held:
        return max(held, key=lambda k: (held[k], -int(k.removeprefix(SPEAKER_PREFIX) or 0)))
    if not turns:
        return None
    mid = (start + end) / 2
    return min(turns, key=lambda t: min(abs(t.start - mid), abs(t.end - mid))).speaker


def split_segments(segments: Sequence[Segment], turns: Sequence[Turn]) -> list[Segment]:
    """Every segment with one speaker: a segment with word times is cut between the words where the
    speaker changes (runs of words under :data:`MIN_PIECE_S` stay with the speaker before them); one
    without words takes the speaker holding most of it. Ids are renumbered 0..n-1."""
    out: list[Segment] = []
    for seg in segments:
        if not seg.words:
            out.append(replace(seg, speaker=speaker_at(turns, seg.start, seg.end)))
            continue
        runs: list[list[Word]] = []
        names: list[str | None] = []
        for word in seg.words:
            who = speaker_at(turns, word.start, max(word.end, word.start + 1e-3))
            if runs and who == names[-1]:
                runs[-1].append(word)
            else:
                runs.append([word])
                names.append(who)
        runs, names = _absorb_short(runs, names)
        joiner = " " if " ".join(w.word for w in seg.words) == seg.text else ""
        for i, (words, who) in enumerate(zip(runs, names, strict=True)):
            start = seg.start if i == 0 else words[0].start
            end = seg.end if i == len(runs) - 1 else words[-1].end
            text = seg.text if len(runs) == 1 else joiner.join(w.word for w in words)
            out.append(replace(seg, start=start, end=max(end, start), text=text, words=words, speaker=who))
    return [replace(s, id=i) for i, s in enumerate(out)]


def _absorb_short(runs: list[list[Word]], names: list[str | None]) -> tuple[list[list[Word]], list[str | None]]:
    def length(words: list[Word]) -> float:
        return words[-1].end - words[0].start

    changed = True
    while changed and len(runs) > 1:
        changed = False
        for i, words in enumerate(runs):
            if length(words) < MIN_PIECE_S:
                j = i - 1 if i > 0 else i + 1
                lo, hi = min(i, j), max(i, j)
                runs[lo:hi + 1] = [runs[lo] + runs[hi]]
                names[lo:hi + 1] = [names[j]]
                changed = True
                break
    # neighbours that now share a speaker become one run
    merged_runs, merged_names = [runs[0]], [names[0]]
    for words, who in zip(runs[1:], names[1:], strict=True):
        if who == merged_names[-1]:
            merged_runs[-1] = merged_runs[-1] + words
        else:
            merged_runs.append(words)
            merged_names.append(who)
    return merged_runs, merged_names
