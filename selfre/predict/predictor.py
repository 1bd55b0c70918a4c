"""`Predictor`: a trained checkpoint as a batched Python API (also behind `selfre predict` and the MLflow pyfunc)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from selfre.encoding.encode import RelationEncoder
from selfre.predict.inputs import record_from_input
from selfre.predict.model_folder import checkpoint_in
from selfre.train.checkpoint import load_model_checkpoint
from selfre.train.inference import predict_probs
from selfre.train.loop import resolve_device


@dataclass
class Prediction:
    label: str
    probability: float
    id: str | None = None


class Predictor:
    """Load once, predict many. Inference needs no attention probabilities, so the fused kernel is used."""

    def __init__(self, checkpoint: str | Path, device: str = "auto", batch_size: int = 64):
        self.device = resolve_device(device)
        self.model, self.tokenizer, self.label_set, self.config, self.metrics = load_model_checkpoint(
            Path(checkpoint), need_attentions=False, device=self.device
        )
        self.batch_size = batch_size
        data = self.config.data
        self.encoder = RelationEncoder(
            self.tokenizer, data.marker, data.max_seq_length, self.config.model.iel_include_markers
        )

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str = "auto", batch_size: int = 64) -> Predictor:
        """A checkpoint folder, or an MLflow model folder holding one (`selfre export`, a downloaded registered model)."""
        return cls(checkpoint_in(folder), device=device, batch_size=batch_size)

    def predict(self, records: Iterable[Mapping], source: str = "<input>") -> list[Prediction]:
        """Records in the shapes of `selfre.predict.inputs`; a bad record raises a DataError naming it."""
        parsed = [record_from_input(r, i, source) for i, r in enumerate(records)]
        examples, stats = self.encoder.encode(parsed)
        probs = predict_probs(self.model, examples, self.batch_size, self.tokenizer.pad_token_id, self.device)
        out = []
        for i, rec in enumerate(parsed):
            if i not in probs:  # entities too far apart for max_seq_length: abstain, say so
                out.append(Prediction(self.label_set.no_relation, float("nan"), rec.id))
                continue
            p = probs[i]
            k = int(p.argmax())
            out.append(Prediction(self.label_set.labels[k], float(p[k]), rec.id))
        return out
