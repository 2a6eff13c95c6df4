"""Logistic regression by batch gradient descent, standard library only (no numpy needed).

Hyperparameters come from the environment (LEARNING_RATE, EPOCHS, SEED) or the command line
(--epochs, --learning-rate), so a TrainingJobRun can override them without a new artifact.
Prints the loss and accuracy of every epoch, then writes the model as JSON to MODEL_DIR
(default: the working directory of the run).
"""

import argparse
import json
import math
import os
import random

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=int(os.environ.get("EPOCHS", "20")))
parser.add_argument("--learning-rate", type=float, default=float(os.environ.get("LEARNING_RATE", "0.1")))
opts = parser.parse_args()
if opts.epochs < 1 or opts.learning_rate <= 0:
    parser.error("--epochs must be at least 1 and --learning-rate above 0")
rng = random.Random(int(os.environ.get("SEED", "7")))

# Two overlapping Gaussian blobs away from the origin: the bias has to be learnt too, so a small
# learning rate visibly lags behind a larger one within the same budget of epochs.
samples = []
for label, centre in ((0, (1.0, 1.0)), (1, (3.0, 2.5))):
    for _ in range(150):
        samples.append(((rng.gauss(centre[0], 0.8), rng.gauss(centre[1], 0.8)), label))
rng.shuffle(samples)
train, test = samples[:240], samples[240:]


def predict(w, b, x):
    z = max(-30.0, min(30.0, w[0] * x[0] + w[1] * x[1] + b))
    return 1.0 / (1.0 + math.exp(-z))


def evaluate(w, b, rows):
    loss = hits = 0.0
    for x, y in rows:
        p = min(max(predict(w, b, x), 1e-9), 1 - 1e-9)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        hits += (p >= 0.5) == (y == 1)
    return loss / len(rows), hits / len(rows)


print(f"training on {len(train)} samples: epochs={opts.epochs} learning_rate={opts.learning_rate}")
w, b = [0.0, 0.0], 0.0
for epoch in range(1, opts.epochs + 1):
    grad_w, grad_b = [0.0, 0.0], 0.0
    for x, y in train:
        err = predict(w, b, x) - y
        grad_w = [grad_w[0] + err * x[0], grad_w[1] + err * x[1]]
        grad_b += err
    n = len(train)
    w = [w[0] - opts.learning_rate * grad_w[0] / n, w[1] - opts.learning_rate * grad_w[1] / n]
    b -= opts.learning_rate * grad_b / n
    loss, acc = evaluate(w, b, train)
    print(f"epoch {epoch:3d}/{opts.epochs} loss={loss:.4f} accuracy={acc:.3f}")

test_loss, test_acc = evaluate(w, b, test)
print(f"test loss={test_loss:.4f} accuracy={test_acc:.3f}")
model = {
    "kind": "logistic-regression",
    "weights": w,
    "bias": b,
    "hyperparameters": {"epochs": opts.epochs, "learning_rate": opts.learning_rate},
    "test_accuracy": test_acc,
}
path = os.path.join(os.environ.get("MODEL_DIR", os.getcwd()), "model.json")
with open(path, "w") as out:
    json.dump(model, out, indent=2)
print(f"model saved to {path}: weights=[{w[0]:.3f}, {w[1]:.3f}] bias={b:.3f}")
