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
    name = check_name(name)
    main = get_language(primary).iso3 if primary else None
    rows, dropped = [], 0
    for _, row in df.iterrows():
        chosen = [(c, i) for c, i in zip(row["control_tracks"], row["control_stream_index"]) if matches(name, c)]
        lang_p = main if main in row["audio_languages"] else row["original_language"]
        if not chosen or lang_p not in row["audio_languages"]:
            dropped += 1
            continue
        k = list(row["audio_languages"]).index(lang_p)
        row = row.copy()
        row["audio_languages"] = [lang_p, *(PREFIX + c for c, _ in chosen)]
        row["audio_stream_index"] = [row["audio_stream_index"][k], *(i for _, i in chosen)]
        row["is_synthetic"] = [row["is_synthetic"][k], *(True for _ in chosen)]
        row["track_kinds"] = [row["track_kinds"][k], *(sidecar.LABEL_CONTROL for _ in chosen)]
        rows.append(row)
    out = pd.DataFrame(rows, columns=df.columns).reset_index(drop=True)
    out.attrs = dict(df.attrs)
    if dropped:
        out.attrs["warnings"] = [*df.attrs.get("warnings", []),
                                 f"{dropped} shot(s) without a {name} control track left out"]
    return out


assert {"audio_languages", "audio_stream_index", "is_synthetic", "track_kinds"} == set(TRACK_COLUMNS)
