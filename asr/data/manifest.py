"""Manifests: one utterance a JSON line, ``{"id", "audio", "duration", "text", "speaker", "lang"}``.

``audio`` is an absolute path or one relative to the manifest's folder; ``offset`` (seconds) is present
when the utterance is a segment of a longer file, and ``duration`` is then the segment's length. The text
is the original transcript: normalised text is computed where needed, never stored in its place.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from asr.errors import InputError


@dataclass(frozen=True)
class Utterance:
    """One manifest line."""

    id: str
    audio: str
    duration: float
    text: str
    speaker: str
    lang: str
    offset: float | None = None

    def audio_path(self, base: Path) -> Path:
        """The audio file, resolved against the manifest's folder."""
        path = Path(self.audio)
        return path if path.is_absolute() else base / path

    @property
    def segment_duration(self) -> float | None:
        """How much audio to read from the offset when the utterance is a segment of a file; else None."""
        return self.duration if self.offset is not None else None

    def to_json(self) -> str:
        fields = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(fields, ensure_ascii=False)


_REQUIRED = ("id", "audio", "text")


def read_manifest(path: str | Path) -> list[Utterance]:
    """Reads a manifest; `InputError` naming the file and line for anything malformed."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read manifest: {getattr(err, 'strerror', None) or err}") from None
    utterances = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{lineno}: invalid JSON ({err.msg})") from None
        missing = [k for k in _REQUIRED if not isinstance(obj, dict) or k not in obj]
        if missing:
            raise InputError(f"{path}:{lineno}: manifest line without {', '.join(missing)}")
        utterances.append(
            Utterance(
                id=str(obj["id"]),
                audio=str(obj["audio"]),
                duration=float(obj.get("duration") or 0.0),
                text=str(obj["text"]),
                speaker=str(obj.get("speaker") or ""),
                lang=str(obj.get("lang") or ""),
                offset=None if obj.get("offset") is None else float(obj["offset"]),
            )
        )
    return utterances


def write_manifest(path: str | Path, utterances: list[Utterance]) -> None:
    """Writes utterances sorted by id."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(u.to_json() + "\n" for u in sorted(utterances, key=lambda u: u.id))
    path.write_text(text, encoding="utf-8")
