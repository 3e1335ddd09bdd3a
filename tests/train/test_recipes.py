"""Recipes encode Table 1, App. A and App. B.3; every one loads and builds; overrides are strict."""

from __future__ import annotations

import pytest

from lssd.cli import main
from lssd.errors import BadInputError
from lssd.train.loop import build_loss, build_model
from lssd.train.recipes import dump, list_recipes, load_recipe
from lssd.train.sampler import parse_policy

ESF = ["eng", "spa", "fra"]
# Table 1: original-language filter, excluded originals, titles with dubs only (avg. # dubs >= 2.8),
# dub augmentation, (lambda_v, lambda_a), init, video backbone.
TABLE_1 = {
    "a1": (ESF, None, True, False, (0.0, 0.0), None, "mvit_s"),
    "a2": (ESF, None, True, True, (0.0, 0.0), None, "mvit_s"),
    "a3": (ESF, None, True, False, (0.0, 0.2), "a1", "mvit_s"),
    "a4": (ESF, None, True, True, (0.0, 0.2), "a2", "mvit_s"),
    "b1": (["eng"], None, False, False, (0.0, 0.0), None, "mvit_s"),
    "b2": (None, ["eng"], False, False, (0.0, 0.0), None, "mvit_s"),
    "b3": (None, None, False, False, (0.0, 0.0), None, "mvit_s"),
    "b4": (None, None, True, True, (0.0, 0.0), "b3", "mvit_s"),
    "b5": (None, None, True, True, (0.2, 0.2), "b3", "mvit_s"),
    "c1": (None, None, False, False, (0.0, 0.0), None, "mvit_b"),
    "c2": (None, None, True, True, (0.1, 0.1), "c1", "mvit_b"),
}
# App. B.3: (video backbone, a_s policy, cross-modal, audio sample rate)
CONTROLLED = {
    "ctrl_en": ("x3d_m", "none", True, 48000),
    "ctrl_es": ("x3d_m", "fixed:spa", True, 48000),
    "ctrl_fr": ("x3d_m", "fixed:fra", True, 48000),
    "ctrl_ja": ("x3d_m", "fixed:jpn", True, 48000),
    "ctrl_efj": ("x3d_m", "round_robin:spa,fra,jpn", True, 48000),
    "ctrl_sep": ("x3d_m", "none", True, 44100),
    "ctrl_aud": (None, "none", False, 48000),
    "ctrl_aud_efj": (None, "round_robin:spa,fra,jpn", False, 48000),
}
TINY = {"mvit_s": "mvit_tiny", "mvit_b": "mvit_tiny", "x3d_m": "x3d_tiny", "audio_mvit_s": "audio_mvit_tiny",
        "audio_mvit_b": "audio_mvit_tiny", "audio_resnet50": "audio_resnet_tiny"}


def test_every_recipe_is_listed() -> None:
    assert {n for n, _ in list_recipes()} == {*TABLE_1, *CONTROLLED, "tiny"}
    assert all(description for _, description in list_recipes())


@pytest.mark.parametrize("name", sorted(TABLE_1))
def test_table_1(name: str) -> None:
    originals, excluded, dubbed_only, dub_augment, lambdas, init, video = TABLE_1[name]
    r = load_recipe(name)
    d = r.data
    assert (d.original_languages, d.exclude_languages, d.dubbed_only) == (originals, excluded, dubbed_only)
    assert r.data.policy == ("random" if dub_augment else "none")
    assert (r.loss.lambda_v, r.loss.lambda_a, r.init) == (*lambdas, init)
    assert (r.model.video, r.model.audio) == (video, f"audio_{video}")
    # App. A
    assert (r.optim.lr, r.optim.weight_decay, r.optim.epochs, r.optim.warmup_epochs) == (3e-4, 0.05, 12, 2)
    assert (r.data.batch_size, r.data.group_size, r.loss.tau, r.model.embed_dim) == (64, 8, 0.07, 512)
    assert (d.window, d.video.num_frames, d.video.crop, d.video.short_side) == (3.0, 16, 224, (256, 320))
    assert (d.audio.sample_rate, d.audio.n_fft, d.audio.hop_length, d.audio.n_mels) == (48000, 1024, 501, 96)
    assert r.loss.cross_modal and not r.model.separate_audio_heads


@pytest.mark.parametrize("name", sorted(CONTROLLED))
def test_appendix_b3(name: str) -> None:
    video, policy, cross_modal, sample_rate = CONTROLLED[name]
    r = load_recipe(name)
    assert (r.model.video, r.model.audio, r.model.separate_audio_heads) == (video, "audio_resnet50", True)
    assert (r.data.policy, r.data.primary, r.data.audio.sample_rate) == (policy, "eng", sample_rate)
    assert r.loss.cross_modal == cross_modal
    assert (r.optim.lr, r.optim.betas, r.optim.weight_decay, r.optim.epochs, r.optim.warmup_epochs) == (
        1e-3, (0.9, 0.999), 0.05, 10, 0.5)
    assert (r.data.batch_size, r.data.group_size) == (26, 12)
    parse_policy(r.data.policy, r.data.primary)  # the sampler accepts it


@pytest.mark.parametrize("name", sorted({*TABLE_1, *CONTROLLED, "tiny"}))
def test_every_recipe_builds_its_models(name: str) -> None:
    r = load_recipe(name)
    tiny = [f"model.audio={TINY.get(r.model.audio, r.model.audio)}",
            "data.video.num_frames=4", "data.video.crop=32", "data.video.short_side=[32, 40]",
            "data.audio.n_mels=32", "data.window=1.0"]
    if r.model.video is not None:
        tiny.append(f"model.video={TINY.get(r.model.video, r.model.video)}")
    r = load_recipe(name, tiny)
    model, loss = build_model(r), build_loss(r)
    assert (model.video is None) == (r.model.video is None) == (not loss.cross_modal)
    assert (model.audio_head_s is not None) == r.model.separate_audio_heads
    assert (loss.tau, loss.lambda_v, loss.lambda_a) == (r.loss.tau, r.loss.lambda_v, r.loss.lambda_a)


def test_overrides_are_yaml_typed_and_dotted() -> None:
    r = load_recipe("b4", ["optim.lr=1e-3", "data.batch_size=32", "model.video=mvit_b",
                           "data.video.short_side=[224, 256]"])
    assert (r.optim.lr, r.data.batch_size, r.model.video) == (1e-3, 32, "mvit_b")
    assert r.data.video.short_side == (224, 256)
    assert load_recipe("b4", ["data.original_languages=[eng]"]).data.original_languages == ["eng"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", "unknown recipe key optim.lrr"),
        ("nothing.here=1", "unknown recipe key nothing"),
        ("optim.lr=fast", "optim.lr must be float"),
        ("data.batch_size=1.5", "data.batch_size must be int"),
        ("optim.betas=[0.9]", "optim.betas must be"),
        ("optim.steps=100", "exactly one of optim.epochs and optim.steps"),
        ("model.video=null", "needs loss.cross_modal: false"),
        ("lr", "not key=value"),
    ],
)
def test_bad_overrides_are_one_line_errors(override: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message) as err:
        load_recipe("b4", [override])
    assert "\n" not in str(err.value)


def test_inherited_values_can_be_overridden_by_the_child(tmp_path) -> None:
    (tmp_path / "base.yaml").write_text("optim: {lr: 0.5, epochs: 3}\ndata: {batch_size: 4}\n")
    (tmp_path / "child.yaml").write_text("inherit: base\noptim: {lr: 0.25}\n")
    r = load_recipe(tmp_path / "child.yaml")
    assert (r.name, r.optim.lr, r.optim.epochs, r.data.batch_size) == ("child", 0.25, 3, 4)
    assert r.optim.weight_decay == 0.05  # set by neither file: the default
    (tmp_path / "loop.yaml").write_text("inherit: loop\n")
    with pytest.raises(BadInputError, match="inherits from itself"):
        load_recipe(tmp_path / "loop.yaml")


def test_show_round_trips(tmp_path) -> None:
    r = load_recipe("c2", ["optim.lr=1e-4"])
    path = tmp_path / "c2x.yaml"
    path.write_text(dump(r))
    assert load_recipe(path) == r


def test_cli_lists_and_shows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipes", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in TABLE_1)
    assert main(["recipes", "show", "b5", "--set", "optim.lr=1e-4"]) == 0
    assert "lambda_v: 0.2" in capsys.readouterr().out
    assert main(["recipes", "show", "b5", "--set", "optim.lrr=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown recipe key optim.lrr" in err and "Traceback" not in err
