"""The results table command over synthetic workdirs."""
import json
import os

import pytest

from genjax.train import results


def make_workdir(path, experiment, evals):
  os.makedirs(path)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump({"family": "autoencoder"}, f)
  rows = [{"step": 100, "loss": 3.0, "images_seen": 1600, "train_time_s": 60.0},
          {"step": 200, "loss": 2.0, "images_seen": 3200, "train_time_s": 120.0}]
  for step, values in evals:
    rows.append(dict({"step": step}, **{f"eval/{k}": v for k, v in values.items()}))
  with open(os.path.join(path, "metrics.jsonl"), "w") as f:
    f.write("\n".join(json.dumps(r) for r in rows) + "\n")
  with open(os.path.join(path, "commands.log"), "w") as f:
    f.write(json.dumps({"mode": "train", "argv": [
        "launch.py", "--config", experiment, "--workdir", path]}) + "\n")


def test_table_has_one_row_per_run_with_latest_metrics_and_plots(tmp_path, capsys):
  make_workdir(str(tmp_path / "runs" / "a"), "experiments/x/a.py",
               [(100, {"fid_mnist": 9.0}), (200, {"fid_mnist": 4.5, "fid_mnist_stderr": 0.1})])
  make_workdir(str(tmp_path / "runs" / "nested" / "b"), "experiments/x/b.py",
               [(200, {"kid_mnist": 0.01, "num_samples": 1000})])
  out = tmp_path / "table.md"
  assert results.main([str(tmp_path / "runs"), "--out", str(out)]) == 0
  table = capsys.readouterr().out
  lines = table.strip().splitlines()
  assert lines[0] == "| experiment | step | images seen | train min | fid_mnist | kid_mnist |"
  assert len(lines) == 4
  assert "`experiments/x/a.py` | 200 | 3,200 | 2 | 4.5 ± 0.1 | – |" in lines[2]
  assert "| – | 0.01 |" in lines[3]
  assert out.read_text().strip() == table.strip()
  assert (tmp_path / "runs" / "a" / "metrics.png").stat().st_size > 1000
  assert (tmp_path / "runs" / "nested" / "b" / "metrics.png").exists()


def test_no_workdirs_is_a_clear_error(tmp_path):
  with pytest.raises(SystemExit, match="no workdirs"):
    results.main([str(tmp_path)])


def test_compare_overlays_training_and_eval_metrics_of_all_runs(tmp_path):
  for name in ("none", "ada"):
    make_workdir(str(tmp_path / name), f"experiments/x/{name}.py",
                 [(100, {"fid_mnist": 9.0}), (200, {"fid_mnist": 5.0})])
  runs = [results.summarize(str(tmp_path / n)) for n in ("none", "ada")]
  assert results._series(runs[0], "loss") == [(100, 3.0), (200, 2.0)]   # training rows
  assert results._series(runs[0], "fid_mnist") == [(100, 9.0), (200, 5.0)]
  assert results._series(runs[0], "eval/fid_mnist") == [(100, 9.0), (200, 5.0)]
  assert results._series(runs[0], "eval/loss") == []
  out = tmp_path / "cmp.png"
  assert results.main([str(tmp_path), "--compare", "loss,fid_mnist",
                       "--compare-out", str(out)]) == 0
  assert out.stat().st_size > 1000
  with pytest.raises(SystemExit, match="none of the runs has r_t"):
    results.main([str(tmp_path), "--compare", "r_t", "--compare-out", str(out)])


def test_keep_copies_the_rows_and_the_kept_copy_gives_the_same_table(tmp_path, capsys):
  make_workdir(str(tmp_path / "runs" / "a"), "experiments/x/a.py",
               [(200, {"fid_mnist": 4.5, "fid_mnist_stderr": 0.1})])
  (tmp_path / "runs" / "a" / "checkpoints").mkdir()        # not copied
  kept = tmp_path / "kept"
  assert results.main([str(tmp_path / "runs"), "--keep", str(kept),
                       "--plots", str(tmp_path / "p")]) == 0
  first = capsys.readouterr().out
  assert sorted(os.listdir(kept / "a")) == ["commands.log", "config.json", "metrics.jsonl"]
  assert (kept / "a" / "metrics.jsonl").read_text() == \
      (tmp_path / "runs" / "a" / "metrics.jsonl").read_text()
  assert results.main([str(kept), "--plots", str(tmp_path / "p")]) == 0
  assert capsys.readouterr().out == first
