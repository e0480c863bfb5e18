"""Batched prediction over test sets that mix image sizes (components/train/inference.py).

Proven: samples of different sizes (BSDS500's portrait and landscape images) are predicted in batches of one
size each, and every prediction comes back in input order at its own sample's size.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from components.tasks import Task
from components.train.inference import predict


def test_mixed_sizes_keep_order_and_shape():
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 1, 1)
    seen_batches = []

    def task_predict(outputs):
        assert not outputs.requires_grad            # prediction builds no autograd graph
        seen_batches.append(tuple(outputs.shape))
        return [o[0].numpy() for o in outputs]

    task = SimpleNamespace(input_field="rgb", predict=task_predict)
    task.predict_samples = lambda model, chunk: Task.predict_samples(task, model, chunk)   # the base behaviour
    sizes = [(8, 12)] * 3 + [(12, 8)] * 2 + [(8, 12)]
    rng = np.random.default_rng(0)
    samples = [{"rgb": rng.integers(0, 255, (*size, 3), dtype=np.uint8)} for size in sizes]
    predictions = predict(model, task, samples, batch_size=2)
    assert [p.shape for p in predictions] == sizes
    assert [b[0] for b in seen_batches] == [2, 1, 2, 1]
    alone = [predict(model, task, [s], batch_size=1)[0] for s in samples]
    for batched, single in zip(predictions, alone):
        np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)
