#!/usr/bin/env bash
# Short ablation comparison on an equal budget (configs/ablations/*.yaml):
# T=1 vs default T, spectrum loss off, precursor loss off. Each run
# validates on held-out synthetic spectra (and on --val files, if given
# as extra arguments, e.g. a real dev split). Writes
# benchmarks/results/ablations.md. CPU time: ~10 min per config.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${ABLATION_OUT:-runs/ablations}
mkdir -p "$out"
val=()
for f in "$@"; do val+=(--val "$f"); done
# JOBS runs (default 1) train at once, one thread each.
jobs=${JOBS:-1}
running=0
for cfg in configs/ablations/*.yaml; do
  name=$(basename "$cfg" .yaml)
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} denovo train --config "$cfg" \
    --device "${DEVICE:-auto}" --out "$out/$name" --no-progress \
    ${val[@]+"${val[@]}"} > "$out.$name.log" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
python - "$out" <<'PY'
import json, sys
from pathlib import Path
keys = ("token_accuracy", "sequence_accuracy", "length_accuracy",
        "precursor_ppm_median", "spectrum_coverage")
lines = []
for run in sorted(Path(sys.argv[1]).iterdir()):
    rows = [json.loads(x) for x in (run / "metrics.jsonl").open()]
    last = [r for r in rows if r["kind"] == "val"][-1]
    for prefix in ("val", "real"):
        if f"{prefix}_token_accuracy" in last:
            vals = " | ".join(f"{last[f'{prefix}_{k}']:.4f}" for k in keys)
            lines.append(f"| {run.name} | {prefix} | {last['step']} | {vals} |")
head = "| config | set | step | " + " | ".join(keys) + " |"
table = "\n".join([head, "|---" * (len(keys) + 3) + "|", *lines])
print(table)
Path("benchmarks/results/ablations.md").write_text(
    "# Ablations (equal budget, EMA weights, predicted length)\n\n"
    + table + "\n")
PY
