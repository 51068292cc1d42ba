"""Named preprocessing ops, written as specs like ``"resize(32)"``.

A config lists ops as strings (``data.preprocess = ['resize(32)', 'flip_lr',
'scale_pm1']``), in big_vision's style: ``"name"`` or ``"name(arg, ...)"``
with Python literals as arguments, keywords allowed. ``parse_ops`` turns
them into ``Op`` objects; ``apply_ops`` runs them.

Every op is a pure TensorFlow function of an example dict and a stateless
seed (int32/int64 tensor of shape [2]): it works eagerly and inside tf.data,
on a batch (``image`` [B,H,W,C]) and on a single example ([H,W,C]), and the
same seed gives the same result. Only ``image`` is changed; other keys pass
through. Images enter as uint8 in [0,255].

At most one *value* op (``scale_01``, ``scale_pm1``, ``dequantize``,
``binarize_dynamic``, ``binarize_static``) may appear, since each maps the
[0,255] pixels to the model's range; ``resize`` and ``flip_lr`` go anywhere.
Without a value op the model sees float32 pixels in [0,255].
Ops with ``train_only=True`` (augmentations such as ``flip_lr``) are skipped
at evaluation (``apply_ops(..., train=False)``).
"""
import ast
import dataclasses
import inspect
from typing import Any, Callable, Optional, Tuple

from genjax.data._tf import tf
from genjax.errors import ConfigError, unknown_name


def _pixels(image):
  """The image as float32 pixel values (uint8 [0,255] -> float [0,255])."""
  return tf.cast(image, tf.float32)


def _uniform(image, seed):
  return tf.random.stateless_uniform(tf.shape(image), seed, dtype=tf.float32)


def scale_01(image, seed):
  """Pixels to [0,1]: x / 255."""
  del seed
  return _pixels(image) / 255.0


def scale_pm1(image, seed):
  """Pixels to [-1,1]: x / 127.5 - 1."""
  del seed
  return _pixels(image) / 127.5 - 1.0


def dequantize(image, seed):
  """Uniform dequantisation: (x + u) / 256 with u ~ U[0,1), in [0,1).

  ``floor(256 * y) == x`` holds exactly (the sum is clamped below x + 1,
  which float32 rounding could otherwise reach for x near 255).
  """
  x = _pixels(image)
  y = tf.minimum(x + _uniform(image, seed), tf.math.nextafter(x + 1.0, x))
  return y / 256.0


def binarize_dynamic(image, seed):
  """Dynamic binarisation: a Bernoulli(x / 255) sample in {0., 1.}.

  A fresh sample each time the example is seen (it depends on the seed).
  """
  return tf.cast(_uniform(image, seed) < _pixels(image) / 255.0, tf.float32)


def binarize_static(image, seed, threshold=0.5):
  """Static binarisation: 1. where x / 255 > threshold, else 0."""
  del seed
  return tf.cast(_pixels(image) / 255.0 > threshold, tf.float32)


def resize(image, seed, h, w=None):
  """Bilinear resize to [h, w] (w defaults to h), antialiased when shrinking.

  A uint8 image stays uint8 (rounded), so a later value op still sees
  [0,255]; a float image stays float32.
  """
  del seed
  out = tf.image.resize(_pixels(image), (h, w or h), method="bilinear",
                        antialias=True)
  if image.dtype == tf.uint8:
    out = tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)
  return out


def flip_lr(image, seed):
  """Random horizontal flip, each example independently with p = 0.5.

  Training-only augmentation: skipped at evaluation.
  """
  batched = image.shape.rank == 4
  shape = tf.shape(image)[:1] if batched else []
  flip = tf.random.stateless_uniform(shape, seed) < 0.5
  if batched:
    flip = flip[:, None, None, None]
  return tf.where(flip, tf.reverse(image, axis=[-2]), image)


def _resize_shape(shape, h, w=None):
  return (h, w or h) + tuple(shape[-1:])


def _check_resize(h, w=None):
  for v in (h, w or h):
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
      return f"sizes must be positive integers (got h={h!r}, w={w!r})"
  return None


def _check_threshold(threshold=0.5):
  if not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
    return f"threshold must be a number in [0,1] (got {threshold!r})"
  return None


@dataclasses.dataclass(frozen=True)
class OpDef:
  """An op's function (``fn(image, seed, *args)``) and its properties."""
  fn: Callable[..., Any]
  random: bool = False  # Uses its seed.
  train_only: bool = False  # An augmentation, skipped at evaluation.
  sets_values: bool = False  # Maps [0,255] pixels to the model's range.
  shape: Optional[Callable[..., Tuple]] = None  # Output shape, if it changes.
  check: Optional[Callable[..., Optional[str]]] = None  # Argument problems.


# Name -> definition: the complete list of preprocessing ops.
OPS = {
    "scale_01": OpDef(scale_01, sets_values=True),
    "scale_pm1": OpDef(scale_pm1, sets_values=True),
    "dequantize": OpDef(dequantize, random=True, sets_values=True),
    "binarize_dynamic": OpDef(binarize_dynamic, random=True, sets_values=True),
    "binarize_static": OpDef(binarize_static, sets_values=True,
                             check=_check_threshold),
    "resize": OpDef(resize, shape=_resize_shape, check=_check_resize),
    "flip_lr": OpDef(flip_lr, random=True, train_only=True),
}


@dataclasses.dataclass(frozen=True)
class Op:
  """One parsed op: its name, definition and (bound) arguments."""
  name: str
  args: Tuple
  definition: OpDef
  spec: str  # As written in the config.

  @property
  def train_only(self):
    return self.definition.train_only

  def output_shape(self, shape):
    if self.definition.shape is None:
      return tuple(shape)
    return tuple(self.definition.shape(tuple(shape), *self.args))

  def __call__(self, example, seed):
    """The example dict with its image transformed."""
    out = dict(example)
    out["image"] = self.definition.fn(example["image"], seed, *self.args)
    return out


def _literal(node, spec):
  try:
    return ast.literal_eval(node)
  except ValueError:
    raise ConfigError(
        f"Preprocessing op {spec!r}: arguments must be Python literals "
        f"(numbers, strings), got {ast.unparse(node)!r}; write e.g. "
        "'resize(32)' or 'binarize_static(threshold=0.5)'.") from None


def parse_op(spec):
  """One spec string (``"name"`` or ``"name(arg, key=value)"``) -> ``Op``."""
  if isinstance(spec, Op):
    return spec
  try:
    node = ast.parse(str(spec).strip(), mode="eval").body
  except SyntaxError:
    node = None
  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
    name = node.func.id
    args = [_literal(a, spec) for a in node.args]
    kwargs = {k.arg: _literal(k.value, spec) for k in node.keywords}
  elif isinstance(node, ast.Name):
    name, args, kwargs = node.id, [], {}
  else:
    raise ConfigError(
        f"Cannot parse the preprocessing op {spec!r}: write 'name' or "
        "'name(arg, ...)', e.g. 'scale_pm1' or 'resize(32, 32)'.")
  if name not in OPS:
    raise unknown_name("preprocessing op", name, OPS)
  definition = OPS[name]
  try:
    bound = inspect.signature(definition.fn).bind(None, None, *args, **kwargs)
  except TypeError as e:
    raise ConfigError(
        f"Bad arguments for the preprocessing op {spec!r}: {e}. Its signature "
        f"is {name}{_public_signature(definition.fn)}.") from None
  bound.apply_defaults()
  args = tuple(bound.args[2:])
  problem = definition.check and definition.check(*args)
  if problem:
    raise ConfigError(
        f"Bad arguments for the preprocessing op {spec!r}: {problem}; fix it "
        "in data.preprocess.")
  return Op(name, args, definition, str(spec).strip())


def _public_signature(fn):
  params = list(inspect.signature(fn).parameters.values())[2:]
  return str(inspect.Signature(params))


def parse_ops(specs):
  """A list of spec strings (or one string joined with '|') -> list of ``Op``.

  Raises ConfigError for an unknown op, bad arguments, or more than one
  value op.
  """
  if isinstance(specs, str):
    specs = [s for s in specs.split("|") if s.strip()]
  ops = [parse_op(s) for s in specs or ()]
  value_ops = [op.spec for op in ops if op.definition.sets_values]
  if len(value_ops) > 1:
    raise ConfigError(
        f"The preprocessing ops {value_ops} each map [0,255] pixels to the "
        "model's range, so only one of them may appear; keep one in "
        "data.preprocess.")
  return ops


def output_shape(ops, input_shape):
  """The image shape [H,W,C] after ``ops`` (spec strings or ``Op``s)."""
  shape = tuple(input_shape)
  for op in parse_ops(ops):
    shape = op.output_shape(shape)
  return shape


def apply_ops(ops, example, seed, *, train=True):
  """Applies ``ops`` in order; op i gets the seed ``fold_in(seed, i)``.

  ``train=False`` skips the training-only ops (augmentations).
  """
  for i, op in enumerate(parse_ops(ops)):
    if op.train_only and not train:
      continue
    op_seed = seed
    if op.definition.random:
      op_seed = tf.random.experimental.stateless_fold_in(seed, i)
    example = op(example, op_seed)
  return example
