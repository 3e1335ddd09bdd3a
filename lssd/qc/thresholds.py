"""Every QC metric once: what it measures, its unit, which way is better, and its pass/warn limits.

A value at or better than ``pass_at`` passes, one at or better than ``warn_at`` warns, anything worse
fails; ``None`` (not measurable: no speech, no sidecar, metric not run) is ``n/a`` and never fails a dub.
Defaults are documented here and in the README; ``lssd qc --threshold NAME=PASS,WARN`` overrides them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lssd.errors import BadInputError

PASS, WARN, FAIL, NA = "pass", "warn", "fail", "n/a"
LEVELS = (PASS, WARN, FAIL)  # worse to the right
HIGHER, LOWER, ABS = "higher", "lower", "abs"  # better direction; ABS: closer to 0 is better
CHEAP, MODEL, SIDECAR = "cheap", "model", "sidecar"  # what a metric costs / needs


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str
    better: str
    pass_at: float
    warn_at: float
    cost: str
    doc: str

    def status(self, value: float | str | None) -> str:
        if value is None or isinstance(value, str):
            return NA
        v = abs(value) if self.better == ABS else value
        if self.better == HIGHER:
            return PASS if v >= self.pass_at else WARN if v >= self.warn_at else FAIL
        return PASS if v <= self.pass_at else WARN if v <= self.warn_at else FAIL


METRICS: tuple[Metric, ...] = (
    Metric("sync", "track offset", "ms", ABS, 1.0, 20.0, CHEAP,
           "how far the dub track's shared background is shifted against the original's (cross-correlation); "
           "compensated before the metrics below, which need sample accuracy"),
    Metric("timing", "speech in place", "share", HIGHER, 0.95, 0.85, CHEAP,
           "share of the dub's speech energy (where the dub track has speech) inside the original's speech "
           "spans widened by 0.2 s"),
    Metric("pause_speech", "speech in pauses", "s", LOWER, 0.3, 1.0, CHEAP,
           "seconds the dub speaks where the original pauses (outside its speech spans ± 0.2 s)"),
    Metric("loudness", "loudness diff", "LU", ABS, 1.5, 3.0, CHEAP,
           "BS.1770 integrated loudness of the dub track minus the original's, both over the original's speech"),
    Metric("true_peak", "true peak", "dBTP", LOWER, -1.0, 0.0, CHEAP,
           "true peak of the dub track (4x oversampled, BS.1770-4)"),
    Metric("background", "background residual", "dB", LOWER, -20.0, -12.0, CHEAP,
           "energy of dub − original outside all speech (± 0.2 s) relative to the original there: "
           "the background must be untouched"),
    Metric("background_under_speech", "bed lost under speech", "dB", LOWER, -15.0, -6.0, CHEAP,
           "background energy the dub lost or altered under the original's speech, relative to the bed there "
           "(cross-energy against the bed measured around each span; lssd.qc.background)"),
    Metric("length", "track length", "share", HIGHER, 0.99, 0.95, CHEAP,
           "share of the original track's length the dub track covers (a track cut short fails)"),
    Metric("leakage", "original speech left", "dB", LOWER, -20.0, -12.0, CHEAP,
           "level of the original speech still in the dub track inside its speech spans (gain, dB)"),
    Metric("f0", "median F0 diff", "st", ABS, 2.0, 4.0, CHEAP,
           "median F0 of the dub's speech minus the original's, in semitones"),
    Metric("stretch", "worst stretch", "x", LOWER, 1.25, 1.5, SIDECAR,
           "largest time-stretch factor of any segment (max of ratio and 1/ratio), from the sidecar"),
    Metric("trimmed", "trimmed", "s", LOWER, 0.0, 1.0, SIDECAR,
           "seconds of synthesised speech cut off to fit, from the sidecar"),
    Metric("language", "P(tagged language)", "p", HIGHER, 0.5, 0.1, MODEL,
           "probability Whisper base gives the track's tagged language on its loudest 30 s; passes when "
           "that language is also the most likely one"),
    Metric("intelligibility", "character error rate", "CER", LOWER, 0.3, 0.5, MODEL,
           "CER of what Whisper base hears in the track (told its spoken language) against the text lssd "
           "synthesized (sidecar); pseudo-text n/a"),
    Metric("voice", "voice similarity", "cos", HIGHER, 0.75, 0.6, MODEL,
           "cosine similarity of GE2E speaker embeddings (Resemblyzer) of dub and original speech"),
)
BY_NAME = {m.name: m for m in METRICS}


def metric(name: str) -> Metric:
    try:
        return BY_NAME[name]
    except KeyError:
        raise BadInputError(f"unknown QC metric {name!r}; known: {', '.join(BY_NAME)}") from None


def with_overrides(specs: list[str]) -> dict[str, Metric]:
    """The metric table with ``NAME=PASS,WARN`` overrides applied (one sentence for a malformed one)."""
    table = dict(BY_NAME)
    for spec in specs:
        name, _, limits = spec.partition("=")
        parts = limits.split(",")
        try:
            pass_at, warn_at = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            raise BadInputError(f"--threshold {spec!r}: expected NAME=PASS,WARN, e.g. timing=0.95,0.85") from None
        table[name.strip()] = replace(metric(name.strip()), pass_at=pass_at, warn_at=warn_at)
    return table


def worst(statuses) -> str:
    """The worst of some statuses (``n/a`` ignored); pass when there is nothing to judge."""
    ranked = [LEVELS.index(s) for s in statuses if s in LEVELS]
    return LEVELS[max(ranked)] if ranked else PASS


def at_least(status: str, level: str) -> bool:
    """``status`` is ``level`` or worse (``n/a`` never is)."""
    return status in LEVELS and LEVELS.index(status) >= LEVELS.index(level)
