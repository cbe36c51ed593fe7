"""Emotional speech corpora as utterance tables with canonical labels.

Importing this package registers every loader in :data:`CORPORA`::

    from voxemo.corpora import load_corpus
    table = load_corpus("ravdess", "../shared/datasets/ravdess", merge={"calm": "neutral"})

See ``docs/corpora.md`` for each corpus's layout, label source and mapping.
"""

# Importing each corpus module registers its loader (one module per corpus).
from voxemo.corpora import casia, cremad, emodb, emovo, generic, iemocap, labels, ravdess, savee, tess
from voxemo.corpora.base import (
    AUDIO_EXTENSIONS,
    COLUMNS,
    CORPORA,
    CorpusLoader,
    list_corpora,
    load_corpus,
    register_corpus,
    validate_table,
)
from voxemo.corpora.labels import EMOTIONS, MAPPINGS, SYNONYMS, merge, restrict

__all__ = [
    "AUDIO_EXTENSIONS",
    "COLUMNS",
    "CORPORA",
    "EMOTIONS",
    "MAPPINGS",
    "SYNONYMS",
    "CorpusLoader",
    "casia",
    "cremad",
    "emodb",
    "emovo",
    "generic",
    "iemocap",
    "labels",
    "list_corpora",
    "load_corpus",
    "merge",
    "ravdess",
    "register_corpus",
    "restrict",
    "savee",
    "tess",
    "validate_table",
]
