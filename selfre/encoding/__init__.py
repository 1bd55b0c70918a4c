from selfre.encoding.collate import collate
from selfre.encoding.encode import EncodedExample, EncodeStats, RelationEncoder
from selfre.encoding.markers import ENTITY_MARKER_TOKENS, MARKERS, mark, resolve_marker

__all__ = [
    "ENTITY_MARKER_TOKENS",
    "MARKERS",
    "EncodeStats",
    "EncodedExample",
    "RelationEncoder",
    "collate",
    "mark",
    "resolve_marker",
]
