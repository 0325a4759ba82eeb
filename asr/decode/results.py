"""``results.json``: one decode's scores and everything that reproduces and compares its row.

`asr decode` writes it and `asr leaderboard` reads it through this one class; the file carries a schema
version (files without one are version 1, the same layout). Reading checks the types of what the tables use,
so a damaged file is one line of error naming it, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from asr.data.manifest import Utterance
from asr.errors import InputError, is_number

SCHEMA_VERSION = 3  # 3: rescoring (absent before: no rescoring)
RESULTS_FILE = "results.json"
PROVENANCE = ("git_revision", "date", "command", "versions")


def content_id(pairs: Iterable[tuple[str, str]]) -> str:
    """Identifies a test set by its (id, reference) pairs, not by its name: the same ids with other transcripts
    are another test set, and one file named two ways is one."""
    return hashlib.sha1("\n".join(sorted(f"{i}\t{ref}" for i, ref in pairs)).encode()).hexdigest()[:8]


def audio_content(utts: Iterable[Utterance], base: Path) -> str:
    """Identifies a test set's audio: each utterance's file by its bytes' SHA-1 (each file read once) and its
    segment (R85: a noisy copy of a corpus, the same ids and references over other audio, was one test set with
    the clean one: one column, and paired tests between systems that heard different audio)."""
    files: dict[Path, str] = {}
    lines = []
    for utt in utts:
        path = utt.audio_path(base)
        if path not in files:
            with path.open("rb") as f:
                files[path] = hashlib.file_digest(f, "sha1").hexdigest()
        lines.append(f"{utt.id}\t{files[path]}\t{utt.offset}\t{utt.segment_duration}")
    return hashlib.sha1("\n".join(sorted(lines)).encode()).hexdigest()[:8]


@dataclass
class DecodeResult:
    """The content of a results.json."""

    wer: float
    cer: float
    test_set: dict  # manifest, name (e.g. hi/test), utterances, hours, audio_content (since this version)
    model: dict  # path, parameters, weights (a hash), adapter, dtype, train_info (a ModelFolder's train_summary)
    decoder: dict  # name, backend and beam settings
    lm: dict | None  # path, order, normaliser, ... of the LM folder
    # dev_manifest, dev_content (`content_id`), points, best (and reused_from, or tuned_on for a --dev not decoded)
    tuning: dict | None
    normalizer: str
    scoring: str
    scores: dict  # per level: N C S D I E rate sentences sentence_errors unit
    timing: dict  # audio/network/decoding seconds, rtfx, device, processes
    rescoring: dict | None = None  # the Transformer LM that rescored the n-best lists, nbest, gamma
    provenance: dict = field(default_factory=dict)  # git_revision, date, command, versions
    schema: int = SCHEMA_VERSION

    def to_json(self) -> dict:
        data = asdict(self)
        return {**{k: v for k, v in data.items() if k != "provenance"}, **data["provenance"]}

    def text(self) -> str:
        """The content of ``results.json``: strict JSON (for jq, JavaScript)."""
        return json.dumps(self.to_json(), indent=1, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def read(cls, path: Path) -> DecodeResult:
        """Reads and checks a results.json; `InputError` naming the file for anything malformed."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"{path}: not a readable results.json ({err})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: not a results.json written by 'asr decode'")
        data.setdefault("schema", 1)
        if not isinstance(data["schema"], int) or data["schema"] > SCHEMA_VERSION:
            raise InputError(f"{path}: schema {data['schema']!r} is newer than this toolkit reads ({SCHEMA_VERSION})")
        names = {f.name for f in fields(cls)} - {"provenance"}
        missing = sorted(n for n in names - {"schema", "rescoring"} if n not in data)
        if missing:
            raise InputError(f"{path}: not a results.json written by 'asr decode' (no {', '.join(missing)})")
        given = {k: data[k] for k in names if k in data}
        result = cls(**given, provenance={k: data[k] for k in PROVENANCE if k in data})
        result._check(path)
        return result

    def _check(self, path: Path) -> None:
        def bad(what: str) -> InputError:
            return InputError(f"{path}: {what}")

        for name in ("wer", "cer"):
            value = getattr(self, name)
            if not is_number(value) or not math.isfinite(value):
                raise bad(f"{name} is {value!r}, not a finite number")
        for name in ("test_set", "model", "decoder", "scores", "timing"):
            if not isinstance(getattr(self, name), dict):
                raise bad(f"{name} is not an object")
        if not isinstance(self.test_set.get("name"), str) or not isinstance(self.decoder.get("name"), str):
            raise bad("test_set.name and decoder.name must be strings")
        for name, value in (("test_set.manifest", self.test_set.get("manifest")), ("normalizer", self.normalizer),
                            ("scoring", self.scoring), ("command", self.provenance.get("command", ""))):  # fmt: skip
            if not isinstance(value, str):
                raise bad(f"{name} is {value!r}, not a string")
        for name, value in (("model.train_info", self.model.get("train_info")), ("versions", self.versions)):
            if value is not None and not isinstance(value, dict):
                raise bad(f"{name} is neither null nor an object")
        if not is_number(self.timing.get("rtfx")) or not math.isfinite(self.timing["rtfx"]):
            raise bad("timing.rtfx is missing or not a finite number")
        for name in ("lm", "rescoring"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), dict):
                raise bad(f"{name} is neither null nor an object")

    def rate(self, metric: str) -> float:
        """``wer`` or ``cer``."""
        return {"wer": self.wer, "cer": self.cer}[metric]

    @property
    def train_info(self) -> dict:
        return self.model.get("train_info") or {}

    @property
    def git_revision(self) -> str | None:
        return self.provenance.get("git_revision")

    @property
    def date(self) -> str | None:
        return self.provenance.get("date")

    @property
    def command(self) -> str:
        return self.provenance.get("command") or ""

    @property
    def versions(self) -> dict:
        return self.provenance.get("versions") or {}
