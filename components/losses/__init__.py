"""Training losses; each is a plain function of predictions and targets (no registry)."""
from components.losses.dense import (
    BOUNDARY_LOSS_KINDS,
    DEPTH_LOSS_KINDS,
    NORMAL_LOSS_KINDS,
    boundary_loss,
    cross_entropy_loss,
    log_depth_loss,
    normal_loss,
)

__all__ = [
    "BOUNDARY_LOSS_KINDS",
    "DEPTH_LOSS_KINDS",
    "NORMAL_LOSS_KINDS",
    "boundary_loss",
    "cross_entropy_loss",
    "log_depth_loss",
    "normal_loss",
]
