"""A model wrapper that remembers its answers, for methods that ask about the same images again.

LIME sends ``num_samples`` perturbed images through the network per explanation; a lesson that
explains the same image several times with the same random state sends the *same* images again.
:class:`RememberingModel` keys every image by its bytes, runs only the images it has not seen,
and counts the real forward passes and their time. It changes no answer, only the cost.
"""
from __future__ import annotations

import hashlib
import time

import torch
from torch import nn


class RememberingModel(nn.Module):
    """``model`` plus a memory of the outputs it has already given (keyed by each image's bytes).

    ``forward_passes`` counts the images that really went through ``model``; ``seconds`` is the
    time spent in those forward passes. Outputs are detached: use it under ``torch.no_grad()``
    for black-box methods, never for gradients.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.memory: dict[bytes, torch.Tensor] = {}
        self.forward_passes = 0
        self.seconds = 0.0

    @staticmethod
    def _key(image: torch.Tensor) -> bytes:
        # dtype and shape are part of the key: equal bytes of another layout are another image
        data = image.detach().cpu().contiguous().numpy()
        head = f"{data.dtype}{tuple(data.shape)}".encode()
        return hashlib.blake2b(head + data.tobytes(), digest_size=16).digest()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 1 or x.shape[0] == 0:
            raise ValueError(f"expected a non-empty batch of images, got shape {tuple(x.shape)}")
        keys = [self._key(image) for image in x]
        first: dict[bytes, int] = {}                 # each unseen image once, even if repeated
        for i, key in enumerate(keys):
            if key not in self.memory and key not in first:
                first[key] = i
        if first:
            t0 = time.perf_counter()
            outputs = self.model(x[list(first.values())]).detach()
            self.seconds += time.perf_counter() - t0
            self.memory.update(zip(first, outputs))
            self.forward_passes += len(first)
        return torch.stack([self.memory[key] for key in keys])
