"""1 device vs 8 simulated CPU devices: same global batch, same losses, and
the same state: parameters, optimiser state and EMA parameters."""
import json

import jax
import numpy as np

from genjax import main
from tests.helpers import load_config, run_python_result


def train(wd):
  """Five VAE steps on whatever devices this process has; loss and parameters."""
  c = load_config("experiments/autoencoder/vae_mnist.py")
  c.unlock()
  c.train.update(num_steps=5, batch_size=16, log_every=1)
  c.lock()
  state = main.run(c, wd, "train")
  rows = [json.loads(l) for l in open(wd + "/metrics.jsonl") if '"loss"' in l]
  parts = {"params": state.params, "opt_state": state.opt_state,
           "ema_params": state.ema_params, "step": state.step}
  flat = jax.tree_util.tree_flatten_with_path(jax.device_get(parts))[0]
  leaves = {jax.tree_util.keystr(path): np.asarray(x).ravel().tolist() for path, x in flat}
  return dict(devices=jax.device_count(), losses=[r["loss"] for r in rows], state=leaves)


def test_eight_devices_match_one(tmp_path):
  one = train(str(tmp_path / "one"))     # this process: the session's one device
  eight = run_python_result(
      "import json\nfrom tests.train.test_multidevice import train\n"
      f"print('RESULT' + json.dumps(train({str(tmp_path / 'eight')!r})))", devices=8)
  assert one["devices"] == 1 and eight["devices"] == 8
  assert len(one["losses"]) == 5
  np.testing.assert_allclose(one["losses"], eight["losses"], rtol=1e-5)
  # The same leaves by name (none dropped or added), then the same values.
  assert sorted(one["state"]) == sorted(eight["state"])
  assert any(k.startswith("['opt_state']") for k in one["state"])
  assert any(k.startswith("['ema_params']") for k in one["state"])
  for key, a in one["state"].items():
    np.testing.assert_allclose(a, eight["state"][key], rtol=1e-4, atol=1e-6, err_msg=key)
