"""Metric names, input checks and cached reference statistics (fake nets)."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.eval import evaluators, extract, reference
from genjax.core import sharding
from tests.helpers import run_python_result
from tests.eval.fakes import fake_net, toy_family as family


def test_metric_names_parse_with_and_without_a_feature_net():
  assert evaluators.parse("fid", "mnist") == evaluators.Spec("fid", "fid", "mnist")
  assert evaluators.parse("fid", "cifar10").net == "inception"
  assert evaluators.parse("kid_inception", "mnist").net == "inception"
  assert evaluators.parse("class_hist_fashion_mnist", "mnist").net == "fashion_mnist"
  assert evaluators.parse("elbo", "mnist") is None
  with pytest.raises(ConfigError, match="feature network.*'inceptoin'.*inception"):
    evaluators.parse("fid_inceptoin", "mnist")
  per, specs = evaluators.split_names(["elbo", "pr_mnist"], family(), "mnist")
  assert per == ["elbo"] and specs[0].kind == "pr"
  with pytest.raises(ConfigError, match="'fdi'. Did you mean 'fid'"):
    evaluators.split_names(["fdi"], family(), "mnist")


def test_start_up_checks_name_the_problem(monkeypatch):
  nets = {"mnist": fake_net(), "inception": dataclasses.replace(
      fake_net(), name="inception", num_classes=None, input_shape=None)}
  monkeypatch.setattr(evaluators, "load_feature_net", nets.__getitem__)
  spec = lambda n: evaluators.parse(n, "mnist")
  with pytest.raises(ConfigError, match="takes images of shape"):
    evaluators.check_specs([spec("fid_mnist")], family(), (32, 32, 3))
  with pytest.raises(ConfigError, match="needs class logits"):
    evaluators.check_specs([spec("is_inception")], family(), (28, 28, 1))
  with pytest.raises(ConfigError, match="unconditional"):
    evaluators.check_specs([spec("cond_acc")], family(), (28, 28, 1))
  evaluators.check_specs([spec("cond_acc"), spec("fid_inception")],
                         family(num_classes=10), (28, 28, 1))


def test_a_fixed_size_net_takes_its_channels_at_any_size_resized():
  """32x32 grey images (a StyleGAN2 of Fashion-MNIST) are resized to a 28x28
  classifier's input (antialiased bilinear); other channels are refused."""
  net = fake_net()
  extract.check_shape(net, (32, 32, 1), "here")
  with pytest.raises(ConfigError, match="takes images of shape"):
    extract.check_shape(net, (28, 28, 3), "here")
  import tensorflow as tf
  images = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype(np.float32)
  fitted = extract.fit_to_net(jnp.asarray(images), (28, 28, 1))
  assert fitted.shape == (2, 28, 28, 1)
  # the data op resize's maths: TensorFlow's antialiased bilinear resize
  want = tf.image.resize(images, (28, 28), method="bilinear", antialias=True).numpy()
  np.testing.assert_allclose(fitted, want, atol=1e-5)
  np.testing.assert_array_equal(extract.fit_to_net(fitted, (28, 28, 1)), fitted)
  assert extract.fit_to_net(images, None) is images


@pytest.fixture(scope="module")
def extractor():
  return extract.Extractor(fake_net(), sharding.make_mesh())


def test_images_of_the_wrong_dtype_or_range_are_refused(extractor):
  ok = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype(np.float32)
  assert extractor(jnp.asarray(ok))["features"].shape == (4, 16)
  with pytest.raises(extract.ImageRangeError, match="uint8.*Divide uint8 images by 255"):
    extractor(jnp.asarray((ok * 255).astype(np.uint8)))
  with pytest.raises(extract.ImageRangeError, match=r"\[-1, 1\] data"):
    extractor(jnp.asarray(ok * 2 - 1))
  with pytest.raises(extract.ImageRangeError, match=r"\[0, 255\] data"):
    extractor(jnp.asarray(ok * 255))
  with pytest.raises(extract.ImageRangeError, match="nan"):
    extractor(jnp.asarray(np.full_like(ok, np.nan)))


def test_reference_statistics_are_cached_and_a_foreign_file_is_refused(tmp_path):
  mesh = sharding.make_mesh()
  data = dict(name="mnist", preprocess=("binarize_dynamic",))
  net = fake_net()
  ref = reference.get(net, data, "test", 64, 16, mesh, directory=str(tmp_path))
  assert ref.features.shape == (64, 16)
  files = list(tmp_path.iterdir())
  assert len(files) == 1 and "mnist-test-scale-01-fake-n64" in files[0].name
  # The reference is real 8-bit data in [0,1] (scale_01), not the model's
  # binarised input: the features take more than two values.
  assert len(np.unique(ref.features[:, 0])) > 2
  again = reference.get(net, data, "test", 64, 16, mesh, directory=str(tmp_path))
  np.testing.assert_array_equal(again.features, ref.features)
  np.testing.assert_allclose(ref.mean, ref.features.mean(0), rtol=1e-5)
  other = dataclasses.replace(net, identity="fake-v2")
  with pytest.raises(reference.ReferenceMismatch,
                     match="feature_net_identity: file has 'fake-v1', wanted 'fake-v2'.*Delete"):
    reference.get(other, data, "test", 64, 16, mesh, directory=str(tmp_path))


def test_reference_ops_keep_shapes_and_read_real_pixels():
  assert reference.reference_ops(["resize(32)", "scale_pm1", "flip_lr"]) == (
      "resize(32)", "scale_01")
  assert reference.reference_ops(["dequantize"]) == ("scale_01",)


def sample_metrics(wd):
  """The sample metrics of a toy family on this process's devices (fake nets)."""
  from genjax.config import base_config
  c = base_config()
  c.eval.update(num_samples=200, sample_batch_size=40, batch_size=40,
                reference_num_examples=120, reference_dir=wd, kid_subset_size=50)
  specs = [evaluators.parse(n, "mnist") for n in
           ("fid_mnist", "kid_mnist", "pr_mnist", "is_mnist", "class_hist_mnist",
            "cond_acc_mnist")]
  ev = evaluators.SampleEvaluator(family(10), c, sharding.make_mesh(),
                                  (28, 28, 1), specs)
  return dict(devices=jax.device_count(), **ev(None, 200))


def test_sample_metrics_stream_over_devices_and_agree_with_one(tmp_path, monkeypatch):
  monkeypatch.setattr(evaluators, "load_feature_net", lambda name: fake_net())
  one = sample_metrics(str(tmp_path / "one"))     # this process: one device
  four = run_python_result(
      "import json\nfrom genjax.eval import evaluators\nfrom tests.eval import fakes\n"
      "evaluators.load_feature_net = lambda name: fakes.fake_net()\n"
      "from tests.eval.test_evaluators import sample_metrics\n"
      f"print('RESULT' + json.dumps(sample_metrics({str(tmp_path / 'four')!r})))", devices=4)
  assert (one.pop("devices"), four.pop("devices")) == (1, 4)
  assert one["num_samples"] == 200
  # Class-balanced conditional samples, each read back as its class.
  assert one["cond_acc_mnist"] == 1.0
  assert one["class_min_mnist"] == one["class_max_mnist"] == 0.1
  assert one["is_mnist"] > 9.0
  for k in ("fid_mnist", "kid_mnist", "precision_mnist", "recall_mnist"):
    assert np.isfinite(one[k])
  assert one.keys() == four.keys()
  for k in one:
    np.testing.assert_allclose(one[k], four[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_metric_lists_from_the_command_line_are_split():
  from genjax.config import split_names
  for typed in ("fid_mnist,kid_mnist", "(fid_mnist, kid_mnist)",
                ("fid_mnist", "kid_mnist"), ["('fid_mnist','kid_mnist')"]):
    assert split_names(typed) == ("fid_mnist", "kid_mnist")
  assert split_names(()) == ()


def test_training_runs_sample_metrics_periodically_and_eval_mode_appends(tmp_path):
  import json
  from genjax import main
  from tests.helpers import load_config
  c = load_config("experiments/autoencoder/vae_mnist.py")
  c.unlock()
  c.train.update(num_steps=4, eval_every=2, eval_metrics=("nelbo", "fid_mnist"),
                 eval_num_samples=32)
  c.eval.update(metrics=("kid", "class_hist"), reference_dir=str(tmp_path / "ref"))
  c.lock()
  wd = str(tmp_path / "run")
  with pytest.warns(RuntimeWarning, match="at least 129 samples"):
    main.run(c, wd, "train")
  rows = [json.loads(l) for l in open(f"{wd}/metrics.jsonl")]
  evals = [r for r in rows if "eval/fid_mnist" in r]
  assert [r["step"] for r in evals] == [2, 4]
  assert all(r["eval/num_samples"] == 32 and np.isfinite(r["eval/nelbo"]) for r in evals)
  res = main.run(c, wd, "eval")
  assert res["step"] == 4 and np.isfinite(res["kid_mnist"]) and res["kid_mnist_stderr"] > 0
  last = [json.loads(l) for l in open(f"{wd}/metrics.jsonl")][-1]
  assert last["step"] == 4 and "eval/class_hist_mnist/3" in last
  assert abs(sum(last[f"eval/class_hist_mnist/{k}"] for k in range(10)) - 1) < 1e-6


def test_conditional_fields_are_drawn_from_the_eval_split(tmp_path, monkeypatch):
  """A family that samples for ``cond_keys=('image',)`` and returns its
  condition unchanged: its "samples" are the eval split itself, so against
  the same split's reference statistics FID is 0 (up to float32 round-off)."""
  from genjax.config import base_config
  from genjax.families.base import Family
  monkeypatch.setattr(evaluators, "load_feature_net", lambda name: fake_net())
  c = base_config()
  c.data.preprocess = ("scale_01",)
  c.eval.update(num_samples=120, sample_batch_size=40, batch_size=40,
                reference_num_examples=120, reference_dir=str(tmp_path))
  seen = []

  def echo(state, rng, num, cond):
    seen.append(sorted(cond))
    return cond["image"]

  nop = lambda *a: None
  fam = Family(family="toy", model="echo", init=nop, train_step=nop, eval_metrics={},
               sample=echo, cond_keys=("image",))
  ev = evaluators.SampleEvaluator(fam, c, sharding.make_mesh(), (28, 28, 1),
                                  [evaluators.parse("fid_mnist", "mnist")])
  out = ev(None, 120)
  assert seen and all(keys == ["image"] for keys in seen)
  assert abs(out["fid_mnist"]) < 1e-2
