"""The sample schema: exact round trips, PNG formats checked from the raw bytes, clear errors."""

import io
import struct

import numpy as np
import pytest
from PIL import Image

from components.data.schema import (
    FIELDS,
    CorruptSampleError,
    decode_sample,
    encode_sample,
    spatial_size,
)
from components.errors import PixelpredError

H, W, K = 6, 7, 3


def full_sample(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 80.0, (H, W)).astype(np.float32)
    depth[0, :3] = 0.0  # invalid pixels
    normal = rng.normal(size=(H, W, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    seg = rng.integers(0, 40, (H, W), dtype=np.uint8)
    seg[1, 1], seg[2, 2] = 255, 254  # the ignore label must survive as a plain value
    inst = rng.integers(0, 70000, (H, W)).clip(0, 65535).astype(np.uint16)
    inst[0, 0], inst[0, 1] = 65535, 256
    return {
        "rgb": rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
        "depth": depth,
        "normal": normal,
        "seg": seg,
        "inst": inst,
        "edge": (rng.random((K, H, W)) < 0.2).astype(np.uint8),
        "meta": {"dataset": "synth", "scene": 3, "intrinsics": [[500.0, 0.0, 3.5], [0.0, 500.0, 3.0]]},
    }


def png_header(data: bytes) -> tuple[int, int, int, int, list[bytes]]:
    """PNG bytes -> (width, height, bit depth, colour type, chunk types), parsed by hand."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        chunks.append(data[offset + 4 : offset + 8])
        offset += 12 + length
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", data[16:26])
    return width, height, bit_depth, colour_type, chunks


def test_round_trip_is_exact_for_every_field():
    sample = full_sample()
    decoded = decode_sample(encode_sample("synth/room_0001", sample))
    assert decoded["__key__"] == "synth/room_0001"
    assert set(decoded) == set(sample) | {"__key__"}
    for name, value in sample.items():
        if name == "meta":
            assert decoded["meta"] == value
            continue
        assert decoded[name].dtype == value.dtype, name
        assert decoded[name].shape == value.shape, name
        np.testing.assert_array_equal(decoded[name], value, err_msg=name)
    assert decoded["seg"].max() == 255 and decoded["inst"].max() == 65535


def test_video_fields_round_trip_exactly():
    rng = np.random.default_rng(1)
    frames, gaps = 5, 2
    pair = {"a": rng.integers(0, 256, (H, W, 3), dtype=np.uint8), "b": rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
            "flow": rng.normal(0, 4, (H, W, 2)).astype(np.float32), "valid": (rng.random((H, W)) < 0.8).astype(np.uint8),
            "flow_back": rng.normal(0, 4, (H, W, 2)).astype(np.float32),
            "valid_back": (rng.random((H, W)) < 0.8).astype(np.uint8)}
    clip = {"frames": rng.integers(0, 256, (frames, H, W, 3), dtype=np.uint8),
            "masks": rng.integers(0, 9, (frames, H, W)).astype(np.uint16),
            "flows": rng.normal(0, 4, (gaps, frames, H, W, 2)).astype(np.float32),
            "flows_valid": (rng.random((gaps, frames, H, W)) < 0.8).astype(np.uint8)}
    for sample in (pair, clip):
        decoded = decode_sample(encode_sample("v", sample))
        for name, value in sample.items():
            assert decoded[name].dtype == value.dtype and decoded[name].shape == value.shape, name
            np.testing.assert_array_equal(decoded[name], value, err_msg=name)
        assert spatial_size(sample) == (H, W)
    with pytest.raises(PixelpredError, match="flow"):
        encode_sample("v", {"flow": np.zeros((H, W, 3), np.float32)})  # (dx, dy) only


def test_members_are_named_by_the_schema_suffixes():
    raw = encode_sample("k1", full_sample())
    suffixes = {"rgb.png", "depth.npy", "normal.npy", "seg.png", "inst.png", "edge.npy", "json"}
    assert set(raw) == suffixes | {"__key__"}
    assert all(isinstance(raw[suffix], bytes) for suffix in raw if suffix != "__key__")


@pytest.mark.parametrize(
    "field, bit_depth, colour_type",
    [("rgb", 8, 2), ("seg", 8, 0), ("inst", 16, 0)],  # colour type 2 = RGB, 0 = greyscale
)
def test_png_format_from_the_raw_bytes(field, bit_depth, colour_type):
    data = encode_sample("k1", full_sample())[f"{field}.png"]
    width, height, depth_bits, colour, chunks = png_header(data)
    assert (width, height, depth_bits, colour) == (W, H, bit_depth, colour_type)
    # Nothing time- or host-dependent: only header, pixel data and end chunks.
    assert set(chunks) == {b"IHDR", b"IDAT", b"IEND"}


def test_png_and_npy_bytes_are_deterministic():
    first, second = encode_sample("k1", full_sample()), encode_sample("k1", full_sample())
    assert first == second
    reordered = dict(reversed(list(full_sample().items())))
    assert encode_sample("k1", reordered) == first


def test_stored_bytes_are_standard_png_and_npy():
    sample = full_sample()
    raw = encode_sample("k1", sample)
    with Image.open(io.BytesIO(raw["inst.png"])) as image:
        np.testing.assert_array_equal(np.array(image).astype(np.int64), sample["inst"].astype(np.int64))
    np.testing.assert_array_equal(np.load(io.BytesIO(raw["normal.npy"])), sample["normal"])


def test_meta_numpy_values_become_json_values():
    raw = encode_sample("k1", {"meta": {"gap": np.int64(3), "k": np.eye(2, dtype=np.float32)}})
    assert raw["json"] == b'{"gap":3,"k":[[1.0,0.0],[0.0,1.0]]}'
    assert decode_sample(raw)["meta"] == {"gap": 3, "k": [[1.0, 0.0], [0.0, 1.0]]}


def test_spatial_size_reads_each_layout():
    sample = full_sample()
    assert spatial_size(sample) == (H, W)
    assert spatial_size({"edge": sample["edge"]}) == (H, W)
    assert spatial_size({"meta": {}}) is None
    assert FIELDS["edge"].spatial_size(np.zeros((2, 4, 9), np.uint8)) == (4, 9)


@pytest.mark.parametrize(
    "field, bad",
    [
        ("seg", np.zeros((4, 4), np.int64)),  # wrong dtype: would wrap silently
        ("seg", np.zeros((4, 4, 1), np.uint8)),  # seg is single-channel
        ("rgb", np.zeros((4, 4, 4), np.uint8)),  # RGBA
        ("normal", np.zeros((4, 4, 3), np.float64)),
        ("edge", np.zeros((4, 4), np.uint8)),  # edge needs the annotator axis
        ("meta", [1, 2]),
    ],
)
def test_encode_rejects_arrays_outside_the_schema(field, bad):
    with pytest.raises(PixelpredError, match=f"sample 'k1' field '{field}'"):
        encode_sample("k1", {field: bad})


@pytest.mark.parametrize("key", ["a.b", "", "x y", "/abs", "a//b"])
def test_encode_rejects_keys_webdataset_cannot_split(key):
    with pytest.raises(PixelpredError, match="invalid sample key"):
        encode_sample(key, {"meta": {}})


def test_encode_rejects_unknown_fields():
    with pytest.raises(PixelpredError, match="unknown field 'optical_flow'"):
        encode_sample("k1", {"optical_flow": np.zeros((2, 2, 2), np.float32)})


@pytest.mark.parametrize(
    "suffix, mangle",
    [
        ("rgb.png", lambda data: b"\x00garbage" * 10),
        ("seg.png", lambda data: data[: len(data) // 2]),  # truncated PNG
        ("seg.png", lambda data: encode_sample("x", {"rgb": np.zeros((2, 2, 3), np.uint8)})["rgb.png"]),
        ("inst.png", lambda data: encode_sample("x", {"seg": np.zeros((2, 2), np.uint8)})["seg.png"]),
        ("depth.npy", lambda data: data[:-10]),  # truncated npy
        ("depth.npy", lambda data: b"not an npy file"),
        ("edge.npy", lambda data: encode_sample("x", {"depth": np.zeros((2, 2), np.float32)})["depth.npy"]),
        ("json", lambda data: b"{not json"),
    ],
)
def test_decode_raises_a_clear_error_on_corrupt_bytes(suffix, mangle):
    raw = encode_sample("bad_key", full_sample())
    raw[suffix] = mangle(raw[suffix])
    with pytest.raises(CorruptSampleError, match="sample 'bad_key'.*field"):
        decode_sample(raw)


def test_decode_checks_required_fields_and_unknown_members():
    raw = encode_sample("k9", full_sample())
    del raw["seg.png"]
    assert "seg" not in decode_sample(raw, required=("rgb",))
    with pytest.raises(CorruptSampleError, match=r"sample 'k9': missing required fields \['seg'\]"):
        decode_sample(raw, required=("rgb", "seg"))
    raw["txt"] = b"hello"
    with pytest.raises(CorruptSampleError, match="unknown member suffix 'txt'"):
        decode_sample(raw)
    assert issubclass(CorruptSampleError, PixelpredError)


def test_decode_reads_only_the_required_fields():
    raw = encode_sample("k3", full_sample())
    raw["depth.npy"] = b"not an npy file"            # damaged, but not needed by this reader
    sample = decode_sample(raw, required=("rgb", "seg"))
    assert set(sample) == {"__key__", "rgb", "seg", "meta"}
    with pytest.raises(CorruptSampleError, match="field 'depth'"):
        decode_sample(raw, required=("rgb", "depth"))


def test_optional_fields_are_decoded_where_a_sample_has_them():
    raw = encode_sample("k4", full_sample())
    del raw["seg.png"]
    sample = decode_sample(raw, required=("rgb",), optional=("seg", "depth"))   # seg absent: no error
    assert set(sample) == {"__key__", "rgb", "depth", "meta"}
    np.testing.assert_array_equal(sample["depth"], full_sample()["depth"])
