"""SAVEE, Surrey Audio-Visual Expressed Emotion (Haq & Jackson 2009): 4 male speakers, 7 emotions.

Layout ``AudioData/<speaker>/<code><NN>.wav|flac`` with speakers DC, JE, JK, KL and codes a
(anger), d (disgust), f (fear), h (happiness), n (neutral), sa (sadness), su (surprise); NN is
the sentence number (15 per emotion, 30 for neutral). The flat copy ``DC_a01.wav`` loads too.
British English; all speakers male.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from voxemo.corpora import labels
from voxemo.corpora.base import MALE, CorpusLoader, register_corpus

_CODE = r"(sa|su|a|d|f|h|n)(\d\d)"
_NESTED = re.compile(rf"^{_CODE}$")
_FLAT = re.compile(rf"^([A-Z]{{2}})_{_CODE}$")
_SPEAKER = re.compile(r"^[A-Z]{2}$")


@register_corpus("savee")
class SaveeLoader(CorpusLoader):
    language = "en"
    description = "SAVEE: 4 male speakers (DC, JE, JK, KL), 7 emotions, British English"
    layout = "AudioData/<DC|JE|JK|KL>/<a|d|f|h|n|sa|su><NN>.wav|flac (or flat DC_a01.wav)"
    label_map = labels.SAVEE
    max_depth = 2

    def audio_root(self, root: Path) -> Path:
        nested = root / "AudioData"
        return nested if nested.is_dir() else root

    def parse(self, parts: tuple[str, ...], stem: str) -> dict[str, Any] | None:
        flat = _FLAT.match(stem)
        nested = _NESTED.match(stem) if len(parts) == 2 and _SPEAKER.match(parts[0]) else None
        if flat is not None:
            speaker, code, number = flat.groups()
        elif nested is not None:
            speaker, (code, number) = parts[0], nested.groups()
        else:
            return None
        return {
            "speaker": speaker,
            "gender": MALE,
            "label_raw": labels.SAVEE_CODES[code],
            "label_code": code,
            "sentence": number,
            "key": f"{speaker}_{code}{number}",
        }
