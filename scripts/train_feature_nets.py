#!/usr/bin/env python
"""Trains the FID-MNIST feature net (``genjax.eval.classifier``) of one dataset.

    python scripts/train_feature_nets.py --dataset mnist
    python scripts/train_feature_nets.py --dataset fashion_mnist

Reads the offline train and test splits through ``genjax.data.pipeline``
(preprocess ``scale_01``), quantises them with ``genjax.eval.features.quantize``
(the 8-bit levels the net sees at evaluation), trains with Adam (warm-up then
cosine decay), fixed seed, random integer shifts of up to +-2 px (MNIST), and
reports the accuracy on the whole test split. Writes
``genjax/eval/weights/<dataset>_classifier.msgpack`` (float32
``{"params", "batch_stats"}``) and ``<dataset>_classifier.json`` (test
accuracy, seed, steps, batch size, wall time, parameter count, file size,
command). Runs in a few minutes on a 2-core CPU.
"""
import argparse
import json
import os
import pathlib
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # TensorFlow: data only.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from genjax.data import pipeline  # noqa: E402
from genjax.eval import classifier  # noqa: E402
from genjax.eval.features import quantize  # noqa: E402

# Per dataset: training steps at the default batch size of 128 (3.2 and 4.3
# epochs), and the random shift augmentation in pixels (Fashion-MNIST's
# centred garments gain nothing from shifts in so short a run).
DEFAULT_STEPS = {"mnist": 1500, "fashion_mnist": 2000}
DEFAULT_MAX_SHIFT = {"mnist": 2, "fashion_mnist": 0}


def load_split(name, split, batch=1000):
  """(levels uint8 [N,28,28,1], labels int32 [N]) of a whole split."""
  cfg = pipeline.DataConfig(name=name, preprocess=("scale_01",))
  images, labels = [], []
  for b in pipeline.eval_iterator(cfg, split, batch):
    keep = b["mask"] > 0
    images.append(np.asarray(quantize(b["image"][keep])).astype(np.uint8))
    labels.append(b["label"][keep])
  return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def random_shift(key, images, max_shift):
  """Shifts each image by integer (dy, dx) in [-max_shift, max_shift] (zero fill)."""
  if max_shift == 0:
    return images
  n, h, w, _ = images.shape
  padded = jnp.pad(images, ((0, 0), (max_shift, max_shift),
                            (max_shift, max_shift), (0, 0)))
  offsets = jax.random.randint(key, (n, 2), 0, 2 * max_shift + 1)

  def crop(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0),
                                 (h, w, image.shape[-1]))
  return jax.vmap(crop)(padded, offsets)


def make_train_step(model, tx, max_shift):
  def loss_fn(params, batch_stats, x, y, dropout_key):
    (_, logits), updates = model.apply(
        {"params": params, "batch_stats": batch_stats}, x, train=True,
        rngs={"dropout": dropout_key}, mutable=["batch_stats"])
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    accuracy = jnp.mean(jnp.argmax(logits, -1) == y)
    return loss, (updates["batch_stats"], accuracy)

  @jax.jit
  def step(state, levels, labels, key):
    params, batch_stats, opt_state = state
    shift_key, dropout_key = jax.random.split(key)
    x = random_shift(shift_key, levels.astype(jnp.float32), max_shift) / 255.0
    (loss, (batch_stats, accuracy)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(params, batch_stats, x, labels, dropout_key)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return (params, batch_stats, opt_state), loss, accuracy
  return step


def evaluate(apply, variables, images, labels, batch=1000):
  correct = 0
  for i in range(0, len(images), batch):
    out = apply(variables, jnp.asarray(images[i:i + batch], jnp.float32))
    correct += int(jnp.sum(jnp.argmax(out["logits"], -1) == labels[i:i + batch]))
  return correct / len(images)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--dataset", required=True, choices=classifier.DATASETS)
  parser.add_argument("--steps", type=int, default=None,
                      help="training steps (default: %s)" % DEFAULT_STEPS)
  parser.add_argument("--batch-size", type=int, default=128)
  parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
  parser.add_argument("--warmup", type=int, default=100)
  parser.add_argument("--max-shift", type=int, default=None,
                      help="random shift augmentation in pixels (0: none; "
                      "default: %s)" % DEFAULT_MAX_SHIFT)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out-dir", default=str(classifier.WEIGHTS_DIR))
  parser.add_argument("--log-every", type=int, default=200)
  args = parser.parse_args(argv)
  name = args.dataset
  steps = args.steps or DEFAULT_STEPS[name]
  if args.max_shift is None:
    args.max_shift = DEFAULT_MAX_SHIFT[name]
  command = "python scripts/train_feature_nets.py " + " ".join(
      shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))

  t0 = time.time()
  train_x, train_y = load_split(name, "train")
  test_x, test_y = load_split(name, "test")
  print(f"{name}: train {train_x.shape}, test {test_x.shape} "
        f"(loaded in {time.time() - t0:.1f} s)", flush=True)

  model = classifier.Classifier()
  key = jax.random.PRNGKey(args.seed)
  init_key, key = jax.random.split(key)
  variables = classifier.init_variables(init_key, model)
  num_params = sum(int(np.prod(p.shape))
                   for p in jax.tree_util.tree_leaves(variables["params"]))
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, args.lr, args.warmup, steps, end_value=args.lr * 1e-3)
  tx = optax.adam(schedule)
  state = (variables["params"], variables["batch_stats"],
           tx.init(variables["params"]))
  step = make_train_step(model, tx, args.max_shift)

  rng = np.random.default_rng(args.seed)
  order, pos = rng.permutation(len(train_x)), 0
  start = time.time()
  losses, accs = [], []
  for i in range(steps):
    if pos + args.batch_size > len(order):
      order, pos = rng.permutation(len(train_x)), 0
    idx = order[pos:pos + args.batch_size]
    pos += args.batch_size
    state, loss, acc = step(state, train_x[idx], train_y[idx],
                            jax.random.fold_in(key, i))
    losses.append(loss)
    accs.append(acc)
    if (i + 1) % args.log_every == 0 or i + 1 == steps:
      print(f"step {i + 1}/{steps}  loss {float(np.mean(losses)):.4f}  "
            f"train acc {float(np.mean(accs)):.4f}  "
            f"lr {float(schedule(i)):.2e}  {time.time() - start:.0f} s",
            flush=True)
      losses, accs = [], []
  jax.block_until_ready(state)
  train_time = time.time() - start

  variables = {"params": state[0], "batch_stats": state[1]}
  data = classifier.variables_to_bytes(variables)
  # Evaluate exactly what is shipped: the restored bytes, through the loader's apply.
  restored = classifier.variables_from_bytes(data)
  apply = classifier._apply_fn()
  test_accuracy = evaluate(apply, restored, test_x, test_y)
  print(f"{name}: test accuracy {test_accuracy:.4f} on {len(test_x)} images; "
        f"trained {steps} steps in {train_time:.0f} s", flush=True)

  out_dir = pathlib.Path(args.out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  weights = out_dir / f"{name}_classifier.msgpack"
  weights.write_bytes(data)
  report = {
      "dataset": name,
      "identity": classifier.identity_of(name, data),
      "test_accuracy": round(test_accuracy, 4),
      "test_examples": int(len(test_x)),
      "train_examples": int(len(train_x)),
      "seed": args.seed,
      "steps": steps,
      "batch_size": args.batch_size,
      "epochs": round(steps * args.batch_size / len(train_x), 2),
      "optimizer": (f"adam, warmup {args.warmup} steps then cosine decay from "
                    f"peak lr {args.lr:g}"),
      "augmentation": (f"random integer shifts of +-{args.max_shift} px"
                       if args.max_shift else "none"),
      "train_wall_time_s": round(train_time, 1),
      "param_count": num_params,
      "file_bytes": len(data),
      "devices": f"{jax.default_backend()} x{jax.local_device_count()}",
      "jax_version": jax.__version__,
      "command": command,
  }
  (out_dir / f"{name}_classifier.json").write_text(
      json.dumps(report, indent=2) + "\n")
  print(f"wrote {weights} ({len(data)} bytes) and its .json", flush=True)
  return report


if __name__ == "__main__":
  main()
