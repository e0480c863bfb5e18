"""Models: the registry and every model family. Importing this package registers all models.

Family modules register with `from components.models.registry import register_model`; add one
import line per family below.
"""
from components.models.registry import create_model, list_models, model_size, model_task

from components.models import dense  # noqa: E402,F401  (registers the §2.2 baselines)
from components.models import restoration  # noqa: E402,F401  (registers PFF and its CNN twins, ch. 6)
from components.models import mgpff  # noqa: E402,F401  (registers multigrid PFF, ch. 7)
from components.models import flownet  # noqa: E402,F401  (registers FlowNetS, its rival)
from components.models import single_scale  # noqa: E402,F401  (registers Fig 7.2's filter vs offset flow)

__all__ = ["create_model", "list_models", "model_task"]
