"""Typed configuration: one frozen dataclass per params.yaml section, validated once at stage entry.

`load_params` rejects unknown keys, wrong types and out-of-range values with one message that
names the offending key, before any compute starts. Objects are passed down; nothing below
the stage entry reads params.yaml or a raw dict.
"""
from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from components.errors import PixelpredError


class ConfigError(PixelpredError):
    """Invalid params: the message names the key path, e.g. `models.seg_baseline.train.steps`."""


@dataclass(frozen=True)
class SplitSizes:
    train: int = 600
    val: int = 60
    test: int = 120

    def __post_init__(self) -> None:
        _check(min(self.train, self.val, self.test) >= 1, "every split needs at least one sample")


@dataclass(frozen=True)
class DataConfig:
    source: str = "synth"           # a dataset name in components.data.sources
    seed: int = 0                   # seeds the renderer / any sampling done while obtaining data
    height: int = 96
    width: int = 128
    splits: SplitSizes = field(default_factory=SplitSizes)
    num_annotators: int = 3         # jittered boundary annotators per view (BSDS-like)
    samples_per_shard: int = 100
    processes: int = 0              # worker processes for rendering / converting (0: one per core)

    def __post_init__(self) -> None:
        _check(self.height >= 32 and self.width >= 32, "height and width must be >= 32")
        _check(self.height % 8 == 0 and self.width % 8 == 0, "height and width must be multiples of 8")
        _check(self.num_annotators >= 1, "num_annotators must be >= 1")
        _check(self.samples_per_shard >= 1 and self.processes >= 0, "samples_per_shard must be >= 1, processes >= 0")


@dataclass(frozen=True)
class PanoramaConfig:
    """Synth equirectangular panoramas (`panoramas` stage, SPEC §4.2/§4.4): global normals, then App. B.1's transform."""
    seed: int = 0
    height: int = 64                 # width is 2 x height (equirectangular)
    splits: SplitSizes = field(default_factory=lambda: SplitSizes(160, 16, 32))
    samples_per_shard: int = 64

    def __post_init__(self) -> None:
        _check(self.height >= 16 and self.height % 8 == 0, "panorama.height must be >= 16 and a multiple of 8")
        _check(self.samples_per_shard >= 1, "panorama.samples_per_shard must be >= 1")


@dataclass(frozen=True)
class VideoConfig:
    """Synth video (`video` stage, SPEC §4.2/§4.4, thesis §7.3.1): train/val clips cut into frame pairs at random
    gaps, test clips kept whole with ground-truth flow at the evaluation gaps."""
    seed: int = 1                    # not data.seed's 0: the clips show scenes the still views do not
    height: int = 64
    width: int = 96
    frames: int = 10                 # per train/val clip
    test_frames: int = 16            # per evaluation clip
    clips: SplitSizes = field(default_factory=lambda: SplitSizes(48, 4, 8))
    pairs_per_clip: int = 16         # train/val pairs drawn from each clip
    max_gap: int = 5                 # a pair's frames are 1..max_gap apart, uniformly (thesis: within 5)
    eval_gaps: tuple[int, ...] = (1, 5, 10)   # test clips store flow between frames this far apart
    samples_per_shard: int = 128

    def __post_init__(self) -> None:
        _check(self.height >= 32 and self.width >= 32 and self.height % 16 == 0 and self.width % 16 == 0,
               "video.height and video.width must be >= 32 and multiples of 16")
        _check(1 <= self.max_gap < self.frames, "video.max_gap must be >= 1 and below video.frames")
        _check(len(self.eval_gaps) >= 1 and min(self.eval_gaps) >= 1 and max(self.eval_gaps) < self.test_frames,
               "video.eval_gaps must be >= 1 and below video.test_frames")
        _check(self.pairs_per_clip >= 1 and self.samples_per_shard >= 1,
               "video.pairs_per_clip and video.samples_per_shard must be >= 1")


@dataclass(frozen=True)
class RealVideoConfig:
    """Real video (`video_real` stage, datasets/dvc.yaml): clips of the registry's video datasets resized to
    height x width, train/val clips cut into frame pairs like the synth ones, the test clips of `test_from` kept
    whole (the thesis: mgPFF trained on Sintel + DAVIS + JHMDB at 256 x 256, evaluated on DAVIS-2017 val)."""
    sources: tuple[str, ...] = ("sintel", "davis2017", "jhmdb")
    test_from: tuple[str, ...] = ("davis2017",)
    height: int = 256
    width: int = 256
    pairs_per_clip: int = 16
    max_gap: int = 5
    eval_gaps: tuple[int, ...] = (1, 5, 10)   # test pairs predicted this far apart; flow stored where a set has it
    sintel_passes: tuple[str, ...] = ("clean", "final")   # training clips; Sintel's test clips use 'final'
    samples_per_shard: int = 64

    def __post_init__(self) -> None:
        _check(self.height >= 32 and self.width >= 32 and self.height % 16 == 0 and self.width % 16 == 0,
               "real_video.height and real_video.width must be >= 32 and multiples of 16")
        _check(set(self.test_from) <= set(self.sources), "real_video.test_from must be among real_video.sources")
        _check(set(self.sintel_passes) <= {"clean", "final"} and bool(self.sintel_passes),
               "real_video.sintel_passes: clean and/or final")
        _check(self.max_gap >= 1 and self.pairs_per_clip >= 1 and self.samples_per_shard >= 1 and min(self.eval_gaps) >= 1,
               "real_video.max_gap, pairs_per_clip, samples_per_shard and eval_gaps must be >= 1")


@dataclass(frozen=True)
class BackboneConfig:
    block: Literal["basic", "bottleneck"] = "basic"
    layers: tuple[int, int, int, int] = (2, 2, 2, 2)   # ResNet-18; (3, 4, 6, 3) with bottleneck is ResNet-50
    width: int = 64                  # channels of the first stage; later stages double it
    output_stride: Literal[8, 16, 32, 64] = 8   # 8: last two stages dilated 2 and 4 instead of strided (§2.1);
                                                # flownet_s: its coarsest level (FlowNetS: 64)
    decoder: bool = False            # U-shape decoder with skips (Fig 2.2b)
    full_res_stream: bool = False    # extra full-resolution stream (Fig 2.2c)
    frozen_bn: bool = False          # batch-norm statistics and affine frozen (§3.5)
    pretrained: str = ""             # optional path/URI of a state dict for the encoder

    def __post_init__(self) -> None:
        _check(self.width >= 4, "backbone.width must be >= 4")
        _check(all(n >= 1 for n in self.layers), "backbone.layers must all be >= 1")


@dataclass(frozen=True)
class LossConfig:
    kind: str = "thesis"     # task-specific variant; each task lists the kinds it accepts
    gamma: float = 2.0       # Eq. 2.3: weight of the L1 term of the log-depth loss
    lam: float = 4.0         # Eq. 2.4: weight of the acos term of the normal loss
    flow_weight: float = 1.0      # Eq. 7.8 lambda_flow: reconstruction by warping with the expected flow
    fb_weight: float = 1.0        # Eq. 7.8 lambda_fb: forward-backward consistency
    smooth_weight: float = 1.0    # Eq. 7.8 lambda_sm: flow smoothness
    supervised: float = 0.0       # Fig 7.2's alpha: weight of the endpoint error against true flow (1 - alpha: the rest)
    # flownet: per-pixel-mean weights of the full-resolution flow, then of each prediction level finest first.
    # FlowNet's (0.005, 0.01, 0.02, 0.08, 0.32) for 1/4..1/64 are for sums over pixels: as means, 1 : 0.5 : 0.25 ...
    level_weights: tuple[float, ...] = (1.0, 1.0, 0.5, 0.25, 0.25, 0.25)

    def __post_init__(self) -> None:
        _check(min(self.flow_weight, self.fb_weight, self.smooth_weight) >= 0, "loss weights must be >= 0")
        _check(0.0 <= self.supervised <= 1.0, "loss.supervised (alpha) must be in [0, 1]")
        _check(all(w >= 0 for w in self.level_weights), "loss.level_weights must be >= 0")


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: Literal["poly", "constant"] = "poly"   # poly: lr * (1 - it/max)^power (§2.1)
    poly_power: float = 0.9

    def __post_init__(self) -> None:
        _check(self.lr > 0, "optim.lr must be > 0")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 300
    batch_size: int = 8
    optim: OptimConfig = field(default_factory=OptimConfig)
    checkpoint_every: int = 100      # steps between ray.train.report checkpoints
    log_every: int = 10              # steps between metric logs
    panel_every: int = 0             # steps between prediction panels (0: only at the end)
    seed: int = 0
    hflip: bool = True               # random horizontal flip (normals' and flows' x flips with it)
    vflip: bool = False              # random vertical flip (only where upside-down views are plausible: flow)
    color_jitter: float = 0.0        # contrast, channel gains and offset drawn per example (transforms.jitter_colors)
    grad_clip: float = 0.0           # max global gradient norm (0: no clipping)
    patch: int = 0                   # random square training crops of this size (0: whole images)

    def __post_init__(self) -> None:
        _check(self.steps >= 1 and self.batch_size >= 1, "train.steps and train.batch_size must be >= 1")
        _check(self.grad_clip >= 0, "train.grad_clip must be >= 0")
        _check(self.patch >= 0, "train.patch must be >= 0")
        _check(self.checkpoint_every >= 1 and self.log_every >= 1, "checkpoint_every and log_every must be >= 1")
        _check(self.panel_every >= 0, "panel_every must be >= 0")
        _check(0 <= self.color_jitter < 1, "train.color_jitter must be in [0, 1)")


@dataclass(frozen=True)
class DegradationConfig:
    """Synthetic degradations of §6.4 (components.data.degradations), shared by training and eval sets."""
    blur_kernel_size: int = 30                        # kernels are size x size (thesis: 30 x 30)
    blur_length: tuple[float, float] = (1.0, 30.0)    # motion length range in px, drawn uniformly
    blur_angle: tuple[float, float] = (0.0, 180.0)    # motion angle range in degrees, drawn uniformly
    blur_grid: int = 2               # grid x grid independent kernels blended smoothly; 1: uniform blur
    jpeg_qualities: tuple[int, ...] = (10, 20, 40)    # quality factors 'mixed' draws from
    jpeg_quality: int | Literal["mixed"] = "mixed"    # one fixed quality factor, or 'mixed'
    sr_scale: int = 4                # bicubic down by this factor, then back up

    def __post_init__(self) -> None:
        lo, hi = self.blur_length
        _check(self.blur_kernel_size >= 1, "degradation.blur_kernel_size must be >= 1")
        _check(1 <= lo <= hi <= self.blur_kernel_size,
               f"degradation.blur_length must satisfy 1 <= min <= max <= blur_kernel_size ({self.blur_kernel_size}), "
               f"got {list(self.blur_length)}")
        _check(0 <= self.blur_angle[0] <= self.blur_angle[1] <= 180,
               f"degradation.blur_angle must satisfy 0 <= min <= max <= 180, got {list(self.blur_angle)}")
        _check(self.blur_grid >= 1, "degradation.blur_grid must be >= 1")
        _check(len(self.jpeg_qualities) >= 1 and all(1 <= q <= 100 for q in self.jpeg_qualities),
               f"degradation.jpeg_qualities must be a non-empty list of integers in [1, 100], "
               f"got {list(self.jpeg_qualities)}")
        fixed = type(self.jpeg_quality) is int and 1 <= self.jpeg_quality <= 100   # bool is an int subclass
        _check(self.jpeg_quality == "mixed" or fixed,
               f"degradation.jpeg_quality must be 'mixed' or an integer in [1, 100], got {self.jpeg_quality!r}")
        _check(self.sr_scale >= 2, "degradation.sr_scale must be >= 2")


JpegSubsampling = Literal["4:2:0", "4:2:2", "4:4:4"]     # chroma subsampling of a JPEG encode
Downsampler = Literal["box", "bilinear", "lanczos"]     # Pillow filters other than training's bicubic


@dataclass(frozen=True)
class ShiftedDegradationConfig:
    """Fixed test sets from other generators than training's (degrade splits deblur_shake, jpeg_shift, sr_box)."""
    shake_kernel_size: int = 30      # camera-shake kernels are size x size, like the training kernels
    shake_length: float = 20.0       # path length of the shake trajectory in px; at most 2 * ((size - 1) // 2)
    # (quality, chroma subsampling) per sample: a trained quality with other chroma, an untrained quality.
    # Quote the subsampling in YAML: bare 4:4:4 is read as a base-60 integer.
    jpeg: tuple[tuple[int, JpegSubsampling], ...] = ((10, "4:4:4"), (30, "4:2:0"))
    sr_downsampler: Downsampler = "box"   # makes the low-resolution image; it goes back up by bicubic as in training

    def __post_init__(self) -> None:
        _check(self.shake_kernel_size >= 1, "degrade.shifted.shake_kernel_size must be >= 1")
        # Every trajectory point lies within shake_length / 2 of the trajectory's centre of mass, so this
        # bound (components.data.degradations.max_shake_length) keeps the centred kernel inside its support.
        longest = 2 * ((self.shake_kernel_size - 1) // 2)
        _check(1 <= self.shake_length <= longest,
               f"degrade.shifted.shake_length must lie in [1, {longest}] to fit a {self.shake_kernel_size} x "
               f"{self.shake_kernel_size} kernel, got {self.shake_length}")
        _check(len(self.jpeg) >= 1 and all(type(q) is int and 1 <= q <= 100 and s in typing.get_args(JpegSubsampling)
                                           for q, s in self.jpeg),
               f"degrade.shifted.jpeg must be a non-empty list of [quality in [1, 100], subsampling in "
               f"{list(typing.get_args(JpegSubsampling))}] pairs, got {[list(pair) for pair in self.jpeg]}")
        _check(len(set(self.jpeg)) == len(self.jpeg), f"degrade.shifted.jpeg pairs repeat: {[list(p) for p in self.jpeg]}")
        _check(self.sr_downsampler in typing.get_args(Downsampler),
               f"degrade.shifted.sr_downsampler must be one of {list(typing.get_args(Downsampler))}, "
               f"got {self.sr_downsampler!r}")


@dataclass(frozen=True)
class ModelConfig:
    data: str = "shards"             # its dataset: the prepared shards under data/<data> (dvc.yaml reads it)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    degradation: DegradationConfig = field(default_factory=DegradationConfig)   # restoration: training inputs

    def __post_init__(self) -> None:
        _check(self.data.isidentifier(), f"data must be a directory name under data/, got {self.data!r}")


@dataclass(frozen=True)
class RayConfig:
    num_workers: int = 1             # Ray Train workers (DDP ranks)
    use_gpu: bool = False
    cpus_per_worker: float = 0.0     # 0 -> the machine's cores, shared among the workers
    max_failures: int = 2            # FailureConfig: restarts from the last checkpoint
    storage_path: str = ""           # '' -> <repo>/.ray/results; s3://... on a cluster
    address: str = ""                # '' -> $RAY_ADDRESS if set, else a local Ray started by the stage

    def __post_init__(self) -> None:
        _check(self.num_workers >= 1, "ray.num_workers must be >= 1")
        _check(self.max_failures >= 0, "ray.max_failures must be >= 0")
        _check(self.cpus_per_worker >= 0, "ray.cpus_per_worker must be >= 0 (0: all the machine's cores)")


@dataclass(frozen=True)
class TrackingConfig:
    uri: str = ""                    # '' -> $MLFLOW_TRACKING_URI, else sqlite at <repo>/mlflow/mlflow.db
    artifact_root: str = ""          # '' -> <repo>/mlflow/artifacts (s3://... with a server)
    experiment: str = "pixelpred"
    alias: str = "champion"          # alias set on each newly registered version
    system_metrics: bool = True
    reconnect_timeout_s: float = 120.0   # training done, server away: how long the train stage waits to log and register

    def __post_init__(self) -> None:
        _check(self.reconnect_timeout_s >= 0, "tracking.reconnect_timeout_s must be >= 0")


@dataclass(frozen=True)
class StorageConfig:
    """Where s3:// locations live (components/storage/s3.py). Never credentials: those come from the environment."""
    endpoint_url: str = ""           # '' -> $AWS_ENDPOINT_URL, else AWS (http://127.0.0.1:PORT for moto/MinIO)
    region: str = ""                 # '' -> $AWS_REGION / $AWS_DEFAULT_REGION, else us-east-1
    max_attempts: int = 4            # per request, exponential backoff between attempts (botocore 'standard')
    connect_timeout_s: float = 3.0   # with max_attempts: an unreachable endpoint fails in ~20 s, not minutes
    read_timeout_s: float = 20.0
    publish: str = ""                # s3://bucket/prefix: prepare/degrade also upload their shards under it

    def __post_init__(self) -> None:
        _check(1 <= self.max_attempts <= 10, "storage.max_attempts must be in 1..10")
        _check(self.connect_timeout_s > 0 and self.read_timeout_s > 0, "storage timeouts must be > 0")
        _check(not self.publish or self.publish.startswith("s3://"), "storage.publish must be '' or s3://bucket/prefix")


@dataclass(frozen=True)
class DownloadConfig:
    """How the download stage fetches real datasets' files (components/data/registry.py)."""
    mirror: str = ""                 # s3://bucket/prefix with <dataset>/<file> objects, tried before the URLs
    mirror_upload: bool = False      # put each file fetched over HTTP into the mirror (after it verified)
    attempts: int = 6                # HTTP attempts in a row without progress before giving up
    backoff_s: float = 1.0           # first wait between attempts; doubles each time, at most 60 s
    timeout_s: float = 30.0          # HTTP connect and read timeout
    max_unpacked_gib: float = 200.0  # refuse an archive that would unpack to more than this

    def __post_init__(self) -> None:
        _check(not self.mirror or self.mirror.startswith("s3://"), "download.mirror must be '' or s3://bucket/prefix")
        _check(not self.mirror_upload or bool(self.mirror), "download.mirror_upload needs download.mirror")
        _check(self.attempts >= 1 and self.backoff_s >= 0 and self.timeout_s > 0 and self.max_unpacked_gib > 0,
               "download: attempts >= 1, backoff_s >= 0, timeout_s > 0, max_unpacked_gib > 0")


@dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = 16
    boundary_mode: Literal["exact", "fast"] = "exact"   # fast: distance-transform matching (approximate)
    boundary_thresholds: int = 99
    panels: int = 4                  # test images shown in the evaluation run's panel
    processes: int = 0               # processes for boundary matching (0: one per core)
    # video: I_t warped to I_{t+m} for these m (Table 7.2: 5, 10; Fig 7.2: consecutive frames)
    reconstruction_gaps: tuple[int, ...] = (1, 5, 10)

    def __post_init__(self) -> None:
        _check(self.batch_size >= 1 and self.boundary_thresholds >= 1, "evaluate.batch_size and boundary_thresholds must be >= 1")
        _check(self.processes >= 0, "evaluate.processes must be >= 0 (0: one per core)")
        _check(all(m >= 1 for m in self.reconstruction_gaps), "evaluate.reconstruction_gaps must be >= 1")


@dataclass(frozen=True)
class DegradeConfig:
    """The restoration dataset (`degrade` stage, SPEC §4.2/§4.4): skimage.data photographs plus synth
    renders, clean for training (degraded on the fly) and fixed degraded test sets per task."""
    train_photos: tuple[str, ...] = ()   # names in components.data.photos.PHOTOS
    test_photos: tuple[str, ...] = ()    # held out: the fixed test set
    synth_train: int = 64            # synth train renders (their rgb) added to the training images
    synth_val: int = 16              # synth val renders: the validation images
    tile: int = 128                  # training images are cut into tile x tile pieces (crops come from these)
    test_size: int = 192             # test photos are centre-cropped to test_size x test_size
    seed: int = 0                    # seeds the fixed test degradations
    degradation: DegradationConfig = field(default_factory=DegradationConfig)   # jpeg: one set per quality
    shifted: ShiftedDegradationConfig = field(default_factory=ShiftedDegradationConfig)   # extra sets, other generators
    samples_per_shard: int = 64

    def __post_init__(self) -> None:
        _check(not set(self.train_photos) & set(self.test_photos), "degrade: a photo cannot be in train and test")
        _check(self.tile >= 16 and self.test_size >= 16, "degrade.tile and degrade.test_size must be >= 16")
        _check(self.test_size % self.degradation.sr_scale == 0, "degrade.test_size must be a multiple of sr_scale")
        _check(self.synth_train >= 0 and self.synth_val >= 1, "degrade.synth_train must be >= 0 and synth_val >= 1")


ALPHA_SEPARATOR = "_alpha"    # claim variants that set loss.supervised: pff_flow_alpha0.5


@dataclass(frozen=True)
class ClaimExperiment:
    """One claim's runs: every run trains with the settings of models.<model> (or experiments.models.<model>),
    once per variant of what `vary` names (and per seed).

    vary 'loss': variants are LossConfig.kind values; 'architecture': variants are registered models
    of the same task (PFF vs CNN at one budget); 'jpeg_quality': degradation.jpeg_quality values ('10', 'mixed');
    'alpha': '<registered model>_alpha<alpha>', loss.supervised set to alpha (Fig 7.2: filter vs offset flow);
    'model': main-job models, each trained with its own models.<variant> settings instead (mgPFF vs FlowNetS).
    """
    vary: Literal["loss", "architecture", "jpeg_quality", "alpha", "model"] = "loss"
    model: str = ""
    variants: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check(bool(self.model), "model is required: the models.<name> section every run trains with")
        _check(len(set(self.variants)) == len(self.variants), f"variants repeat: {list(self.variants)}")
        if self.vary == "alpha":
            for variant in self.variants:
                self.alpha_variant(variant)

    @staticmethod
    def alpha_variant(variant: str) -> tuple[str, float]:
        """'pff_flow_alpha0.25' -> ('pff_flow', 0.25). Not '@': DVC names a matrix stage by its values after one."""
        name, _, alpha = variant.rpartition(ALPHA_SEPARATOR)
        try:
            value = float(alpha)
        except ValueError:
            value = -1.0
        _check(bool(name) and 0.0 <= value <= 1.0,
               f"alpha variant '{variant}' must be <model>{ALPHA_SEPARATOR}<alpha in [0, 1]>")
        return name, value


@dataclass(frozen=True)
class ExperimentsConfig:
    """Thesis-claim experiments (experiments/dvc.yaml): per claim, each variant trained once per seed."""
    seeds: tuple[int, ...] = (0, 1, 2)
    claims: dict[str, ClaimExperiment] = field(default_factory=dict)   # keyed like report.thesis.CLAIMS
    # Settings of models only the claims train (Fig 7.2's pff_flow): like `models`, outside the main job.
    models: dict[str, ModelConfig] = field(default_factory=dict)

    def claim(self, name: str) -> ClaimExperiment:
        if name not in self.claims:
            raise ConfigError(f"no experiment for claim '{name}' under experiments.claims (configured: {', '.join(sorted(self.claims)) or 'none'})")
        return self.claims[name]


@dataclass(frozen=True)
class Params:
    data: DataConfig = field(default_factory=DataConfig)
    panorama: PanoramaConfig = field(default_factory=PanoramaConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    real_video: RealVideoConfig = field(default_factory=RealVideoConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    download: DownloadConfig = field(default_factory=DownloadConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    degrade: DegradeConfig = field(default_factory=DegradeConfig)
    models: dict[str, ModelConfig] = field(default_factory=dict)
    experiments: ExperimentsConfig = field(default_factory=ExperimentsConfig)
    root: Path = Path(".")           # directory of params.yaml; not a params key

    def model(self, name: str) -> ModelConfig:
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError(f"model '{name}' has no section under 'models' in params.yaml (configured: {known})")
        return self.models[name]

    def claim_model(self, name: str) -> ModelConfig:
        """models.<name>, or experiments.models.<name> for a model trained only by the claim experiments."""
        return self.experiments.models[name] if name in self.experiments.models else self.model(name)


class _ParamsLoader(yaml.SafeLoader):
    """YAML as DVC writes it: `dvc exp run -S` re-dumps params.yaml with ruamel (YAML 1.2), which leaves a string
    such as 4:4:4 unquoted, and PyYAML's YAML 1.1 rules would read that as the base-60 integer 14644."""


_ParamsLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_ParamsLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"), list("-+0123456789"))


def read_params_file(path: Path) -> dict:
    """One params YAML file -> its mapping (empty file: {}); ConfigError when it is not YAML or not a mapping."""
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    try:
        layer = yaml.load(path.read_text(), Loader=_ParamsLoader) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err.__class__.__name__})") from None
    if not isinstance(layer, dict):
        raise ConfigError(f"{path}: expected a mapping of params sections")
    return layer


def load_params(paths: str | Path | list[str | Path]) -> Params:
    """Read and validate params.yaml -> Params (raises ConfigError naming the bad key).

    A list of files is one set of params: each later file overlays the earlier ones key by key (nested sections
    merge, other values replace), e.g. `infra/params.cluster.yaml` over `params.yaml`; the merged result is
    validated once. Relative paths in params resolve against the first file's directory.
    """
    files = [Path(p) for p in (paths if isinstance(paths, list) else [paths])]
    raw: dict = {}
    for path in files:
        raw = overlay(raw, read_params_file(path))
    params = from_dict(Params, raw, where=" + ".join(map(str, files)))
    return dataclasses.replace(params, root=files[0].resolve().parent)


def overlay(base: dict, top: dict) -> dict:
    """`top` over `base`: mappings merge recursively, anything else in `top` replaces."""
    merged = dict(base)
    for key, value in top.items():
        merged[key] = overlay(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def set_param_args(base: dict, top: dict) -> list[str]:
    """Overlay `top` on params `base` as `dvc exp run -S` arguments (Hydra override syntax), leaf by leaf as
    `overlay` merges; a key `base` lacks gets Hydra's '+' (DVC's params are in struct mode). Values are compact
    JSON, which Hydra reads back as the same strings, numbers, booleans and lists."""
    args = []
    for key, value in flatten(top).items():
        node: Any = base
        for part in key.split("."):
            node = node.get(part, KeyError) if isinstance(node, dict) else KeyError
        text = json.dumps(list(value) if isinstance(value, tuple) else value, separators=(",", ":"))
        if any(c.isspace() for c in text):
            raise ConfigError(f"{key}: a value with spaces cannot be passed as one -S argument: {text}")
        args.append(f"{'+' if node is KeyError else ''}{key}={text}")
    return args


def to_dict(obj: Any) -> Any:
    """Dataclass tree -> plain dict/list values (for logging and checkpoints)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name != "root"}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dict -> {'a.b.c': value} (MLflow params)."""
    out: dict[str, Any] = {}
    for key, value in (to_dict(obj) if dataclasses.is_dataclass(obj) else obj).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def from_dict(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from `data`, checking keys and types recursively."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name != "root"}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} (allowed: {', '.join(sorted(names))})")
    values = {key: _coerce(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    try:
        return cls(**values)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return {str(k): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (Ellipsis not in args and len(value) != len(args)):
            size = "" if Ellipsis in args else f" of {len(args)} items"
            raise ConfigError(f"{where}: expected a list{size}, got {value!r}")
        item_hints = [args[0]] * len(value) if Ellipsis in args else list(args)
        return tuple(_coerce(h, v, f"{where}[{i}]") for i, (h, v) in enumerate(zip(item_hints, value)))
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _coerce(option, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {hint}")
    if hint is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null")
        return None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is Path and isinstance(value, str):
        return Path(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value

