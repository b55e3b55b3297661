"""Sequencing on Dask: same bytes as one process, retries, failures.

The default-suite tests use an in-process ``LocalCluster``
(``processes=False``: threads, so a test can patch the worker side);
tests that start worker processes or kill them are marked slow.

The model of these tests makes every result depend on its batch-mates
(its logits shift with the mean intensity of the model batch), so a run
on the cluster matches a single-process run only if every model batch
holds the same spectra in both.
"""

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from denovo.cli import main
from denovo.core.modifications import ModSet
from denovo.core.vocab import DEFAULT_VOCABULARY, END
from denovo.engine import DecodeConfig, EngineConfig, open_writers
from denovo.engine import cluster as cluster_module
from denovo.engine.cluster import (ClusterConfig, ClusterError,
                                   ClusterStats, connect, run_chunks)
from denovo.engine.run import sequence_files, sequence_on_cluster
from denovo.engine.session import ModelSession
from denovo.io import read_spectra

from test_engine import save_model

distributed = pytest.importorskip("distributed")

EXAMPLE = Path(__file__).resolve().parents[1] / "denovo" / "data" / \
    "example.mgf"
VOCAB = DEFAULT_VOCABULARY
SETTINGS = {"config": EngineConfig(batch_size=2, threads=1),
            "decode": DecodeConfig(beam=2)}
SMALL_CHUNKS = ClusterConfig(chunk_spectra=10, retries=1)


def batch_model(path, n_slots=12, seed=0):
    """log_softmax(T + mean over the batch of sum(intensity) * W)."""
    rng = np.random.default_rng(seed)
    table = rng.normal(0, 2, (1, n_slots, len(VOCAB))).astype(np.float32)
    table[0, 6:, END] += 6.0
    weights = rng.normal(0, 0.3, (1, 1, len(VOCAB))).astype(np.float32)
    init = [numpy_helper.from_array(table, "T"),
            numpy_helper.from_array(weights, "W"),
            numpy_helper.from_array(np.array([1], np.int64), "ax1"),
            numpy_helper.from_array(np.array([0], np.int64), "ax0"),
            numpy_helper.from_array(np.array([0.0], np.float32), "zero")]
    mk = helper.make_node
    nodes = [mk("ReduceSum", ["intensity", "ax1"], ["s"], keepdims=1),
             mk("ReduceMean", ["s"], ["m"], axes=[0], keepdims=1),
             mk("Unsqueeze", ["m", "ax1"], ["m3"]),
             mk("Mul", ["m3", "W"], ["shift"]),
             mk("Unsqueeze", ["s", "ax1"], ["s3"]),
             mk("Mul", ["s3", "zero"], ["b0"]),
             mk("Add", ["shift", "T"], ["t2"]),
             mk("Add", ["t2", "b0"], ["logits"]),
             mk("LogSoftmax", ["logits"], ["log_probs"], axis=-1)]
    graph = helper.make_graph(
        nodes, "batch_mates",
        [helper.make_tensor_value_info("intensity", TensorProto.FLOAT,
                                       ["B", "P"])],
        [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT,
                                       ["B", n_slots, len(VOCAB)])], init)
    return save_model(graph, path, n_slots)


def odd_mgf(path):
    """The example's spectra, some without charge, plus bad spectra."""
    blocks = EXAMPLE.read_text().split("END IONS\n")[:-1]
    out = []
    for i, block in enumerate(blocks[:30]):
        if i % 3 == 0:  # no charge: tried at 2 and 3, two rows each
            block = "\n".join(x for x in block.splitlines()
                              if not x.startswith("CHARGE")) + "\n"
        out.append(block + "END IONS\n")
    out.insert(5, "BEGIN IONS\nTITLE=empty\nPEPMASS=500.0\nCHARGE=2+\n"
                  "END IONS\n")
    out.insert(12, "BEGIN IONS\nTITLE=noprec\nPEPMASS=0\nCHARGE=2+\n"
                   "200.0 10.0\n300.0 20.0\nEND IONS\n")
    path.write_text("".join(out))
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return batch_model(tmp_path_factory.mktemp("m") / "mates.onnx")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return [str(EXAMPLE),
            str(odd_mgf(tmp_path_factory.mktemp("d") / "odd.mgf")),
            str(EXAMPLE)]


@pytest.fixture(scope="module")
def local():
    """One in-process worker with two threads (chunks finish out of
    order, two engines)."""
    with distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False,
            scheduler_kwargs={"dashboard": False}) as lc, \
            distributed.Client(lc) as client:
        yield lc, client


def run(out_dir, inputs, model, *, client=None, settings=SETTINGS,
        cluster=SMALL_CHUNKS, mode="hybrid"):
    """Sequence into out_dir/run.mztab and run.csv; returns the summary."""
    out_dir.mkdir(exist_ok=True)
    session = ModelSession(model, threads=1)
    with open_writers(mztab=out_dir / "run.mztab", csv=out_dir / "run.csv",
                      inputs=inputs, session=session,
                      decode=settings["decode"]) as writers:
        return sequence_files(inputs, session=session, writers=writers,
                              client=client, cluster=cluster, mode=mode,
                              **settings)


def outputs(out_dir):
    return [(out_dir / name).read_bytes() for name in ("run.mztab",
                                                       "run.csv")]


def test_the_model_depends_on_batch_mates(tmp_path, inputs, model):
    a = run(tmp_path / "a", inputs, model)
    b = run(tmp_path / "b", inputs, model,
            settings={**SETTINGS, "config": EngineConfig(batch_size=3,
                                                         threads=1)})
    assert a.n_spectra == b.n_spectra == 112
    assert outputs(tmp_path / "a")[1] != outputs(tmp_path / "b")[1]


@pytest.mark.parametrize("mode", ["hybrid", "model", "evidence"])
def test_cluster_output_is_byte_identical(tmp_path, inputs, model, local,
                                          mode):
    single = run(tmp_path / "single", inputs, model, mode=mode)
    many = run(tmp_path / "cluster", inputs, model, client=local[1],
               mode=mode)
    assert outputs(tmp_path / "single") == outputs(tmp_path / "cluster")
    assert (many.n_spectra, many.n_sequenced, many.skipped) == \
        (single.n_spectra, single.n_sequenced, single.skipped)
    assert sum(many.skipped.values()) == 2
    csv_rows = outputs(tmp_path / "cluster")[1].decode().splitlines()
    assert len(csv_rows) == 1 + 112


def test_chunks_end_where_the_engine_closes_a_window(inputs):
    spectra = [s for path in inputs for s in read_spectra(path)]
    config = SETTINGS["config"]
    chunks = list(cluster_module._chunks(iter(spectra), config, 10))
    assert [s for c in chunks for s in c] == spectra
    assert all(len(c) >= 10 for c in chunks[:-1]) and len(chunks) > 3
    window = 8 * config.batch_size
    for chunk in chunks[:-1]:  # whole windows: the last one is full
        rows = 0
        for s in chunk:
            rows += (1 if s.charge else 2) if s.ok else 0
            if rows >= window:
                rows = 0
        assert rows == 0


def test_each_worker_thread_opens_the_model_once(inputs, model, local):
    cluster_module._ENGINES.clear()
    stats = ClusterStats(measure_bytes=True)
    session = ModelSession(model, threads=1)
    spectra = (s for path in inputs for s in read_spectra(path))
    results = list(run_chunks(spectra, client=local[1], session=session,
                              engine_kwargs=dict(SETTINGS),
                              cluster=SMALL_CHUNKS, stats=stats))
    assert len(results) == 112 == sum(stats.spectra)
    assert len(stats.spectra) > 4
    opened = sum(1 for s in stats.open if s > 0)
    assert 1 <= opened <= 2  # two worker threads
    assert all(b > 0 for b in stats.bytes)
    assert [r.spectrum.title for r in results] == \
        [s.title for path in inputs for s in read_spectra(path)]


def _failing(times, exc=RuntimeError):
    """An _engine_for that raises on its first ``times`` calls."""
    original = cluster_module._engine_for
    calls = {"n": 0}
    lock = threading.Lock()

    def engine_for(*args):
        with lock:
            calls["n"] += 1
            fail = calls["n"] <= times
        if fail:
            raise exc("injected failure")
        return original(*args)
    return engine_for, calls


def test_failed_chunk_is_retried(tmp_path, inputs, model, local,
                                 monkeypatch):
    run(tmp_path / "single", inputs, model)
    engine_for, calls = _failing(1)
    monkeypatch.setattr(cluster_module, "_engine_for", engine_for)
    run(tmp_path / "cluster", inputs, model, client=local[1])
    assert outputs(tmp_path / "single") == outputs(tmp_path / "cluster")
    assert calls["n"] > 1


def test_chunk_that_keeps_failing_stops_the_run(tmp_path, inputs, model,
                                                local, monkeypatch,
                                                caplog):
    engine_for, calls = _failing(10**6, ValueError)
    monkeypatch.setattr(cluster_module, "_engine_for", engine_for)
    with pytest.raises(ValueError, match="injected"):
        run(tmp_path / "c", inputs, model, client=local[1])
    assert "failed after 1 retries" in caplog.text
    assert "example.mgf:0" in caplog.text  # the chunk is named
    # CLI: the same exit code and message as a single process that fails
    # the same way
    args = [*inputs, "-m", str(model), "--csv", str(tmp_path / "x.csv"),
            "--no-progress", "--threads", "1"]
    cli = CliRunner().invoke(
        main, ["sequence", *args, "--scheduler",
               local[0].scheduler_address])
    monkeypatch.setattr("denovo.engine.pipeline.Engine.run",
                        lambda self, s: engine_for())
    alone = CliRunner().invoke(main, ["sequence", *args])
    assert cli.exit_code == alone.exit_code == 1
    assert "injected failure" in cli.output and \
        "injected failure" in alone.output


@pytest.mark.parametrize("case", ["ok", "missing", "unreadable",
                                  "damaged"])
def test_cli_exit_codes_match_a_single_process(tmp_path, model, local,
                                               case):
    path = tmp_path / "in.mgf"
    path.write_text(EXAMPLE.read_text())
    if case == "missing":
        path = tmp_path / "nothere.mgf"
    elif case == "damaged":  # cut inside a block: finishes, exit 3
        path.write_bytes(EXAMPLE.read_bytes()[:30000])
    elif case == "unreadable":
        path = tmp_path / "in.mzML"
        path.write_text("<indexedmzML><mzML><run><spectrumList count='1'>"
                        "<spectrum id='x' index='0'><broken")
    codes = []
    for extra in ([], ["--scheduler", local[0].scheduler_address]):
        out = tmp_path / f"{len(extra)}.mztab"
        res = CliRunner().invoke(main, ["sequence", str(path), "-m",
                                        str(model), "-o", str(out),
                                        "--no-progress", *extra])
        codes.append(res.exit_code)
    assert codes[0] == codes[1]
    assert (codes[0] == 0) == (case == "ok")
    assert (codes[0] == 3) == (case == "damaged")
    if case == "ok":
        assert (tmp_path / "0.mztab").read_text().splitlines()[4:] == \
            (tmp_path / "2.mztab").read_text().splitlines()[4:]


def test_library_api_matches_the_cli(tmp_path, inputs, model, local):
    summary = sequence_on_cluster(
        inputs, local[1], model=model, csv=tmp_path / "api.csv",
        cluster=SMALL_CHUNKS, **SETTINGS)
    run(tmp_path / "single", inputs, model)
    assert summary.n_spectra == 112
    assert (tmp_path / "api.csv").read_bytes() == \
        outputs(tmp_path / "single")[1]


def test_without_dask_the_message_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ClusterError, match=r"\[cluster\]"):
        with connect(workers=1):
            pass
    with connect() as client:  # neither: no Dask needed
        assert client is None
    res = CliRunner().invoke(main, ["sequence", str(EXAMPLE), "--workers",
                                    "2", "-o", str(tmp_path / "o.mztab")])
    assert res.exit_code == 1 and "cluster" in res.output
    assert not (tmp_path / "o.mztab").exists()


def test_plain_runs_never_import_dask(tmp_path):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from denovo.cli import main\n"
        f"r = CliRunner().invoke(main, ['sequence', {str(EXAMPLE)!r}, "
        f"'-m', 'default', '--beam', '1', '--no-progress', "
        f"'-o', {str(tmp_path / 'o.mztab')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('dask', 'distributed')]\n"
        "assert not bad, bad\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# -- worker processes (slow) -------------------------------------------------

class KillOnce(distributed.WorkerPlugin):
    """Kills the worker process running the first chunk (once per
    marker file, or every time with ``always``)."""

    def __init__(self, marker, always=False):
        self.marker, self.always = str(marker), always

    def setup(self, worker):
        original = cluster_module._engine_for
        marker, always = self.marker, self.always

        def engine_for(*args):
            if always or not os.path.exists(marker):
                Path(marker).touch()
                os._exit(1)
            return original(*args)
        cluster_module._engine_for = engine_for


@pytest.mark.slow
def test_cli_with_worker_processes(tmp_path, inputs, model):
    args = [*inputs, "-m", str(model), "--no-progress", "--threads", "1",
            "--batch-size", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name, extra in (("single", []), ("cluster", ["--workers", "2"])):
        (tmp_path / name).mkdir()
        subprocess.run(["denovo", "sequence", *args, *extra, "-o",
                        str(tmp_path / name / "run.mztab")], check=True,
                       env=env, capture_output=True)
    assert (tmp_path / "single" / "run.mztab").read_bytes() == \
        (tmp_path / "cluster" / "run.mztab").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("always", [False, True])
def test_dead_worker_is_replaced_or_reported(tmp_path, inputs, model,
                                             always):
    run(tmp_path / "single", inputs, model)
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True,
                scheduler_kwargs={"dashboard": False}) as lc, \
            distributed.Client(lc) as client:
        client.register_plugin(KillOnce(tmp_path / "killed", always))
        if always:
            with pytest.raises(ClusterError, match="worker died"):
                run(tmp_path / "cluster", inputs, model, client=client)
            return
        run(tmp_path / "cluster", inputs, model, client=client)
    assert (tmp_path / "killed").exists()
    assert outputs(tmp_path / "single") == outputs(tmp_path / "cluster")


def test_settings_are_checked(tmp_path):
    with pytest.raises(ValueError):
        ClusterConfig(chunk_spectra=0)
    with pytest.raises(ValueError):
        ClusterConfig(retries=-1)
    with pytest.raises(ValueError, match="not both"):
        with connect(workers=1, scheduler="tcp://127.0.0.1:1"):
            pass
    res = CliRunner().invoke(main, [
        "sequence", str(EXAMPLE), "--workers", "1", "--scheduler",
        "tcp://127.0.0.1:1", "-o", str(tmp_path / "o.mztab")])
    assert res.exit_code == 2 and "not both" in res.output


def test_two_drivers_share_one_cluster(tmp_path, inputs, model, local):
    """Several drivers (one per group of files) on one scheduler: the
    way past one driver's reading speed."""
    groups = {"a": inputs[:2], "b": inputs[1:]}
    for name, files in groups.items():
        run(tmp_path / f"single_{name}", files, model)
    threads = [threading.Thread(target=run, args=(
        tmp_path / f"cluster_{name}", files, model),
        kwargs={"client": local[1]}) for name, files in groups.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in groups:
        assert outputs(tmp_path / f"single_{name}") == \
            outputs(tmp_path / f"cluster_{name}")


def test_a_worker_with_another_version_refuses(tmp_path, inputs, model,
                                               local, monkeypatch):
    import denovo

    monkeypatch.setattr(denovo, "__version__", "0.0.0-other")
    with pytest.raises(ClusterError, match="denovo 0.0.0-other"):
        run(tmp_path / "c", inputs, model, client=local[1])


def test_engine_cache_is_per_thread_and_bounded(model, monkeypatch):
    cluster_module._ENGINES.clear()
    opened = []
    together = threading.Barrier(3)  # alive at once: distinct thread ids

    idents = set()

    def run_in_thread(settings):
        together.wait()
        idents.add(threading.get_ident())
        for kwargs in settings:
            opened.append(cluster_module._engine_for(
                str(model), 1, kwargs)[1] > 0)

    one = {"config": EngineConfig(batch_size=2, threads=1)}
    two = {"config": EngineConfig(batch_size=3, threads=1)}
    three = {"config": EngineConfig(batch_size=4, threads=1)}
    threads = [threading.Thread(target=run_in_thread,
                                args=([one, two, one, three, one],))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # per thread: one, two opened; one cached; three evicts two; one cached
    assert opened.count(True) == 9 and opened.count(False) == 6
    assert len(idents) == 3
    # (other tests' worker threads may still add their own entries)
    assert sum(k[0] in idents for k in cluster_module._ENGINES) == 6


def test_modifications_travel_to_the_workers(tmp_path, inputs, model, local):
    mods = ModSet.parse(["TMT6plex@K,TMT6plex@N-term"], ["Phospho@STY"])
    results = []
    for name, client in (("single", None), ("cluster", local[1])):
        out = tmp_path / name
        out.mkdir()
        session = ModelSession(model, threads=1)
        with open_writers(mztab=out / "run.mztab", csv=out / "run.csv",
                          inputs=inputs, session=session,
                          decode=SETTINGS["decode"],
                          modifications=mods) as writers:
            sequence_files(inputs, session=session, writers=writers,
                           client=client, cluster=SMALL_CHUNKS,
                           modifications=mods, **SETTINGS)
        results.append(outputs(out))
    assert results[0] == results[1]
    table = results[0][1].decode()
    sequences = [line.split(",")[0] for line in table.splitlines()[1:]]
    found = [p for p in sequences if p]
    assert found and all(p.startswith("[UNIMOD:737]-") for p in found)
    # a fixed modification: no K without it
    assert not any(re.search(r"K(?!\[UNIMOD:737\])", p) for p in found)
