"""The weights file a train stage leaves for DVC: it rebuilds the model with no MLflow store at hand.

DVC caches it (and `dvc push` shares it), which also makes a fresh clone retrain: its pointer
file alone would name a registry version that the clone's new local store does not have.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from components.config import BackboneConfig, from_dict
from components.models import create_model


def save_checkpoint(path: Path, model: nn.Module, model_config: dict) -> None:
    """state dict + the config `train_and_register` logs beside the registered model."""
    torch.save({"model": model.state_dict(), "config": model_config}, path)


def load_checkpoint(path: Path) -> nn.Module:
    """checkpoint.pt -> the model in eval mode, built from the config stored with it."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    config = state["config"]
    backbone = from_dict(BackboneConfig, config["backbone"], where=f"{path}:backbone")
    model = create_model(config["model"], backbone, **config["model_kwargs"])
    model.load_state_dict(state["model"])
    return model.eval()
