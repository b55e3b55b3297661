"""PNG curves of a training run, from its ``metrics.jsonl``.

Needs only matplotlib (not torch), so ``denovo plot`` works on a machine
that merely copied a run directory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["plot_run"]

_STEP_KEY = re.compile(r"^(\w+?)_step(\d+)_(ce|token_accuracy|flip_rate)$")


def _rows(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a "
                                "training run directory?")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(f"{path}, line {n}: not valid JSON") \
                    from None
    return rows


def _series(rows, kind: str, key: str):
    pts = [(r["step"], r[key]) for r in rows
           if r.get("kind") == kind and isinstance(r.get(key), (int, float))]
    return [p[0] for p in pts], [p[1] for p in pts]


def _panel(ax, rows, items, title: str, ylabel: str) -> None:
    drawn = False
    for kind, key in items:
        x, y = _series(rows, kind, key)
        if x:
            ax.plot(x, y, label=f"{kind}: {key}", marker="." if
                    len(x) < 30 else None)
            drawn = True
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if drawn:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def plot_run(run_dir: str | Path, *, out_dir: str | Path | None = None
             ) -> list[Path]:
    """Write ``loss.png``, ``accuracy.png`` and ``steps.png``.

    ``steps.png`` shows the per-refinement-step CE, token accuracy and
    flip rate of the latest validation, so one sees whether recursion
    improves the answer. Returns the written paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    out.mkdir(parents=True, exist_ok=True)
    rows = _rows(run_dir)
    written = []

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    _panel(axes[0], rows, [("train", k) for k in ("loss", "ce", "mass",
                                                  "spectrum")],
           "training losses", "loss")
    axes[0].set_yscale("log")
    _panel(axes[1], rows, [("train", "lr")], "learning rate", "lr")
    written.append(_save(fig, out / "loss.png", plt))

    val_keys = sorted({k for r in rows if r.get("kind") == "val"
                       for k in r if k.endswith(("token_accuracy",
                                                 "sequence_accuracy",
                                                 "length_accuracy"))
                       and "_step" not in k})
    fig, ax = plt.subplots(figsize=(7, 4))
    _panel(ax, rows, [("train", "train_token_accuracy"),
                      ("train", "train_sequence_accuracy")]
           + [("val", k) for k in val_keys], "accuracy (predicted length)",
           "fraction")
    written.append(_save(fig, out / "accuracy.png", plt))

    last = next((r for r in reversed(rows) if r.get("kind") == "val"), {})
    per: dict = {}
    for key, value in last.items():
        m = _STEP_KEY.match(key)
        if m:
            per.setdefault((m.group(1), m.group(3)), []).append(
                (int(m.group(2)), value))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, metric in zip(axes, ("ce", "token_accuracy", "flip_rate"),
                          strict=True):
        for (prefix, name), pts in sorted(per.items()):
            if name == metric:
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts],
                        marker="o", label=prefix)
        ax.set_title(f"{metric} per refinement step (step "
                     f"{last.get('step', '?')})")
        ax.set_xlabel("refinement step")
        ax.grid(alpha=0.3)
        if per:
            ax.legend(fontsize=7)
    written.append(_save(fig, out / "steps.png", plt))
    return written


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
