"""benchmarks/peers.py without torch: the genjax side's parameter counts, the
harness's statistics, checks, JSON and worker protocol, and the error for a
missing benchmark venv."""
import importlib.util
import json
import os
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(name, path):
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


peers = _load("peers_harness", "benchmarks/peers.py")   # puts benchmarks/peers on sys.path
import genjax_side  # noqa: E402
import peer_inputs  # noqa: E402


@pytest.mark.parametrize("case", ["unet", "dcgan", "vae"])
def test_genjax_side_has_the_documented_parameter_counts(case):
  assert genjax_side.param_counts(case) == genjax_side.PARAM_COUNTS[case]


def test_the_unet_is_the_briefed_one():
  config = genjax_side.case_config("ddim")
  assert genjax_side.PARAM_COUNTS["unet"] == {"unet": 1_112_801}
  assert tuple(config.model.ch_mult) == (1, 2, 2) and config.model.ch == 32
  assert (config.sample.sampler, config.sample.steps, config.sample.eta) == ("ddim", 50, 0.0)
  assert config.train.batch_size == peer_inputs.BATCH["ddim"] == 64


def test_zero_kernels_are_redrawn_for_the_forward_check():
  params = {"a": {"kernel": np.zeros((3, 3, 4, 8), np.float32),
                  "bias": np.zeros((8,), np.float32)},
            "b": {"kernel": np.ones((4, 2), np.float32)}}
  out = genjax_side.glorot_everywhere(params)
  assert np.std(out["a"]["kernel"]) > 0
  assert not np.any(out["a"]["bias"]) and np.all(out["b"]["kernel"] == 1)


def test_check_inputs_are_deterministic_and_in_range():
  a, b = peer_inputs.check_inputs("dcgan", 4), peer_inputs.check_inputs("dcgan", 4)
  assert all(np.array_equal(a[k], b[k]) for k in a)
  assert a["x"].shape == (4, 28, 28, 1) and a["z"].shape == (4, 100)
  vae = peer_inputs.train_batch("vae", 3)["image"]
  assert set(np.unique(vae)) <= {0.0, 1.0}
  unet = peer_inputs.train_batch("unet", 3)["image"]
  assert unet.min() >= -1 and unet.max() <= 1
  with pytest.raises(ValueError, match="unknown case"):
    peer_inputs.check_inputs("gan", 2)


def test_summarise_takes_medians_and_the_ratio():
  out = peers.summarise([2.0, 1.0, 9.0], [4.0, 3.0, 5.0], steps=10, batch=8)
  assert out["genjax_images_per_sec"] == 40.0      # 80 images / median 2 s
  assert out["torch_images_per_sec"] == 20.0
  assert out["ratio_genjax_over_torch"] == 2.0
  assert out["genjax_window_s"] == [2.0, 1.0, 9.0]


def test_windows_alternate_after_one_warm_up_each():
  calls = []
  g = lambda n: calls.append(("g", n)) or 1.0
  t = lambda n: calls.append(("t", n)) or 2.0
  genjax_s, torch_s = peers.alternate(g, t, windows=3, steps=4)
  assert [c for c, _ in calls] == ["g", "t"] * 4 and {n for _, n in calls} == {4}
  assert genjax_s == [1.0] * 3 and torch_s == [2.0] * 3


def test_agreement_of_forward_checks():
  g = {"shape": [2, 28, 28, 1], "std": {"a": 0.5, "b": 0.0}}
  assert peers.agreement(g, {"shape": [2, 28, 28, 1], "std": {"a": 0.06, "b": 0.0}})["ok"]
  off = peers.agreement(g, {"shape": [2, 28, 28, 1], "std": {"a": 0.04, "b": 0.0}})
  assert not off["ok"] and not off["std"]["a"]["within"] and off["std"]["b"]["within"]
  assert not peers.agreement(g, {"shape": [2, 1, 28, 28], "std": g["std"]})["ok"]


def test_cases_flag():
  assert peers.parse_args(["--cases", "ddim,unet"]).cases == ("ddim", "unet")
  assert peers.parse_args([]).cases == peers.CASES
  with pytest.raises(ValueError, match="choose from"):
    peers.parse_cases("unet,gan")


def test_missing_bench_venv_names_the_setup_script(tmp_path, capsys):
  missing = str(tmp_path / "no-venv" / "bin" / "python")
  with pytest.raises(peers.BenchVenvMissing, match="benchmarks/peers/setup.sh"):
    peers.check_torch_python(missing)
  assert peers.main(["--torch_python", missing]) == 2
  assert "benchmarks/peers/setup.sh" in capsys.readouterr().err


def test_worker_protocol_with_a_stub_worker(tmp_path):
  stub = tmp_path / "stub_worker.py"
  stub.write_text(textwrap.dedent("""
      import json, sys
      for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "quit":
          break
        reply = {"seconds": 0.5 * msg["steps"]} if msg["cmd"] == "run" else {"error": "boom"}
        print(json.dumps(reply), flush=True)
  """))
  worker = peers.TorchWorker(sys.executable, 2, worker=str(stub))
  try:
    assert worker.request(cmd="run", case="vae", steps=4) == {"seconds": 2.0}
    with pytest.raises(RuntimeError, match="boom"):
      worker.request(cmd="build", case="vae")
  finally:
    worker.close()
  assert worker.proc.returncode == 0


def test_json_table_and_machine_info(tmp_path):
  row = dict(case="vae", batch=128, params_genjax={"vae": 397_985},
             params_torch={"vae": 397_985}, forward_check={"ok": True},
             **peers.summarise([1.0], [2.0], 1, 128))
  text = peers.table([row])
  assert "397,985" in text and "2.00" in text and "ok" in text
  machine = peers.machine_info({"torch": "2.13.0", "diffusers": "0.39.0", "threads": 2})
  assert machine["nproc"] >= 1 and machine["jax_device_count"] >= 1 and machine["date"]
  path = tmp_path / "results" / "peers_cpu.json"
  peers.write_json(str(path), {"machine": machine, "results": [row]})
  assert json.loads(path.read_text())["results"][0]["ratio_genjax_over_torch"] == 2.0


def test_cpu_model_reads_cpuinfo(tmp_path):
  info = tmp_path / "cpuinfo"
  info.write_text("processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\n")
  assert peers.cpu_model(str(info)) == "Some CPU @ 2.0GHz"
  assert peers.cpu_model(str(tmp_path / "missing"))
