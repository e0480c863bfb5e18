"""params.yaml validation: every mistake is caught at the edge with the offending key named."""
import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml

from components.config import (BackboneConfig, ConfigError, ModelConfig, Params, ShiftedDegradationConfig, flatten,
                               from_dict, load_params, to_dict)

REPO = Path(__file__).resolve().parents[1]


def load(tmp_path: Path, text: str) -> Params:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return load_params(path)


def test_repository_params_are_valid():
    params = load_params(REPO / "params.yaml")
    from components.models import list_models
    # Every registered model is trained: by the main job, or (for the record) as a variant of a claim experiment.
    claims = params.experiments.claims.values()
    variants = {v for claim in claims if claim.vary in ("architecture", "model") for v in claim.variants}
    variants |= {claim.alpha_variant(v)[0] for claim in claims if claim.vary == "alpha" for v in claim.variants}
    assert set(params.models) | variants == set(list_models())
    assert set(params.models) | set(params.experiments.models) >= {c.model for c in claims}
    assert not set(params.models) & set(params.experiments.models)      # one section per model
    # vary 'model' runs each variant with its own settings: only main-job models have them.
    assert {v for claim in claims if claim.vary == "model" for v in claim.variants} <= set(params.models)
    assert params.claim_model("pff_flow").loss.kind == "reconstruction"
    assert {m.data for m in params.models.values()} == {"shards", "restoration", "panoramas", "video"}
    assert params.model("pff_jpeg").degradation.jpeg_quality == "mixed"
    assert params.root == REPO
    assert params.model("depth_baseline").loss.gamma == 2.0
    assert params.model("normal_baseline").loss.lam == 4.0


def test_defaults_fill_missing_sections(tmp_path):
    params = load(tmp_path, "models: {seg_baseline: {}}\n")
    assert params.data.source == "synth"
    assert params.models["seg_baseline"] == ModelConfig()


@pytest.mark.parametrize("text, fragment", [
    ("data: {heigth: 64}\n", "data: unknown key(s) heigth"),
    ("data: {height: '64'}\n", "data.height: expected int"),
    ("data: {height: 60}\n", "multiples of 8"),
    ("ray: {num_workers: 0}\n", "ray.num_workers must be >= 1"),
    ("models: {m: {backbone: {block: wide}}}\n", "models.m.backbone.block: 'wide' is not one of"),
    ("models: {m: {backbone: {layers: [1, 1, 1]}}}\n", "models.m.backbone.layers: expected a list of 4"),
    ("models: {m: {train: {optim: {lr: -1}}}}\n", "optim.lr must be > 0"),
    ("models: {m: {train: {color_jitter: 1.0}}}\n", "train.color_jitter must be in [0, 1)"),
    ("models: {m: {data: ../x}}\n", "data must be a directory name"),
    ("models: {m: {degradation: {jpeg_quality: 0}}}\n", "jpeg_quality must be 'mixed' or an integer"),
    ("degrade: {train_photos: [brick], test_photos: [brick]}\n", "cannot be in train and test"),
    ("degrade: {test_size: 190}\n", "multiple of sr_scale"),
    ("degrade: {shifted: {shake_length: 29}}\n", "degrade.shifted.shake_length must lie in [1, 28]"),
    ("degrade: {shifted: {shake_kernel_size: 0}}\n", "shake_kernel_size must be >= 1"),
    ("degrade: {shifted: {jpeg: []}}\n", "degrade.shifted.jpeg must be a non-empty list"),
    ("degrade: {shifted: {jpeg: [[101, '4:2:0']]}}\n", "degrade.shifted.jpeg must be a non-empty list"),
    ("degrade: {shifted: {jpeg: [[10, '4:4:4'], [10, '4:4:4']]}}\n", "degrade.shifted.jpeg pairs repeat"),
    ("degrade: {shifted: {jpeg: [10]}}\n", "degrade.shifted.jpeg[0]: expected a list of 2 items"),
    ("degrade: {shifted: {jpeg: 10}}\n", "degrade.shifted.jpeg: expected a list, got 10"),
    ("degrade: {shifted: {jpeg: [[10, '4:1:1']]}}\n", "degrade.shifted.jpeg[0][1]: '4:1:1' is not one of"),
    ("degrade: {shifted: {sr_downsampler: bicubic}}\n", "degrade.shifted.sr_downsampler: 'bicubic' is not one of"),
    ("models: {m: {train: {steps: true}}}\n", "models.m.train.steps: expected int, got bool"),
    ("evaluate: {boundary_mode: slow}\n", "evaluate.boundary_mode"),
    ("experiments: {claims: {c: {vary: loss, variants: [l1]}}}\n", "model is required"),
    ("experiments: {claims: {c: {vary: architecture, variants: [a]}}}\n", "model is required"),
    ("experiments: {claims: {c: {vary: alpha, model: m, variants: [m_alpha2]}}}\n", "alpha variant 'm_alpha2' must be"),
    ("experiments: {claims: {c: {vary: alpha, model: m, variants: [m]}}}\n", "alpha variant 'm' must be"),
    ("experiments: {claims: {c: {vary: seed, model: m}}}\n", "experiments.claims.c.vary: 'seed' is not one of"),
    ("experiments: {claims: {c: {model: m, variants: [l1, l1]}}}\n", "variants repeat"),
    ("experiments: {claims: {c: {model: m, variants: [10]}}}\n", "variants[0]: expected str, got int"),
    ("surprise: 1\n", "unknown key(s) surprise"),
    ("data: [1, 2]\n", "data: expected a mapping"),
])
def test_invalid_params_name_the_key(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    assert fragment in str(err.value)


def test_unknown_model_section_lists_configured_models(tmp_path):
    params = load(tmp_path, "models: {seg_baseline: {}}\n")
    with pytest.raises(ConfigError, match="configured: seg_baseline"):
        params.model("depth_baseline")


def test_int_is_accepted_for_float_and_tuples_round_trip():
    backbone = from_dict(BackboneConfig, {"layers": [3, 4, 6, 3], "block": "bottleneck"}, "b")
    assert backbone.layers == (3, 4, 6, 3)
    model = from_dict(ModelConfig, {"loss": {"gamma": 1}}, "m")
    assert isinstance(model.loss.gamma, float)
    assert from_dict(ModelConfig, yaml.safe_load(yaml.safe_dump(to_dict(model))), "m") == model


def test_shifted_degradation_pairs_round_trip_through_yaml(tmp_path):
    params = load(tmp_path, "degrade: {shifted: {jpeg: [[20, '4:2:2'], [50, '4:4:4']], shake_length: 12}}\n")
    assert params.degrade.shifted.jpeg == ((20, "4:2:2"), (50, "4:4:4")) and params.degrade.shifted.shake_length == 12.0
    # Unquoted, as DVC's -S leaves it: a string (YAML 1.2), not YAML 1.1's base-60 integer 14644.
    assert load(tmp_path, "degrade: {shifted: {jpeg: [[10, 4:4:4]]}}\n").degrade.shifted.jpeg == ((10, "4:4:4"),)
    default = ShiftedDegradationConfig()
    assert from_dict(ShiftedDegradationConfig, yaml.safe_load(yaml.safe_dump(to_dict(default))), "s") == default


def test_flatten_names_nested_keys():
    flat = flatten(to_dict(ModelConfig()), "seg.")
    assert flat["seg.train.optim.lr"] == 0.01 and flat["seg.backbone.layers"] == [2, 2, 2, 2]


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(tmp_path, "data: {height: [\n")


def test_a_later_params_file_overlays_the_earlier_one_key_by_key(tmp_path):
    base = load_params(REPO / "params.yaml")
    top = tmp_path / "cluster.yaml"
    top.write_text("ray: {storage_path: s3://b/ray, use_gpu: true}\nmodels: {seg_baseline: {train: {steps: 7}}}\n")
    merged = load_params([REPO / "params.yaml", top])
    assert merged.ray.storage_path == "s3://b/ray" and merged.ray.use_gpu
    assert merged.ray.max_failures == base.ray.max_failures                  # untouched keys of a section stay
    seg, base_seg = merged.model("seg_baseline"), base.model("seg_baseline")
    assert seg.train.steps == 7 and seg.train.batch_size == base_seg.train.batch_size and seg.loss == base_seg.loss
    assert merged.models.keys() == base.models.keys() and merged.model("pff_sr") == base.model("pff_sr")
    assert merged.root == REPO                                               # relative paths: the first file's
    top.write_text("ray: {num_wrokers: 2}\n")
    with pytest.raises(ConfigError, match="num_wrokers"):
        load_params([REPO / "params.yaml", top])


@pytest.mark.parametrize("overlay_file", sorted((REPO / "datasets" / "params").glob("*.yaml")), ids=lambda p: p.stem)
def test_dataset_overlays_as_dvc_set_params_give_the_overlaid_params(tmp_path, overlay_file, capsys):
    """`pixelpred overlay` prints -S arguments; DVC's own override code applied to a copy of params.yaml must
    give exactly the params the overlay file gives through load_params (an independent path)."""
    from dvc.utils.hydra import apply_overrides

    from pipelines.cli import main

    assert main(["--params", str(REPO / "params.yaml"), "--params", str(overlay_file), "overlay"]) == 0
    words = capsys.readouterr().out.split()
    assert words[::2] == ["-S"] * (len(words) // 2)
    copy = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", copy)
    apply_overrides(copy, words[1::2])
    assert load_params(copy) == dataclasses.replace(load_params([REPO / "params.yaml", overlay_file]), root=tmp_path)
    assert load_params(copy).ray.use_gpu


def test_every_overlay_trains_on_data_a_stage_makes():
    """Each model an overlay configures reads data/<its data>, which DVC (parsing dvc.yaml and datasets/dvc.yaml
    itself) lists as some stage's output: a renamed stage or a typo in an overlay fails here, not on a GPU."""
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        outputs = {Path(out.fs_path).relative_to(REPO).as_posix() for stage in repo.index.stages for out in stage.outs}
    for overlay_file in sorted((REPO / "datasets" / "params").glob("*.yaml")):
        params = load_params([REPO / "params.yaml", overlay_file])
        for name in yaml.safe_load(overlay_file.read_text())["models"]:
            assert f"data/{params.model(name).data}" in outputs, (overlay_file.name, name, params.model(name).data)


def test_claim_variants_become_the_model_and_settings_a_run_trains_with(tmp_path):
    from pipelines.ablate import variant_model
    params = load_params(REPO / "params.yaml")
    claims = params.experiments.claims
    name, model = variant_model(params, claims["filter_vs_offset_flow"], "offset_flow_alpha0.25")
    assert name == "offset_flow" and model.loss.supervised == 0.25
    assert model == dataclasses.replace(params.claim_model("pff_flow"), loss=model.loss)   # pff_flow's settings
    assert variant_model(params, claims["mgpff_vs_flownet"], "flownet_s") == ("flownet_s", params.model("flownet_s"))
    assert variant_model(params, claims["pff_vs_cnn_sr"], "cnn_sr") == ("cnn_sr", params.model("pff_sr"))
