"""Writes the model card (README.md with model-index metadata) of the shipped starting checkpoint.

Usage: python recipes/synth/model_card.py MODEL_DIR RUN_INFO_JSON DEV_RESULTS_JSON

DEV_RESULTS_JSON is `asr decode`'s results.json for the model on the dev split (greedy): the card's scores.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

CARD = """---
language: [de, es, it, ru, fi]
license: apache-2.0
library_name: transformers
pipeline_tag: automatic-speech-recognition
tags: [automatic-speech-recognition, wav2vec2, ctc, synthetic-speech, espeak-ng]
model-index:
- name: synth-ctc-tiny
  results:
  - task: {{type: automatic-speech-recognition, name: Speech Recognition}}
    dataset: {{type: asr-synth, name: "asr built-in synthetic corpus (de es it ru fi)", split: dev}}
    metrics:
    - {{type: wer, value: {wer:.2f}, name: "dev WER (greedy, %)"}}
    - {{type: cer, value: {cer:.2f}, name: "dev CER (greedy, %)"}}
---

# synth-ctc-tiny

A tiny wav2vec2 CTC model ({params:.2f} M parameters: `asr model init --preset tiny`) trained from scratch, offline,
on the toolkit's built-in synthetic speech in German, Spanish, Italian, Russian and Finnish: {hours:.2f} hours of
espeak-ng voices reading sentences from Debian's fortune databases and the project's Finnish grammar, with speed
perturbation and without noise or reverberation. It is the starting point of the per-language fine-tuning on CPU
(`recipes/synth/conf/train_cpu.yaml`, which trains a new CTC head for the target language); it is not meant to
transcribe real speech.

- Made by: `recipes/synth/make_start_checkpoint.sh EXP_DIR`, which reproduces it; the training command it ran
  is below (EXP_DIR was a scratch folder).
- Training: {steps} steps, {minutes:.1f} minutes on {device} ({processes} process), seed 0.
- Vocabulary: the characters of the five languages after `lower-nopunct` normalisation ({vocab} tokens).
- Dev (`asr decode`, greedy, sclite-exact scoring, {dev_utts} utterances of voices never heard in training):
  WER {wer:.2f}%, CER {cer:.2f}%. (The learning curve shows the dev scores logged during training.)

```
{command}
```

![learning curve](learning_curve.png)
"""


def main() -> None:
    model_dir, run_info = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
    dev = json.loads(Path(sys.argv[3]).read_text())
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys()) / 1e6  # noqa: SIM118
    card = CARD.format(
        wer=100 * dev["wer"], cer=100 * dev["cer"], params=params, hours=run_info["train_hours"],
        steps=run_info["steps"], minutes=run_info["minutes"], device=run_info["device"],
        processes=run_info["num_processes"], vocab=len(json.loads((model_dir / "vocab.json").read_text())),
        dev_utts=dev["test_set"]["utterances"], command=run_info["command"],
    )  # fmt: skip
    (model_dir / "README.md").write_text(card, encoding="utf-8")


if __name__ == "__main__":
    main()
