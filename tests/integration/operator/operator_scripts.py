"""Artifacts the end-to-end tests run as OCI job runs (standard library only, seconds each).

The emulator executes a run's artifact as a real local process, so what a script prints is what the
run's log search returns: the tests prove behaviour by reading it back through the Logging API.
"""

# The seed's flow: train a logistic regression on generated data, save the model, print metrics.
TRAIN = """\
import json, math, os, random

rng = random.Random(int(os.environ.get("SEED", "7")))
epochs = int(os.environ.get("EPOCHS", "5"))
lr = float(os.environ.get("LEARNING_RATE", "0.5"))
points = []
for _ in range(400):
    x1, x2 = rng.uniform(-2, 2), rng.uniform(-2, 2)
    points.append(((x1, x2), 1 if x1 + 0.5 * x2 > 0 else 0))
w = [0.0, 0.0, 0.0]


def predict(x):
    z = w[0] + w[1] * x[0] + w[2] * x[1]
    return 1.0 / (1.0 + math.exp(-z))


for epoch in range(1, epochs + 1):
    loss = 0.0
    for x, y in points:
        p = predict(x)
        loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
        g = p - y
        w[0] -= lr * g / len(points) * 10
        w[1] -= lr * g * x[0] / len(points) * 10
        w[2] -= lr * g * x[1] / len(points) * 10
    accuracy = sum((predict(x) > 0.5) == bool(y) for x, y in points) / len(points)
    print(f"epoch={epoch} loss={loss / len(points):.4f} accuracy={accuracy:.3f}", flush=True)
with open("model.json", "w") as f:
    json.dump({"weights": w, "accuracy": accuracy}, f)
print(f"saved model.json accuracy={accuracy:.3f} run={os.environ.get('JOB_RUN_OCID')}", flush=True)
"""

FAIL = """\
import sys
print("about to fail", flush=True)
sys.exit(int(__import__("os").environ.get("EXIT_CODE", "3")))
"""

# Prints its env marker, then waits until the test creates RELEASE_FILE (set per run), so a test can
# hold a run InProgress for as long as it needs without sleeping. Gives up after a minute on its own.
GATED = """\
import os, time
print(f"started marker={os.environ.get('MARKER', '-')} job={os.environ.get('JOB_OCID')}", flush=True)
release = os.environ.get("RELEASE_FILE", "")
deadline = time.monotonic() + float(os.environ.get("GATE_TIMEOUT", "90"))
while release and not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.1)
print(f"finished marker={os.environ.get('MARKER', '-')}", flush=True)
"""

# Proves a secret reached the run without ever printing it.
SECRET_DIGEST = """\
import hashlib, os
value = os.environ.get("API_TOKEN", "")
print(f"token_sha256={hashlib.sha256(value.encode()).hexdigest()} token_len={len(value)}", flush=True)
"""
