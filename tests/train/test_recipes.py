"""Recipes encode Table 1, App. A and App. B.3; every one loads and builds; overrides are strict."""

from __future__ import annotations

import pytest
import torch

from lssd.cli import main
from lssd.errors import BadInputError
from lssd.train.build import build_loss, build_model
from lssd.train.recipes import dump, list_recipes, load_recipe
from lssd.train.sampler import parse_policy

# Table 1 of the paper, as printed: # data, init., (lambda_v, lambda_a), original language, avg. # dubs,
# and whether dub augmentation is on (§5.2: A.2/A.4 vs A.1/A.3, B.4/B.5 vs B.3, C.2 vs C.1).
TABLE_1 = {
    "a1": ("4.6M", "rand.", (0, 0), "ESF", 2.8, False),
    "a2": ("4.6M", "rand.", (0, 0), "ESF", 2.8, True),
    "a3": ("4.6M", "A.1", (0, 0.2), "ESF", 2.8, False),
    "a4": ("4.6M", "A.2", (0, 0.2), "ESF", 2.8, True),
    "b1": ("11.8M", "rand.", (0, 0), "EN", 1.0, False),
    "b2": ("9.8M", "rand.", (0, 0), "U\\EN", 0.2, False),
    "b3": ("19.4M", "rand.", (0, 0), "U", 0.6, False),
    "b4": ("5.1M", "B.3", (0, 0), "U", 2.8, True),
    "b5": ("5.1M", "B.3", (0.2, 0.2), "U", 2.8, True),
    "c1": ("19.4M", "rand.", (0, 0), "U", 0.6, False),
    "c2": ("5.1M", "C.1", (0.1, 0.1), "U", 2.8, True),
}
# The column "original language" as a shot filter: ESF = {EN, ES, FR}; U = all seven; U\EN = all but EN.
ORIGINAL = {"ESF": (["eng", "spa", "fra"], None), "EN": (["eng"], None), "U\\EN": (None, ["eng"]),
            "U": (None, None)}
# §5.2: "we have trained all three of these model variants [B.1, B.2, B.3] with approximately the same
# number of gradient optimization steps"; the B variants use MViT-S, the C variants MViT-B (§5.2).
STEP_MATCHED = {"b1": "b3", "b2": "b3"}

# App. B.3 variants: (video backbone, a_p, a_s, secondary instance, cross-modal, audio sample rate).
EFJ = "round_robin:spa,fra,jpn"
CONTROLLED = {
    "ctrl_en": ("x3d_m", "eng", "none", True, True, 48000),
    "ctrl_es": ("x3d_m", "eng", "fixed:spa", True, True, 48000),
    "ctrl_fr": ("x3d_m", "eng", "fixed:fra", True, True, 48000),
    "ctrl_ja": ("x3d_m", "eng", "fixed:jpn", True, True, 48000),
    "ctrl_efj": ("x3d_m", "eng", EFJ, True, True, 48000),
    "ctrl_sep": ("x3d_m", "eng", "none", False, True, 44100),  # "There is no secondary audio here"
    "ctrl_aud": (None, "eng", "none", True, False, 48000),
    "ctrl_aud_efj": (None, "eng", EFJ, True, False, 48000),
}
# lssd's additions, not the paper's: B.3 with a counterfactual control as a_s (lssd.dub.controls).
LSSD_CONTROLS = {"ctrl_resynth": "resynth", "ctrl_novc_es": "novc:spa", "ctrl_natural_es": "natural:spa",
                 "ctrl_background": "background"}
TINY = {"mvit_s": "mvit_tiny", "mvit_b": "mvit_tiny", "x3d_m": "x3d_tiny", "audio_mvit_s": "audio_mvit_tiny",
        "audio_mvit_b": "audio_mvit_tiny", "audio_resnet50": "audio_resnet_tiny"}


def test_every_recipe_is_listed() -> None:
    assert {n for n, _ in list_recipes()} == {*TABLE_1, *CONTROLLED, *LSSD_CONTROLS, "tiny"}
    assert all(description for _, description in list_recipes())


@pytest.mark.parametrize("name", sorted(LSSD_CONTROLS))
def test_lssd_control_recipes(name: str) -> None:
    r = load_recipe(name)
    assert r.data.control == LSSD_CONTROLS[name] and r.data.secondary and r.data.policy != "none"
    assert "not in the paper" in r.description
    assert r.data.has_languages == load_recipe("ctrl_es").data.has_languages  # B.3's titles, comparable


def test_control_recipe_key_is_checked() -> None:
    with pytest.raises(BadInputError, match="data.control 'louder'"):
        load_recipe("tiny", ["data.control=louder"])
    with pytest.raises(BadInputError, match="needs data.secondary: true"):
        load_recipe("tiny", ["data.control=resynth", "data.policy=none"])


@pytest.mark.parametrize("name", sorted(TABLE_1))
def test_table_1(name: str) -> None:
    data, init, (lambda_v, lambda_a), original, avg_dubs, dub_augment = TABLE_1[name]
    r = load_recipe(name)
    d = r.data
    assert (d.original_languages, d.exclude_languages) == ORIGINAL[original]
    # rows averaging 2.8 dubs are the "titles which have at least one dub" subsets
    assert d.dubbed_only == (avg_dubs == 2.8)
    assert d.policy == ("random" if dub_augment else "none") and d.secondary
    assert (r.loss.lambda_v, r.loss.lambda_a) == (lambda_v, lambda_a)
    assert r.init == (None if init == "rand." else init.replace(".", "").lower())
    same_data = [n for n, row in TABLE_1.items() if row[0] == data and row[3] == original]
    def subset(x):
        return (x.original_languages, x.exclude_languages, x.dubbed_only, x.has_languages)

    assert all(subset(load_recipe(n).data) == subset(d) for n in same_data)  # equal "# data": one subset
    assert r.optim.match_steps == STEP_MATCHED.get(name)
    video = "mvit_b" if name.startswith("c") else "mvit_s"
    assert (r.model.video, r.model.audio) == (video, f"audio_{video}")
    # App. A, "Model and Pretraining Hyperparameters" and "Data Preprocessing"
    assert (r.model.embed_dim, r.loss.tau, r.loss.cross_modal) == (512, 0.07, True)
    assert (r.optim.lr, r.optim.weight_decay) == (3e-4, 0.05)
    if name not in STEP_MATCHED:
        assert (r.optim.epochs, r.optim.warmup_epochs) == (12, 2)
    assert (d.batch_size, d.group_size) == (64, 64 // 8)  # "1/8 of each batch comes from the same" title
    assert (d.window, d.video.fps, d.video.num_frames, d.video.crop, d.video.short_side) == (
        3.0, 25, 16, 224, (256, 320))
    a = d.audio
    assert (a.sample_rate, a.n_fft, a.hop_length, a.n_mels, a.max_time_mask, a.max_freq_mask) == (
        48000, 1024, 501, 96, 0.5, 0.5)
    assert not r.model.separate_audio_heads  # one head per modality (§4.2)


@pytest.mark.parametrize("name", sorted(CONTROLLED))
def test_appendix_b3(name: str) -> None:
    video, primary, policy, secondary, cross_modal, sample_rate = CONTROLLED[name]
    r = load_recipe(name)
    assert (r.model.video, r.model.audio) == (video, "audio_resnet50")
    # "We do not share MLP weights for primary vs. secondary audio"; SEP has no secondary audio
    assert r.model.separate_audio_heads == secondary
    assert (r.data.primary, r.data.policy, r.data.secondary) == (primary, policy, secondary)
    assert (r.data.audio.sample_rate, r.loss.cross_modal) == (sample_rate, cross_modal)
    assert set(r.data.has_languages) <= {"eng", "spa", "fra", "jpn"}
    # "4 A100 GPUs for 10 epochs with a batch size of 26 per GPU", k = 12 "samples drawn from the same
    # movie as the positive clip": groups of the positive and its 12, two per batch
    assert (r.optim.epochs, r.data.batch_size, r.data.group_size - 1) == (10, 26, 12)
    assert r.data.batch_size % r.data.group_size == 0
    # "AdamW optimizer with beta=(0.9, 0.999), a learning rate of 0.001, weight decay of 0.05, and a
    # cosine learning rate schedule with a half-epoch warmup"
    assert (r.optim.betas, r.optim.lr, r.optim.weight_decay, r.optim.warmup_epochs) == (
        (0.9, 0.999), 1e-3, 0.05, 0.5)
    parse_policy(r.data.policy, r.data.primary)  # the sampler accepts it


def test_appendix_b3_backbones_output_1024_d() -> None:
    """ "Both models output 1024-dimensional representations per clip" (built at full size)."""
    from lssd.train.models import create_model

    assert create_model("x3d_m", frames=16, crop=224).dim == 1024
    assert create_model("audio_resnet50", n_mels=96, frames=288).dim == 1024


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
    batch = {"a_p": torch.randn(2, 2, 32, r.data.audio.num_frames(1.0))}
    if r.model.video is not None:
        batch["v_p"] = torch.randn(2, 3, 4, 32, 32)
    if r.data.secondary:
        batch |= {k.replace("_p", "_s"): v for k, v in batch.items()}
    terms = loss(model.train()(batch))
    assert torch.isfinite(terms.total) and (terms.audio is None) == (not r.data.secondary)
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
        ("optim.steps=100", "exactly one of optim.epochs, optim.steps and optim.match_steps"),
        ("data.secondary=false", "cannot have data.policy: random"),
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
