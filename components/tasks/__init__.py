"""Tasks by name: the adapter between a model's outputs and losses, metrics and panels."""
from components.errors import PixelpredError
from components.data.dataset import DatasetInfo
from components.tasks.base import Evaluation, Task
from components.tasks.boundary import BoundaryTask
from components.tasks.depth import DepthTask
from components.tasks.normal import NormalTask
from components.tasks.restoration import RESTORATION_TASKS
from components.tasks.segmentation import SegmentationTask
from components.tasks.video import VideoTask

TASKS: dict[str, Task] = {task.name: task for task in (SegmentationTask(), BoundaryTask(), DepthTask(), NormalTask(),
                                                      *RESTORATION_TASKS, VideoTask())}


def get_task(name: str) -> Task:
    """Task name -> its singleton adapter."""
    if name not in TASKS:
        raise PixelpredError(f"unknown task '{name}' (known: {', '.join(TASKS)})")
    return TASKS[name]


__all__ = ["DatasetInfo", "Evaluation", "Task", "TASKS", "get_task"]
