"""One registry of backends per pipeline stage.

A backend is declared once with what it needs (catalog model, external tool) and how to load its engine;
``select`` implements the ``auto`` policy (best available, with a printed notice for every skipped
backend), explicit choices (missing weights → one sentence from the model store) and ``--strict``.
Engines are loaded once per process and reused across segments, languages and clips.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lssd.config import DubConfig
from lssd import stages
from lssd.errors import BadInputError, FallbackRefusedError, MissingWeightsError
from lssd.languages import Language

# stage name -> CLI option that chooses its backend (the stage table's)
STAGE_OPTIONS = stages.BACKEND_OPTIONS


@dataclass(frozen=True)
class Backend:
    stage: str
    name: str
    label: str  # shown in the backends table and the sidecar
    priority: int  # ``auto`` tries higher first
    load: Callable[[DubConfig], Any]  # builds the engine (heavy imports happen here)
    fallback: bool = False  # a labelled fallback: ``--strict`` refuses it
    model: Callable[[DubConfig], str | None] | None = None  # catalog model whose weights it needs
    check: Callable[[DubConfig, Language | None], str | None] | None = None  # why unusable, or None
    cache_key: Callable[[DubConfig], tuple] | None = None  # settings that make a different engine
    # translates transcript text, so it cannot serve a text-less (VAD-only) transcript; may depend on settings
    needs_text: bool | Callable[[DubConfig], bool] = False

    def model_name(self, cfg: DubConfig) -> str | None:
        return self.model(cfg) if self.model else None


@dataclass(frozen=True)
class Selection:
    backend: Backend
    notices: tuple[str, ...] = ()  # printed: fallbacks for missing weights, licence reminders
    skipped: tuple[str, ...] = ()  # recorded: why each better backend was passed over


_REGISTRY: dict[str, dict[str, Backend]] = {}
_ENGINES: dict[tuple, Any] = {}


def register(backend: Backend) -> Backend:
    _REGISTRY.setdefault(backend.stage, {})[backend.name] = backend
    return backend


def backends(stage: str) -> list[Backend]:
    _ensure_loaded()
    return sorted(_REGISTRY.get(stage, {}).values(), key=lambda b: -b.priority)


def names(stage: str) -> list[str]:
    return [b.name for b in backends(stage)]


def _ensure_loaded() -> None:
    import lssd.backends  # noqa: F401  (registers every built-in backend)


def missing_model(backend: Backend, cfg: DubConfig) -> str | None:
    """The catalog model ``backend`` needs whose weights (or required models) are not in the store."""
    return backend.model_name(cfg) if _missing_weights(backend, cfg) is not None else None


def _missing_weights(backend: Backend, cfg: DubConfig) -> MissingWeightsError | None:
    model = backend.model_name(cfg)
    if model is None:
        return None
    from lssd.store import get_store

    store = get_store()  # require, not is_present: a model is only usable with the models it requires
    fallback = next((b.name for b in backends(backend.stage) if b.priority < backend.priority
                     and (b.model_name(cfg) is None or store.is_present(b.model_name(cfg)))), None)
    try:
        store.require(model, stage=backend.stage, fallback=fallback)
    except MissingWeightsError as exc:
        return exc
    return None


def validate(stage: str, choice: str) -> None:
    """Reject a misspelt backend name before any work starts, even for a stage that may not run."""
    if choice != "auto" and choice not in names(stage):
        option = STAGE_OPTIONS.get(stage, stage)
        raise BadInputError(f"unknown --{option} {choice!r}; choose from: auto, {', '.join(names(stage))}")


def preflight(cfg: DubConfig) -> None:
    """Before any work: every backend named on the command line exists and has its weights, so a run never
    separates and transcribes for minutes only to stop at a later stage's missing model."""
    for stage, option in STAGE_OPTIONS.items():
        choice = getattr(cfg, option)
        validate(stage, choice)
        if choice != "auto":
            missing = _missing_weights({b.name: b for b in backends(stage)}[choice], cfg)
            if missing is not None:
                raise missing


def preflight_languages(cfg: DubConfig, langs: list[Language] | None = None) -> None:
    """Before any work, for every target language and per-language stage: something that ``--strict`` (or
    an explicit backend choice) accepts can serve it — no language is refused after the others were
    computed. With the source language unknown until transcription, a backend counts when it serves the
    target from some source language; the pipeline asks again once the source is known (``cfg`` then
    names it, and ``langs`` are the targets left). Every refused target and stage is in the one message."""
    from dataclasses import replace

    from lssd.languages import LANGUAGES, find

    known = find(cfg.source_language) if cfg.source_language else None
    source = f"from {known.name if known else cfg.source_language}" if cfg.source_language else "from any source language"
    refused: list[str] = []  # --strict (auto): only a labelled fallback could serve
    unserved: list[str] = []  # an explicit backend choice cannot serve
    stuck = _strict_global_stages(cfg) if langs is None else []
    for stage in stages.TABLE:
        if not (stage.per_language and stage.option):
            continue
        choice = getattr(cfg, stage.option)
        candidates = backends(stage.name) if choice == "auto" else [b for b in backends(stage.name) if b.name == choice]
        if cfg.strict:
            candidates = [b for b in candidates if not b.fallback]
        for lang in cfg.langs if langs is None else langs:
            if lang.iso3 == cfg.source_language:
                continue
            sources = ([cfg] if cfg.source_language else
                       [replace(cfg, source_language=s.iso3) for s in LANGUAGES if s != lang])
            reasons = []
            for backend in candidates:
                if missing_model(backend, cfg) is not None:
                    reasons.append(f"'{backend.name}': model '{backend.model_name(cfg)}' is not in the model store")
                    continue
                why = [why_unusable(backend, c, lang) for c in sources]
                if any(w is None for w in why):
                    break
                same = all(w == why[0] for w in why)
                reasons.append(f"'{backend.name}': {why[0]}" if same else
                               f"'{backend.name}': cannot serve {lang.name} from any source language")
            else:
                detail = "; ".join(reasons) or "no backend"
                if choice == "auto":
                    refused.append(f"{stage.name} {lang.name} ({detail})")
                else:
                    unserved.append(f"{stage.name}: --{stage.option} {choice} cannot serve {lang.name} ({detail})")
    if refused or stuck:
        them = "it" if len(refused) == 1 else "them"
        parts = [f"{_names(refused)} {source}: only a labelled fallback could serve {them}: {'; '.join(refused)}; "
                 f"drop {them} from --langs or add the model"] if refused else []
        parts += [f"the labelled fallback {detail}; add the model" for detail in stuck]
        raise FallbackRefusedError("--strict refuses " + "; and ".join(parts))
    if unserved:
        raise BadInputError(f"{source}: " + "; ".join(unserved))


def _strict_global_stages(cfg: DubConfig) -> list[str]:
    """"'dsp' of separate (why)" for each stage run once per clip that only a labelled fallback could serve under
    ``--strict`` (``auto``), known from the settings alone. Transcription is left to its stage: subtitles
    embedded in the input can serve it, and they are found only once the input is read."""
    if not cfg.strict:
        return []
    out = []
    for stage in stages.TABLE:
        if stage.per_language or not stage.option or stage.name == stages.TRANSCRIBE or getattr(cfg, stage.option) != "auto":
            continue
        reasons = []
        for backend in (b for b in backends(stage.name) if not b.fallback):
            if missing_model(backend, cfg) is not None:
                reasons.append(f"'{backend.name}': model '{backend.model_name(cfg)}' is not in the model store")
            elif (why := why_unusable(backend, cfg)) is not None:
                reasons.append(f"'{backend.name}': {why}")
            else:
                break
        else:
            fallback = next((b.name for b in backends(stage.name) if b.fallback), "")
            out.append(f"'{fallback}' of {stage.name} ({'; '.join(reasons) or 'no backend'})")
    return out


def _names(refusals: list[str]) -> str:
    """"Japanese" / "Japanese and Korean": the languages of ``"stage Language (...)"`` refusals, once each."""
    names = list(dict.fromkeys(r.split(" (", 1)[0].split(" ", 1)[1] for r in refusals))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def select(stage: str, choice: str, cfg: DubConfig, lang: Language | None = None, has_text: bool = True) -> Selection:
    """Pick the backend for ``stage`` (and target language, for per-language stages). ``has_text`` is
    False when the transcript located speech without transcribing it."""
    available = {b.name: b for b in backends(stage)}
    if choice != "auto":
        validate(stage, choice)
        backend = available[choice]
        missing = _missing_weights(backend, cfg)
        if missing is not None:
            raise missing
        reason = why_unusable(backend, cfg, lang, has_text)
        if reason:
            raise BadInputError(f"{stage}: backend '{choice}' cannot be used: {reason}")
        _refuse_fallback(backend, cfg, lang)
        return Selection(backend, _licence_notices(backend, cfg))
    skipped: list[str] = []  # why each better backend could not serve (kept for the sidecar)
    missing_models: list[str] = []
    for backend in available.values():
        if _missing_weights(backend, cfg) is not None:
            model = backend.model_name(cfg)
            missing_models.append(model)
            skipped.append(f"'{backend.name}': model '{model}' is not in the model store")
            continue
        reason = why_unusable(backend, cfg, lang, has_text)
        if reason:
            skipped.append(f"'{backend.name}': {reason}")
            continue
        _refuse_fallback(backend, cfg, lang, skipped)
        notices = []
        if missing_models:
            models = ", ".join(f"'{m}'" for m in missing_models)
            notices.append(f"{stage}: using '{backend.name}' because {models} is not in the model store "
                           f"(add it with `lssd models pull NAME` or `lssd models import NAME DIR`)")
        return Selection(backend, (*notices, *_licence_notices(backend, cfg)), tuple(skipped))
    where = f" for {lang.name}" if lang else ""
    raise BadInputError(f"{stage}: no usable backend{where} ({'; '.join(skipped) or 'none registered'})")


def why_unusable(backend: Backend, cfg: DubConfig, lang: Language | None = None, has_text: bool = True) -> str | None:
    """Why ``backend`` cannot serve this stage (weights aside: see :func:`missing_model`), or None.
    ``lang`` None asks only what is known before a target language is."""
    needs_text = backend.needs_text(cfg) if callable(backend.needs_text) else backend.needs_text
    if needs_text and not has_text:
        return "the transcript has no text (the speech was located, not transcribed)"
    return backend.check(cfg, lang) if backend.check else None


def _licence_notices(backend: Backend, cfg: DubConfig) -> tuple[str, ...]:
    """A non-commercial model's licence is repeated on every run that uses it, not only at download."""
    model = backend.model_name(cfg)
    if model is None:
        return ()
    from lssd.store import get_store

    entry = get_store().entry(model)
    return (entry.licence_notice(),) if entry.non_commercial else ()


def _refuse_fallback(backend: Backend, cfg: DubConfig, lang: Language | None, skipped: list[str] = ()) -> None:
    if cfg.strict and backend.fallback:
        where = f" for {lang.name}" if lang else ""
        why = f" (better backends unusable: {'; '.join(skipped)})" if skipped else ""
        raise FallbackRefusedError(
            f"{backend.stage}{where}: --strict refuses the labelled fallback '{backend.name}' ({backend.label}){why}"
        )


def engine(backend: Backend, cfg: DubConfig) -> Any:
    """The backend's engine, loaded once per process for the same model and settings."""
    key = (backend.stage, backend.name, backend.model_name(cfg), backend.cache_key(cfg) if backend.cache_key else ())
    if key not in _ENGINES:
        _ENGINES[key] = backend.load(cfg)
    return _ENGINES[key]
