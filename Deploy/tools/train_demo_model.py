#!/usr/bin/env python3
"""Trains the demo models shipped with the examples, on features Osprey computed.

    python train_demo_model.py --example payments --osprey .build/release/osprey

Generates labelled synthetic events (generate_events.py), runs `osprey backfill`
with the example's config to get the exact feature vectors the daemon will
compute, trains a small XGBoost binary:logistic model on them and writes it to
Deploy/examples/<example>/model.json. Needs xgboost and numpy
(Tests/Fixtures/models/requirements.txt).
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def auc(y, p):
    order = np.argsort(p)
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--example", choices=["payments", "clicks"], required=True)
    ap.add_argument("--osprey", default=os.path.join(ROOT, ".build/release/osprey"))
    ap.add_argument("--events", type=int, default=60000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--out", help="where to write the model (default: the example's model.json)")
    args = ap.parse_args()
    config = os.path.join(ROOT, "Deploy/examples", args.example, "osprey.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        events, labels, features = (os.path.join(tmp, n) for n in ("events.jsonl", "labels.csv", "features.csv"))
        subprocess.run([sys.executable, os.path.join(HERE, "generate_events.py"), args.example, "--count", str(args.events),
                        "--entities", "3000", "--rate", "20", "--out", events, "--labels", labels], check=True)
        subprocess.run([args.osprey, "backfill", "--config", config, "--events", events, "--output", features, "--labels", labels], check=True)
        with open(features) as f:
            rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    names = header[1:-1]
    x = np.array([[float(v) if v else np.nan for v in r[1:-1]] for r in rows])
    y = np.array([int(r[-1]) for r in rows])
    cut = int(len(rows) * 0.8)
    train = xgb.DMatrix(x[:cut], label=y[:cut], feature_names=names, missing=np.nan)
    test = xgb.DMatrix(x[cut:], label=y[cut:], feature_names=names, missing=np.nan)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": args.depth, "eta": 0.2, "eval_metric": "auc", "seed": 1},
                        train, num_boost_round=args.trees)
    p = booster.predict(test)
    out = args.out or os.path.join(ROOT, "Deploy/examples", args.example, "model.json")
    booster.save_model(out)
    print(f"{args.example}: {len(rows)} rows, {y.mean():.4f} positive, holdout AUC {auc(y[cut:], p):.4f}; wrote {out}")


if __name__ == "__main__":
    main()
