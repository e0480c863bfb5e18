"""The one sample schema (SPEC §4.1): how every field is stored as bytes in a WebDataset shard.

An in-memory sample is a dict: field name -> numpy array, plus ``meta`` (a JSON-able dict).
On disk each field is one tar member ``<key>.<suffix>``. Adding a field is one line in FIELDS.
"""

import io
import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from components.errors import PixelpredError

# webdataset splits a member name at the first dot of its last path component, so keys
# carry no dots; "/" is allowed to group samples (e.g. "nyu/000123").
_KEY_PATTERN = re.compile(r"[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*")
# Fixed PNG options: zlib level 6 without optimisation gives the same bytes for the same
# array (with the same zlib); Pillow writes no tIME or text chunks unless asked.
_PNG_OPTIONS = {"format": "PNG", "compress_level": 6, "optimize": False}


class CorruptSampleError(PixelpredError):
    """A stored sample whose bytes cannot be decoded into the schema (bad PNG/npy/json, missing field)."""


@dataclass(frozen=True)
class FieldCodec:
    """One field's storage: tar suffix, array layout ("HW3", "KHW"; digits are fixed sizes), bytes codec."""

    suffix: str
    layout: str
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]

    def spatial_size(self, value: np.ndarray) -> tuple[int, int] | None:
        """Array in this field's layout -> (H, W), or None when the layout has no H and W."""
        if "H" not in self.layout or "W" not in self.layout:
            return None
        return int(value.shape[self.layout.index("H")]), int(value.shape[self.layout.index("W")])


def _check_array(value: Any, dtype: np.dtype, layout: str) -> np.ndarray:
    """Raise ValueError unless value is an ndarray of exactly this dtype whose shape fits the layout."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"expected a numpy array, got {type(value).__name__}")
    fixed_sizes_match = all(not d.isdigit() or size == int(d) for d, size in zip(layout, value.shape))
    if value.dtype != dtype or value.ndim != len(layout) or not fixed_sizes_match:
        raise ValueError(f"expected {np.dtype(dtype).name} {layout}, got {value.dtype.name} {value.shape}")
    return value


def png_field(suffix: str, mode: str) -> FieldCodec:
    """PIL mode ("RGB" uint8 HW3, "L" uint8 HW, "I;16" uint16 HW) -> codec that keeps that mode exactly."""
    dtype, layout = {"RGB": (np.uint8, "HW3"), "L": (np.uint8, "HW"), "I;16": (np.uint16, "HW")}[mode]

    def encode(value: Any) -> bytes:
        image = Image.fromarray(np.ascontiguousarray(_check_array(value, dtype, layout)))
        buffer = io.BytesIO()
        image.save(buffer, **_PNG_OPTIONS)
        return buffer.getvalue()

    def decode(data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decode now, so truncated data fails here and not lazily later
            if image.mode != mode:
                raise ValueError(f"PNG mode {image.mode}, expected {mode}")
            return _check_array(np.array(image), dtype, layout)

    return FieldCodec(suffix, layout, encode, decode)


def npy_field(suffix: str, dtype: type, layout: str) -> FieldCodec:
    """numpy dtype + layout -> codec storing the array as .npy (no pickles)."""

    def encode(value: Any) -> bytes:
        buffer = io.BytesIO()
        array = _check_array(value, np.dtype(dtype), layout)
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        return buffer.getvalue()

    def decode(data: bytes) -> np.ndarray:
        return _check_array(np.load(io.BytesIO(data), allow_pickle=False), np.dtype(dtype), layout)

    return FieldCodec(suffix, layout, encode, decode)


def _json_default(value: Any) -> Any:
    """numpy scalars/arrays in meta (intrinsics, degradation parameters) -> plain JSON values."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _encode_json(value: Any) -> bytes:
    if not isinstance(value, dict):
        raise ValueError(f"meta must be a dict, got {type(value).__name__}")
    # Sorted keys and fixed separators: the same meta always gives the same bytes.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default).encode()


def _decode_json(data: bytes) -> dict:
    value = json.loads(data.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError(f"meta must be a JSON object, got {type(value).__name__}")
    return value


FIELDS: dict[str, FieldCodec] = {
    "rgb": png_field("rgb.png", "RGB"),  # uint8 HxWx3
    "depth": npy_field("depth.npy", np.float32, "HW"),  # metres, 0 = invalid
    "normal": npy_field("normal.npy", np.float32, "HW3"),  # unit vectors, camera frame, 0 = invalid
    "seg": png_field("seg.png", "L"),  # class id, 255 = ignore
    "inst": png_field("inst.png", "I;16"),  # instance id, 0 = none
    "edge": npy_field("edge.npy", np.uint8, "KHW"),  # one boundary map per annotator
    "gt": png_field("gt.png", "RGB"),  # restoration target, uint8 HxWx3
    "lq": png_field("lq.png", "RGB"),  # its stored degraded input (fixed evaluation sets), uint8 HxWx3
    # Video (§7.3.1). A frame pair: frames a and b, the flow of a's pixels into b (dx, dy px) and where a's
    # point is visible in b, and the same from b into a. An evaluation clip: T frames, instance masks, and per
    # evaluation gap g the flow of frame t into t + g (T - g maps) with its valid masks.
    "a": png_field("a.png", "RGB"),
    "b": png_field("b.png", "RGB"),
    "flow": npy_field("flow.npy", np.float32, "HW2"),
    "valid": png_field("valid.png", "L"),  # 1 = visible in the other frame, 0 = occluded or out of view
    "flow_back": npy_field("flow_back.npy", np.float32, "HW2"),
    "valid_back": png_field("valid_back.png", "L"),
    "frames": npy_field("frames.npy", np.uint8, "THW3"),
    "masks": npy_field("masks.npy", np.uint16, "THW"),  # instance ids, stable over the clip, 0 = none
    "flows": npy_field("flows.npy", np.float32, "GTHW2"),  # [gap index, t]: frame t into t + gap, zero-padded
    "flows_valid": npy_field("flows_valid.npy", np.uint8, "GTHW"),  # 0 also where t + gap is past the clip
    "meta": FieldCodec("json", "", _encode_json, _decode_json),
}
_FIELD_BY_SUFFIX = {codec.suffix: name for name, codec in FIELDS.items()}
if len(_FIELD_BY_SUFFIX) != len(FIELDS):
    raise RuntimeError("two FIELDS entries share a suffix")


def check_key(key: str) -> str:
    """Sample key -> the same key, or PixelpredError when webdataset could not split it back."""
    if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
        raise PixelpredError(f"invalid sample key {key!r}: use letters, digits, '_', '-', '/' (no dots)")
    return key


def encode_sample(key: str, sample: dict[str, Any]) -> dict[str, bytes]:
    """Sample dict (field -> array, meta -> dict) -> webdataset dict {"__key__": key, suffix: bytes}."""
    raw: dict[str, Any] = {"__key__": check_key(key)}
    for name in sorted(sample):
        if name.startswith("__"):  # webdataset bookkeeping such as a decoded sample's __key__
            continue
        if name not in FIELDS:
            raise PixelpredError(f"sample {key!r}: unknown field {name!r}; known fields: {sorted(FIELDS)}")
        try:
            raw[FIELDS[name].suffix] = FIELDS[name].encode(sample[name])
        except (ValueError, TypeError) as exn:
            raise PixelpredError(f"sample {key!r} field {name!r}: {exn}") from exn
    return raw


def decode_sample(raw: dict[str, Any], required: Collection[str] = (),
                  optional: Collection[str] = ()) -> dict[str, Any]:
    """Webdataset dict {suffix: bytes} -> sample dict with "__key__"; CorruptSampleError if unusable.

    With `required` fields, only those, the `optional` ones a sample has, and meta are decoded: a reader pays
    for the fields it uses, and a sample stays usable when a field it does not need is damaged.
    """
    key = raw.get("__key__", "?")
    where = f"sample {key!r}" + (f" in {raw['__url__']}" if "__url__" in raw else "")
    wanted = {*required, *optional, "meta"} if required else None
    sample: dict[str, Any] = {"__key__": key}
    for suffix, data in raw.items():
        if suffix.startswith("__"):
            continue
        name = _FIELD_BY_SUFFIX.get(suffix)
        if name is None:
            raise CorruptSampleError(f"{where}: unknown member suffix {suffix!r}")
        if wanted is not None and name not in wanted:
            continue
        try:
            sample[name] = FIELDS[name].decode(data)
        except Exception as exn:  # any decoder failure means these bytes are unusable
            raise CorruptSampleError(f"{where} field {name!r}: {type(exn).__name__}: {exn}") from exn
    missing = sorted(set(required) - set(sample))
    if missing:
        raise CorruptSampleError(f"{where}: missing required fields {missing}")
    return sample


def spatial_size(sample: dict[str, Any]) -> tuple[int, int] | None:
    """Sample dict -> (H, W) of its first field (in FIELDS order) that has a spatial layout, else None."""
    for name, codec in FIELDS.items():
        if name in sample and (size := codec.spatial_size(sample[name])) is not None:
            return size
    return None
