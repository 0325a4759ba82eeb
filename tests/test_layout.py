"""Module boundaries: `lm` depends only on asr's shared utilities (text, errors, folders, hub, data, options,
progress); decoding depends on `lm`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LM_MAY_USE = (
    "asr.text",
    "asr.errors",
    "asr.folders",
    "asr.hub",
    "asr.data",
    "asr.options",
    "asr.progress",
)  # shared utilities, no stage of asr


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_lm_uses_only_text_errors_and_data():
    used = {(p.name, m) for p in (ROOT / "lm").glob("*.py") for m in _imports(p) if m.split(".")[0] == "asr"}
    assert used and all(m.startswith(LM_MAY_USE) for _, m in used), sorted(used)


def test_only_asr_inference_runs_the_network_for_inference():
    """`asr decode` and training's scoring call asr.inference; no other module calls the model on a batch
    with torch.inference_mode or no_grad."""
    callers = [
        p.relative_to(ROOT)
        for p in (ROOT / "asr").rglob("*.py")
        if "inference_mode" in p.read_text(encoding="utf-8") or "no_grad" in p.read_text(encoding="utf-8")
    ]
    # the others: pretraining's dev score, its own loss under fixed masks (no CTC outputs to decode), and
    # process_state, which turns a caller's off for a command called in its process
    assert sorted(callers) == [Path("asr/inference.py"), Path("asr/pretrain/loop.py"), Path("asr/process_state.py")]


def test_setup_installs_every_festival_voice_the_corpus_uses():
    from asr.data.synth.voices import FESTIVAL_PACKAGES, FESTIVAL_VOICES

    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    voices = {v for splits in FESTIVAL_VOICES.values() for names in splits.values() for v in names}
    assert voices == set(FESTIVAL_PACKAGES) and all(
        f" {package}" in setup for v in voices for package in FESTIVAL_PACKAGES[v].split()
    )
