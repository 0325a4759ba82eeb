"""Does wav2vec 2.0 pretraining before CTC give a better model for the same CPU time?

Two arms from the same random initialisation (the tiny preset, layer norm, seed 0), on the same synthetic
corpus (espeak-ng + Festival voices, clean), run one after the other:

  ctc            `asr train` (CTC from scratch, recipes/synth/conf/start_checkpoint.yaml) for M minutes
  pretrain+ctc   `asr pretrain` for share x M minutes on the same audio, then `asr train` for the rest

Both CTC stages schedule their learning rate by the clock (`schedule_by: budget`). Reported: the steps of each
stage, the CTC training loss at the end (mean of the last five log rows, each the mean of its `logging_steps`
steps: it separates runs that are both still in CTC's all-blank phase, where CER is 100%) and the greedy dev
and test CER/WER of each final model (`asr decode`), as a table and JSON.

Run: .venv/bin/python benchmarks/pretrain_bench.py [--minutes 20] [--share 0.5] [--langs it,fi] [--hours 0.3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from asr_cli import run_asr
from bench_args import output_file, positive

ROOT = Path(__file__).resolve().parent.parent
CTC_CONFIG = ROOT / "recipes" / "synth" / "conf" / "start_checkpoint.yaml"


def corpus(root: Path, langs: list[str], hours: float) -> dict[str, Path]:
    """Merged train/dev/test manifests of the synthetic corpus, a processor and the random initialisation."""
    run_asr("data", "synth", "--langs", ",".join(langs), "--hours", str(hours), "--seed", "0", "--engines",
        "espeak-ng,festival", "--noise-prob", "0", "--reverb-prob", "0", "--out", str(root / "data"))  # fmt: skip
    files = {}
    for split in ("train", "dev", "test"):
        files[split] = root / f"{split}.jsonl"
        parts = [str(root / "data" / lang / f"{split}.jsonl") for lang in langs]
        run_asr("data", "merge", *parts, "--out", str(files[split]))
    run_asr("vocab", "--train", str(files["train"]), "--out", str(root / "processor"), "--normalize", "lower-nopunct")
    run_asr("model", "init", "--preset", "tiny", "--norm", "layer", "--processor", str(root / "processor"),
        "--out", str(root / "init"), "--seed", "0")  # fmt: skip
    return files | {"processor": root / "processor", "init": root / "init"}


def ctc(files: dict, model: Path, out: Path, minutes: float) -> dict:
    run_asr("train", "--config", str(CTC_CONFIG), "--model", str(model), "--processor", str(files["processor"]),
        "--train_manifest", str(files["train"]), "--dev_manifest", str(files["dev"]), "--output_dir", str(out),
        "--max_minutes", str(minutes), "--schedule_by", "budget", "--max_steps", "100000")  # fmt: skip
    return json.loads((out / "run_info.json").read_text())


def pretrain(files: dict, out: Path, minutes: float) -> dict:
    run_asr("pretrain", "--model", str(files["init"]), "--train_manifest", str(files["train"]), "--output_dir",
        str(out), "--max_minutes", str(minutes), "--schedule_by", "budget", "--max_steps", "100000",
        "--warmup_steps", "2000",  # 2% of the clock, as the CTC arm's tri_stage (R90: 100 steps were 0.4 s)
        "--learning_rate", "1e-3", "--max_batch_seconds", "24", "--save_steps", "1000")  # fmt: skip
    return json.loads((out / "run_info.json").read_text())


def final_loss(info: dict) -> float:
    losses = [r["loss"] for r in info["history"] if r.get("loss") is not None][-5:]
    return sum(losses) / max(len(losses), 1)


def scores(model: Path, files: dict, out: Path) -> dict:
    result = {}
    for split in ("dev", "test"):
        out_split = str(out / split)
        run_asr("decode", "--model", str(model), "--manifest", str(files[split]), "--out", out_split, "--no-cache")
        r = json.loads((out / split / "results.json").read_text())
        result |= {f"{split}_cer": r["cer"], f"{split}_wer": r["wer"]}
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=positive(), default=20.0, help="CPU minutes per arm")
    p.add_argument("--share", type=float, default=0.5, help="share of the minutes spent pretraining (0 < share < 1)")
    p.add_argument("--langs", default="it,fi")
    p.add_argument("--hours", type=positive(), default=0.3, help="hours of synthetic audio per language")
    p.add_argument("--json", type=output_file, help="write the figures here too")
    args = p.parse_args()
    if not 0 < args.share < 1:  # 0 minutes is asr train's "no budget": an arm of 0 or all minutes ran unbounded
        p.error(f"--share {args.share}: expected more than 0 and less than 1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = corpus(root, args.langs.split(","), args.hours)
        rows = []
        plain = ctc(files, files["init"], root / "ctc", args.minutes)
        rows.append({"arm": "ctc", "pretrain_steps": 0, "ctc_steps": plain["steps"], "ctc_loss": final_loss(plain),
                     **scores(root / "ctc" / "model", files, root / "d_ctc")})  # fmt: skip
        pre = pretrain(files, root / "pt", args.share * args.minutes)
        tuned = ctc(files, root / "pt" / "model", root / "ptctc", (1 - args.share) * args.minutes)
        rows.append({"arm": "pretrain+ctc", "pretrain_steps": pre["steps"], "ctc_steps": tuned["steps"],
                     "ctc_loss": final_loss(tuned),
                     "pretrain_contrastive": [pre["first_contrastive"], pre["last_contrastive"]],
                     **scores(root / "ptctc" / "model", files, root / "d_pt")})  # fmt: skip
    print(f"{args.minutes:g} CPU minutes per arm ({args.share:.0%} pretraining in the second); {args.langs}, "
          f"{args.hours} h each, espeak-ng + Festival, clean")  # fmt: skip
    print("| arm | pretrain steps | CTC steps | final CTC loss | dev CER | dev WER | test CER | test WER |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arm']} | {r['pretrain_steps']} | {r['ctc_steps']} | {r['ctc_loss']:.3f} | "
              f"{100 * r['dev_cer']:.2f} | {100 * r['dev_wer']:.2f} | {100 * r['test_cer']:.2f} | "
              f"{100 * r['test_wer']:.2f} |")  # fmt: skip
    ratio = rows[1]["test_cer"] / max(rows[0]["test_cer"], 1e-9)
    print(f"test CER, pretrain+ctc / ctc: {ratio:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"settings": vars(args) | {"json": str(args.json)}, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
