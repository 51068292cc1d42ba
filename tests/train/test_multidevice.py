"""1 device vs 8 simulated CPU devices: same global batch, same losses, and
the same state: parameters, optimiser state and EMA parameters; on 8 devices
also with the state's large leaves split over ``data`` (FSDP) or over
``model`` of a 4 x 2 mesh (config.train.shard_params), which really splits
them."""
import json

import jax
import numpy as np

from genjax import main
from tests.helpers import load_config, run_python_result


def train(wd, shard_params="none", model_parallel=1):
  """Five VAE steps on whatever devices this process has; loss, parameters,
  and how many state leaves are split (a shard smaller than its leaf)."""
  c = load_config("experiments/autoencoder/vae_mnist.py")
  c.unlock()
  c.train.update(num_steps=5, batch_size=16, log_every=1, shard_params=shard_params,
                 model_parallel=model_parallel, shard_min_size=256)
  c.lock()
  state = main.run(c, wd, "train")
  rows = [json.loads(l) for l in open(wd + "/metrics.jsonl") if '"loss"' in l]
  split = sum(1 for x in jax.tree.leaves(state)
              if x.addressable_shards[0].data.size < x.size)
  parts = {"params": state.params, "opt_state": state.opt_state,
           "ema_params": state.ema_params, "step": state.step}
  flat = jax.tree_util.tree_flatten_with_path(jax.device_get(parts))[0]
  leaves = {jax.tree_util.keystr(path): np.asarray(x).ravel().tolist() for path, x in flat}
  return dict(devices=jax.device_count(), losses=[r["loss"] for r in rows],
              state=leaves, split=split)


def test_eight_devices_match_one_replicated_or_sharded(tmp_path):
  one = train(str(tmp_path / "one"))     # this process: the session's one device
  many = run_python_result(
      "import json\nfrom tests.train.test_multidevice import train\n"
      f"out = dict(none=train({str(tmp_path / 'rep')!r}),\n"
      f"           data=train({str(tmp_path / 'fsdp')!r}, 'data'),\n"
      f"           model=train({str(tmp_path / 'tp')!r}, 'model', 2))\n"
      "print('RESULT' + json.dumps(out))", devices=8, timeout=600)
  assert one["devices"] == 1 and len(one["losses"]) == 5
  assert many["none"]["split"] == 0
  assert any(k.startswith("['opt_state']") for k in one["state"])
  assert any(k.startswith("['ema_params']") for k in one["state"])
  for kind, eight in many.items():
    assert eight["devices"] == 8
    assert (eight["split"] > 0) == (kind != "none"), kind
    np.testing.assert_allclose(one["losses"], eight["losses"], rtol=1e-5)
    # The same leaves by name (none dropped or added), then the same values.
    assert sorted(one["state"]) == sorted(eight["state"])
    for key, a in one["state"].items():
      np.testing.assert_allclose(a, eight["state"][key], rtol=1e-4, atol=1e-6,
                                 err_msg=f"{kind} {key}")
