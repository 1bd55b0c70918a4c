"""Dataset readers: every format becomes `RelationRecord`s plus a `LabelSet` (see `load_splits`)."""

from selfre.data.datasets import DatasetSplits, describe_expected_layout, load_splits
from selfre.data.demo import generate_demo
from selfre.data.labels import LabelSet
from selfre.data.record import RelationRecord

__all__ = ["DatasetSplits", "LabelSet", "RelationRecord", "describe_expected_layout", "generate_demo", "load_splits"]
