"""Bad inputs a new user (or a broken disk) gives the harness: each one is one line saying
what is wrong, exit status 2, no traceback, and nothing already stored is lost.

Every case runs the real command in-process; none gets as far as training a model.
"""

from __future__ import annotations

import io
import os
import sqlite3
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli.commands import cli
from harness.cli.outcome import MAX_ERROR_LINES, MAX_LINE_CHARS
from harness.store.results import SCHEMA_VERSION, CandidateRecord, Store

GOOD = """
name = "bad-inputs"
[dataset]
name = "{dataset}"
{dataset_extra}
[models.m]
arch = "mlp"
width = 4
depth = 1
[training]
epochs = 1
threads = 1
[policies]
{policy_name} = "none"
[compression]
fp32 = []
[runtimes.onnxruntime]
threads = 1
"""


def config(tmp: Path, extra_top: str = "", policy: str = "none", **fmt: str) -> Path:
    text = GOOD.format(
        dataset=fmt.get("dataset", "breast_cancer"),
        dataset_extra=fmt.get("dataset_extra", ""),
        policy_name=f'"{policy}"',
    )
    path = tmp / "c.toml"
    path.write_text(extra_top + text)
    return path


def npz_config(tmp: Path, npz: Path) -> Path:
    return config(tmp, dataset="npz", dataset_extra=f'path = "{npz.name}"')


def save_npz(tmp: Path, name: str = "d.npz", **arrays: np.ndarray) -> Path:
    path = tmp / name
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def good_arrays(n: int = 30, classes: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x": rng.normal(size=(n, 4)).astype(np.float32),
        "y": np.arange(n) % classes,
    }


def a_store(tmp: Path, with_candidate: bool = False) -> Path:
    """A real store with one run (and a measured candidate with a model file, if asked)."""
    db = tmp / "r.db"
    with Store(db) as store:
        run = store.start_run(
            started_at="2026-01-01T00:00:00+00:00", config={"name": "x"}, config_hash="h",
            harness_version="0", git_revision=None, machine={"cpu": "c"}, machine_hash="m",
        )  # fmt: skip
        if with_candidate:
            model = tmp / "model.onnx"
            model.write_bytes(b"onnx bytes")
            record = CandidateRecord(
                key="k", dataset="d", model="m", policy="none", compression="fp32",
                runtime="onnxruntime", status="ok", artifact=str(model),
                metrics={"accuracy": 0.9, "file_bytes": 10.0, "latency_p50_ms": 1.0},
            )  # fmt: skip
            store.add_candidate(run, record, "t")
        store.finish_run(run, finished_at="t", timings={}, status="complete")
    return db


def sqlite_file(tmp: Path, script: str, version: int) -> Path:
    db = tmp / "r.db"
    conn = sqlite3.connect(db)
    conn.executescript(script)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    return db


def corrupt_pages(tmp: Path) -> Path:
    """A store whose pages after the first are overwritten with garbage."""
    db = a_store(tmp, with_candidate=True)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:] = bytes((i * 37 + 11) % 256 for i in range(len(data) - page))
    db.write_bytes(bytes(data))
    return db


def truncated_npz(tmp: Path) -> Path:
    path = save_npz(tmp, **good_arrays())
    path.write_bytes(path.read_bytes()[:300])
    return path


def npz_with_header(tmp: Path, shape: tuple[int, ...], payload: bytes = b"") -> Path:
    """An .npz whose x header declares `shape` (float32) over `payload` bytes of data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": shape}
    )
    y = io.BytesIO()
    np.save(y, np.arange(30) % 2)
    path = tmp / "d.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", header.getvalue() + payload)
        archive.writestr("y.npy", y.getvalue())
    return path


def crc_broken_npz(tmp: Path) -> Path:
    path = save_npz(tmp, **good_arrays())
    data = bytearray(path.read_bytes())
    at = data.index(b"\x93NUMPY") + 200  # inside x's data, past its header
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def many_unknown_keys(tmp: Path, count: int) -> Path:
    path = config(tmp)
    keys = "".join(f"unknown_{i} = 1\n" for i in range(count))
    path.write_text(keys + path.read_text())
    return path


def many_bad_policies(tmp: Path, count: int) -> Path:
    path = config(tmp)
    policies = "".join(f'bad{i} = "no_such_preset"\n' for i in range(count))
    path.write_text(path.read_text().replace("[policies]\n", "[policies]\n" + policies))
    return path


def fifo(tmp: Path) -> Path:
    path = tmp / "c.toml"
    os.mkfifo(path)
    return path


Args = Callable[[Path], list[str]]


@dataclass(frozen=True)
class Case:
    id: str
    args: Args
    message: str  # a part of the one error line


def bench(data: Callable[[Path], Path]) -> Args:
    def args(tmp: Path) -> list[str]:
        model = tmp / "m.onnx"
        model.write_bytes(b"not checked before the data")
        return ["bench", str(model), "--data", str(data(tmp))]

    return args


def sweep_npz(make: Callable[[Path], Path]) -> Args:
    return lambda tmp: ["sweep", str(npz_config(tmp, make(tmp))), "--db", str(tmp / "r.db")]


def sweep_config(make: Callable[[Path], Path]) -> Args:
    return lambda tmp: ["sweep", str(make(tmp)), "--db", str(tmp / "r.db")]


def arrays(**overrides: object) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        data = {**good_arrays(), **overrides}
        return save_npz(tmp, **{k: v for k, v in data.items() if v is not None})  # type: ignore[arg-type]

    return make


def text_file(text: str | bytes, name: str = "c.toml") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path

    return make


def with_top(line: str, **fmt: str) -> Callable[[Path], Path]:
    return lambda tmp: config(tmp, line + "\n", **fmt)


def store_cmd(command: list[str], make: Callable[[Path], Path]) -> Args:
    return lambda tmp: [*command, "--db", str(make(tmp))]


LONG = "p" * 300
CASES = [
    # -- unusable stores -------------------------------------------------------------------
    Case(
        "store-text-runs",
        store_cmd(["runs"], text_file("hello", "r.db")),
        "r.db: not an SQLite results store (it starts with b'hello')",
    ),
    Case(
        "store-text-report",
        store_cmd(["report"], text_file("x" * 200, "r.db")),
        "not an SQLite results store",
    ),
    Case(
        "store-text-select",
        store_cmd(["select"], text_file("z", "r.db")),
        "not an SQLite results store",
    ),
    Case(
        "store-text-compare",
        store_cmd(["compare"], text_file("z", "r.db")),
        "not an SQLite results store",
    ),
    Case(
        "store-text-sweep",
        lambda t: ["sweep", str(config(t)), "--db", str(text_file("no", "r.db")(t))],
        "not an SQLite results store",
    ),
    Case(
        "store-truncated",
        store_cmd(
            ["runs"], lambda t: (db := a_store(t)).write_bytes(db.read_bytes()[:1000]) and db
        ),
        "cannot be read",
    ),
    Case(
        "store-header-only",
        store_cmd(["runs"], lambda t: (db := a_store(t)).write_bytes(db.read_bytes()[:100]) and db),
        "cannot be read",
    ),
    Case("store-corrupt-pages", store_cmd(["runs"], corrupt_pages), "cannot be read"),
    Case("store-corrupt-select", store_cmd(["select"], corrupt_pages), "cannot be read"),
    Case(
        "store-no-tables",
        store_cmd(["runs"], lambda t: sqlite_file(t, "", 2)),
        "lacks table(s) candidates, run_extras, runs",
    ),
    Case(
        "store-one-table-missing",
        store_cmd(["runs"], lambda t: sqlite_file(t, "CREATE TABLE runs (id INTEGER);", 2)),
        "lacks table(s) candidates, run_extras",
    ),
    Case(
        "store-other-program",
        store_cmd(["runs"], lambda t: sqlite_file(t, "CREATE TABLE photos (id INTEGER);", 0)),
        "another program (tables: photos)",
    ),
    Case(
        "store-newer-schema",
        store_cmd(["runs"], lambda t: sqlite_file(t, "", 99)),
        f"schema version 99, newer than this harness supports ({SCHEMA_VERSION})",
    ),
    Case("store-is-folder", lambda t: ["runs", "--db", str(t)], "Invalid value for '--db': File"),
    Case(
        "store-is-folder-sweep",
        lambda t: ["sweep", str(config(t)), "--db", str(t)],
        "is a directory",
    ),
    Case(
        "store-dev-null",
        lambda t: ["sweep", str(config(t)), "--db", "/dev/null"],
        "not a regular file",
    ),
    Case(
        "store-missing-report",
        lambda t: ["report", "--db", str(t / "none.db")],
        "no results store at",
    ),
    Case(
        "store-empty-report",
        store_cmd(["report", "--site", "/tmp/never-written"], text_file(b"", "e.db")),
        "no runs in",
    ),
    Case(
        "store-bench-refused-before-measuring",
        lambda t: [*bench(arrays())(t), "--store", "--db", str(text_file("x", "r.db")(t))],
        "not an SQLite results store",
    ),
    Case(
        "store-compare-one-run",
        store_cmd(["compare"], a_store),
        "compare needs two runs; the store has 1",
    ),
    # -- file-system errors ----------------------------------------------------------------
    Case(
        "fs-db-in-proc",
        lambda t: ["sweep", str(config(t)), "--db", "/proc/harness/r.db"],
        "cannot create the store's folder",
    ),
    Case(
        "fs-artifacts-in-proc",
        lambda t: [
            "sweep",
            str(config(t)),
            "--db",
            str(t / "r.db"),
            "--artifacts",
            "/proc/harness-art",
        ],
        "--artifacts /proc/harness-art: cannot create it",
    ),
    Case(
        "fs-site-in-proc-run",
        lambda t: ["run", str(config(t)), "--db", str(t / "r.db"), "--site", "/proc/harness/site"],
        "--site /proc/harness: cannot create it",
    ),
    Case(
        "fs-site-foreign-folder",
        lambda t: [
            "run",
            str(config(t)),
            "--db",
            str(t / "r.db"),
            "--site",
            str((t / "mine").mkdir() or (t / "mine" / "f").write_text("x") and t / "mine"),
        ],
        "exists and was not written by harness",
    ),
    Case(
        "fs-report-site-in-proc",
        lambda t: ["report", "--db", str(a_store(t)), "--site", "/proc/harness/site"],
        "--site /proc/harness: cannot create it",
    ),
    Case(
        "fs-export-in-proc",
        lambda t: ["select", "--db", str(a_store(t, True)), "--export", "/proc/harness-export"],
        "/proc/harness-export",
    ),
    Case("fs-init-in-proc", lambda t: ["init", "/proc/harness.toml"], "/proc/harness.toml"),
    Case(
        "fs-init-missing-folder",
        lambda t: ["init", str(t / "no" / "such" / "h.toml")],
        "No such file or directory",
    ),
    Case("fs-init-exists", lambda t: ["init", str(config(t))], "already exists; pass --force"),
    # -- odd config files --------------------------------------------------------------------
    Case("config-missing", lambda t: ["sweep", str(t / "none.toml")], "no such config file"),
    Case(
        "config-not-utf8",
        sweep_config(text_file(b'name = "\xff\xfe"\n')),
        "not UTF-8 text (byte 8)",
    ),
    Case(
        "config-latin1",
        sweep_config(text_file('name = "café"\n'.encode("latin-1"))),
        "not UTF-8 text",
    ),
    Case("config-proc-mem", lambda t: ["sweep", "/proc/self/mem"], "cannot read the config"),
    Case("config-dev-zero", lambda t: ["sweep", "/dev/zero"], "not a regular file"),
    Case("config-folder", lambda t: ["sweep", str(t)], "is a directory"),
    Case("config-fifo", sweep_config(fifo), "not a regular file"),
    Case(
        "config-huge", sweep_config(text_file(b"# " + b"x" * (5 * 1024 * 1024))), "larger than 4 MB"
    ),
    Case("config-nul-bytes", sweep_config(text_file(b"\x00\x00\x00")), "not valid TOML"),
    Case("config-bad-toml", sweep_config(text_file("name = \n")), "not valid TOML"),
    Case(
        "config-empty",
        sweep_config(text_file("")),
        "models: must be a table with at least one entry",
    ),
    Case(
        "config-seed-2-32",
        sweep_config(with_top("seed = 4294967296")),
        "seed: must be an integer in [0, 4294967294], got 4294967296",
    ),
    Case(
        "config-seed-negative",
        sweep_config(with_top("seed = -1")),
        "seed: must be an integer in [0, 4294967294], got -1",
    ),
    Case("config-seed-float", sweep_config(with_top("seed = 1.5")), "seed: must be int, got 1.5"),
    Case(
        "config-long-policy",
        sweep_config(lambda t: config(t, policy=LONG)),
        "name is 300 characters long; use at most 80",
    ),
    Case(
        "config-long-name",
        sweep_config(
            lambda t: (
                (p := config(t)).write_text(p.read_text().replace('"bad-inputs"', f'"{LONG}"'))
                and p
            )
        ),
        "name: name is 300 characters long",
    ),
    Case(
        "config-control-char-name",
        sweep_config(lambda t: config(t, policy="bell\\u0007")),
        "must be printable",
    ),
    Case(
        "config-blank-policy-name",
        sweep_config(lambda t: config(t, policy="  ")),
        "must be printable and not blank",
    ),
    Case(
        "config-unknown-keys-flood",
        sweep_config(lambda t: many_unknown_keys(t, 20_000)),
        "c.toml:(top level): 19,990 more unknown keys",
    ),
    Case(
        "config-many-problems",
        sweep_config(lambda t: many_bad_policies(t, 50)),
        "... and 30 more problems not shown",
    ),
    Case(
        "config-giant-value",
        sweep_config(with_top("seed = [" + ", ".join(["1"] * 5000) + "]")),
        "more characters)",
    ),
    Case(
        "config-npz-missing",
        sweep_config(lambda t: config(t, dataset="npz", dataset_extra='path = "none.npz"')),
        "none.npz: no such file",
    ),
    Case(
        "config-unknown-arch",
        sweep_config(
            lambda t: (p := config(t)).write_text(p.read_text().replace('"mlp"', '"mlpp"')) and p
        ),
        "'mlpp' is not allowed (did you mean 'mlp'?)",
    ),
    Case(
        "config-epochs-zero",
        sweep_config(
            lambda t: (
                (p := config(t)).write_text(p.read_text().replace("epochs = 1", "epochs = 0")) and p
            )
        ),
        "training.epochs: must be >= 1, got 0",
    ),
    # -- bad .npz ------------------------------------------------------------------------------
    Case("npz-truncated", sweep_npz(truncated_npz), "not a readable .npz file"),
    Case("npz-truncated-bench", bench(truncated_npz), "not a readable .npz file"),
    Case(
        "npz-header-10-12-floats",
        sweep_npz(lambda t: npz_with_header(t, (10**12,))),
        "declares shape (1000000000000,) (4,000,000,000,000 bytes)",
    ),
    Case(
        "npz-header-huge-bench",
        bench(lambda t: npz_with_header(t, (10**6, 10**6))),
        "the file is truncated or corrupt",
    ),
    Case(
        "npz-header-short-data",
        sweep_npz(lambda t: npz_with_header(t, (30, 4), b"\x00" * 40)),
        "declares shape (30, 4) (480 bytes) but the file holds",
    ),
    Case("npz-crc-broken", sweep_npz(crc_broken_npz), "not a readable .npz file"),
    Case(
        "npz-not-zip",
        sweep_npz(text_file("just text", "d.npz")),
        "not a readable .npz file (BadZipFile",
    ),
    Case(
        "npz-plain-npy",
        bench(lambda t: (np.save(t / "d.npy", np.zeros(3)), t / "d.npy")[1]),
        "not a readable .npz file",
    ),
    Case("npz-folder", bench(lambda t: t), "Invalid value for '--data'"),
    Case(
        "npz-folder-dataset",
        sweep_npz(lambda t: (t / "d.npz").mkdir() or t / "d.npz"),
        "not a regular file",
    ),
    Case("npz-missing-bench", bench(lambda t: t / "none.npz"), "no such file"),
    Case(
        "npz-zero-samples",
        sweep_npz(arrays(x=np.zeros((0, 4), np.float32), y=np.zeros(0, np.int64))),
        "x holds no samples",
    ),
    Case(
        "npz-zero-samples-bench",
        bench(arrays(x=np.zeros((0, 4), np.float32), y=np.zeros(0, np.int64))),
        "x holds no samples",
    ),
    Case(
        "npz-one-class",
        sweep_npz(arrays(y=np.zeros(30, np.int64))),
        "y holds only class 0; accuracy needs at least 2 classes",
    ),
    Case("npz-one-class-bench", bench(arrays(y=np.full(30, 1))), "y holds only class 1"),
    Case("npz-missing-y", sweep_npz(arrays(y=None)), "missing array 'y'; found ['x']"),
    Case(
        "npz-text-x",
        sweep_npz(arrays(x=np.array([["a"] * 4] * 30))),
        "x must hold numbers; got dtype <U1",
    ),
    Case(
        "npz-complex-x",
        bench(arrays(x=np.ones((30, 4), np.complex64))),
        "x must hold numbers; got dtype complex64",
    ),
    Case(
        "npz-object-x",
        sweep_npz(arrays(x=np.array([[1, "a"]] * 30, dtype=object))),
        "holds Python objects",
    ),
    Case(
        "npz-float-y",
        sweep_npz(arrays(y=np.arange(30) / 2)),
        "a built-in model trains as a classifier on class ids, but d.npz holds float targets",
    ),
    Case(
        "npz-negative-label",
        sweep_npz(arrays(y=np.arange(30) % 2 - 1)),
        "labels must be class ids 0..K-1; found -1",
    ),
    Case(
        "npz-label-10-12",
        sweep_npz(arrays(y=np.array([0, 1] * 14 + [1, 10**12]))),
        "labels go up to 1,000,000,000,000 but there are only 30 samples",
    ),
    Case(
        "npz-million-classes",
        sweep_npz(arrays(x=np.zeros((10**6, 1), np.float32), y=np.arange(10**6))),
        "1,000,000 class(es) have fewer than 3 samples (0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 999,990 more)",
    ),
    Case("npz-nan", sweep_npz(arrays(x=np.full((30, 4), np.nan, np.float32))), "NaN or infinite"),
    Case(
        "npz-length-mismatch",
        sweep_npz(arrays(y=np.arange(31) % 2)),
        "x has 30 samples but y has 31",
    ),
    Case(
        "npz-1d-x",
        sweep_npz(arrays(x=np.zeros(30, np.float32))),
        "expected (N, F) or (N, H, W[, C])",
    ),
    Case(
        "npz-rare-class",
        sweep_npz(arrays(y=np.array([0] * 29 + [1]))),
        "1 class(es) have fewer than 3 samples (1)",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_input_is_one_line_and_exit_2(case: Case, tmp_path: Path) -> None:
    args = case.args(tmp_path)
    result = CliRunner().invoke(cli, args)
    output = result.output
    assert result.exit_code == 2, output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output
    # Ours, or click's own for an option it checks itself ("Error: Invalid value for ...").
    errors = [
        line for line in output.splitlines() if line.startswith(("harness: error: ", "Error: "))
    ]
    assert errors and case.message in output, output
    assert len(errors) <= MAX_ERROR_LINES + 1
    assert all(len(line) <= MAX_LINE_CHARS + 80 for line in errors), max(map(len, errors))


def test_the_table_covers_every_class_of_bad_input() -> None:
    classes = {c.id.split("-")[0] for c in CASES}
    assert classes == {"store", "fs", "config", "npz"}
    assert len(CASES) >= 60


def test_a_flood_of_problems_is_summarised(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(many_bad_policies(tmp_path, 50))])
    errors = result.output.splitlines()
    assert len(errors) == MAX_ERROR_LINES + 1
    assert errors[0].endswith(
        "c.toml:policies.bad0: unknown preset 'no_such_preset'; choose from: noise, none"
    )
    # 50 bad policies, one line each: 20 shown, 30 summarised.
    assert errors[-1] == "harness: error: ... and 30 more problems not shown"


def test_unknown_keys_are_named_in_part(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(many_unknown_keys(tmp_path, 20_000))])
    errors = result.output.splitlines()
    assert len(errors) == 11
    allowed = (
        "compression, dataset, latency, models, name, policies, report, runtimes, seed, targets,"
        " training"
    )
    assert errors[0].endswith(f"c.toml:unknown_0: unknown key; allowed keys: {allowed}")
    assert errors[-1].endswith("c.toml:(top level): 19,990 more unknown keys")


def test_nothing_stored_is_lost_when_a_later_command_fails(tmp_path: Path) -> None:
    db = a_store(tmp_path, with_candidate=True)
    result = CliRunner().invoke(cli, ["select", "--db", str(db), "--export", "/proc/x"])
    assert result.exit_code == 2
    with Store(db) as store:
        assert [c.key for c in store.candidates(1)] == ["k"]
