"""Read the tensors of a TorchScript / ``torch.save`` zip archive WITHOUT torch.

A TorchScript file is a zip archive ``<name>/data.pkl`` (the module tree as a
pickle), ``<name>/data/<key>`` (raw little-endian tensor storages) plus code
we never run. Unpickling arbitrary pickles executes arbitrary code, so
``data.pkl`` is read with a RESTRICTED unpickler that admits only:

  * ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` (rebuilt here
    as numpy arrays with the stored shape, strides and offset),
  * the typed storage names (``torch.FloatStorage`` ...), mapped to numpy dtypes,
  * ``collections.OrderedDict`` and TorchScript's typed-list builders
    (``torch.jit._pickle.build_intlist`` ..., rebuilt as plain lists),
  * TorchScript module classes ``__torch__.*``, which become inert attribute
    containers (``TorchScriptObject``) recording their pickled state.

Any other global (``os.system``, ``builtins.eval``, ...) raises
``UnsafePickleError`` naming it. ``pickle.load`` is never used.

    tensors = load_torchscript_tensors("model.pt")   # {"net.layers.conv.weight": ndarray}
"""
import collections
import io
import pickle
import zipfile
from typing import Any, Dict

import numpy as np

# torch storage type name -> numpy dtype (little-endian, as torch writes them).
STORAGE_DTYPES = {
    "DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2",
    "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


class UnsafePickleError(pickle.UnpicklingError):
  """A pickle asked for a global outside the restricted allow-list."""


class _StorageType:
  """Stands for ``torch.<X>Storage`` in a persistent id: only carries the dtype."""

  def __init__(self, name):
    self.name = name
    self.dtype = np.dtype(STORAGE_DTYPES[name])


class TorchScriptObject:
  """Inert stand-in for a TorchScript module class ``__torch__.*``.

  Holds the pickled state (a dict of attributes, or whatever ``__setstate__``
  got) and nothing else: no code of the archive is run.
  """
  ts_class = "__torch__"

  def __init__(self, *args, **kwargs):   # NEWOBJ args are ignored
    self.state = {}

  def __setstate__(self, state):
    self.state = state

  def __repr__(self):
    return f"<TorchScriptObject {self.ts_class}>"


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
  """numpy version of ``torch._utils._rebuild_tensor_v2`` (strides in elements)."""
  size, stride = tuple(size), tuple(stride)
  needed = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
  if any(n == 0 for n in size):
    return np.zeros(size, storage.dtype)
  if storage_offset < 0 or needed > storage.size or min(stride, default=0) < 0:
    raise pickle.UnpicklingError(
        f"tensor view (offset {storage_offset}, size {size}, stride {stride}) "
        f"does not fit its storage of {storage.size} elements")
  flat = storage[storage_offset:]
  view = np.lib.stride_tricks.as_strided(
      flat, size, tuple(s * storage.itemsize for s in stride), writeable=False)
  return np.array(view, order="C")   # a C-contiguous, writeable copy


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
  return data


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    # TorchScript's typed lists (List[int] attributes such as a conv padding).
    ("torch.jit._pickle", "build_intlist"): list,
    ("torch.jit._pickle", "build_doublelist"): list,
    ("torch.jit._pickle", "build_boollist"): list,
}


class RestrictedUnpickler(pickle.Unpickler):
  """Unpickler admitting only tensor rebuilding and inert ``__torch__`` classes."""

  def __init__(self, file, read_storage):
    super().__init__(file)
    self._read_storage = read_storage   # (key, dtype, numel) -> 1-d ndarray
    self._classes = {}

  def find_class(self, module, name):
    if (module, name) in _ALLOWED:
      return _ALLOWED[(module, name)]
    if module == "torch" and name in STORAGE_DTYPES:
      return _StorageType(name)
    if module == "__torch__" or module.startswith("__torch__."):
      qual = f"{module}.{name}"
      if qual not in self._classes:   # one inert subclass per class, for its name
        self._classes[qual] = type(name, (TorchScriptObject,), {"ts_class": qual})
      return self._classes[qual]
    raise UnsafePickleError(
        f"refused to unpickle global '{module}.{name}': only torch tensor "
        "rebuilding, storage types, collections.OrderedDict, TorchScript "
        "typed lists and __torch__.* module classes are allowed")

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)):
      raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
    _, storage_type, key, _location, numel = pid
    return self._read_storage(str(key), storage_type.dtype, int(numel))


def _read_archive(path):
  """(root object of ``data.pkl``) of the zip archive at ``path``."""
  with zipfile.ZipFile(path) as zf:
    names = zf.namelist()
    pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pkls) != 1:
      raise ValueError(f"{path}: expected one '<name>/data.pkl' in the archive, "
                       f"found {pkls}")
    prefix = pkls[0][:-len("data.pkl")]
    cache = {}

    def read_storage(key, dtype, numel):
      if key not in cache:
        raw = zf.read(f"{prefix}data/{key}")
        if len(raw) < numel * dtype.itemsize:
          raise pickle.UnpicklingError(
              f"storage {key}: {len(raw)} bytes < {numel} x {dtype}")
        cache[key] = np.frombuffer(raw, dtype, count=numel)
      return cache[key]

    return RestrictedUnpickler(io.BytesIO(zf.read(pkls[0])), read_storage).load()


def load_torchscript(path) -> Any:
  """The module tree of a TorchScript archive as ``TorchScriptObject``s (inert)."""
  return _read_archive(path)


def flatten_tensors(obj, prefix="") -> Dict[str, np.ndarray]:
  """{dotted attribute path: ndarray} of every tensor in a module tree."""
  out = {}
  items = obj.state.items() if isinstance(obj, TorchScriptObject) else (
      obj.items() if isinstance(obj, dict) else ())
  for key, value in items:
    name = f"{prefix}{key}"
    if isinstance(value, np.ndarray):
      out[name] = value
    elif isinstance(value, (TorchScriptObject, dict)):
      out.update(flatten_tensors(value, name + "."))
  return out


def load_torchscript_tensors(path) -> Dict[str, np.ndarray]:
  """All tensors of a TorchScript archive, named like ``net.layers.conv.weight``."""
  return flatten_tensors(load_torchscript(path))
