"""``python -m denovo_training.data.fit_noise``: fit the noise model."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from .ms2pip_library import predict
from .noise_fit import fit
from .noise_model import DEFAULT_PATH
from .peptide_model import BasicModel, ChargeModel, LengthModel
from .real_labelled import REAL_FILES, load_real

__all__ = ["main"]

log = logging.getLogger(__name__)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m denovo_training.data.fit_noise",
        description="Fit the noise model to the real annotated spectra.")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default=str(DEFAULT_PATH))
    parser.add_argument("--split", default="configs/real_split.tsv",
                        help="fit on the train side of this peptide split "
                        "('' for every labelled spectrum)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    spectra = load_real(args.data, split_file=args.split or None)
    log.info("fitting on %d spectra", len(spectra))
    params = fit(spectra, predict)
    params["charge"] = ChargeModel.fit(
        [s.peptide for s in spectra],
        np.array([s.charge for s in spectra])).to_dict()
    params["length"] = LengthModel.fit([s.peptide for s in spectra]
                                       ).to_dict()
    params["basic"] = BasicModel.fit([s.peptide for s in spectra]
                                     ).to_dict()
    params["fitted_on"] = [f[0] for f in REAL_FILES]
    params["split"] = f"{args.split}: train" if args.split else "all"
    params["command"] = ("python -m denovo_training.data.fit_noise --data "
                         "../shared/data --out "
                         "denovo/configs/noise_model.json")
    Path(args.out).write_text(json.dumps(params, indent=1) + "\n")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
