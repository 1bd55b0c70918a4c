"""Relation classification heads (docs/method.md §5)."""

from __future__ import annotations

import torch
from torch import nn


def gather_positions(features: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """features[b, positions[b]] for each b: B×n×d, B -> B×d."""
    return features[torch.arange(features.shape[0], device=features.device), positions]


class ClsE1E2Head(nn.Module):
    """P_r = softmax([C_CLS ; C_e1 ; C_e2] W_r), one linear layer 3d -> R (Eq. 12). Returns logits."""

    def __init__(self, hidden: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(3 * hidden, num_labels)  # W_r

    def forward(self, features, e1, e2):
        cls = features[:, 0]
        x = torch.cat([cls, gather_positions(features, e1), gather_positions(features, e2)], dim=-1)
        return self.classifier(self.dropout(x))  # Eq. 12 (softmax lives in the loss / predictor)


class E1E2MLPHead(nn.Module):
    """[C_e1 ; C_e2] -> Linear(2d, d) -> ReLU -> Dropout -> Linear(d, R) (authors' code, Zhou & Chen)."""

    def __init__(self, hidden: int, num_labels: int, dropout: float):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_labels)
        )

    def forward(self, features, e1, e2):
        return self.mlp(torch.cat([gather_positions(features, e1), gather_positions(features, e2)], dim=-1))


HEADS = {"cls_e1_e2": ClsE1E2Head, "e1_e2_mlp": E1E2MLPHead}
