"""One restoration table across methods: rows tasks, columns methods and baselines.

  python benchmarks/restoration.py --base runs/ddpm_mnist [--num 1000] \
      [--tasks sr4,inpaint_box,...] [--methods naive,ddrm,...] [--sr3 runs/sr3_mnist] \
      [--dae runs/dae_mnist] [--latent_base runs/ldm_mnist] [--out benchmarks/results/restoration_mnist.json]

For each task (degradations.TASKS, at its default measurement noise) and
each method (restore.METHODS, each with the settings of ``STEPS`` /
``OPTIONS`` below: the papers' defaults at a CPU-sized step count), the
first ``--num`` test images (``--num_slow`` for the costly DPS and RePaint)
are degraded and restored in one pass, with the model.name='restore'
family's own functions (``restore.restore_and_score``) over the locked
denoiser run ``--base``; the same images and measurement noise for every
method (the rng of batch i is fixed). Reported per cell: PSNR and SSIM
against the originals (on [0, 1]), the measurement consistency (RMS of
A x - y on the observed coordinates, on [-1, 1]), FID-MNIST of the
restorations against the test split, class preservation (the MNIST
classifier's accuracy on the restorations for the true labels) and seconds
per image (the whole pass over the images, compile included, / their
number). ``--latent_base`` adds SDEdit over a latent diffusion run
(``sdedit_ldm``: the naive restoration encoded, noised, denoised, decoded),
the one method here whose maths works in latent space. Baselines: ``naive`` (bicubic upsampling, observed-mean filling,
the pseudo-inverse, the noisy image: degradations.naive), ``sr3`` (an SR3
run trained for the task, --sr3) and ``dae`` (the denoising autoencoder run
--dae on the denoise task: deterministic, one restoration per image).
``--diversity K`` adds, for inpaint_half, the RMS distance between K
restorations of each of the first 50 images.

Cells already in --out are kept, so a table is built by passes; the one in
benchmarks/results/restoration_mnist.json (docs/results.md) came from
these, each with ``--base runs/ddpm_mnist --num 500 --num_slow 100``:

  --tasks sr4 --methods naive,ddrm,diffpir,dps,ilvr,sdedit
  --tasks inpaint_box --methods naive,replacement,repaint,ddrm,diffpir,dps
  --tasks inpaint_half --methods naive,repaint,ddrm,diffpir
  --tasks denoise --methods naive,ddrm,diffpir --dae runs/dae_mnist_s01
  --tasks deblur --methods naive,ddrm,diffpir
  --tasks sr4 --methods naive --sr3 runs/sr3_mnist
  --tasks sr4,inpaint_box --methods naive,sdedit --latent_base runs/ldm_mnist
  --tasks deblur,denoise,inpaint_half --methods dps,sdedit
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

TASKS = ("sr4", "sr2", "inpaint_box", "inpaint_half", "deblur", "denoise")
METHODS = ("naive", "replacement", "repaint", "ddrm", "diffpir", "dps", "sdedit", "ilvr")
# Which methods run on which tasks: replacement and RePaint copy the known
# pixels (inpainting); ILVR's low-pass reference is super-resolution's.
APPLIES = {"replacement": ("inpaint_box", "inpaint_half"),
           "repaint": ("inpaint_box", "inpaint_half"), "ilvr": ("sr4", "sr2")}
# Network calls are the CPU's budget: 20 steps for every method (DDRM's
# paper setting), 50 for DPS (whose paper uses 1000), RePaint's 20-step
# schedule with its paper's jumps (j = 10, r = 10: 110 calls).
STEPS = {"naive": 1, "replacement": 20, "repaint": 20, "ddrm": 20, "diffpir": 20,
         "dps": 50, "sdedit": 20, "ilvr": 20, "sr3": 20}
SLOW = ("dps", "repaint")
INPAINT_ZETA = 1.0   # DiffPIR's zeta for inpainting (its reference's); 0.1 otherwise


def applies(method, task):
  return task in APPLIES.get(method, (task,))


def method_options(method, task):
  """model.restore overrides of a cell."""
  if method == "diffpir" and task.startswith("inpaint"):
    return {"diffpir_zeta": INPAINT_ZETA}
  if method == "ilvr":
    return {"ilvr_factor": int(task[2:])}
  return {}


def cell_config(base, task, method, sr3=None, latent_base=None):
  """The restore config of a cell; method 'sdedit_ldm' is SDEdit over the
  latent base (its data range: the first stage's [0, 1])."""
  from experiments.diffusion.restore_sr4_mnist import restore_config
  if method == "sdedit_ldm":
    c = restore_config(None, task, "sdedit", STEPS["sdedit"], image_op="scale_01")
    c.deps.base.workdir = latent_base
    return c
  c = restore_config(None, task, method, STEPS[method])
  c.deps.base.workdir = sr3 if method == "sr3" else base
  c.model.restore.update(method_options(method, task))
  return c


def test_batches(config, num, batch):
  from genjax import data as data_lib
  for b in data_lib.eval_iterator(config.data, config.data.eval_split, batch,
                                  num_examples=num):
    yield {k: np.asarray(v) for k, v in b.items()}


def restorer(config):
  """(jitted (batch, rng) -> (restorations, scores), RestoreSettings)."""
  import jax
  from genjax.core import sharding
  from genjax.families.diffusion import restore
  from genjax.train import deps as deps_lib
  resolved, frozen = deps_lib.resolve(config, sharding.make_mesh())
  rs, dep, first_stage = restore.read_restore_settings(config, resolved)
  nets = restore.build_networks(rs, dep, first_stage)
  fn = jax.jit(lambda b, rng: restore.restore_and_score(rs, nets, frozen, b, rng))
  div = jax.jit(lambda b, rng: restore.diversity(rs, nets, None, b, rng, frozen))
  return fn, div


class Scorer:
  """FID-MNIST against the test split (the eval metric's reference: the
  config's reference split and count) and the classifier's accuracy."""

  def __init__(self, config):
    from genjax.core import sharding
    from genjax.eval import evaluators, extract, reference
    mesh = sharding.make_mesh()
    self.net = evaluators.load_feature_net("mnist")
    self.extractor = extract.Extractor(self.net, mesh)
    cfg, data = config.eval, config.data
    self.ref = reference.get(self.net, data, cfg.reference_split or data.eval_split,
                             cfg.reference_num_examples, cfg.batch_size, mesh,
                             directory=cfg.reference_dir or None, extractor=self.extractor)

  def __call__(self, images, labels):
    from genjax.eval import metrics
    out = {"features": [], "logits": []}
    for i in range(0, len(images), 500):
      got = self.extractor(images[i:i + 500])
      for k in out:
        out[k].append(got[k])
    feats, logits = (np.concatenate(out[k]) for k in ("features", "logits"))
    return {"fid_mnist": float(metrics.fid(self.ref.features, feats)),
            "class_preservation": float(np.mean(logits.argmax(-1) == labels))}


def run_cell(fn, config, num, batch):
  import jax
  t0, images, labels, scores = time.time(), [], [], {}
  for i, b in enumerate(test_batches(config, num, batch)):
    valid = b.pop("valid") > 0
    out, s = jax.device_get(fn(b, jax.random.PRNGKey(i)))
    images.append(np.asarray(out)[valid])
    labels.append(b["label"][valid])
    for k, v in s.items():
      scores.setdefault(k, []).append(np.asarray(v)[valid])
  seconds = time.time() - t0
  images, labels = np.concatenate(images), np.concatenate(labels)
  row = {k: float(np.mean(np.concatenate(v))) for k, v in scores.items()}
  row.update(num=int(len(labels)), seconds_per_image=seconds / len(labels))
  return row, images, labels


def dae_restorer(dae_dir, config):
  """The denoising autoencoder run as a restorer of the denoise task: the
  same measurements as the methods' (restore.degrade_and_restore's rng
  split), mapped to its [0, 1] input, reconstructed."""
  import jax
  import jax.numpy as jnp
  import genjax
  from genjax.eval import image_quality
  from genjax.families.diffusion import degradations
  run = genjax.load(dae_dir)
  bundle = {"trained": run.family.trained(run.state, True), "deps": {}}
  encode, decode = run.family.exports["encode"], run.family.exports["decode"]
  sigma_y = degradations.TASKS["denoise"].sigma_y

  def fn(b, rng):
    op_rng, noise_rng, _ = jax.random.split(rng, 3)
    x = jnp.asarray(b["image"])
    op = degradations.make_operator("denoise", x.shape, rng=op_rng)
    y = degradations.measure(op, x, sigma_y, noise_rng)
    out = jnp.clip(decode(bundle, encode(bundle, 0.5 * (y + 1.0))), 0.0, 1.0)
    clean = 0.5 * (x + 1.0)
    return out, {"psnr": image_quality.psnr(out, clean, 1.0),
                 "ssim": image_quality.ssim(out, clean, 1.0),
                 "consistency": jnp.sqrt(jnp.mean(jnp.square(2 * out - 1 - y),
                                                  axis=(1, 2, 3)))}
  return jax.jit(fn)


def table(results, tasks, columns):
  """Markdown: a row per task, a cell 'PSNR / SSIM / FID / class%' per column."""
  lines = ["| task | " + " | ".join(columns) + " |",
           "|---|" + "---|" * len(columns)]
  for task in tasks:
    cells = []
    for m in columns:
      r = results.get(task, {}).get(m)
      cells.append("" if r is None else
                   f"{r['psnr']:.2f} / {r['ssim']:.3f} / {r['fid_mnist']:.1f} / "
                   f"{100 * r['class_preservation']:.1f}% / {r['seconds_per_image']:.3f}s")
    lines.append(f"| {task} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--base", default="runs/ddpm_mnist")
  p.add_argument("--num", type=int, default=1000)
  p.add_argument("--num_slow", type=int, default=200)
  p.add_argument("--batch", type=int, default=250)
  p.add_argument("--tasks", default=",".join(TASKS))
  p.add_argument("--methods", default=",".join(METHODS))
  p.add_argument("--sr3", default="")
  p.add_argument("--dae", default="")
  p.add_argument("--latent_base", default="", help="an ldm run: SDEdit over it (sdedit_ldm)")
  p.add_argument("--latent_tasks", default="sr4,inpaint_box")
  p.add_argument("--diversity", type=int, default=4)
  p.add_argument("--out", default="")
  args = p.parse_args()
  import jax
  tasks, methods = args.tasks.split(","), args.methods.split(",")
  results = json.load(open(args.out)) if args.out and os.path.exists(args.out) else {}
  scorer = None
  for task in tasks:
    cells = [m for m in methods if applies(m, task)]
    if args.sr3 and task == "sr4":
      cells.append("sr3")
    if args.dae and task == "denoise":
      cells.append("dae")
    if args.latent_base and task in args.latent_tasks.split(","):
      cells.append("sdedit_ldm")
    for method in cells:
      if method in results.get(task, {}):   # measured by an earlier pass: kept
        continue
      config = cell_config(args.base, task, "naive" if method == "dae" else method, args.sr3,
                           args.latent_base)
      if method == "dae":
        fn, div = dae_restorer(args.dae, config), None
      else:
        fn, div = restorer(config)
      scorer = scorer or Scorer(config)
      num = args.num_slow if method in SLOW else args.num
      row, images, labels = run_cell(fn, config, num, args.batch)
      row.update(scorer(images, labels), steps=STEPS.get(method.split("_")[0], 1),
                 options=method_options(method, task))
      if task == "inpaint_half" and div is not None and method != "naive":
        batch = next(test_batches(config, 50, 50))
        batch.pop("valid")
        row["diversity"] = float(np.mean(jax.device_get(div(batch, jax.random.PRNGKey(0)))))
      results.setdefault(task, {})[method] = row
      print(task, method, json.dumps({k: v for k, v in row.items() if k != "options"}),
            flush=True)
      if args.out:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
          json.dump(dict(results, command=" ".join(sys.argv),
                         machine="2-core CPU"), f, indent=1)
  columns = [m for m in METHODS + ("sr3", "dae", "sdedit_ldm") if any(m in results.get(t, {})
                                                       for t in tasks)]
  print(table(results, tasks, columns))


if __name__ == "__main__":
  main()
