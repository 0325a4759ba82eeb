"""Writes the model card (README.md with model-index metadata) of the shipped starting checkpoint.

Usage: python recipes/synth/model_card.py MODEL_DIR PHASE2_RUN_INFO RUN_INFO DEV_RESULTS TEST_DECODES
(RUN_INFO: phase 3's, which made MODEL_DIR; phase 1's is read from the model folder phase 2 started from)

DEV_RESULTS is `asr decode`'s results.json for the model on the merged dev split (greedy): the card's scores.
TEST_DECODES holds one greedy `asr decode` folder per test set; each set's utterances are grouped by voice
(espeak-ng's test variants, each Festival test voice, the Asterisk speaker), none of which training heard
except the Asterisk speaker (whose train prompts it did). Every decode must be a greedy one of MODEL_DIR's weights
(the decoded model folder's model.safetensors is compared).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import sys
from collections import defaultdict
from pathlib import Path

from asr.scoring.align import Counts
from asr.scoring.corpus import Totals

CARD = """---
language: [en, de, es, fi, hi, it, ru, fr]
license: apache-2.0
library_name: transformers
pipeline_tag: automatic-speech-recognition
tags: [automatic-speech-recognition, wav2vec2, ctc, synthetic-speech, espeak-ng, festival]
model-index:
- name: synth-ctc-tiny-wide
  results:
  - task: {{type: automatic-speech-recognition, name: Speech Recognition}}
    dataset: {{type: asr-synth, name: "asr built-in synthetic corpus and Asterisk prompts", split: dev}}
    metrics:
    - {{type: wer, value: {wer:.2f}, name: "dev WER (greedy, %)"}}
    - {{type: cer, value: {cer:.2f}, name: "dev CER (greedy, %)"}}
---

# synth-ctc-tiny-wide

A small wav2vec2 CTC model ({params:.2f} M parameters: `asr model init --preset tiny-wide`, a 4-layer, 256-wide
transformer over the 64-channel convolutional feature encoder of the `tiny` size) trained offline on the
toolkit's built-in speech in three phases. Phase 1 ({p1_steps} steps, {p1_minutes:.1f} minutes, a `tiny` model
from a random initialisation): clean espeak-ng speech in German, Spanish, Italian, Russian and Finnish. Phase 2
({p2_steps} steps, {p2_minutes:.1f} minutes, a new CTC head, all weights): {hours:.2f} hours ({utts} utterances)
in English, German, Spanish, Finnish, Hindi, Italian and Russian read by espeak-ng voices and by Festival voices
built from real speakers, with noise of five colours, reverberation, telephone-band and wideband codec round
trips and loudness from -35 to -15 dBFS, plus the real Asterisk prompt recordings (8 kHz studio speech) in
English, Spanish, French, Italian and Russian. Phase 3 ({steps} steps, {minutes:.1f} minutes): this model's
transformer and head, from a random initialisation, over phase 2's feature encoder (copied, frozen), on
{p3_hours:.2f} hours ({p3_utts} utterances): phase 2's corpus plus more English, the same voices and augmentation
reading sentences that no recipe voices (`asr data synth --sentence-pool reserve`). It is the starting point of
the per-language fine-tuning on CPU (`recipes/synth/conf/train_cpu.yaml`, which trains a new CTC head for the
target language); it is not meant to transcribe real speech by itself.

- Made by: `recipes/synth/make_start_checkpoint.sh EXP_DIR`, which reproduces it; the training commands of the
  three phases are below (`--from DIR` gives phase 2 a phase-1 model made before, `--phase2 DIR` gives phase 3
  a phase-2 model made before, as the earlier commands' outputs). Phase 3 device: {device} ({processes}
  process), seed 0.
- Vocabulary: the characters of the eight languages after `lower-nopunct` normalisation ({vocab} tokens).
- Dev (`asr decode`, greedy, sclite-exact scoring, {dev_utts} utterances of voices never heard in training and
  Asterisk prompts not in training): WER {wer:.2f}%, CER {cer:.2f}%. The learning curve shows the dev scores
  logged during phase 3.

Test sets, greedy, by voice. Every synthetic voice here is test-only (no training utterance used it); the
Asterisk speaker of each language was heard in training, reading other prompts.

| test set | voice | utterances | WER % | CER % |
|---|---|---:|---:|---:|
{test_rows}

```
{phase1_command}
{phase2_command}
asr model init --preset tiny-wide --processor EXP_DIR/processor --out EXP_DIR/wide_init --seed 0 \\
    --encoder-from PHASE2_MODEL
{command}
```

![learning curve](learning_curve.png)
"""


def _voice(speaker: str, held_out: list[str]) -> str:
    """The voice of a synthetic test speaker id: its Festival voice, else espeak-ng's test variants."""
    for voice in held_out:
        if "fest" + re.sub(r"[^A-Za-z0-9]", "", voice) in speaker:  # as asr.data.synth.voices.Speaker.id spells it
            return f"Festival {voice}"
    return "espeak-ng test variants"


def _read_json(path: Path) -> dict:
    """A JSON file the card is made from; one line naming it where it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        sys.exit(f"model_card.py: {path}: {err}")


@functools.cache  # every decode names the same model folder: its weights are read and hashed once
def _weights_digest(model_dir: Path) -> str:
    try:
        return hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    except OSError as err:
        sys.exit(f"model_card.py: {model_dir}: no model weights ({err})")


def _check_decode(results: dict, where: Path, digest: str) -> None:
    """Stops unless `results` (read from `where`) is a greedy decode of the weights whose digest is `digest`."""
    decoder = results.get("decoder", {}).get("name")
    if decoder != "greedy":
        sys.exit(f"model_card.py: {where}: a {decoder} decode; the card reports greedy ones")
    decoded = Path(results["model"]["path"])
    if _weights_digest(decoded) != digest:
        sys.exit(f"model_card.py: {where}: decodes {decoded}, whose weights are not MODEL_DIR's")


def _percent(counts: Counts) -> str:
    return "n/a" if counts.rate is None else f"{100 * counts.rate:.2f}"


def test_rows(decodes: Path, digest: str) -> list[str]:
    """One table row per (test set, voice) of the greedy decodes under `decodes` (every folder there a decode)
    of the model whose weights have `digest`."""
    folders = sorted(p for p in decodes.iterdir() if p.is_dir()) if decodes.is_dir() else []
    if not folders:
        sys.exit(f"model_card.py: {decodes}: no test decodes (one `asr decode` folder per test set)")
    rows = []
    for folder in folders:
        results = _read_json(folder / "results.json")
        _check_decode(results, folder / "results.json", digest)
        manifest = Path(results["test_set"]["manifest"])
        summary = _read_json(manifest.parent / "summary.json")
        if "festival" in summary["source"] and "held_out_voices" not in summary:
            sys.exit(f"model_card.py: {manifest.parent / 'summary.json'}: Festival voices but no held_out_voices "
                     "(a corpus of an earlier version: make it again)")  # fmt: skip
        held_out = summary.get("held_out_voices", [])
        utterances = _read_json(folder / "score" / "score.json")["utterances"]
        groups: dict[str, dict[str, Totals]] = defaultdict(lambda: {"word": Totals(), "char": Totals()})
        for utt_id, counts in utterances.items():
            voice = "Asterisk speaker" if summary["source"].startswith("asterisk") else _voice(utt_id, held_out)
            for level, totals in groups[voice].items():
                totals.add(Counts(*counts[level]))
        for voice, totals in sorted(groups.items()):
            word, char = totals["word"], totals["char"]
            rows.append(f"| {folder.name} | {voice} | {word.sentences} | {_percent(word.counts)} | "
                        f"{_percent(char.counts)} |")  # fmt: skip
    return rows


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("model_dir", "phase2_run_info", "run_info", "dev_results", "test_decodes"):
        parser.add_argument(name, type=Path)
    args = parser.parse_args()
    phase2, run_info, dev = (_read_json(p) for p in (args.phase2_run_info, args.run_info, args.dev_results))
    phase1 = _read_json(Path(phase2["config"]["model"], "run_info.json"))
    digest = _weights_digest(args.model_dir)
    _check_decode(dev, args.dev_results, digest)
    rows = test_rows(args.test_decodes, digest)
    from safetensors import safe_open

    with safe_open(str(args.model_dir / "model.safetensors"), "pt") as f:
        params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys()) / 1e6  # noqa: SIM118
    card = CARD.format(
        wer=100 * dev["wer"], cer=100 * dev["cer"], params=params, hours=phase2["train_hours"],
        utts=phase2["train_utterances"], p3_hours=run_info["train_hours"], p3_utts=run_info["train_utterances"],
        steps=run_info["steps"], minutes=run_info["minutes"],
        p1_steps=phase1["steps"], p1_minutes=phase1["minutes"], p2_steps=phase2["steps"],
        p2_minutes=phase2["minutes"], phase2_command=phase2["command"], device=run_info["device"],
        processes=run_info["num_processes"], vocab=len(_read_json(args.model_dir / "vocab.json")),
        dev_utts=dev["test_set"]["utterances"], command=run_info["command"], phase1_command=phase1["command"],
        test_rows="\n".join(rows),
    )  # fmt: skip
    (args.model_dir / "README.md").write_text(card, encoding="utf-8")


if __name__ == "__main__":
    main()
