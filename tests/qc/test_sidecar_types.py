"""Issue 19 case 11: a sidecar whose fields have the wrong types (``"audio_index": "a"``, ``"stretch_ratio":
"x"``) is one sentence naming the field, from the sidecar's own validation, never a ValueError in QC."""

from __future__ import annotations

import json
import shutil

import pytest

from lssd import sidecar
from lssd.cli import main
from lssd.errors import BadInputError


def _edit(data: dict, case: str) -> str:
    if case == "audio_index":
        data["tracks"][0]["audio_index"] = "a"
        return "tracks[0].audio_index"
    for i, seg in enumerate(data["segments"]):
        for lang, target in seg["targets"].items():
            if "stretch_ratio" in target:
                target["stretch_ratio"] = "x"
                return f"segments[{i}].targets.{lang}.stretch_ratio"
    raise AssertionError("no placed segment in the sidecar")


@pytest.mark.parametrize("case", ["audio_index", "stretch_ratio"])
def test_a_sidecar_field_of_the_wrong_type_is_one_sentence(faulty_dubs, tmp_path, capsys, case):
    film = shutil.copy(faulty_dubs.path, tmp_path / "film.mkv")
    data = json.loads(sidecar.path_for(faulty_dubs.path).read_text())
    where = _edit(data, case)
    side = sidecar.path_for(tmp_path / "film.mkv")
    side.write_text(json.dumps(data))
    with pytest.raises(BadInputError, match=where.replace("[", r"\[").replace("]", r"\]")):
        sidecar.read_file(side)
    code = main(["qc", str(film), "--cheap", "--track", str(faulty_dubs.track("good"))])
    err = capsys.readouterr().err
    assert code == 2 and where in err and "Traceback" not in err and "ValueError" not in err
    assert [line for line in err.splitlines() if line.strip()][-1].startswith("error:")
