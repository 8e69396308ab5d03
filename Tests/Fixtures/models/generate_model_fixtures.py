#!/usr/bin/env python3
"""Generate XGBoost / LightGBM model fixtures for Osprey's Swift model loaders.

For every case this trains a small model on deterministic synthetic data,
saves it the way users do (``booster.save_model``), builds a set of tricky
input rows (ordinary rows, NaN rows, exact split-threshold probes with one
ULP either side, special floating-point values, odd category codes) and
writes the library's own outputs for those rows, so the Swift side can check
that it reproduces ``predict()`` bit for bit.

Usage:
    python generate_model_fixtures.py --out DIR [--only xgb2|xgb3|lgb]

Without ``--only`` it produces every family the running interpreter can:
the XGBoost cases for the installed xgboost major version (``xgb2_*`` for
2.x, ``xgb3_*`` for 3.x) and the LightGBM cases when lightgbm is installed.
XGBoost 2.x and 3.x cannot live in one environment, so run the script once
per environment (see README.md next to this file).

Layout of each case directory DIR/<case>/:
    model.json | model.txt   the saved model
    input.csv                header = feature names in model order; values are
                             repr(float) of the float64 fed to the library,
                             empty field = NaN (missing)
    expected.csv             default predict() output, one line per row
    margin.csv               raw margin (output_margin / raw_score)
    contribs.csv             exact SHAP (pred_contribs / pred_contrib), if the
                             library supports it for the model
    approx_contribs.csv      XGBoost only: approx_contribs=True
    case.json                metadata (see write_case)
"""

import argparse
import json
import math
import os
import shutil
import sys
import time
import warnings
import zlib

# xgboost and lightgbm each bring their own OpenMP runtime.  With the default
# spinning wait policy, a run on a busy 2-core machine (e.g. next to a
# swift build) can slow down ~30x; passive waiting avoids that and does not
# change any result.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

F32_INF = np.float32(np.inf)
F32_NEG_INF = np.float32(-np.inf)


def case_rng(name, salt=""):
    """A numpy Generator seeded from the case name (stable across runs)."""
    return np.random.default_rng(zlib.crc32((name + "|" + salt).encode("utf-8")))


def fmt_value(v):
    v = float(v)
    if math.isnan(v):
        return ""
    return repr(v)


def fmt_output(v):
    return repr(float(v))


def write_input_csv(path, names, X):
    with open(path, "w", newline="\n") as fh:
        fh.write(",".join(names) + "\n")
        for row in X:
            fh.write(",".join(fmt_value(v) for v in row) + "\n")


def write_matrix_csv(path, M):
    M = np.asarray(M)
    if M.ndim == 1:
        M = M.reshape(-1, 1)
    elif M.ndim > 2:
        M = M.reshape(M.shape[0], -1)
    with open(path, "w", newline="\n") as fh:
        for row in M:
            fh.write(",".join(fmt_output(v) for v in row) + "\n")


def check_roundtrip(X):
    """Every value we write must parse back to exactly what the library saw."""
    for v in X.ravel():
        s = fmt_value(v)
        if s == "":
            assert math.isnan(v)
        else:
            back = float(s)
            assert back == v and math.copysign(1.0, back) == math.copysign(1.0, v), (v, s)


def nextafter32(x, direction):
    return np.nextafter(np.float32(x), np.float32(direction))


def f32_to_f64(x):
    return float(np.float32(x))


# --------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------

NUMERIC_NAMES = [
    "gauss", "unif", "amount", "count", "small", "flag", "sparse", "frac", "tiny",
]
N_NUMERIC = len(NUMERIC_NAMES)


def gen_numeric(rng, n, nan_scale=1.0):
    """Numeric features with varied scales, integers, many zeros and NaNs.

    Returns (X with NaNs, latent score).  Missingness is informative so the
    trees learn default directions both ways.
    """
    X = np.empty((n, N_NUMERIC))
    X[:, 0] = rng.normal(0.0, 1.0, n)                     # gauss
    X[:, 1] = rng.uniform(-5.0, 5.0, n)                   # unif
    X[:, 2] = np.round(np.exp(rng.normal(3.0, 1.5, n)), 2)  # amount (money-like)
    X[:, 3] = rng.poisson(3.0, n).astype(float)           # count
    X[:, 4] = rng.normal(0.0, 1e-3, n)                    # small scale, thresholds near 0
    X[:, 5] = (rng.random(n) < 0.3).astype(float)         # 0/1 flag
    X[:, 6] = np.where(rng.random(n) < 0.3, 0.0, rng.normal(1.0, 2.0, n))  # many exact zeros
    X[:, 7] = rng.random(n)                               # [0,1)
    X[:, 8] = rng.normal(0.0, 1e-30, n)                   # tiny scale (float32 normal range)
    latent = (
        1.0 * X[:, 0]
        + 0.6 * np.sin(X[:, 1])
        + 0.4 * (np.log(X[:, 2] + 0.01) - 3.0)
        + 0.3 * (X[:, 3] - 3.0)
        + 500.0 * X[:, 4]
        + 0.7 * X[:, 5]
        - 0.4 * X[:, 6]
        + 0.8 * (X[:, 7] > 0.5)
        + 0.5 * X[:, 0] * X[:, 7]
        + 0.4e30 * X[:, 8]
    )
    rates = {0: 0.10, 2: 0.15, 3: 0.05, 6: 0.10, 8: 0.05}
    effects = {0: 0.9, 2: -1.0, 3: 0.5, 6: 0.7, 8: -0.6}
    for j, rate in rates.items():
        m = rng.random(n) < rate * nan_scale
        latent = latent + effects[j] * m
        X[m, j] = np.nan
    latent = latent / 1.6
    return X, latent


CAT_NAMES = ["num_a", "cat3", "num_b", "cat30", "num_c"]
CAT_COLUMNS = {1: 3, 3: 30}  # feature index -> number of categories


def gen_categorical(rng, n, nan_scale=1.0):
    Xn, latent = gen_numeric(rng, n, nan_scale)
    X = np.empty((n, 5))
    X[:, 0] = Xn[:, 0]
    X[:, 2] = Xn[:, 2]
    X[:, 4] = Xn[:, 6]
    c3 = rng.integers(0, 3, n)
    c30 = rng.integers(0, 30, n)
    eff30 = np.random.default_rng(30).normal(0.0, 1.2, 30)
    latent = (
        0.8 * np.nan_to_num(Xn[:, 0])
        + 0.4 * (np.log(np.nan_to_num(Xn[:, 2], nan=20.0) + 0.01) - 3.0)
        - 0.3 * np.nan_to_num(Xn[:, 6])
        + np.array([0.0, 1.0, -0.7])[c3]
        + eff30[c30]
    )
    X[:, 1] = c3
    X[:, 3] = c30
    for j in (1, 3):
        m = rng.random(n) < 0.05 * nan_scale
        X[m, j] = np.nan
        latent = latent + (0.6 if j == 1 else -0.6) * m
    return X, latent / 1.6


BENCH_NAMES = [
    "amount", "txn_count_1h", "txn_count_24h", "txn_count_7d", "amount_sum_24h",
    "avg_amount_30d", "distinct_merchants_24h", "distinct_countries_7d",
    "secs_since_last_txn", "account_age_days", "is_foreign", "merchant_risk",
    "hour_of_day",
]


def gen_bench(rng, n, nan_scale=1.0):
    """Payment-fraud-like features (13 columns) and a latent fraud score."""
    avg30 = np.round(np.exp(rng.normal(3.5, 1.0, n)), 2)
    amount = np.round(avg30 * np.exp(rng.normal(0.0, 0.9, n)), 2)
    c1h = rng.poisson(0.6, n).astype(float)
    c24 = c1h + rng.poisson(3.0, n)
    c7d = c24 + rng.poisson(15.0, n)
    sum24 = np.round(amount + c24 * avg30 * rng.gamma(2.0, 0.5, n), 2)
    merch24 = np.minimum(c24, rng.poisson(2.0, n) + 1.0)
    countries = 1.0 + rng.poisson(0.3, n)
    secs = np.round(rng.exponential(20000.0, n), 0)
    age = rng.integers(0, 3650, n).astype(float)
    foreign = (rng.random(n) < 0.15).astype(float)
    risk = np.round(rng.beta(2.0, 5.0, n), 4)
    hour = rng.integers(0, 24, n).astype(float)
    X = np.column_stack([amount, c1h, c24, c7d, sum24, avg30, merch24, countries,
                         secs, age, foreign, risk, hour])
    latent = (
        0.9 * np.log((amount + 1.0) / (avg30 + 1.0))
        + 0.5 * c1h
        + 0.05 * (c24 - 3.0)
        + 0.5 * (countries - 1.0)
        + 3.0 * foreign * risk
        + 2.0 * risk
        - 0.35 * np.log1p(age)
        + 0.6 * (hour < 6)
        - 0.15 * np.log1p(secs)
        + 0.2 * (merch24 > 3)
    )
    # missing values: brand-new accounts have no 30-day average / no last txn
    m_avg = rng.random(n) < 0.04 * nan_scale
    m_secs = rng.random(n) < 0.06 * nan_scale
    m_risk = rng.random(n) < 0.02 * nan_scale
    latent = latent + 0.8 * m_avg + 0.5 * m_secs + 0.3 * m_risk
    X[m_avg, 5] = np.nan
    X[m_secs, 8] = np.nan
    X[m_risk, 11] = np.nan
    return X, latent


def make_labels(kind, rng, latent, X):
    n = len(latent)
    if kind == "binary":
        return (latent + rng.logistic(0.0, 0.6, n) > 0.2).astype(float)
    if kind == "prob":
        return 1.0 / (1.0 + np.exp(-(2.0 * latent + rng.normal(0.0, 0.5, n))))
    if kind == "regression":
        return 3.0 * latent + rng.normal(0.0, 1.0, n) + 10.0
    if kind == "heavy":
        return 3.0 * latent + rng.standard_t(2.0, n)
    if kind == "poisson":
        return rng.poisson(np.exp(0.6 * latent + 0.3)).astype(float)
    if kind == "gamma":
        return rng.gamma(2.0, np.exp(0.6 * latent) / 2.0)
    if kind == "tweedie":
        counts = rng.poisson(np.exp(0.5 * latent))
        sizes = rng.gamma(2.0 * np.maximum(counts, 1), 0.5)
        return np.where(counts > 0, sizes, 0.0)
    if kind == "multi":
        x1 = np.nan_to_num(X[:, 1])
        x7 = np.nan_to_num(X[:, 7])
        logits = np.column_stack([
            latent, -latent, 1.2 * np.sin(x1), 3.0 * (x7 - 0.5),
        ])
        return np.argmax(logits + rng.gumbel(0.0, 0.5, logits.shape), axis=1).astype(float)
    if kind == "rank":
        return np.clip(np.floor(latent + rng.normal(0.0, 0.5, n) + 2.0), 0, 4).astype(float)
    if kind == "sqrt":
        return 5.0 * latent ** 2 + 10.0 * latent + rng.normal(0.0, 1.0, n)
    if kind == "bench":
        score = latent + rng.logistic(0.0, 0.5, n)
        return (score > np.quantile(score, 0.9)).astype(float)
    raise ValueError(kind)


# --------------------------------------------------------------------------
# Tricky rows
# --------------------------------------------------------------------------

COMMON_SPECIALS = [0.0, -0.0, 1e-40, -1e-40, 5e-324, 1e-36, -1e-36, 1e-30,
                   1e30, 3.0e38, -3.0e38]
LGB_ONLY_SPECIALS = [1e300, -1e300]
# Probed for XGBoost acceptance; whatever it refuses is left out and noted.
XGB_PROBE_SPECIALS = COMMON_SPECIALS + [3.5e38, -3.5e38, 1e300, -1e300,
                                        float("inf"), float("-inf")]
CAT_ODD_CODES = [-1.0, -5.0, "K", "K+7", 1000.0, 2.5, float("nan")]

N_RANDOM_ROWS = 60
N_NAN_ROWS = 20
N_PROBED_SPLITS = 70


class RowBuilder:
    """Collects tricky rows and remembers which group each came from."""

    def __init__(self, gen, rng, n_features):
        self.gen = gen
        self.rng = rng
        self.n_features = n_features
        self.rows = []
        self.groups = []  # (name, start, end)

    def base_rows(self, k):
        X, _ = self.gen(self.rng, k)
        return X

    def add(self, group, rows):
        start = len(self.rows)
        self.rows.extend(np.asarray(r, dtype=np.float64) for r in rows)
        if self.groups and self.groups[-1][0] == group:
            self.groups[-1] = (group, self.groups[-1][1], len(self.rows))
        else:
            self.groups.append((group, start, len(self.rows)))

    def add_standard(self, specials):
        self.add("random", self.base_rows(N_RANDOM_ROWS))
        rows = self.base_rows(N_NAN_ROWS)
        for r in rows:
            k = self.rng.integers(2, max(3, self.n_features))
            idx = self.rng.choice(self.n_features, size=min(k, self.n_features - 1), replace=False)
            r[idx] = np.nan
        self.add("several_nan", rows)
        self.add("all_nan", [np.full(self.n_features, np.nan)])
        # special values: one feature at a time, then whole rows of one value
        rows = []
        for j in range(self.n_features):
            base = self.base_rows(len(specials))
            for i, v in enumerate(specials):
                base[i, j] = v
                rows.append(base[i])
        self.add("special_per_feature", rows)
        self.add("special_whole_row", [np.full(self.n_features, v) for v in specials])

    def matrix(self):
        return np.vstack(self.rows)


def choose_splits(rng, splits, limit):
    """Pick up to `limit` splits with distinct (feature, threshold), making
    sure every feature that is split on shows up at least once."""
    seen = {}
    for s in splits:
        key = (s["feature"], s["threshold"])
        if key not in seen:
            seen[key] = s
    uniq = sorted(seen.values(), key=lambda s: (s["tree"], s["node"]))
    if len(uniq) <= limit:
        return uniq
    by_feat = {}
    for i, s in enumerate(uniq):
        by_feat.setdefault(s["feature"], []).append(i)
    picked = set()
    for f in sorted(by_feat):
        i = by_feat[f][int(rng.integers(len(by_feat[f])))]
        picked.add(i)
    rest = [i for i in range(len(uniq)) if i not in picked]
    extra = rng.choice(len(rest), size=limit - len(picked), replace=False)
    picked.update(rest[int(e)] for e in extra)
    return [uniq[i] for i in sorted(picked)]


# ---- path forcing: make the probed node actually reachable ---------------

def force_path_xgb(row, path, cat_sets):
    """Adjust `row` so that XGBoost follows `path` (list of (node info, go_left)).

    Numerical split: left iff float32(x) < cond; missing -> default.
    Categorical split: categories in the stored set go right.
    """
    lo = {}
    hi = {}
    cats = {}
    for node, go_left in path:
        f = node["feature"]
        if node["categorical"]:
            cats.setdefault(f, []).append((cat_sets[(node["tree"], node["node"])], go_left, node["default_left"]))
            continue
        c = np.float32(node["threshold"])
        if go_left:
            hi[f] = min(hi.get(f, F32_INF), c)
        else:
            lo[f] = max(lo.get(f, F32_NEG_INF), c)
    for f in set(lo) | set(hi):
        a = lo.get(f, F32_NEG_INF)
        b = hi.get(f, F32_INF)
        v = row[f]
        if not math.isnan(v) and a <= np.float32(v) < b:
            continue
        if b == F32_INF:
            cand = a
        elif a == F32_NEG_INF:
            cand = nextafter32(b, -np.inf)
        else:
            cand = np.float32(a + (b - a) / np.float32(2.0))
            if not (a <= cand < b):
                cand = a
        row[f] = float(cand)
    for f, conds in cats.items():
        k = CAT_COLUMNS.get(f, 64)
        ok = [c for c in range(k) if all((c in s) != gl for s, gl, _ in conds)]
        if not math.isnan(row[f]) and int(row[f]) in ok and row[f] == int(row[f]):
            continue
        if ok:
            row[f] = float(ok[0])
        else:
            row[f] = np.nan
    return row


def force_path_lgb(row, path, cat_sets, zero_missing):
    """Adjust `row` so that LightGBM follows `path`.

    Numerical split: left iff x <= threshold (away from the missing zone).
    Categorical split: int(x) in the bitset goes left.
    """
    lo = {}
    hi = {}
    cats = {}
    for node, go_left in path:
        f = node["feature"]
        if node["categorical"]:
            cats.setdefault(f, []).append((cat_sets[(node["tree"], node["node"])], go_left))
            continue
        t = node["threshold"]
        if go_left:
            hi[f] = min(hi.get(f, math.inf), t)
        else:
            lo[f] = max(lo.get(f, -math.inf), t)

    def acceptable(v, a, b):
        if math.isnan(v):
            return False
        if zero_missing and abs(v) <= 1e-35:
            return False
        return a < v <= b

    for f in set(lo) | set(hi):
        a = lo.get(f, -math.inf)
        b = hi.get(f, math.inf)
        if acceptable(row[f], a, b):
            continue
        if b == math.inf:
            cand = a + max(1.0, abs(a)) * 0.5 if a != -math.inf else 0.5
        elif a == -math.inf:
            cand = b - max(1.0, abs(b)) * 0.5
        else:
            cand = a + (b - a) / 2.0
        if not (a < cand <= b):
            cand = b
        row[f] = cand
    for f, conds in cats.items():
        k = CAT_COLUMNS.get(f, 64)
        ok = [c for c in range(k) if all((c in s) == gl for s, gl in conds)]
        if not math.isnan(row[f]) and row[f] >= 0 and int(row[f]) in ok:
            continue
        if ok:
            row[f] = float(ok[0])
        elif all(not gl for _, gl in conds):
            row[f] = np.nan
    return row


def path_to(nodes_by_id, parent, node_id):
    path = []
    n = node_id
    while parent.get(n) is not None:
        p = parent[n]
        path.append((nodes_by_id[p], nodes_by_id[p]["left"] == n))
        n = p
    path.reverse()
    return path


def probe_rows(builder, chosen, tree_index, force, ulp):
    """For each chosen split: three rows (threshold, one ULP below, above)."""
    rows = []
    for s in chosen:
        nodes_by_id, parent, cat_sets = tree_index[s["tree"]]
        base = builder.base_rows(1)[0]
        base = force(base, path_to(nodes_by_id, parent, s["node"]), cat_sets)
        t, below, above = ulp(s["threshold"])
        for v in (below, t, above):
            r = base.copy()
            r[s["feature"]] = v
            rows.append(r)
    builder.add("threshold_probes", rows)


def probe_stats(margin, groups):
    """How many probe triplets see the prediction change across the split."""
    for name, a, b in groups:
        if name == "threshold_probes":
            M = np.asarray(margin).reshape(len(margin), -1)[a:b]
            trip = M.reshape(-1, 3, M.shape[1])
            changed = int(np.sum(np.any(trip[:, 0] != trip[:, 2], axis=1)))
            return changed, trip.shape[0]
    return 0, 0


# --------------------------------------------------------------------------
# Case output
# --------------------------------------------------------------------------

def write_case(out_dir, name, meta, X, names, outputs):
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    check_roundtrip(X)
    write_input_csv(os.path.join(d, "input.csv"), names, X)
    for fname, M in outputs.items():
        if M is None:
            continue
        M = np.asarray(M)
        assert M.shape[0] == X.shape[0], (fname, M.shape, X.shape)
        if fname != "expected.csv":
            assert not np.any(np.isnan(M.astype(np.float64))), (name, fname)
        write_matrix_csv(os.path.join(d, fname), M)
    with open(os.path.join(d, "case.json"), "w") as fh:
        json.dump(meta, fh, indent=2)
        fh.write("\n")


def group_meta(groups):
    return {g: [a, b] for g, a, b in groups}


# --------------------------------------------------------------------------
# XGBoost
# --------------------------------------------------------------------------

def xgb_trees(model_json):
    gb = model_json["learner"]["gradient_booster"]
    if gb["name"] == "dart":
        gb = gb["gbtree"]
    return gb["model"]["trees"]


def xgb_tree_index(model_json):
    """Per tree: node dicts, parent map, categorical sets; plus all splits."""
    index = []
    splits = []
    for ti, t in enumerate(xgb_trees(model_json)):
        nodes = {}
        parent = {}
        cat_sets = {}
        seg_of = {}
        for k, nid in enumerate(t.get("categories_nodes", [])):
            s = t["categories_segments"][k]
            z = t["categories_sizes"][k]
            seg_of[nid] = set(int(c) for c in t["categories"][s:s + z])
        for i, (l, r) in enumerate(zip(t["left_children"], t["right_children"])):
            if l == -1:
                continue
            cat = int(t["split_type"][i]) == 1
            node = {
                "tree": ti, "node": i, "feature": int(t["split_indices"][i]),
                "threshold": float(t["split_conditions"][i]), "categorical": cat,
                "left": l, "right": r, "default_left": bool(t["default_left"][i]),
            }
            nodes[i] = node
            parent[l] = i
            parent[r] = i
            if cat:
                cat_sets[(ti, i)] = seg_of.get(i, set())
            else:
                splits.append(node)
        index.append((nodes, parent, cat_sets))
    return index, splits


def xgb_ulp(thr):
    t = np.float32(thr)
    return (f32_to_f64(t), f32_to_f64(nextafter32(t, -np.inf)), f32_to_f64(nextafter32(t, np.inf)))


class XGBFamily:
    def __init__(self):
        import xgboost as xgb
        self.xgb = xgb
        self.version = xgb.__version__
        self.major = int(self.version.split(".")[0])
        self.prefix = "xgb%d" % self.major
        self.nthread = 2

    # --- helpers ---
    def dmatrix(self, X, names, types=None):
        kw = {"missing": np.nan, "nthread": self.nthread}
        if names is not None:
            kw["feature_names"] = list(names)
        if types is not None:
            kw["feature_types"] = list(types)
            kw["enable_categorical"] = True
        return self.xgb.DMatrix(X, **kw)

    def accepted_specials(self, booster, n_features, names, types):
        ok = []
        refused = []
        for v in XGB_PROBE_SPECIALS:
            Z = np.zeros((1, n_features))
            Z[0, 0] = v
            try:
                booster.predict(self.dmatrix(Z, names, types))
                if v in COMMON_SPECIALS:
                    ok.append(v)
            except Exception:
                refused.append(v)
        return ok, refused

    def train(self, params, dtrain, rounds):
        p = {"nthread": self.nthread, "seed": 7, "verbosity": 0}
        p.update(params)
        return self.xgb.train(p, dtrain, num_boost_round=rounds)

    # --- the generic case runner ---
    def run_case(self, out_dir, name, params, rounds, label_kind, *, gen=gen_numeric,
                 names=None, n_train=4000, notes="", categorical=False,
                 dmatrix_extra=None, bench=False):
        xgb = self.xgb
        full = "%s_%s" % (self.prefix, name)
        t0 = time.time()
        rng = case_rng(name, "train")  # same data for xgb2 and xgb3
        X, latent = gen(rng, n_train)
        y = make_labels(label_kind, rng, latent, X)
        types = None
        if categorical:
            import pandas as pd
            types = ["c" if j in CAT_COLUMNS else "q" for j in range(X.shape[1])]
            df = pd.DataFrame({
                nm: (pd.Categorical(X[:, j], categories=list(range(CAT_COLUMNS[j])))
                     if j in CAT_COLUMNS else X[:, j])
                for j, nm in enumerate(names)
            })
            dtrain = xgb.DMatrix(df, y, enable_categorical=True, nthread=self.nthread)
        else:
            kw = {}
            if dmatrix_extra is not None:
                kw.update(dmatrix_extra(rng, X, y, latent))
            label = kw.pop("label", y)
            dtrain = xgb.DMatrix(X, label, missing=np.nan, nthread=self.nthread,
                                 feature_names=names, **kw)
        trained = self.train(params, dtrain, rounds)

        d = os.path.join(out_dir, full)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        model_path = os.path.join(d, "model.json")
        trained.save_model(model_path)
        booster = xgb.Booster(model_file=model_path)
        booster.set_param({"nthread": self.nthread})
        with open(model_path) as fh:
            mj = json.load(fh)
        learner = mj["learner"]
        stored_names = list(learner.get("feature_names") or [])
        n_features = int(learner["learner_model_param"]["num_feature"])
        header = stored_names if stored_names else ["f%d" % j for j in range(n_features)]
        pred_names = stored_names if stored_names else None

        specials, refused = self.accepted_specials(booster, n_features, pred_names, types)

        rrng = case_rng(name, "rows")
        builder = RowBuilder(gen, rrng, n_features)
        tree_index, splits = xgb_tree_index(mj)
        if bench:
            builder.add("random", builder.base_rows(470))
            rows = builder.base_rows(30)
            for r in rows:
                idx = rrng.choice(n_features, size=3, replace=False)
                r[idx] = np.nan
            builder.add("several_nan", rows)
        else:
            builder.add_standard(specials)
            chosen = choose_splits(rrng, splits, N_PROBED_SPLITS)
            probe_rows(builder, chosen, tree_index,
                       lambda row, path, cs: force_path_xgb(row, path, cs), xgb_ulp)
            if categorical:
                rows = []
                for j, k in CAT_COLUMNS.items():
                    codes = list(range(k))
                    for c in CAT_ODD_CODES:
                        codes.append(float(k) if c == "K" else float(k + 7) if c == "K+7" else c)
                    base = builder.base_rows(len(codes))
                    for i, c in enumerate(codes):
                        base[i, j] = c
                        rows.append(base[i])
                builder.add("category_codes", rows)
        Xt = builder.matrix()

        dm = self.dmatrix(Xt, pred_names, types)
        pred = booster.predict(dm)
        margin = booster.predict(dm, output_margin=True)
        contribs = approx = None
        try:
            contribs = booster.predict(dm, pred_contribs=True)
        except Exception as e:  # pragma: no cover - depends on library
            notes += " Exact contributions refused: %s." % str(e).splitlines()[0].rstrip(".")
        try:
            approx = booster.predict(dm, pred_contribs=True, approx_contribs=True)
        except Exception as e:  # pragma: no cover
            notes += " Approximate contributions refused: %s." % str(e).splitlines()[0].rstrip(".")

        # sanity: in-memory booster must agree with the reloaded one
        same = np.array_equal(trained.predict(self.dmatrix(Xt, pred_names, types), output_margin=True), margin)
        if not same:
            notes += " NOTE: in-memory and reloaded boosters disagree on margins."

        if categorical:
            notes += self.compare_pandas_path(booster, Xt, names, pred)

        if refused:
            notes += (" XGBoost refused these probe values (not in input.csv): %s."
                      % ", ".join(repr(v) for v in refused))
        changed, total = probe_stats(margin, builder.groups)
        default_left = [n["default_left"] for nodes, _, _ in tree_index for n in nodes.values()]
        meta = {
            "case": full,
            "library": "xgboost",
            "library_version": self.version,
            "format": "xgboost-json",
            "objective": learner["objective"]["name"],
            "num_features": n_features,
            "num_outputs": int(np.asarray(margin).reshape(len(Xt), -1).shape[1]),
            "expected_columns": int(np.asarray(pred).reshape(len(Xt), -1).shape[1]),
            "has_contribs": contribs is not None,
            "has_approx_contribs": approx is not None,
            "notes": notes.strip(),
            "booster": mj["learner"]["gradient_booster"]["name"],
            "num_trees": len(xgb_trees(mj)),
            "num_rows": int(len(Xt)),
            "output_dtype": str(np.asarray(pred).dtype),
            "base_score_raw": learner["learner_model_param"]["base_score"],
            "row_groups": group_meta(builder.groups),
            "probe_triplets_changed": [changed, total],
            "default_left_counts": {"left": int(sum(default_left)),
                                    "right": int(len(default_left) - sum(default_left))},
        }
        write_case(out_dir, full, meta, Xt, header, {
            "expected.csv": pred, "margin.csv": margin,
            "contribs.csv": contribs, "approx_contribs.csv": approx,
        })
        dt = time.time() - t0
        print("  %-42s trees=%-4d rows=%-4d probes changed %d/%d  %.1fs"
              % (full, meta["num_trees"], len(Xt), changed, total, dt), flush=True)
        return full

    def compare_pandas_path(self, booster, Xt, names, pred):
        """Predict again through a pandas DataFrame of category dtype (what a
        Python user would do) and report where it differs from the raw-value
        path used for expected.csv."""
        import pandas as pd
        cols = {}
        bad = np.zeros(len(Xt), dtype=bool)  # rows holding a value that is no category
        for j, nm in enumerate(names):
            if j in CAT_COLUMNS:
                k = CAT_COLUMNS[j]
                v = Xt[:, j]
                valid = np.isin(v, np.arange(k, dtype=np.float64))
                bad |= ~valid & ~np.isnan(v)
                # pandas would turn these into NaN itself (deprecated): do it explicitly
                cols[nm] = pd.Categorical(np.where(valid, v, np.nan), categories=list(range(k)))
            else:
                cols[nm] = Xt[:, j]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p2 = booster.predict(self.xgb.DMatrix(pd.DataFrame(cols), enable_categorical=True,
                                                      nthread=self.nthread))
        except Exception as e:
            return " pandas-DataFrame prediction failed: %s." % str(e).splitlines()[0].rstrip(".")
        diff = np.any(np.asarray(p2).reshape(len(Xt), -1)
                      != np.asarray(pred).reshape(len(Xt), -1), axis=1)
        assert not np.any(diff & ~bad), "pandas and numpy paths differ on valid categories"
        vals = sorted({float(Xt[i, j]) for i in np.flatnonzero(diff) for j in CAT_COLUMNS
                       if not math.isnan(Xt[i, j])
                       and float(Xt[i, j]) not in range(CAT_COLUMNS[j])})
        return (" expected.csv comes from a float64 numpy array with feature_types "
                "(raw values reach the predictor; categories are 0..K-1 so codes equal values). "
                "Predicting from a pandas Categorical DataFrame instead (values that are no "
                "category become NaN) agrees on every row whose categorical values are valid "
                "categories or NaN, and differs on %d of the %d other rows (values such as %s)."
                % (int(diff.sum()), int(bad.sum()), ", ".join(repr(v) for v in vals[:8]) or "none"))

    # --- all cases ---
    def run_all(self, out_dir):
        made = []

        def run(*a, **k):
            made.append(self.run_case(out_dir, *a, **k))

        run("binary_logistic", {"objective": "binary:logistic", "max_depth": 6, "eta": 0.3},
            50, "binary", notes="binary:logistic, depth 6, NaNs in training (default directions both ways), automatic base_score.")
        run("binary_logistic_base_score",
            {"objective": "binary:logistic", "max_depth": 4, "base_score": 0.3},
            30, "binary", names=NUMERIC_NAMES, notes="binary:logistic with explicit base_score=0.3; feature names stored.")
        run("binary_logitraw", {"objective": "binary:logitraw", "max_depth": 4},
            30, "binary", notes="binary:logitraw: predict() == margin.")
        run("reg_logistic", {"objective": "reg:logistic", "max_depth": 4},
            30, "prob", notes="reg:logistic on labels in (0,1).")
        run("binary_hinge", {"objective": "binary:hinge", "max_depth": 4},
            20, "binary", notes="binary:hinge: predict() is 0/1 (margin > 0).")
        run("reg_squarederror", {"objective": "reg:squarederror", "max_depth": 5},
            40, "regression", names=NUMERIC_NAMES, notes="reg:squarederror with feature names.")
        run("reg_absoluteerror", {"objective": "reg:absoluteerror", "max_depth": 4},
            30, "heavy", notes="reg:absoluteerror (leaf values re-fitted to medians; base_score = median).")
        run("reg_pseudohubererror",
            {"objective": "reg:pseudohubererror", "max_depth": 4, "huber_slope": 1.5},
            30, "heavy", notes="reg:pseudohubererror, huber_slope=1.5.")
        run("reg_quantileerror",
            {"objective": "reg:quantileerror", "max_depth": 4, "quantile_alpha": 0.3,
             "tree_method": "hist"},
            30, "heavy", notes="reg:quantileerror with a single quantile_alpha=0.3.")
        run("count_poisson", {"objective": "count:poisson", "max_depth": 4},
            30, "poisson", notes="count:poisson: predict() = exp(margin).")
        run("reg_gamma", {"objective": "reg:gamma", "max_depth": 4},
            30, "gamma", notes="reg:gamma: predict() = exp(margin).")
        run("reg_tweedie",
            {"objective": "reg:tweedie", "max_depth": 4, "tweedie_variance_power": 1.4},
            30, "tweedie", notes="reg:tweedie, variance power 1.4: predict() = exp(margin).")
        run("multi_softprob", {"objective": "multi:softprob", "num_class": 4, "max_depth": 4},
            15, "multi", notes="multi:softprob, 4 classes (15 rounds x 4 trees); expected = probabilities.")
        run("multi_softmax", {"objective": "multi:softmax", "num_class": 4, "max_depth": 4},
            12, "multi", notes="multi:softmax, 4 classes; expected.csv = predicted class index (1 column), margin/contribs have 4 groups.")
        run("dart",
            {"objective": "binary:logistic", "booster": "dart", "max_depth": 4,
             "rate_drop": 0.2, "skip_drop": 0.0, "eta": 0.3},
            30, "binary", notes="DART (binary:logistic, rate_drop=0.2, skip_drop=0): tree weights in weight_drop.")
        run("categorical",
            {"objective": "binary:logistic", "max_depth": 5, "tree_method": "hist",
             "max_cat_to_onehot": 4},
            30, "binary", gen=gen_categorical, names=CAT_NAMES, categorical=True,
            notes="enable_categorical: cat3 (K=3, one-hot splits, max_cat_to_onehot=4) and "
                  "cat30 (K=30, partition splits); categories in a node's set go RIGHT.")

        def rank_extra(rng, X, y, latent):
            return {"qid": np.arange(len(y)) // 20}
        run("rank_pairwise", {"objective": "rank:pairwise", "max_depth": 4},
            30, "rank", dmatrix_extra=rank_extra, notes="rank:pairwise with query groups of 20; predict() == margin.")

        def aft_extra(rng, X, y, latent):
            t = np.exp(0.5 * latent + 1.0 + rng.normal(0.0, 0.3, len(latent)))
            cens = rng.random(len(latent)) < 0.3
            lower = np.where(cens, t * rng.uniform(0.3, 1.0, len(t)), t)
            upper = np.where(cens, np.inf, t)
            return {"label": lower, "label_lower_bound": lower, "label_upper_bound": upper}
        run("survival_aft",
            {"objective": "survival:aft", "max_depth": 4, "tree_method": "hist",
             "aft_loss_distribution": "normal", "aft_loss_distribution_scale": 1.2},
            30, "binary", dmatrix_extra=aft_extra,
            notes="survival:aft (normal, scale 1.2), 30% right-censored; predict() = exp(margin).")
        run("num_parallel_tree",
            {"objective": "binary:logistic", "max_depth": 4, "num_parallel_tree": 4,
             "subsample": 0.7, "colsample_bynode": 0.7, "eta": 1.0},
            3, "binary", notes="Random-forest style: num_parallel_tree=4, 3 rounds (12 trees).")
        if self.major >= 3:
            run("bench_binary_300x6",
                {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1,
                 "tree_method": "hist"},
                300, "bench", gen=gen_bench, names=BENCH_NAMES, n_train=100_000, bench=True,
                notes="Benchmark model: 300 trees of depth 6 on 100k payment-fraud-like rows; "
                      "inputs are ordinary rows plus a few NaNs (no probes).")
        return made


# --------------------------------------------------------------------------
# LightGBM
# --------------------------------------------------------------------------

def parse_lgb_model(text):
    """Trees of a LightGBM text model: split nodes, parents, categorical sets."""
    trees = []
    cur = None
    header = {}
    in_trees = False
    for line in text.splitlines():
        if line.startswith("Tree="):
            in_trees = True
            cur = {"id": int(line[5:])}
            trees.append(cur)
            continue
        if line.startswith("end of trees"):
            break
        if "=" not in line:
            continue
        k, v = line.split("=", 1)
        if cur is None:
            if not in_trees:
                header[k] = v
            continue
        cur[k] = v
    index = []
    splits = []
    for ti, t in enumerate(trees):
        nodes, parent, cat_sets = {}, {}, {}
        if "split_feature" not in t:
            index.append((nodes, parent, cat_sets))
            continue
        feats = [int(x) for x in t["split_feature"].split()]
        thr = [float(x) for x in t["threshold"].split()]
        dec = [int(x) for x in t["decision_type"].split()]
        left = [int(x) for x in t["left_child"].split()]
        right = [int(x) for x in t["right_child"].split()]
        bounds = [int(x) for x in t.get("cat_boundaries", "").split()]
        words = [int(x) for x in t.get("cat_threshold", "").split()]
        for i in range(len(feats)):
            cat = bool(dec[i] & 1)
            # leaves are encoded as ~leaf (negative); use ("leaf", k) ids for them
            lid = left[i] if left[i] >= 0 else ("leaf", ~left[i])
            rid = right[i] if right[i] >= 0 else ("leaf", ~right[i])
            node = {"tree": ti, "node": i, "feature": feats[i], "threshold": thr[i],
                    "categorical": cat, "left": lid, "right": rid,
                    "default_left": bool(dec[i] & 2), "missing_type": (dec[i] >> 2) & 3}
            nodes[i] = node
            parent[lid] = i
            parent[rid] = i
            if cat:
                ci = int(thr[i])
                s = set()
                for w, word in enumerate(words[bounds[ci]:bounds[ci + 1]]):
                    for bit in range(32):
                        if (word >> bit) & 1:
                            s.add(w * 32 + bit)
                cat_sets[(ti, i)] = s
            else:
                splits.append(node)
        index.append((nodes, parent, cat_sets))
    return header, index, splits


def lgb_ulp(thr):
    t = float(thr)
    return t, float(np.nextafter(t, -np.inf)), float(np.nextafter(t, np.inf))


class LGBFamily:
    def __init__(self):
        import lightgbm as lgb
        self.lgb = lgb
        self.version = lgb.__version__
        self.prefix = "lgb"

    def run_case(self, out_dir, name, params, rounds, label_kind, *, gen=gen_numeric,
                 names=None, n_train=4000, notes="", categorical_feature=None,
                 group_size=None, bench=False):
        lgb = self.lgb
        full = "%s_%s" % (self.prefix, name)
        t0 = time.time()
        rng = case_rng(name, "train")
        X, latent = gen(rng, n_train)
        y = make_labels(label_kind, rng, latent, X)
        p = {"verbose": -1, "seed": 7, "deterministic": True, "force_col_wise": True,
             "num_threads": 2}
        p.update(params)
        ds_kw = {}
        if names is not None:
            ds_kw["feature_name"] = list(names)
        if categorical_feature is not None:
            ds_kw["categorical_feature"] = list(categorical_feature)
        if group_size is not None:
            ds_kw["group"] = [group_size] * (n_train // group_size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dtrain = lgb.Dataset(X, y, params={"verbose": -1}, **ds_kw)
            trained = lgb.train(p, dtrain, num_boost_round=rounds)

        d = os.path.join(out_dir, full)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        model_path = os.path.join(d, "model.txt")
        trained.save_model(model_path)
        booster = lgb.Booster(model_file=model_path)
        with open(model_path) as fh:
            text = fh.read()
        header, tree_index, splits = parse_lgb_model(text)
        stored_names = header["feature_names"].split(" ")
        n_features = int(header["max_feature_idx"]) + 1
        assert len(stored_names) == n_features
        zero_missing = bool(params.get("zero_as_missing", False))

        rrng = case_rng(name, "rows")
        builder = RowBuilder(gen, rrng, n_features)
        if bench:
            builder.add("random", builder.base_rows(470))
            rows = builder.base_rows(30)
            for r in rows:
                idx = rrng.choice(n_features, size=3, replace=False)
                r[idx] = np.nan
            builder.add("several_nan", rows)
        else:
            builder.add_standard(COMMON_SPECIALS + LGB_ONLY_SPECIALS)
            chosen = choose_splits(rrng, splits, N_PROBED_SPLITS)
            probe_rows(builder, chosen, tree_index,
                       lambda row, path, cs: force_path_lgb(row, path, cs, zero_missing), lgb_ulp)
            if categorical_feature is not None:
                rows = []
                for j, k in CAT_COLUMNS.items():
                    codes = list(range(k))
                    for c in CAT_ODD_CODES:
                        codes.append(float(k) if c == "K" else float(k + 7) if c == "K+7" else c)
                    base = builder.base_rows(len(codes))
                    for i, c in enumerate(codes):
                        base[i, j] = c
                        rows.append(base[i])
                builder.add("category_codes", rows)
        Xt = builder.matrix()

        pred = booster.predict(Xt)
        margin = booster.predict(Xt, raw_score=True)
        contribs = None
        try:
            contribs = booster.predict(Xt, pred_contrib=True)
        except Exception as e:
            notes += " Contributions refused by LightGBM: %s." % str(e).splitlines()[0].rstrip(".")
        same = np.array_equal(trained.predict(Xt, raw_score=True), margin)
        if not same:
            notes += " NOTE: in-memory and reloaded boosters disagree on margins."
        changed, total = probe_stats(margin, builder.groups)
        num_outputs = int(np.asarray(margin).reshape(len(Xt), -1).shape[1])
        meta = {
            "case": full,
            "library": "lightgbm",
            "library_version": self.version,
            "format": "lightgbm-text",
            "objective": header.get("objective", ""),
            "num_features": n_features,
            "num_outputs": num_outputs,
            "expected_columns": int(np.asarray(pred).reshape(len(Xt), -1).shape[1]),
            "has_contribs": contribs is not None,
            "has_approx_contribs": False,
            "notes": notes.strip(),
            "boosting": p.get("boosting", "gbdt"),
            "num_trees": int(booster.num_trees()),
            "num_rows": int(len(Xt)),
            "output_dtype": str(np.asarray(pred).dtype),
            "row_groups": group_meta(builder.groups),
            "probe_triplets_changed": [changed, total],
        }
        write_case(out_dir, full, meta, Xt, stored_names, {
            "expected.csv": pred, "margin.csv": margin, "contribs.csv": contribs,
        })
        dt = time.time() - t0
        print("  %-42s trees=%-4d rows=%-4d probes changed %d/%d  %.1fs"
              % (full, meta["num_trees"], len(Xt), changed, total, dt), flush=True)
        return full

    def run_all(self, out_dir):
        made = []

        def run(*a, **k):
            made.append(self.run_case(out_dir, *a, **k))

        base = {"num_leaves": 15, "learning_rate": 0.2}

        def P(**kw):
            q = dict(base)
            q.update(kw)
            return q

        run("binary", P(objective="binary", num_leaves=31), 40, "binary",
            notes="binary, 31 leaves, NaNs in training.")
        run("binary_sigmoid_param", P(objective="binary", sigmoid=0.7), 30, "binary",
            notes="binary with sigmoid=0.7: predict() = 1/(1+exp(-0.7*margin)).")
        run("regression", P(objective="regression"), 30, "regression", names=NUMERIC_NAMES,
            notes="regression (L2) with feature names.")
        run("regression_l1", P(objective="regression_l1"), 30, "heavy",
            notes="regression_l1.")
        run("huber", P(objective="huber", alpha=1.5), 30, "heavy", notes="huber, alpha=1.5.")
        run("quantile", P(objective="quantile", alpha=0.3), 30, "heavy",
            notes="quantile, alpha=0.3.")
        run("poisson", P(objective="poisson"), 30, "poisson", notes="poisson: predict() = exp(margin).")
        run("gamma", P(objective="gamma"), 30, "gamma", notes="gamma: predict() = exp(margin).")
        run("tweedie", P(objective="tweedie", tweedie_variance_power=1.4), 30, "tweedie",
            notes="tweedie, variance power 1.4.")
        run("multiclass", P(objective="multiclass", num_class=4), 15, "multi",
            notes="multiclass softmax, 4 classes (15 iterations x 4 trees).")
        run("multiclassova", P(objective="multiclassova", num_class=4), 15, "multi",
            notes="multiclassova, 4 classes: per-class sigmoid, not normalised.")
        run("cross_entropy", P(objective="cross_entropy"), 30, "prob",
            notes="cross_entropy (xentropy) on labels in (0,1).")
        run("cross_entropy_lambda", P(objective="cross_entropy_lambda"), 30, "prob",
            notes="cross_entropy_lambda (xentlambda).")
        run("dart", P(objective="binary", boosting="dart", drop_rate=0.2, skip_drop=0.0), 30,
            "binary", notes="DART, binary, drop_rate=0.2, skip_drop=0 (leaf values already rescaled in the file).")
        run("rf", P(objective="binary", boosting="rf", bagging_fraction=0.7, bagging_freq=1,
                    feature_fraction=0.8), 20, "binary",
            notes="Random forest (boosting=rf): output is the average of the trees.")
        run("categorical", P(objective="binary", num_leaves=31), 30, "binary",
            gen=gen_categorical, names=CAT_NAMES, categorical_feature=sorted(CAT_COLUMNS),
            notes="categorical_feature=[1,3]: cat3 (K=3, one-vs-rest splits) and cat30 (K=30, bitset splits). "
                  "Trained and predicted from float64 numpy arrays (no pandas_categorical). "
                  "Rows include huge values in categorical columns, whose int cast is "
                  "platform-defined (generated on x86_64).")
        run("linear_tree", P(objective="regression", linear_tree=True), 20, "regression",
            notes="linear_tree=True: leaves hold linear models.")
        run("zero_as_missing", P(objective="binary", zero_as_missing=True), 30, "binary",
            notes="zero_as_missing=True: 0 and NaN are both missing.")
        run("use_missing_false", P(objective="binary", use_missing=False), 30, "binary",
            notes="use_missing=False: NaN is converted to 0.0.")
        run("reg_sqrt", P(objective="regression", reg_sqrt=True), 30, "sqrt",
            notes="regression with reg_sqrt=True: predict() = sign(m)*m*m.")
        run("lambdarank", P(objective="lambdarank"), 30, "rank", group_size=20,
            notes="lambdarank with query groups of 20; predict() == margin.")
        run("bench_binary_300x63",
            {"objective": "binary", "num_leaves": 63, "learning_rate": 0.1}, 300, "bench",
            gen=gen_bench, names=BENCH_NAMES, n_train=100_000, bench=True,
            notes="Benchmark model: 300 trees of 63 leaves on 100k payment-fraud-like rows; "
                  "inputs are ordinary rows plus a few NaNs (no probes).")
        return made


# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory (one sub-directory per case)")
    ap.add_argument("--only", choices=["xgb2", "xgb3", "lgb"],
                    help="produce only one family (xgb2/xgb3 must match the installed xgboost)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)

    families = []
    want_xgb = args.only in (None, "xgb2", "xgb3")
    want_lgb = args.only in (None, "lgb")
    if want_xgb:
        try:
            fam = XGBFamily()
        except ImportError:
            if args.only is not None:
                sys.exit("xgboost is not installed in this environment")
            fam = None
        if fam is not None:
            if args.only is not None and args.only != fam.prefix:
                sys.exit("--only %s needs xgboost %s.x, but xgboost %s is installed"
                         % (args.only, args.only[3:], fam.version))
            if fam.major not in (2, 3):
                sys.exit("unsupported xgboost version %s" % fam.version)
            families.append(fam)
    if want_lgb:
        try:
            families.append(LGBFamily())
        except ImportError:
            if args.only == "lgb":
                sys.exit("lightgbm is not installed in this environment")
    if not families:
        sys.exit("neither xgboost nor lightgbm is installed")

    t_all = time.time()
    made = []
    for fam in families:
        print("%s %s" % (fam.prefix, fam.version), flush=True)
        t0 = time.time()
        made += fam.run_all(args.out)
        print("  %s done in %.1fs" % (fam.prefix, time.time() - t0), flush=True)
    print("%d cases written to %s in %.1fs" % (len(made), args.out, time.time() - t_all))


if __name__ == "__main__":
    main()
