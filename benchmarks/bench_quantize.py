"""Quantize MobileNetV1 0.25/128 into every mode: edgeq against a plain TF converter script.

    .venv/bin/python benchmarks/bench_quantize.py [--trials 1]

edgeq: `quantize(model, all Keras modes, calib="random")`, one TensorFlow child
(sidecars, compatibility checks and int4 through ai-edge-quantizer included).
Plain alternative: one `python` script that imports TensorFlow and calls
tf.lite.TFLiteConverter for fp32, fp16, dynamic, int8 and int16x8 (it has no
int4-weights and no QAT). Goal: edgeq under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from edgeq import zoo
from edgeq.quantize import quantize

MODES = ["fp32", "fp16", "dynamic", "int8", "int16x8", "int4-weights"]
PLAIN = '''
import sys, numpy as np, tensorflow as tf, tf_keras
model = tf_keras.models.load_model(sys.argv[1], compile=False)
calib = np.random.default_rng(0).uniform(-1, 1, (32, 128, 128, 3)).astype(np.float32)
def data():
    for row in calib:
        yield [row[None]]
for mode in ("fp32", "fp16", "dynamic", "int8", "int16x8"):
    c = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "fp32":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "fp16":
        c.target_spec.supported_types = [tf.float16]
    if mode in ("int8", "int16x8"):
        c.representative_dataset = data
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if mode == "int8" else
                                       tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    open(f"{sys.argv[2]}/{mode}.tflite", "wb").write(c.convert())
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = zoo.build_keras("keras-mobilenet_v1", Path(tmp, "mnv1.keras"), alpha=0.25, resolution=128)["model"]
        edgeq_s, plain_s = [], []
        for trial in range(args.trials):
            t0 = time.perf_counter_ns()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                made = quantize(model, MODES, "random", Path(tmp, f"edgeq{trial}"))
            edgeq_s.append((time.perf_counter_ns() - t0) / 1e9)
            plain_dir = Path(tmp, f"plain{trial}")
            plain_dir.mkdir()
            t0 = time.perf_counter_ns()
            subprocess.run([sys.executable, "-c", PLAIN, str(model), str(plain_dir)], check=True,
                           capture_output=True, env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))
            plain_s.append((time.perf_counter_ns() - t0) / 1e9)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, trials {args.trials}")
    print("| what | modes | median s | ratio edgeq/plain |")
    print("| --- | --- | --- | --- |")
    e, p = statistics.median(edgeq_s), statistics.median(plain_s)
    print(f"| edgeq quantize | {', '.join(MODES)} | {e:.1f} | {e / p:.2f} |")
    print(f"| plain TF converter script | fp32, fp16, dynamic, int8, int16x8 | {p:.1f} | 1.00 |")
    print("sizes KB: " + ", ".join(f"{v.mode} {v.size_bytes / 1024:.1f}" for v in made))


if __name__ == "__main__":
    main()
