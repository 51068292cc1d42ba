"""Named preprocessing ops, written as specs like ``"resize(32)"``.

A config lists ops as strings (``data.preprocess = ['resize(32)', 'flip_lr',
'scale_pm1']``), in big_vision's style: ``"name"`` or ``"name(arg, ...)"``
with Python literals as arguments, keywords allowed. ``parse_ops`` turns
them into ``Op`` objects; ``apply_ops`` runs them.

Every op is a pure TensorFlow function of an example dict and a stateless
seed (int32/int64 tensor of shape [2]): it works eagerly and inside tf.data,
on a batch (``image`` [B,H,W,C]) and on a single example ([H,W,C]), and the
same seed gives the same result. Images enter as uint8 in [0,255].

Named keys (big_vision's ``inkey`` / ``outkey``). An op reads the field
``inkey`` and writes the field ``outkey``; both default to ``'image'``, and
``outkey`` defaults to ``inkey``: ``"canny(sigma=1.0, outkey='control')"``
writes the edges of ``image`` to ``control``, ``"scale_pm1(inkey='target')"``
rescales ``target`` in place. Other keys pass through. A tuple of keys
applies the op to each with the same seed, so random ops stay aligned:
``"flip_lr(inkey=('image', 'target'))"`` flips both or neither.

At most one *value* op (``scale_01``, ``scale_pm1``, ``dequantize``,
``binarize_dynamic``, ``binarize_static``) may write each key, since each
maps the [0,255] pixels to the model's range; the other ops go anywhere.
Without a value op the model sees float32 pixels in [0,255].
Ops with ``train_only=True`` (augmentations such as ``flip_lr``) are skipped
at evaluation (``apply_ops(..., train=False)``).

Derived fields (``genjax.data.transforms``: greyscale, blur, low-resolution
copies, Canny edges, skeletons, distance transforms; ``genjax.data.masks``:
inpainting masks) are ops too; docs/data.md lists them all.

Ops that read more than one field (``OpDef.example_keys``; e.g. ``caption``,
which reads the image and ``label``) get a dict: the inkey's field under
``'image'`` plus those keys. An op may have its own default keys
(``OpDef.inkey`` / ``outkey``): ``caption`` writes ``'caption'``,
``tokenize`` reads it and writes ``'tokens'`` (``genjax.data.captions``).
"""
import ast
import dataclasses
import inspect
from typing import Any, Callable, Optional, Tuple

from genjax.data import captions
from genjax.data import domains
from genjax.data import masks
from genjax.data import tokenizer
from genjax.data import transforms
from genjax.data._tf import tf
from genjax.errors import ConfigError, unknown_name

DEFAULT_KEY = "image"


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


def pad(image, seed, size, value=0):
  """``size`` pixels of ``value`` (in the image's units: put it before the
  value op) added on every side: [H,W,C] -> [H+2s,W+2s,C], dtype kept
  (28x28 MNIST with ``pad(2)`` is 32x32, the digit unscaled)."""
  del seed
  spatial = [[size, size], [size, size], [0, 0]]
  paddings = [[0, 0]] * (image.shape.rank - 3) + spatial
  return tf.pad(image, paddings, constant_values=tf.cast(value, image.dtype))


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


def _pad_shape(shape, size, value=0):
  del value
  grown = tuple(None if d is None else d + 2 * size for d in shape[-3:-1])
  return grown + tuple(shape[-1:])


def _channels_shape(shape, channels=1):
  return tuple(shape[:-1]) + (channels,)


def _one_channel_shape(shape, *args):
  del args
  return tuple(shape[:-1]) + (1,)


def _downsample_shape(shape, factor, upsample=None):
  if upsample is not None:
    return tuple(shape)
  low = tuple(None if d is None else d // factor for d in shape[-3:-1])
  return low + tuple(shape[-1:])


def _problem_if_not_number(name, value, low, high, *, open_low=False):
  """A problem message unless ``low <= value <= high`` (``low < value``)."""
  number = isinstance(value, (int, float)) and not isinstance(value, bool)
  if number and (value > low if open_low else value >= low) and value <= high:
    return None
  bracket = "(" if open_low else "["
  return f"{name} must be a number in {bracket}{low},{high}] (got {value!r})"


def _first_problem(*problems):
  return next((p for p in problems if p), None)


def _problem_if_not_one_of(name, value, valid):
  if value not in valid:
    return f"{name} must be one of {valid} (got {value!r})"
  return None


def _problem_if_unordered(low_name, low, high_name, high):
  """A problem message if both are numbers and ``low > high``."""
  numbers = all(isinstance(v, (int, float)) for v in (low, high))
  if numbers and low > high:
    return f"need {low_name} <= {high_name} (got {low!r} > {high!r})"
  return None


def _check_resize(h, w=None):
  for v in (h, w or h):
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
      return f"sizes must be positive integers (got h={h!r}, w={w!r})"
  return None


def _check_pad(size, value=0):
  if not isinstance(size, int) or isinstance(size, bool) or size < 0:
    return f"size must be an integer >= 0 (got {size!r})"
  return _problem_if_not_number("value", value, -255, 255)


def _check_threshold(threshold=0.5, normalize=False):
  return _first_problem(
      _problem_if_not_number("threshold", threshold, 0, 1),
      None if isinstance(normalize, bool) else
      f"normalize must be True or False (got {normalize!r})")


def _check_channels(channels=1):
  if channels not in (1, 3) or isinstance(channels, bool):
    return f"channels must be 1 or 3 (got {channels!r})"
  return None


def _check_blur(sigma, truncate=4.0):
  return _first_problem(
      _problem_if_not_number("sigma", sigma, 0, 1e3, open_low=True),
      _problem_if_not_number("truncate", truncate, 0, 1e3, open_low=True))


def _check_downsample(factor, upsample=None):
  if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
    return f"factor must be a positive integer (got {factor!r})"
  return _problem_if_not_one_of("upsample", upsample, transforms.UPSAMPLE_METHODS)


def _check_canny(sigma=1.0, low=0.1, high=0.2):
  return _first_problem(
      _check_blur(sigma),
      _problem_if_not_number("low", low, 0, 1e3),
      _problem_if_not_number("high", high, 0, 1e3),
      _problem_if_unordered("low", low, "high", high))


def _check_probability(p=0.5):
  return _problem_if_not_number("p", p, 0, 1)


def _check_box(min_size=0.25, max_size=0.5):
  return _first_problem(
      _problem_if_not_number("min_size", min_size, 0, 1, open_low=True),
      _problem_if_not_number("max_size", max_size, 0, 1, open_low=True),
      _problem_if_unordered("min_size", min_size, "max_size", max_size))


def _check_size(size=0.5):
  return _problem_if_not_number("size", size, 0, 1, open_low=True)


def _check_side(side="left"):
  return _problem_if_not_one_of("side", side, masks.HALF_SIDES)


def _check_caption(dataset="mnist", phrasings="train"):
  return _first_problem(
      _problem_if_not_one_of("dataset", dataset, captions.DATASETS),
      _problem_if_not_one_of("phrasings", phrasings, captions.PHRASINGS))


def _check_tokenize(max_tokens=16):
  high = tokenizer.MAX_TOKENS
  if (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
      or not 2 <= max_tokens <= high):
    return (f"max_tokens must be an integer in [2,{high}] ([CLS] and [SEP] "
            f"included; all-MiniLM-L6-v2 takes at most {high}) (got "
            f"{max_tokens!r})")
  return None


def _scalar_shape(shape, *args):
  del shape, args
  return ()


def _domain_shape(shape, dataset="mnist"):
  del shape
  return (len(domains.ATTRIBUTES.get(dataset, ())),)


def _check_domain(dataset="mnist"):
  return _problem_if_not_one_of("dataset", dataset, tuple(domains.ATTRIBUTES))


def _tokens_shape(shape, max_tokens=16):
  return tuple(shape) + (max_tokens,)


@dataclasses.dataclass(frozen=True)
class OpDef:
  """An op's function (``fn(image, seed, *args)``; with ``example_keys``,
  ``fn(example, seed, *args)``) and its properties."""
  fn: Callable[..., Any]
  random: bool = False  # Uses its seed.
  train_only: bool = False  # An augmentation, skipped at evaluation.
  sets_values: bool = False  # Maps [0,255] pixels to the model's range.
  shape: Optional[Callable[..., Tuple]] = None  # Output shape, if it changes.
  check: Optional[Callable[..., Optional[str]]] = None  # Argument problems.
  # Fields read besides the inkey's: fn then gets the dict {'image': the
  # inkey's field, key: example[key], ...} instead of one field.
  example_keys: Tuple[str, ...] = ()
  inkey: str = DEFAULT_KEY  # The default inkey.
  outkey: Optional[str] = None  # The default outkey (None: the inkey).
  reads_pixels: bool = False  # Must run before a value op on its inkey.


def _map_op(fn, check, random=False):
  """A derived field of one channel (edges, skeleton, distances, masks)."""
  return OpDef(fn, random=random, shape=_one_channel_shape, check=check)


# Name -> definition: the complete list of preprocessing ops.
OPS = {
    "scale_01": OpDef(scale_01, sets_values=True),
    "scale_pm1": OpDef(scale_pm1, sets_values=True),
    "dequantize": OpDef(dequantize, random=True, sets_values=True),
    "binarize_dynamic": OpDef(binarize_dynamic, random=True, sets_values=True),
    "binarize_static": OpDef(binarize_static, sets_values=True,
                             check=_check_threshold),
    "resize": OpDef(resize, shape=_resize_shape, check=_check_resize),
    "pad": OpDef(pad, shape=_pad_shape, check=_check_pad),
    "flip_lr": OpDef(flip_lr, random=True, train_only=True),
    # Derived fields (genjax.data.transforms).
    "greyscale": OpDef(transforms.greyscale, shape=_channels_shape,
                       check=_check_channels),
    "gaussian_blur": OpDef(transforms.gaussian_blur, check=_check_blur),
    "downsample": OpDef(transforms.downsample, shape=_downsample_shape,
                        check=_check_downsample),
    "canny": _map_op(transforms.canny, _check_canny),
    "skeleton": _map_op(transforms.skeleton, _check_threshold),
    "distance_transform": _map_op(transforms.distance_transform,
                                  _check_threshold),
    # Inpainting masks (genjax.data.masks).
    "random_pixel_mask": _map_op(masks.random_pixel_mask, _check_probability,
                                 random=True),
    "random_box_mask": _map_op(masks.random_box_mask, _check_box, random=True),
    "centre_box_mask": _map_op(masks.centre_box_mask, _check_size),
    "half_mask": _map_op(masks.half_mask, _check_side, random=True),
    # Captions and their tokens (genjax.data.captions).
    "caption": OpDef(captions.caption, random=True, shape=_scalar_shape,
                     check=_check_caption, example_keys=("label",),
                     outkey="caption", reads_pixels=True),
    # StarGAN's domains: binary attributes measured on the image
    # (genjax.data.domains).
    "attribute_domain": OpDef(domains.attribute_domain, shape=_domain_shape,
                              check=_check_domain, example_keys=("label",),
                              outkey="domain", reads_pixels=True),
    "tokenize": OpDef(captions.tokenize_caption, shape=_tokens_shape,
                      check=_check_tokenize, inkey="caption",
                      outkey="tokens"),
}


@dataclasses.dataclass(frozen=True)
class Op:
  """One parsed op: its name, definition, (bound) arguments and keys."""
  name: str
  args: Tuple
  definition: OpDef
  spec: str  # As written in the config.
  inkeys: Tuple[str, ...] = (DEFAULT_KEY,)
  outkeys: Tuple[str, ...] = (DEFAULT_KEY,)
  when: str = "always"  # always | train | eval: the passes it runs in (when=)

  @property
  def train_only(self):
    return self.definition.train_only or self.when == "train"

  def runs(self, train):
    """Whether the op runs in a training (``train``) or an evaluation pass."""
    return not (self.train_only and not train) and not (self.when == "eval" and train)

  def output_shape(self, shape):
    if self.definition.shape is None:
      return tuple(shape)
    return tuple(self.definition.shape(tuple(shape), *self.args))

  def _missing(self, key, present):
    return ConfigError(
        f"The preprocessing op {self.spec!r} reads the key {key!r}, but the "
        f"example has only {', '.join(sorted(present))}; write {key!r} with "
        "an earlier op's outkey, or fix the inkey.")

  def _check_present(self, inkey, present):
    for key in (inkey,) + self.definition.example_keys:
      if key not in present:
        raise self._missing(key, present)

  def output_shapes(self, shapes):
    """The fields' shapes (a dict key -> [H,W,C]) after this op."""
    out = dict(shapes)
    for inkey, outkey in zip(self.inkeys, self.outkeys):
      self._check_present(inkey, shapes)
      out[outkey] = self.output_shape(shapes[inkey])
    return out

  def _input(self, example, inkey):
    """What fn reads: the inkey's field, or a dict with the example_keys."""
    self._check_present(inkey, example)
    if not self.definition.example_keys:
      return example[inkey]
    return {DEFAULT_KEY: example[inkey],
            **{k: example[k] for k in self.definition.example_keys}}

  def __call__(self, example, seed):
    """The example dict with ``outkeys`` set from ``inkeys`` (same seed)."""
    out = dict(example)
    for inkey, outkey in zip(self.inkeys, self.outkeys):
      out[outkey] = self.definition.fn(self._input(example, inkey), seed,
                                       *self.args)
    return out


def _literal(node, spec):
  try:
    return ast.literal_eval(node)
  except ValueError:
    raise ConfigError(
        f"Preprocessing op {spec!r}: arguments must be Python literals "
        f"(numbers, strings), got {ast.unparse(node)!r}; write e.g. "
        "'resize(32)' or 'binarize_static(threshold=0.5)'.") from None


def _parse_call(spec):
  """``"name(arg, key=value)"`` -> (name, args, kwargs)."""
  try:
    node = ast.parse(str(spec).strip(), mode="eval").body
  except SyntaxError:
    node = None
  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
    args = [_literal(a, spec) for a in node.args]
    kwargs = {k.arg: _literal(k.value, spec) for k in node.keywords}
    return node.func.id, args, kwargs
  if isinstance(node, ast.Name):
    return node.id, [], {}
  raise ConfigError(
      f"Cannot parse the preprocessing op {spec!r}: write 'name' or "
      "'name(arg, ...)', e.g. 'scale_pm1' or 'resize(32, 32)'.")


def _as_keys(value, spec, which):
  """A key or a tuple/list of keys -> a tuple of non-empty strings."""
  keys = (value,) if isinstance(value, str) else value
  if (not isinstance(keys, (tuple, list)) or not keys
      or not all(isinstance(k, str) and k for k in keys)):
    raise ConfigError(
        f"Preprocessing op {spec!r}: {which} must be a key or a tuple of "
        f"keys, e.g. {which}='control' or {which}=('image', 'target'); got "
        f"{value!r}.")
  return tuple(keys)


def _op_keys(kwargs, spec, definition):
  """Pops ``inkey`` / ``outkey`` (defaults: the op's, 'image' for most; an
  outkey defaults to the inkey unless the op names its own)."""
  inkeys = _as_keys(kwargs.pop("inkey", definition.inkey), spec, "inkey")
  outkeys = _as_keys(kwargs.pop("outkey", definition.outkey or inkeys), spec,
                     "outkey")
  if len(outkeys) != len(inkeys) or len(set(outkeys)) != len(outkeys):
    raise ConfigError(
        f"Preprocessing op {spec!r}: outkey must name one distinct key per "
        f"inkey (got inkey={inkeys}, outkey={outkeys}).")
  return inkeys, outkeys


WHEN = ("always", "train", "eval")


def _op_when(kwargs, spec):
  """Pops ``when``: 'always' (default), 'train' (training passes only) or
  'eval' (evaluation passes only; e.g. held-out caption phrasings)."""
  when = kwargs.pop("when", "always")
  if when not in WHEN:
    raise ConfigError(f"Preprocessing op {spec!r}: when must be one of {WHEN}, "
                      f"got {when!r}.")
  return when


def _bind(name, definition, args, kwargs, spec):
  """The op's arguments after (image, seed), defaults applied and checked."""
  try:
    bound = inspect.signature(definition.fn).bind(None, None, *args, **kwargs)
  except TypeError as e:
    raise ConfigError(
        f"Bad arguments for the preprocessing op {spec!r}: {e}. Its signature "
        f"is {name}{_public_signature(definition.fn)} (plus inkey=, "
        "outkey=, when=).") from None
  bound.apply_defaults()
  args = tuple(bound.args[2:])
  problem = definition.check and definition.check(*args)
  if problem:
    raise ConfigError(
        f"Bad arguments for the preprocessing op {spec!r}: {problem}; fix it "
        "in data.preprocess.")
  return args


def parse_op(spec):
  """One spec string (``"name"`` or ``"name(arg, key=value)"``) -> ``Op``."""
  if isinstance(spec, Op):
    return spec
  name, args, kwargs = _parse_call(spec)
  if name not in OPS:
    raise unknown_name("preprocessing op", name, OPS)
  inkeys, outkeys = _op_keys(kwargs, spec, OPS[name])
  when = _op_when(kwargs, spec)
  args = _bind(name, OPS[name], args, kwargs, spec)
  return Op(name, args, OPS[name], str(spec).strip(), inkeys, outkeys, when)


def _public_signature(fn):
  params = list(inspect.signature(fn).parameters.values())[2:]
  return str(inspect.Signature(params))


def _check_value_ops(ops):
  """At most one value op writes each key."""
  writers = {}
  for op in ops:
    if op.definition.sets_values:
      for key in op.outkeys:
        writers.setdefault(key, []).append(op.spec)
  for key, specs in writers.items():
    if len(specs) > 1:
      raise ConfigError(
          f"The preprocessing ops {specs} each map [0,255] pixels to the "
          f"model's range, so only one of them may write {key!r}; keep one "
          "in data.preprocess.")


def _check_pixel_readers(ops):
  """Ops that measure [0,255] pixels come before the value op of their key."""
  valued = {}
  for op in ops:
    late = [k for k in op.inkeys if k in valued]
    if op.definition.reads_pixels and late:
      raise ConfigError(
          f"The preprocessing op {op.spec!r} measures the [0,255] pixels of "
          f"{late[0]!r}, but {valued[late[0]]!r} maps them to the model's "
          f"range before it; put {op.name!r} before {valued[late[0]]!r} in "
          "data.preprocess.")
    if op.definition.sets_values:
      valued.update(dict.fromkeys(op.outkeys, op.spec))


def parse_ops(specs):
  """A list of spec strings (or one string joined with '|') -> list of ``Op``.

  Raises ConfigError for an unknown op, bad arguments or keys, more than
  one value op writing a key, or an op measuring pixels after that key's
  value op.
  """
  if isinstance(specs, str):
    specs = [s for s in specs.split("|") if s.strip()]
  ops = [parse_op(s) for s in specs or ()]
  _check_value_ops(ops)
  _check_pixel_readers(ops)
  return ops


def written_keys(ops):
  """The keys that ``ops`` write, in order of first writing."""
  return tuple(dict.fromkeys(k for op in parse_ops(ops) for k in op.outkeys))


def output_shapes(ops, input_shapes):
  """Every field's shape after ``ops``, from ``{key: [H,W,C]}`` of the input."""
  shapes = dict(input_shapes)
  for op in parse_ops(ops):
    shapes = op.output_shapes(shapes)
  return shapes


def output_shape(ops, input_shape, key=DEFAULT_KEY):
  """The shape [H,W,C] of ``key`` after ``ops`` from the image's shape."""
  return output_shapes(ops, {DEFAULT_KEY: tuple(input_shape)})[key]


def apply_ops(ops, example, seed, *, train=True):
  """Applies ``ops`` in order; op i gets the seed ``fold_in(seed, i)``.

  ``train=False`` skips the training-only ops (augmentations, ``when='train'``);
  ``train=True`` skips the ``when='eval'`` ones.
  """
  for i, op in enumerate(parse_ops(ops)):
    if not op.runs(train):
      continue
    op_seed = seed
    if op.definition.random:
      op_seed = tf.random.experimental.stateless_fold_in(seed, i)
    example = op(example, op_seed)
  return example
