"""The CPU convolution kernels of ``cpu_conv.cc``: built once per machine, loaded, registered.

XLA:CPU's convolutions run at 45-100 GFLOP/s on these 2-core machines where a
BLAS sgemm reaches 85-90 GFLOP/s per core (``benchmarks/conv_layers.py``).
``cpu_conv.cc`` does each image's convolution as im2col over a block of output
rows small enough to stay in cache, then one OpenBLAS sgemm (the
``scipy-openblas32`` wheel), for the forward pass and for both gradients, on
XLA's own intra-op thread pool (an XLA FFI custom call).

The library is compiled with the machine's C++ compiler on first use into
``$GENJAX_KERNEL_CACHE`` (default ``~/.cache/genjax/kernels``), named by a hash
of the source, the compiler flags and jax's version, so an edit or an upgrade
rebuilds it; concurrent processes build to temporary names and rename, so they
never load a half-written file. ``available()`` is False, with
``unavailable_reason()`` saying why (no compiler, no OpenBLAS wheel, not
x86-64/aarch64 Linux), and then genjax's conv falls back to XLA's.
"""
import ctypes
import functools
import hashlib
import os
import pathlib
import platform
import shutil
import subprocess
import tempfile

import jax
import numpy as np

SOURCE = pathlib.Path(__file__).with_name("cpu_conv.cc")
TARGETS = ("genjax_conv_fwd", "genjax_conv_dx", "genjax_conv_dw")
CXXFLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-w")
_reason = []


def cache_dir():
  return pathlib.Path(os.environ.get(
      "GENJAX_KERNEL_CACHE", pathlib.Path.home() / ".cache" / "genjax" / "kernels"))


def _openblas():
  import scipy_openblas32  # the wheel named in setup.cfg
  return scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library()


def library_path(compiler, lib_dir):
  key = "\n".join([SOURCE.read_text(), " ".join(CXXFLAGS), compiler, lib_dir,
                   jax.__version__, platform.machine()])
  return cache_dir() / f"cpu_conv-{hashlib.sha256(key.encode()).hexdigest()[:16]}.so"


def build(dest, compiler, lib_dir, lib_name):
  """Compiles cpu_conv.cc into ``dest`` (atomically: build to a temp name, rename)."""
  dest.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(suffix=".so", dir=dest.parent)
  os.close(fd)
  cmd = [compiler, *CXXFLAGS, f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", tmp,
         f"-L{lib_dir}", f"-l{lib_name}", f"-Wl,-rpath,{lib_dir}"]
  try:
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    os.replace(tmp, dest)
  except subprocess.CalledProcessError as e:
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{e.stderr[-2000:]}") from e
  finally:
    if os.path.exists(tmp):
      os.unlink(tmp)


@functools.cache
def available():
  """True once the kernels are built, loaded and registered with XLA's CPU backend."""
  if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
    return _unavailable(f"no build recipe for {platform.system()}/{platform.machine()}")
  compiler = shutil.which(os.environ.get("CXX", "g++"))
  if compiler is None:
    return _unavailable("no C++ compiler (set CXX or install g++)")
  try:
    lib_dir, lib_name = _openblas()
  except ImportError:
    return _unavailable("the scipy-openblas32 wheel is not installed (pip install scipy-openblas32)")
  path = library_path(compiler, lib_dir)
  try:
    if not path.exists():
      build(path, compiler, lib_dir, lib_name)
    lib = ctypes.CDLL(str(path))
  except (OSError, RuntimeError) as e:
    return _unavailable(str(e))
  lib.genjax_conv_init()
  for name in TARGETS:
    jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, name)), platform="cpu")
  return True


def _unavailable(reason):
  _reason.append(reason)
  return False


def unavailable_reason():
  return _reason[-1] if _reason else None


def call(target, out_shape, a, b, strides, pads):
  """Runs one kernel: (a, b) float32 -> float32 ``out_shape``, for ``strides`` and low ``pads``."""
  return jax.ffi.ffi_call(
      target, jax.ShapeDtypeStruct(tuple(out_shape), np.float32),
      vmap_method="sequential")(
          a, b, sh=np.int64(strides[0]), sw=np.int64(strides[1]),
          pt=np.int64(pads[0][0]), pl=np.int64(pads[1][0]))
