#!/usr/bin/env python3
"""Single-row scoring latency of the libraries Osprey is compared with.

    predict_peers.py --model M --input X.csv [--rows N] [--passes P]

Loads M with its own library (XGBoost JSON -> xgboost, LightGBM text ->
lightgbm; detected from the file's content), reads X.csv the way
`osprey predict` does (the header names the features, an empty field is a
missing value) and times every peer that applies, one row per call on one
thread, as the median over passes of ns/row. Run it right after
`osprey predict --model M --input X.csv --benchmark` on the same machine so the
ratios mean something; Deploy/bench/predict-bench.sh does exactly that.

Peers, by how much of the cost is the library's own:
  * the libraries' Python APIs (XGBoost inplace_predict / predict(DMatrix),
    LightGBM Booster.predict, TL2cgen Predictor.predict(DMatrix)): what a Python
    caller pays, Python and wrapper overhead included;
  * "ctypes per row": the library's C entry point called from Python through
    ctypes once per row; still about a microsecond or less of Python + ctypes
    per call on top of the library;
  * "C loop": the same C entry point called once per row from a small C loop
    (peer_loop.c, compiled here with gcc), so no Python runs per row. These are
    the figures to set against Osprey's, which also times a compiled loop.
Each peer's predictions on the rows are checked against the first peer's
(and against --reference, e.g. Osprey's own output, when given).
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import gc
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
TOLERANCE = 1e-5


# ---------------------------------------------------------------------------
# Input


def detect_format(path: str) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip()
    if head.startswith(b"{"):
        return "xgboost-json"
    text = head.decode("utf-8", "replace")
    if text.startswith("tree") or "\nversion=v" in text or "num_class=" in text:
        return "lightgbm-text"
    raise SystemExit(f"{path}: neither an XGBoost JSON nor a LightGBM text model")


def read_rows(path: str, model_names: Optional[Sequence[str]], num_features: int) -> np.ndarray:
    """Rows in model feature order as float64, NaN for missing (empty) fields."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader)]
        records = [rec for rec in reader if rec]  # a row of empty fields is an all-missing row
    values = np.full((len(records), len(header)), np.nan, dtype=np.float64)
    for i, rec in enumerate(records):
        for j, v in enumerate(rec[: len(header)]):
            v = v.strip()
            if v:
                values[i, j] = float(v)
    if model_names:
        index = {name: j for j, name in enumerate(header)}
        missing = [n for n in model_names if n not in index]
        generic = all(n == f"Column_{i}" or n == f"f{i}" for i, n in enumerate(model_names))
        if missing and generic and len(header) >= num_features:
            return np.ascontiguousarray(values[:, :num_features])  # model has no real names: by position
        if missing:
            raise SystemExit(f"{path}: no column for model feature(s) {', '.join(missing[:5])}")
        columns = [index[n] for n in model_names]
    else:
        if len(header) < num_features:
            raise SystemExit(f"{path}: {len(header)} columns but the model has {num_features} features")
        columns = list(range(num_features))
    return np.ascontiguousarray(values[:, columns])


def read_reference(path: str) -> np.ndarray:
    rows = []
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if line:
                rows.append([float(v) for v in line.split(",")])
    return np.array(rows, dtype=np.float64)


# ---------------------------------------------------------------------------
# Timing


@dataclass
class Result:
    name: str
    median: float = math.nan
    best: float = math.nan
    preds: Optional[np.ndarray] = None  # (rows, outputs), from an untimed or the last sweep
    skipped: Optional[str] = None


@dataclass
class Timer:
    passes: int
    min_pass_ns: float
    results: List[Result] = field(default_factory=list)

    def _run(self, name: str, sweep: Callable[[int], int], n: int, preds: Callable[[], np.ndarray]) -> Result:
        """sweep(repeats) runs `repeats` sweeps over the n rows and returns elapsed ns."""
        first = max(sweep(1), 1)  # warms caches and calibrates
        repeats = max(1, math.ceil(self.min_pass_ns / first))
        samples = []
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for _ in range(self.passes):
                samples.append(sweep(repeats) / (repeats * n))
        finally:
            if gc_was_enabled:
                gc.enable()
        samples.sort()
        result = Result(name, samples[len(samples) // 2], samples[0], preds())
        self.results.append(result)
        return result

    def python(self, name: str, call: Callable, args: Sequence[tuple], collect: Callable[[int], np.ndarray]) -> Result:
        """Times `call(*args[r])` per row from a Python loop; collect(r) gives row r's outputs."""
        def sweep(repeats: int) -> int:
            start = time.perf_counter_ns()
            for _ in range(repeats):
                for a in args:
                    call(*a)
            return time.perf_counter_ns() - start

        outputs = np.array([np.ravel(collect(r)) for r in range(len(args))], dtype=np.float64)
        return self._run(name, sweep, len(args), lambda: outputs)

    def c_loop(self, name: str, loop: Callable[[int], int], n: int, out: np.ndarray) -> Result:
        """loop(repeats) -> elapsed ns from peer_loop.c; `out` holds the outputs afterwards."""
        def sweep(repeats: int) -> int:
            elapsed = loop(repeats)
            if elapsed < 0:
                raise RuntimeError(f"the library reported an error ({elapsed})")
            return elapsed

        return self._run(name, sweep, n, lambda: out.copy())

    def skip(self, name: str, why: str) -> None:
        self.results.append(Result(name, skipped=why))


def run_peer(timer: Timer, name: str, body: Callable[[], None]) -> None:
    """Runs one peer's setup and timing; a failure skips that peer only."""
    try:
        body()
    except Exception as exc:  # noqa: BLE001 - report and go on with the other peers
        timer.skip(name, f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300])
        if os.environ.get("PREDICT_PEERS_DEBUG"):
            traceback.print_exc()


# ---------------------------------------------------------------------------
# The C timing loops (peer_loop.c)


class CLoops:
    def __init__(self, workdir: pathlib.Path):
        self.lib = None
        self.error = None
        gcc = shutil.which("gcc") or shutil.which("cc")
        if gcc is None:
            self.error = "no gcc/cc on PATH"
            return
        so = workdir / "peer_loop.so"
        cmd = [gcc, "-O2", "-shared", "-fPIC", "-std=c99", "-o", str(so), str(HERE / "peer_loop.c")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            self.error = f"compiling peer_loop.c failed: {proc.stderr.strip()[:300]}"
            return
        lib = ctypes.CDLL(str(so))
        i64, i32, vp, dp = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_double)
        lib.loop_xgb_dense.restype = i64
        lib.loop_xgb_dense.argtypes = [vp, vp, ctypes.POINTER(ctypes.c_char_p), ctypes.c_char_p, i32, i32, i32, dp]
        lib.loop_lgb_fast.restype = i64
        lib.loop_lgb_fast.argtypes = [vp, vp, dp, i32, i32, i32, i32, dp]
        lib.loop_tl2cgen.restype = i64
        lib.loop_tl2cgen.argtypes = [vp, i32, vp, i64, i32, i32, i32, dp]
        self.lib = lib


def address(fn) -> int:
    return ctypes.cast(fn, ctypes.c_void_p).value


def as_double_ptr(a: np.ndarray):
    assert a.dtype == np.float64 and a.flags.c_contiguous
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))


# ---------------------------------------------------------------------------
# XGBoost


def xgboost_peers(timer: Timer, model_path: str, input_path: str, n_rows: Optional[int], cloops: CLoops) -> np.ndarray:
    import xgboost as xgb

    booster = xgb.Booster(model_file=model_path)
    booster.set_param({"nthread": 1})
    X = read_rows(input_path, booster.feature_names, booster.num_features())
    if n_rows:
        X = X[:n_rows]
    n, f = X.shape
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    rows32 = [(X32[r : r + 1],) for r in range(n)]  # 1 x f views, C-contiguous

    def inplace():
        timer.python(
            f"xgboost {xgb.__version__} Booster.inplace_predict (python)",
            booster.inplace_predict,
            rows32,
            lambda r: booster.inplace_predict(X32[r : r + 1]),
        )

    def dmatrix():
        names = booster.feature_names  # the DMatrix must carry them for predict() to accept it

        def call(x):
            return booster.predict(xgb.DMatrix(x, missing=np.nan, nthread=1, feature_names=names))

        timer.python(f"xgboost {xgb.__version__} Booster.predict(DMatrix(row)) (python)", call, rows32,
                     lambda r: call(X32[r : r + 1]))

    run_peer(timer, "xgboost inplace_predict", inplace)
    run_peer(timer, "xgboost predict(DMatrix)", dmatrix)

    # The C API that inplace_predict wraps: XGBoosterPredictFromDense with an
    # array-interface string per row (prebuilt, pointing at that row) and a
    # fixed config; the proxy DMatrix handle is NULL as inplace_predict passes it.
    lib = xgb.core._LIB
    config = b'{"type":0,"training":false,"iteration_begin":0,"iteration_end":0,' \
             b'"strict_shape":false,"cache_id":0,"missing":NaN}'
    base = X32.ctypes.data
    interfaces = [
        json.dumps({"data": [base + r * f * 4, True], "shape": [1, f], "typestr": "<f4", "version": 3}).encode()
        for r in range(n)
    ]
    c_ulong_p = ctypes.POINTER(ctypes.c_uint64)
    proto = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p,
        ctypes.POINTER(c_ulong_p), c_ulong_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_float)),
    )
    fn_addr = address(lib.XGBoosterPredictFromDense)
    predict_dense = proto(fn_addr)
    handle = booster.handle
    shape, dim, result = c_ulong_p(), ctypes.c_uint64(), ctypes.POINTER(ctypes.c_float)()
    b_shape, b_dim, b_result = ctypes.byref(shape), ctypes.byref(dim), ctypes.byref(result)

    def one(r):
        rc = predict_dense(handle, interfaces[r], config, None, b_shape, b_dim, b_result)
        if rc != 0:
            raise RuntimeError(lib.XGBGetLastError().decode())
        size = int(np.prod([shape[i] for i in range(dim.value)])) if dim.value else 1
        return np.array(result[:size], dtype=np.float64)

    width = one(0).size

    def ctypes_per_row():
        args = [(handle, interfaces[r], config, None, b_shape, b_dim, b_result) for r in range(n)]
        timer.python("xgboost C API XGBoosterPredictFromDense (ctypes per row)", predict_dense, args, one)

    def c_loop():
        if cloops.lib is None:
            raise RuntimeError(cloops.error)
        iface_array = (ctypes.c_char_p * n)(*interfaces)
        out = np.zeros((n, width), dtype=np.float64)
        timer.c_loop(
            "xgboost C API XGBoosterPredictFromDense (C loop)",
            lambda k: cloops.lib.loop_xgb_dense(fn_addr, handle, iface_array, config, n, k, width, as_double_ptr(out)),
            n,
            out,
        )

    run_peer(timer, "xgboost C API (ctypes per row)", ctypes_per_row)
    run_peer(timer, "xgboost C API (C loop)", c_loop)
    return X


# ---------------------------------------------------------------------------
# LightGBM


def lightgbm_peers(timer: Timer, model_path: str, input_path: str, n_rows: Optional[int], cloops: CLoops) -> np.ndarray:
    import lightgbm as lgb

    booster = lgb.Booster(model_file=model_path)
    X = read_rows(input_path, booster.feature_name(), booster.num_feature())
    if n_rows:
        X = X[:n_rows]
    n, f = X.shape
    rows64 = [(X[r : r + 1],) for r in range(n)]

    def booster_predict():
        def call(x):
            return booster.predict(x, num_threads=1)

        timer.python(f"lightgbm {lgb.__version__} Booster.predict (python)", call, rows64, lambda r: call(X[r : r + 1]))

    run_peer(timer, "lightgbm Booster.predict", booster_predict)

    # The single-row fast path: ...FastInit once (normal prediction, all
    # iterations, float64 rows, num_threads=1), then one ...Fast call per row.
    lib = lgb.basic._LIB
    fast = ctypes.c_void_p()
    rc = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
        booster._handle, ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(-1), ctypes.c_int(1),
        ctypes.c_int32(f), ctypes.c_char_p(b"num_threads=1"), ctypes.byref(fast),
    )
    if rc != 0:
        timer.skip("lightgbm single-row fast path", f"FastInit failed: {lib.LGBM_GetLastError()!r}")
        return X
    try:
        fn_addr = address(lib.LGBM_BoosterPredictForMatSingleRowFast)
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_double))
        predict_fast = proto(fn_addr)
        width = max(1, booster.num_model_per_iteration())
        buf = np.zeros(max(width, 1), dtype=np.float64)
        out_len = ctypes.c_int64()
        b_len, p_buf = ctypes.byref(out_len), as_double_ptr(buf)
        row_ptrs = [X.ctypes.data + r * f * 8 for r in range(n)]

        def one(r):
            if predict_fast(fast, row_ptrs[r], b_len, p_buf) != 0:
                raise RuntimeError("LGBM_BoosterPredictForMatSingleRowFast failed")
            return buf[: out_len.value].copy()

        if one(0).size != width:
            width = one(0).size

        def ctypes_per_row():
            args = [(fast, row_ptrs[r], b_len, p_buf) for r in range(n)]
            timer.python("lightgbm LGBM_BoosterPredictForMatSingleRowFast (ctypes per row)", predict_fast, args, one)

        def c_loop():
            if cloops.lib is None:
                raise RuntimeError(cloops.error)
            out = np.zeros((n, width), dtype=np.float64)
            timer.c_loop(
                "lightgbm LGBM_BoosterPredictForMatSingleRowFast (C loop)",
                lambda k: cloops.lib.loop_lgb_fast(fn_addr, fast, as_double_ptr(X), n, f, k, width, as_double_ptr(out)),
                n,
                out,
            )

        run_peer(timer, "lightgbm fast path (ctypes per row)", ctypes_per_row)
        run_peer(timer, "lightgbm fast path (C loop)", c_loop)
    finally:
        lib.LGBM_FastConfigFree(fast)
    return X


# ---------------------------------------------------------------------------
# TL2cgen


def tl2cgen_peers(timer: Timer, fmt: str, model_path: str, X: np.ndarray, cloops: CLoops,
                  workdir: pathlib.Path, jobs: int) -> None:
    try:
        import tl2cgen
        import treelite
    except Exception as exc:  # noqa: BLE001
        timer.skip("tl2cgen", f"not available in this environment ({type(exc).__name__}: {exc}); "
                              "pip install -r Deploy/bench/requirements.txt")
        return

    try:
        if fmt == "xgboost-json":
            model = treelite.frontend.load_xgboost_model(model_path)
        else:
            model = treelite.frontend.load_lightgbm_model(model_path)
        libpath = workdir / "tl2cgen_model.so"
        start = time.perf_counter()
        # quantize=0 keeps plain float thresholds, so rows go in as they are.
        tl2cgen.export_lib(model, toolchain="gcc", libpath=str(libpath),
                           params={"parallel_comp": max(1, jobs), "quantize": 0},
                           nthread=max(1, jobs), options=["-O3"])
        print(f"tl2cgen {tl2cgen.__version__} (treelite {treelite.__version__}): compiled the model with "
              f"gcc -O3 in {time.perf_counter() - start:.1f} s", flush=True)
    except Exception as exc:  # noqa: BLE001
        timer.skip("tl2cgen", f"could not compile the model: {type(exc).__name__}: {str(exc).strip()[:300]}")
        return

    n, f = X.shape
    so = ctypes.CDLL(str(libpath))
    so.get_threshold_type.restype = ctypes.c_char_p
    so.get_leaf_output_type.restype = ctypes.c_char_p
    so.get_num_target.restype = ctypes.c_int32
    so.get_num_feature.restype = ctypes.c_int32
    threshold_type = so.get_threshold_type().decode()
    leaf_type = so.get_leaf_output_type().decode()
    num_target = so.get_num_target()
    num_class = (ctypes.c_int32 * max(num_target, 1))()
    so.get_num_class(num_class)
    width = num_target * max(num_class[i] for i in range(num_target))
    if so.get_num_feature() != f:
        timer.skip("tl2cgen", f"compiled model has {so.get_num_feature()} features, rows have {f}")
        return

    # union Entry { int missing; <threshold type> fvalue; int qvalue; }:
    # a missing value is missing == -1 in the union's first 4 bytes.
    nan = np.isnan(X)
    if threshold_type == "float32":
        entries = np.ascontiguousarray(X, dtype=np.float32)
        entries.view(np.int32)[nan] = -1
    elif threshold_type == "float64":
        entries = np.ascontiguousarray(X, dtype=np.float64).copy()
        entries.view(np.int32).reshape(n, f, 2)[:, :, 0][nan] = -1
    else:
        timer.skip("tl2cgen", f"unexpected threshold type {threshold_type}")
        return
    leaf_double = leaf_type == "float64"
    row_bytes = f * entries.itemsize
    fn_addr = address(so.predict)
    leaf_ctype = ctypes.c_double if leaf_double else ctypes.c_float
    predict = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(leaf_ctype))(fn_addr)
    result = (leaf_ctype * width)()
    result_bytes = ctypes.sizeof(result)
    memset = ctypes.memset
    row_ptrs = [entries.ctypes.data + r * row_bytes for r in range(n)]
    label = f"tl2cgen {tl2cgen.__version__} compiled predict()"

    def one_call(ptr):
        memset(result, 0, result_bytes)  # predict() adds into result
        predict(ptr, 0, result)

    def one(r):
        one_call(row_ptrs[r])
        return np.array(result[:width], dtype=np.float64)

    def ctypes_per_row():
        timer.python(f"{label} (ctypes per row, incl. a memset call)", one_call, [(p,) for p in row_ptrs], one)

    def c_loop():
        if cloops.lib is None:
            raise RuntimeError(cloops.error)
        out = np.zeros((n, width), dtype=np.float64)
        timer.c_loop(
            f"{label} (C loop)",
            lambda k: cloops.lib.loop_tl2cgen(fn_addr, int(leaf_double), entries.ctypes.data, row_bytes, n, k,
                                              width, as_double_ptr(out)),
            n,
            out,
        )

    def predictor():
        pred = tl2cgen.Predictor(str(libpath), nthread=1)
        dtype = threshold_type
        rows = [(np.ascontiguousarray(X[r : r + 1], dtype=np.float32 if dtype == "float32" else np.float64),)
                for r in range(n)]

        def call(x):
            return pred.predict(tl2cgen.DMatrix(x, dtype=dtype, missing=np.nan))

        timer.python(f"tl2cgen {tl2cgen.__version__} Predictor.predict(DMatrix(row)) (python)", call, rows,
                     lambda r: call(rows[r][0]))

    run_peer(timer, "tl2cgen (ctypes per row)", ctypes_per_row)
    run_peer(timer, "tl2cgen (C loop)", c_loop)
    run_peer(timer, "tl2cgen Predictor", predictor)


# ---------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="XGBoost JSON or LightGBM text model")
    ap.add_argument("--input", required=True, help="CSV with a header of feature names; empty field = missing")
    ap.add_argument("--rows", type=int, default=None, help="use only the first N rows (default: all)")
    ap.add_argument("--passes", type=int, default=15, help="timed passes; the median is reported (default 15)")
    ap.add_argument("--min-pass-ms", type=float, default=50.0,
                    help="repeat the rows within a pass until it lasts about this long (default 50)")
    ap.add_argument("--reference", help="predictions to check against too (one line per row, comma-separated), "
                                        "e.g. the output of osprey predict")
    ap.add_argument("--reference-name", default=None, help="what to call --reference in the check (default: its path)")
    ap.add_argument("--osprey-median", type=float, default=None,
                    help="Osprey's median ns/row from the same run, to print each peer's ratio to it")
    ap.add_argument("--no-tl2cgen", action="store_true", help="skip TL2cgen (it compiles the model, which takes a while)")
    args = ap.parse_args()
    if args.passes < 1:
        ap.error("--passes must be at least 1")
    if args.rows is not None and args.rows < 1:
        ap.error("--rows must be at least 1")

    for var in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY"):
        if var not in os.environ:
            print(f"note: {var} is not set; predict-bench.sh sets OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE",
                  file=sys.stderr)

    fmt = detect_format(args.model)
    timer = Timer(passes=args.passes, min_pass_ns=args.min_pass_ms * 1e6)
    with tempfile.TemporaryDirectory(prefix="predict_peers_") as tmp:
        workdir = pathlib.Path(tmp)
        cloops = CLoops(workdir)
        if fmt == "xgboost-json":
            X = xgboost_peers(timer, args.model, args.input, args.rows, cloops)
        else:
            X = lightgbm_peers(timer, args.model, args.input, args.rows, cloops)
        if args.no_tl2cgen:
            timer.skip("tl2cgen", "skipped (--no-tl2cgen)")
        else:
            tl2cgen_peers(timer, fmt, args.model, X, cloops, workdir, os.cpu_count() or 1)

    n = X.shape[0]
    print(f"model: {args.model} ({fmt}), {X.shape[1]} features")
    print(f"rows: {n}, passes: {args.passes}, one row per call, one thread "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')})")
    timed = [r for r in timer.results if r.skipped is None]
    name_width = max((len(r.name) for r in timer.results), default=10) + 1
    for r in timer.results:
        if r.skipped is not None:
            print(f"{(r.name + ':').ljust(name_width)} skipped - {r.skipped}")
            continue
        ratio = ""
        if args.osprey_median:
            ratio = f"  = {r.median / args.osprey_median:6.2f}x osprey's median"
        print(f"{(r.name + ':').ljust(name_width)} median {r.median:9.1f} ns/row (best {r.best:9.1f}){ratio}")

    # Agreement: every peer against the first one (and against --reference).
    ok = True
    if timed:
        first = timed[0]
        print(f"check (max |difference| on {n} rows, tolerance {TOLERANCE:g}), against {first.name}:")
        for r in timed[1:]:
            if r.preds.shape != first.preds.shape:
                print(f"  {r.name}: shape {r.preds.shape} != {first.preds.shape}  MISMATCH")
                ok = False
                continue
            diff = float(np.max(np.abs(r.preds - first.preds))) if r.preds.size else 0.0
            good = diff <= TOLERANCE
            ok &= good
            print(f"  {r.name}: {diff:.3g}  {'ok' if good else 'MISMATCH'}")
        if args.reference:
            ref = read_reference(args.reference)[:n]
            ref_name = args.reference_name or args.reference
            if ref.shape != first.preds.shape:
                print(f"  {ref_name}: shape {ref.shape} != {first.preds.shape}  MISMATCH")
                ok = False
            else:
                diff = float(np.max(np.abs(ref - first.preds)))
                good = diff <= TOLERANCE
                ok &= good
                print(f"  {ref_name}: {diff:.3g}  {'ok' if good else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
