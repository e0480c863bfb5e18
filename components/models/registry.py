"""Model registry: builder functions registered under their own name by `@register_model(task=...)`.

params.yaml selects a model by name; `create_model` is one dict lookup, so grepping the name finds
its builder. Each model family registers its builders in its own module, imported by
`components.models.__init__` so that importing the package fills the registry.
Tasks in use: "segmentation", "boundary", "depth", "normal", "deblur", "jpeg", "sr", "video".
"""
from __future__ import annotations

import inspect
from typing import Callable, TypeVar

from torch import nn

from components.config import BackboneConfig
from components.errors import PixelpredError

Builder = TypeVar("Builder", bound=Callable[..., nn.Module])

_MODEL_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_MODEL_TASKS: dict[str, str] = {}


def register_model(task: str) -> Callable[[Builder], Builder]:
    """Decorator: register a builder `fn(backbone: BackboneConfig, **task_kwargs) -> nn.Module` under fn.__name__."""
    def register(builder: Builder) -> Builder:
        name = builder.__name__
        if name in _MODEL_BUILDERS:
            raise ValueError(f"model '{name}' is registered twice")
        _MODEL_BUILDERS[name] = builder
        _MODEL_TASKS[name] = task
        return builder
    return register


def list_models(task: str | None = None) -> list[str]:
    """Sorted names of the registered models, optionally only those of one task."""
    return sorted(name for name, model_task_ in _MODEL_TASKS.items() if task is None or model_task_ == task)


def _known(name: str) -> None:
    if name not in _MODEL_BUILDERS:
        raise PixelpredError(f"unknown model '{name}' (known: {', '.join(list_models()) or 'none'})")


def model_task(name: str) -> str:
    """Model name -> its task, e.g. 'seg_baseline' -> 'segmentation'."""
    _known(name)
    return _MODEL_TASKS[name]


def create_model(name: str, backbone: BackboneConfig, **task_kwargs: object) -> nn.Module:
    """Build the registered model `name` with the given backbone config and task kwargs (e.g. num_classes)."""
    _known(name)
    builder = _MODEL_BUILDERS[name]
    try:
        inspect.signature(builder).bind(backbone=backbone, **task_kwargs)
    except TypeError as err:
        raise PixelpredError(f"model '{name}': bad arguments {sorted(task_kwargs)} ({err})") from None
    return builder(backbone=backbone, **task_kwargs)


def model_size(model: nn.Module) -> dict[str, float]:
    """-> {"parameters": trainable and frozen parameter count, "size_mb": bytes of the state dict (parameters and
    buffers, as stored) / 1e6}: the figure the thesis quotes (4.6 MB for mgPFF)."""
    state = model.state_dict().values()
    return {"parameters": sum(p.numel() for p in model.parameters()),
            "size_mb": round(sum(t.numel() * t.element_size() for t in state) / 1e6, 3)}
