"""Model registry round trip: log a trained nn.Module, register a version, point DVC at it, load it back.

Serialisation is MLflow's "pickle" flavour on purpose: the default "pt2" export traces with the
input example and freezes its spatial size (dense models are evaluated at other sizes) and
specialises batch 1. Pickle keeps any N x 3 x H x W working; the classes come from the installed
`components` package, and the resolved config is logged beside the model so it can be rebuilt.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import torch
from mlflow import MlflowClient
from torch import nn

from components.config import StorageConfig
from components.errors import NotFoundError, PixelpredError
from components.models.registry import model_size
from components.storage.location import Location, read_bytes


@dataclass(frozen=True)
class ModelPointer:
    """What DVC tracks for a trained model: exactly one registered version."""
    name: str                          # registered model name
    model: str                         # architecture in the model registry (components.models)
    version: str
    run_id: str
    alias: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, location: Location, storage: StorageConfig) -> "ModelPointer":
        """From a local model.json or one a cluster job wrote to S3."""
        try:
            return cls(**json.loads(read_bytes(location, storage)))
        except NotFoundError:
            raise PixelpredError(f"model pointer not found: {location} (run the train stage first)") from None


def register_model(model: nn.Module, architecture: str, name: str, run_id: str, alias: str, config: dict) -> ModelPointer:
    """Log `model` into run `run_id`, register it under `name`, move `alias` to the new version."""
    with mlflow.start_run(run_id=run_id):
        mlflow.log_dict(config, "model_config.json")
        info = mlflow.pytorch.log_model(
            model.cpu().eval(), name="model", serialization_format="pickle",
            registered_model_name=name,
            # explicit requirements: skips MLflow's slow import-capturing inference
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "pixelpred"],
        )
    version = str(info.registered_model_version)
    client = MlflowClient()
    client.set_registered_model_alias(name, alias, version)
    client.set_model_version_tag(name, version, "run_id", run_id)
    for key, value in model_size(model).items():
        client.set_model_version_tag(name, version, key, str(value))
    return ModelPointer(name=name, model=architecture, version=version, run_id=run_id, alias=alias)


def logged_model_id(pointer: ModelPointer) -> str:
    """The id of the logged model behind the pointer's version. MLflow 3.17's SQL store leaves
    ModelVersion.model_id empty for versions registered by log_model, but their source is models:/<id>."""
    version = MlflowClient().get_model_version(pointer.name, pointer.version)
    if version.model_id:
        return version.model_id
    prefix = "models:/"
    if not version.source.startswith(prefix):
        raise PixelpredError(f"{pointer.uri}: registered from {version.source}, not from a logged model")
    return version.source[len(prefix):]


def load_model(pointer: ModelPointer) -> nn.Module:
    """The exact registered version the pointer names -> nn.Module in eval mode."""
    return load_registered(pointer.uri)


def registry_uri(spec: str) -> str:
    """'NAME@ALIAS' or 'NAME/VERSION' (or a models:/ URI) -> the models:/ URI MLflow loads."""
    if spec.startswith("models:/"):
        return spec
    if "@" not in spec and "/" not in spec:
        raise PixelpredError(f"model '{spec}': name it as NAME@ALIAS (e.g. pff_deblur@champion) or NAME/VERSION")
    return f"models:/{spec}"


def load_registered(spec: str) -> nn.Module:
    """A registered version ('NAME@ALIAS', 'NAME/VERSION' or models:/ URI) -> nn.Module in eval mode."""
    uri = registry_uri(spec)
    try:
        model = mlflow.pytorch.load_model(uri, map_location="cpu")
    except mlflow.exceptions.MlflowException as err:
        raise PixelpredError(f"cannot load {uri} from the MLflow registry: {err.message.splitlines()[0]}") from None
    return model.eval()
