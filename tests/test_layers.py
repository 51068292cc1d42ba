"""The package's layers (docs/architecture.md): no import circles, and each
layer imports only the layers below it.

The imports are read from the source (every ``import`` statement, including
those inside functions, and the ``"module:attribute"`` names of the
registry's tables), so a circle that only closes at run time is caught too.
"""
import ast
import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "genjax")

# layer -> the genjax layers it may import (besides itself). The order is the
# one docs/architecture.md draws: main, api -> train -> registry / families -> nn,
# with data, eval and core beside.
ALLOWED = {
    "errors": set(),
    "config": {"errors"},
    "core": {"errors"},
    "kernels": set(),                     # native kernels (genjax/kernels), under nn
    "nn": {"errors", "kernels"},
    "data": {"errors", "config"},
    "eval": {"errors", "config", "core", "nn", "data"},
    "families": {"errors", "config", "core", "nn", "data", "eval"},
    "registry": {"errors", "families"},   # by name, on use (its tables)
    "train": {"errors", "config", "core", "nn", "data", "eval", "families", "registry"},
    "main": {"errors", "config", "train"},
    "api": {"errors", "config", "core", "families", "train"},   # genjax.load
}


def _module_name(path):
  rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
  return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def _modules():
  out = {}
  for folder, _, files in os.walk(ROOT):
    for f in files:
      if f.endswith(".py"):
        out[_module_name(os.path.join(folder, f))] = os.path.join(folder, f)
  return out


MODULES = _modules()
TABLE_ENTRY = re.compile(r"genjax(\.\w+)+:\w+")   # "genjax.eval.inception:load_inception"


def _imports(path):
  """The genjax modules ``path`` imports (a ``from pkg import name`` counts
  as importing ``pkg.name`` when that is a module, else ``pkg``)."""
  found = set()
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name.split(".")[0] == "genjax"}
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
        and node.module.split(".")[0] == "genjax":
      for a in node.names:
        sub = f"{node.module}.{a.name}"
        found.add(sub if sub in MODULES else node.module)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
        and TABLE_ENTRY.fullmatch(node.value):
      found.add(node.value.split(":")[0])   # registry tables: imported on use
  return {m for m in found if m in MODULES}


GRAPH = {m: _imports(p) for m, p in MODULES.items()}


def _layer(module):
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else None


def find_cycles(graph):
  """Every import circle of ``graph`` (module -> modules), each as a path."""
  cycles, state, stack = [], {}, []

  def visit(m):
    state[m] = "open"
    stack.append(m)
    for n in sorted(graph.get(m, ())):
      if state.get(n) == "open":
        cycles.append(stack[stack.index(n):] + [n])
      elif n not in state:
        visit(n)
    stack.pop()
    state[m] = "done"

  for m in sorted(graph):
    if m not in state:
      visit(m)
  return cycles


def test_find_cycles_finds_a_planted_circle():
  graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
  assert find_cycles(graph) == [["a", "b", "c", "a"]]
  assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_is_read():
  assert "genjax.core.state" in GRAPH["genjax.core.step"]
  assert "genjax.eval.evaluators" in GRAPH["genjax.train.loop"]
  assert "genjax.families.gan.family" in GRAPH["genjax.registry"]   # by name
  assert "genjax.eval.inception" in GRAPH["genjax.eval.features"]    # by name


def test_no_module_imports_another_that_imports_it_back():
  assert find_cycles(GRAPH) == []


def test_every_module_belongs_to_a_layer():
  layers = {_layer(m) for m in MODULES} - {None, "__init__"}
  assert layers <= set(ALLOWED), sorted(layers - set(ALLOWED))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_the_layers_below_it(layer):
  bad = sorted(f"{m} imports {n}" for m, ns in GRAPH.items() if _layer(m) == layer
               for n in ns if _layer(n) not in ALLOWED[layer] | {layer, None})
  assert bad == []


def test_train_and_eval_import_each_other_one_way():
  assert not any(_layer(n) == "train" for m, ns in GRAPH.items()
                 if _layer(m) == "eval" for n in ns)
