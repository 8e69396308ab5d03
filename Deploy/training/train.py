#!/usr/bin/env python3
"""Osprey's training loop: events and labels in, a new model registry version out.

    python Deploy/training/train.py --config Deploy/examples/payments/osprey.yaml \\
        --events events.jsonl --labels labels.csv --registry Deploy/examples/payments/models --name payments

1. `osprey validate --skip-model --json` gives the feature names and the
   decision thresholds of the config;
2. `osprey backfill` computes, for every event, the feature vector the daemon
   would use (the same Swift code: no training-serving skew), joined with the label;
3. the rows are split in time order (the last --holdout share evaluates), an
   XGBoost or LightGBM binary model is trained on the first part;
4. evaluation on the holdout: AUC, log loss, precision and recall at the
   decline threshold (the config's `decline` outcome, else its highest);
5. a new version folder <registry>/<name>/<version>/ gets the model file and
   metadata.json: feature names, training data fingerprints, metrics, and
   reference histograms of the score and of every feature (deciles), which the
   daemon compares live traffic against (PSI, see README "Model lifecycle").

Versions are never overwritten. Deploy the new version with the admin routes
(POST /v1/models/deploy {"challenger": "vN"}, then /v1/models/promote).
Needs numpy and xgboost or lightgbm (Deploy/training/requirements.txt).
"""
import argparse
import csv
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def auc(y, p):
    """Mann-Whitney AUC with average ranks for ties."""
    order = np.argsort(p, kind="mergesort")
    sorted_p = p[order]
    ranks = np.empty(len(p))
    i = 0
    while i < len(p):
        j = i
        while j + 1 < len(p) and sorted_p[j + 1] == sorted_p[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    if n1 == 0 or n0 == 0:
        return float("nan")
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def histogram(values, edges=None, bins=10):
    """Osprey's binning: bin = number of edges <= value; NaN counted apart.
    Edges default to the distinct inner deciles of the values."""
    present = values[~np.isnan(values)]
    if edges is None:
        qs = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]) if len(present) else np.array([])
        edges = sorted(set(float(q) for q in qs))
    counts = np.bincount(np.searchsorted(np.array(edges), present, side="right"), minlength=len(edges) + 1)
    return {"edges": edges, "counts": [float(c) for c in counts], "missing": float(np.isnan(values).sum())}


def next_version(folder):
    numbers = [int(m.group(1)) for v in (os.listdir(folder) if os.path.isdir(folder) else []) if (m := re.fullmatch(r"v(\d+)", v))]
    return f"v{max(numbers, default=0) + 1}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="the Osprey config whose features the model reads")
    ap.add_argument("--events", required=True, help="events, one JSON object per line, in stream order")
    ap.add_argument("--labels", required=True, help="CSV with event_id,label (1 = positive)")
    ap.add_argument("--registry", required=True, help="registry folder")
    ap.add_argument("--name", required=True, help="the model's name in the registry")
    ap.add_argument("--version", help="version name (default: v<N+1>)")
    ap.add_argument("--library", choices=["xgboost", "lightgbm"], default="xgboost")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=4, help="max depth (XGBoost) / 2^depth leaves (LightGBM)")
    ap.add_argument("--learning-rate", type=float, default=0.2)
    ap.add_argument("--min-leaf-rows", type=int, default=5,
                    help="LightGBM min_data_in_leaf (its default 20 starves rare positives such as fraud)")
    ap.add_argument("--holdout", type=float, default=0.2, help="share of the latest rows kept for evaluation")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--osprey", default=os.path.join(ROOT, ".build/release/osprey"))
    args = ap.parse_args()

    checked = json.loads(subprocess.run([args.osprey, "validate", "--config", args.config, "--skip-model", "--json"],
                                        check=True, capture_output=True, text=True).stdout)
    thresholds = checked["decision"]["thresholds"]
    decline = next((t for t in thresholds if t["outcome"] == "decline"), max(thresholds, key=lambda t: t["min_score"], default=None))
    threshold = decline["min_score"] if decline else 0.5

    with tempfile.TemporaryDirectory() as tmp:
        features = os.path.join(tmp, "features.csv")
        subprocess.run([args.osprey, "backfill", "--config", args.config, "--events", args.events,
                        "--output", features, "--labels", args.labels], check=True)
        with open(features) as f:
            rows = list(csv.reader(f))
    header, rows = rows[0], [r for r in rows[1:] if r[-1] != ""]
    names = header[1:-1]
    x = np.array([[float(v) if v else np.nan for v in r[1:-1]] for r in rows], dtype=np.float64)
    y = np.array([int(float(r[-1])) for r in rows])
    cut = int(len(rows) * (1 - args.holdout))
    if cut == 0 or cut == len(rows) or y[:cut].min() == y[:cut].max():
        sys.exit(f"train.py: {len(rows)} labelled rows with {int(y.sum())} positives: too few to train and evaluate")

    if args.library == "xgboost":
        import xgboost as xgb
        train = xgb.DMatrix(x[:cut], label=y[:cut], feature_names=names, missing=np.nan)
        booster = xgb.train({"objective": "binary:logistic", "max_depth": args.depth, "eta": args.learning_rate,
                             "seed": args.seed, "nthread": 1}, train, num_boost_round=args.trees)
        predict = lambda m: booster.predict(xgb.DMatrix(m, feature_names=names, missing=np.nan))
        model_file, library_version = "model.json", xgb.__version__
        save = booster.save_model
    else:
        import lightgbm as lgb
        train = lgb.Dataset(x[:cut], label=y[:cut], feature_name=names, free_raw_data=False)
        booster = lgb.train({"objective": "binary", "num_leaves": 2 ** args.depth, "learning_rate": args.learning_rate,
                             "min_data_in_leaf": args.min_leaf_rows, "seed": args.seed, "num_threads": 1, "verbose": -1, "deterministic": True}, train, num_boost_round=args.trees)
        predict = booster.predict
        model_file, library_version = "model.txt", lgb.__version__
        save = booster.save_model

    train_scores, test_scores = predict(x[:cut]), predict(x[cut:])
    test_y = y[cut:]
    flagged = test_scores >= threshold
    eps = 1e-15
    clipped = np.clip(test_scores, eps, 1 - eps)
    metrics = {
        "auc": auc(test_y, test_scores),
        "logloss": float(-np.mean(test_y * np.log(clipped) + (1 - test_y) * np.log(1 - clipped))),
        "decline_threshold": float(threshold),
        "precision_at_decline": float(test_y[flagged].mean()) if flagged.any() else 0.0,
        "recall_at_decline": float(flagged[test_y == 1].mean()) if (test_y == 1).any() else 0.0,
        "holdout_rows": float(len(test_y)),
        "holdout_positives": float(test_y.sum()),
    }
    metrics = {k: v for k, v in metrics.items() if np.isfinite(v)}  # JSON has no NaN (AUC without positives)

    folder = os.path.join(args.registry, args.name)
    version = args.version or next_version(folder)
    target = os.path.join(folder, version)
    if os.path.exists(target):
        sys.exit(f"train.py: {target} exists; versions are never overwritten (choose another --version)")
    os.makedirs(target)
    save(os.path.join(target, model_file))
    metadata = {
        "feature_names": names,
        "model_file": model_file,
        "created_at": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "training": {
            "library": f"{args.library} {library_version}",
            "events_sha256": sha256(args.events),
            "labels_sha256": sha256(args.labels),
            "rows": str(len(rows)),
            "train_rows": str(cut),
            "positives": str(int(y.sum())),
            "params": f"trees={args.trees} depth={args.depth} learning_rate={args.learning_rate} min_leaf_rows={args.min_leaf_rows} seed={args.seed}",
        },
        "metrics": metrics,
        "reference": {
            # Training rows: the population the model learned from.
            "score": histogram(train_scores),
            "features": {name: histogram(x[:cut, i]) for i, name in enumerate(names)},
        },
    }
    with open(os.path.join(target, "metadata.json"), "w") as f:
        json.dump(metadata, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{args.name} {version}: {len(rows)} rows ({cut} to train), holdout AUC {metrics['auc']:.4f}, "
          f"precision {metrics['precision_at_decline']:.3f} / recall {metrics['recall_at_decline']:.3f} at decline >= {threshold}; wrote {target}")


if __name__ == "__main__":
    main()
