"""A counterfactual control as the secondary audio (lssd's addition, not the paper's; see
:mod:`lssd.dub.controls`): the recipe key ``data.control`` names one, and each shot's a_s becomes that
control track instead of a dub, so an ablation can tell "another language" from "synthetic audio".

The index keeps control tracks apart from the language tracks (``control_tracks``,
``control_stream_index``). :func:`use_control` turns a shot's track lists into the primary track plus the
matching control track(s), keyed ``control:<id>``; any dub policy but ``none`` then takes a control as
a_s (several match ``novc`` when a title has one per dub language: the policy picks among them). Titles
without the control are dropped, with their count in ``df.attrs["warnings"]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lssd import sidecar
from lssd.errors import BadInputError
from lssd.languages import get_language
from lssd.train.sampler import TRACK_COLUMNS

PREFIX = "control:"  # how a control's track is keyed among a shot's audio_languages


def matches(name: str, control_id: str) -> bool:
    """``novc`` matches every ``novc:<lang>``; ``novc:spa`` only itself."""
    return control_id == name or control_id.split(":", 1)[0] == name


def check_name(name: str) -> str:
    base, _, lang = name.partition(":")
    if base not in sidecar.CONTROLS:
        raise BadInputError(f"data.control {name!r}: choose from {', '.join(sidecar.CONTROLS)} "
                            f"(novc and natural may name a language: novc:spa)")
    return f"{base}:{get_language(lang).iso3}" if lang else base


def use_control(df: pd.DataFrame, name: str, primary: str | None = None) -> pd.DataFrame:
    """The shots whose title has control ``name``, each with two kinds of track left: the primary (the
    recipe's ``primary`` language, else the title's original) and the control track(s)."""
    from lssd.train.tables import distinct_rows, spread

    name = check_name(name)
    main = get_language(primary).iso3 if primary else None
    sources = ("control_tracks", "control_stream_index", *TRACK_COLUMNS, "original_language")
    codes, first = distinct_rows(*(df[c] for c in sources))  # a title's shots share their lists
    per_code = [_with_control(*(df[c].iloc[row] for c in sources), name=name, main=main) for row in first]
    kept = np.array([tracks is not None for tracks in per_code], dtype=bool)[codes]
    dropped = int((~kept).sum())
    out = df[kept].reset_index(drop=True)
    for k, col in enumerate(TRACK_COLUMNS):
        out[col] = spread([None if tracks is None else tracks[k] for tracks in per_code], codes[kept])
    out.attrs = dict(df.attrs)
    if dropped:
        out.attrs["warnings"] = [*df.attrs.get("warnings", []),
                                 f"{dropped} shot(s) without a {name} control track left out"]
    return out


def _with_control(controls: list[str], control_streams: list[int], languages: list[str], streams: list[int],
                  synthetic: list[bool], kinds: list[str], original: str, *, name: str, main: str | None
                  ) -> tuple[list, list, list, list] | None:
    """A shot's four track lists (TRACK_COLUMNS) as the primary track and the control track(s), or
    None when its title lacks the control or the primary language."""
    chosen = [(c, i) for c, i in zip(controls, control_streams) if matches(name, c)]
    lang_p = main if main in languages else original
    if not chosen or lang_p not in languages:
        return None
    k = list(languages).index(lang_p)
    return ([lang_p, *(PREFIX + c for c, _ in chosen)], [streams[k], *(i for _, i in chosen)],
            [synthetic[k], *(True for _ in chosen)], [kinds[k], *(sidecar.LABEL_CONTROL for _ in chosen)])


assert {"audio_languages", "audio_stream_index", "is_synthetic", "track_kinds"} == set(TRACK_COLUMNS)
