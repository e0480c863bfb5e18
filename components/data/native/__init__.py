"""Converters from each real dataset's native files to the schema (SPEC §4.1), one module per dataset.

A module `components.data.native.<converter>` defines `SOURCE`, a Source whose `samples` reads the raw
directory that the download stage filled from the registry (components/data/registry.yaml): every archive
of the dataset unpacked into `<raw>/<its unpack dir>/`, every other file at `<raw>/<its name>`.
"""
from __future__ import annotations

from typing import Sequence, TypeVar

T = TypeVar("T")

# Datasets with an official train/test split only: every VAL_EVERY-th training item (in sorted order) is held out
# as the validation split, which training uses for its validation loss; the official test split stays whole.
VAL_EVERY = 10


def hold_out_val(train_items: Sequence[T]) -> dict[str, list[T]]:
    """Official training items (sorted) -> {"train": ..., "val": every VAL_EVERY-th item}; disjoint, deterministic."""
    return {"train": [item for i, item in enumerate(train_items) if i % VAL_EVERY != VAL_EVERY - 1],
            "val": [item for i, item in enumerate(train_items) if i % VAL_EVERY == VAL_EVERY - 1]}
