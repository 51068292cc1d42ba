"""Optimisers, learning-rate schedules, gradient clipping, trainable groups and EMA.

``make_optimizer(lr=..., name=..., ...)`` takes plain arguments (the ``optim``
block of a config unpacks into it) and returns an optax transformation.

Trainable groups (``optim.groups``, big_vision's ``config.schedule``) train
a subset of the parameters, or train groups at their own learning rates::

    config.optim.groups = (('encoder/.*', None),       # frozen
                           ('decoder/Dense_0/.*', 0.1))  # lr x 0.1
    # every other leaf trains at lr x 1.0

On the command line:
``--config.optim.groups="(('encoder/.*', None), ('decoder/Dense_0/.*', 0.1))"``.

- Each entry is ``(pattern, multiplier)``; ``pattern`` is a Python regex
  matched against a leaf's whole '/'-joined flax path (``re.fullmatch``;
  ``genjax.core.params``), e.g. ``'Dense_0/kernel'``. The paths are those of
  the tree the optimiser is initialised on (a family's parameters,
  ``variables['params']``, without a ``params/`` prefix).
- The first matching entry wins; leaves matching no entry train at
  multiplier 1.0 (so ``(('encoder/.*', None),)`` trains everything else).
- ``multiplier`` None or 0: the leaves are frozen (no optimiser state is kept
  for them: no Adam moments; their update is exactly -0.0, so each stays
  bitwise unchanged, -0.0 included, and so does its EMA). A multiplier m > 0
  trains them with the same optimiser at learning rate m * lr (the whole
  schedule scaled: warm-up, decay and end value).
- ``grad_clip`` stays one global-norm clip, over the trainable leaves only
  (frozen gradients do not count), applied before the split into groups.
- ``()`` or None (the default): no groups; the optimiser is exactly the one
  built without this feature (no ``optax.partition`` wrapper).
- A malformed entry is a ConfigError when the optimiser is built; an entry
  that matches no leaf, or whose leaves are all taken by earlier entries, is
  a ConfigError when it is initialised on the parameters (at start-up, under
  ``jax.eval_shape`` of the family's ``init``).

In the GAN family the groups apply to the generator only; the
discriminator's optimiser is built with ``groups=()``.
"""
import math
import numbers

import jax
import jax.numpy as jnp
import optax

from genjax.core import params as params_lib
from genjax.errors import ConfigError, unknown_name

SCHEDULES = ("constant", "cosine", "linear")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
FROZEN = "frozen"   # the label of frozen leaves in optax.partition
GROUPS_FIELD = "config.optim.groups"


def make_schedule(lr, schedule="constant", warmup_steps=0, decay_steps=None,
                  end_lr_fraction=0.0, hold_steps=0):
  """Linear warm-up from 0 over ``warmup_steps``, then constant / cosine /
  linear decay; ``hold_steps`` keeps lr constant for that many steps after the
  warm-up before the decay starts (CycleGAN's schedule: lr for n_epochs, then
  linearly to 0 over n_epochs_decay; Zhu et al. 2017 sec. 4). Every value is
  a function of the step, so a resumed run continues the schedule."""
  if schedule not in SCHEDULES:
    raise unknown_name("learning-rate schedule", schedule, SCHEDULES)
  if schedule == "constant":
    main = optax.constant_schedule(lr)
  else:
    start = warmup_steps + hold_steps
    if not decay_steps or decay_steps <= start:
      raise ConfigError(
          f"The {schedule!r} schedule needs decay_steps > warmup_steps + hold_steps "
          f"(got decay_steps={decay_steps}, warmup_steps={warmup_steps}, hold_steps="
          f"{hold_steps}); set --config.optim.decay_steps or use schedule='constant'.")
    n = decay_steps - start
    if schedule == "cosine":
      main = optax.cosine_decay_schedule(lr, n, alpha=end_lr_fraction)
    else:
      main = optax.linear_schedule(lr, lr * end_lr_fraction, n)
    if hold_steps:
      main = optax.join_schedules([optax.constant_schedule(lr), main], [hold_steps])
  if warmup_steps:
    warm = optax.linear_schedule(0.0, lr, warmup_steps)
    return optax.join_schedules([warm, main], [warmup_steps])
  return main


def base_optimizer(sched, name, b1, b2, eps, weight_decay, momentum):
  """The optax optimiser ``name`` at learning rate (schedule) ``sched``, unclipped."""
  if name == "adam":
    return optax.adam(sched, b1=b1, b2=b2, eps=eps)
  if name == "adamw":
    return optax.adamw(sched, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  if name == "sgd":
    return optax.sgd(sched, momentum=momentum or None)
  return optax.rmsprop(sched, eps=eps, momentum=momentum)


def clipped(opt, grad_clip):
  """``opt`` after a global-norm clip of the gradients (none when grad_clip <= 0)."""
  if grad_clip and grad_clip > 0:
    return optax.chain(optax.clip_by_global_norm(grad_clip), opt)
  return opt


def make_optimizer(lr=1e-3, name="adam", schedule="constant", warmup_steps=0,
                   decay_steps=None, end_lr_fraction=0.0, b1=0.9, b2=0.999,
                   eps=1e-8, weight_decay=0.0, momentum=0.9, grad_clip=0.0,
                   groups=(), hold_steps=0, **unused):
  """An optax optimiser with optional global-norm clipping and trainable
  groups (``groups``: see the module docstring; ``()`` or None: none).

  Extra keyword arguments (such as ``ema_decay``, used by the state, not the
  optimiser) are ignored, so a whole ``optim`` config block can be passed.
  """
  del unused
  if name not in OPTIMIZERS:
    raise unknown_name("optimizer", name, OPTIMIZERS)
  rules = parse_groups(groups)

  def at_scale(scale):   # the optimiser at scale x lr (lr itself at 1.0)
    rate = lr if scale == 1.0 else lr * scale
    sched = make_schedule(rate, schedule, warmup_steps, decay_steps, end_lr_fraction,
                          hold_steps)
    return base_optimizer(sched, name, b1, b2, eps, weight_decay, momentum)

  if not rules:
    return clipped(at_scale(1.0), grad_clip)
  return grouped_optimizer(rules, at_scale, grad_clip)


def _multiplier(value, where):
  """The learning-rate multiplier of a group entry: 0.0 for None (frozen)."""
  if value is None:
    return 0.0
  if (isinstance(value, bool) or not isinstance(value, numbers.Real)
      or not math.isfinite(value) or value < 0):
    raise ConfigError(
        f"{where} has learning-rate multiplier {value!r}; it must be a number "
        ">= 0, or None (or 0) to freeze the matching parameters.")
  return float(value)


def parse_groups(groups):
  """``((pattern, compiled regex, multiplier), ...)`` of ``optim.groups``
  (tuples or, from a run's config.json, lists); frozen entries have
  multiplier 0.0. ConfigError for anything but a sequence of
  (regex string, number >= 0 or None) pairs."""
  if groups is None:
    return ()
  if isinstance(groups, (str, bytes)) or not isinstance(groups, (tuple, list)):
    raise ConfigError(
        f"{GROUPS_FIELD} must be a tuple of (regex, lr_multiplier) pairs, e.g. "
        f"(('encoder/.*', None), ('.*', 1.0)); got {groups!r}.")
  rules = []
  for i, entry in enumerate(groups):
    where = f"{GROUPS_FIELD}[{i}]"
    if not isinstance(entry, (tuple, list)) or len(entry) != 2:
      raise ConfigError(f"{where} = {entry!r} is not a (regex, lr_multiplier) "
                        "pair, e.g. ('encoder/.*', None) or ('head/.*', 0.1).")
    pattern, value = entry
    rules.append((pattern, params_lib.compile_pattern(pattern, where),
                  _multiplier(value, where)))
  return tuple(rules)


def group_label(multiplier):
  """The optax.partition label of leaves trained at ``multiplier`` x lr
  ('lr_x0p1' for 0.1: no '.', as the label becomes a checkpoint key)."""
  return FROZEN if multiplier == 0.0 else "lr_x" + repr(multiplier).replace(".", "p")


def _first_match(rules, path):
  """Index of the first rule whose regex matches ``path`` whole, or None."""
  for i, (_, regex, _) in enumerate(rules):
    if regex.fullmatch(path):
      return i
  return None


def _check_all_used(rules, paths, owners):
  """ConfigError for a rule that owns no leaf, naming it and example paths."""
  used = set(owners)
  for i, (pattern, regex, _) in enumerate(rules):
    if i in used:
      continue
    hits = [p for p in paths if regex.fullmatch(p)]
    if hits:
      raise ConfigError(
          f"{GROUPS_FIELD}[{i}] pattern {pattern!r} matches "
          f"{params_lib.examples(hits)}, but earlier entries take every one "
          "(the first matching entry wins); reorder the entries or remove it.")
    raise ConfigError(
        f"{GROUPS_FIELD}[{i}] pattern {pattern!r} matches no parameter. "
        "Patterns match a leaf's whole '/'-joined path (re.fullmatch), e.g. "
        f"'Dense_0/.*'; the parameters are: {params_lib.examples(paths)}. "
        "Fix the pattern or remove the entry.")


def group_labels(rules, tree):
  """The tree of ``tree``'s structure whose leaves are the partition labels
  (``group_label`` of each leaf's multiplier; 1.0 where no rule matches).
  Raises the ConfigError of ``_check_all_used``."""
  paths = params_lib.leaf_paths(tree)
  owners = [_first_match(rules, p) for p in paths]
  _check_all_used(rules, paths, owners)
  labels = [group_label(1.0 if i is None else rules[i][2]) for i in owners]
  return jax.tree.unflatten(jax.tree.structure(tree), labels)


def freeze():
  """A transformation keeping no state whose updates are exactly -0.0:
  p + (-0.0) == p bitwise for every float p (p + 0.0 would turn -0.0 into +0.0)."""

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(lambda u: jnp.full_like(u, -0.0), updates), state

  return optax.GradientTransformation(init_fn, update_fn)


def grouped_optimizer(rules, at_scale, grad_clip):
  """The optimiser of trainable groups: a global-norm clip over the trainable
  leaves, then optax.partition of ``freeze()`` for frozen leaves and
  ``at_scale(m)`` (the optimiser at m x lr) for each multiplier m."""
  multipliers = {1.0} | {m for _, _, m in rules if m > 0}
  transforms = {group_label(m): at_scale(m) for m in sorted(multipliers)}
  transforms[FROZEN] = freeze()

  def labels(tree):
    return group_labels(rules, tree)

  def trainable(tree):
    return jax.tree.map(lambda label: label != FROZEN, labels(tree))

  opt = optax.partition(transforms, labels)
  if grad_clip and grad_clip > 0:
    clip = optax.masked(optax.clip_by_global_norm(grad_clip), trainable)
    opt = optax.chain(clip, opt)
  return opt


def ema_update(ema_params, params, decay):
  """theta_ema <- decay * theta_ema + (1 - decay) * theta (Polyak averaging).

  Where a parameter equals its average (p == e: a frozen leaf, or one that has
  not moved yet) the average is kept bitwise: decay * e + (1 - decay) * e can
  differ from e by an ulp. Everywhere else the formula is unchanged.
  """

  def one(e, p):
    return jnp.where(p == e, e, decay * e + (1.0 - decay) * p)

  return jax.tree.map(one, ema_params, params)


def ema_decay_warmup(step, decay):
  """Warm-started decay min(decay, (1 + t) / (10 + t)), as in TF's ExponentialMovingAverage."""
  t = jnp.asarray(step, jnp.float32)
  return jnp.minimum(decay, (1.0 + t) / (10.0 + t))


STEP_FIELDS = ("warmup_steps", "hold_steps", "decay_steps")   # schedule fields, in steps


def per_update_schedule(optim, updates_per_step):
  """``optim`` (a config's optim block, as a dict) for a player updated
  ``updates_per_step`` times per training step (a critic's n_critic): optax
  counts a schedule in the optimiser's own updates, so the step fields are
  stretched by that factor and its learning rate follows the step counter
  as the other players' does."""
  optim = dict(optim)
  for key in STEP_FIELDS:
    if optim.get(key):
      optim[key] = optim[key] * updates_per_step
  return optim


def optimizer_from_config(optim):
  """``(optimizer, ema_decay)`` of a config's ``optim`` block: the optax
  transformation of its fields (``groups`` included; a block without it, as
  in an older run's config.json, has none) and the decay of the parameters'
  EMA (0 keeps none)."""
  return make_optimizer(**dict(optim)), float(optim["ema_decay"])
