"""``python -m denovo_training.data.build_library``: an MS2PIP library."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from .ms2pip_library import build_library
from .realistic import RealisticPeptides

__all__ = ["main"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m denovo_training.data.build_library",
        description="Build (or resume) an MS2PIP intensity library.")
    parser.add_argument("--out", required=True, help="library directory")
    parser.add_argument("--n", type=int, default=30000,
                        help="distinct peptidoforms (x 3 charges)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--data", default="../shared/data",
                        help="shared data directory (FASTA, peptides)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    peptides: list = []
    if not (Path(args.out) / "plan.txt.gz").exists():
        source = RealisticPeptides.from_data_dir(args.data)
        peptides = source.unique(np.random.default_rng(args.seed), args.n)
    build_library(args.out, peptides, chunk=args.chunk,
                  processes=args.processes)


if __name__ == "__main__":
    main()
