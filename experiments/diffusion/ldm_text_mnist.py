"""Text-conditional latent diffusion on MNIST: captions through the frozen all-MiniLM-L6-v2.

  python launch.py --config experiments/autoencoder/klae_mnist.py --workdir runs/klae_mnist
  python launch.py --config experiments/diffusion/ldm_text_mnist.py --workdir runs/ldm_text_mnist
  python launch.py --config experiments/diffusion/ldm_text_mnist.py --workdir runs/ldm_text_mnist \
      --mode sample --config.deps.first_stage.workdir=runs/klae_mnist \
      --config.sample.prompts="('a thick handwritten seven', 'the digit 2, written thinly')"

``ldm_mnist``'s latent U-Net over the KL-f4 latents, conditioned on text
instead of labels: every training image gets a caption written from its
label and attributes measured on it (genjax.data.captions: "a thick
handwritten seven", "the digit 7, leaning right"), tokenised (16 word
pieces) and encoded by the frozen MiniLM; its token states are the spatial
transformers' cross-attention context, its sentence embedding joins the time
embedding. Prompts are dropped to "" with probability 0.1; sampling uses
classifier-free guidance (w = 1: the best FID and accuracy of the sweep
below). Evaluation captions use only the held-out phrasings and attribute
combinations (``when='eval'``), and ``cond_acc_mnist`` checks that samples
show the digit their caption names.

Measured (2-core CPU, 2,000 steps x 64, 19.6 min of training beside other
jobs; 1k DDIM-20 samples per w, benchmarks/results/sweep_ldm_text_mnist.md):
digit accuracy on held-out phrasings 0.475 / 0.678 / 0.646 / 0.394 and
FID-MNIST 152 / 114 / 159 / 294 at w = 0 / 1 / 3 / 7 -- the 90% bar is not
met at this budget (docs/results.md, "Latent diffusion").
"""
from genjax.config import parse_arg
from experiments.diffusion import ldm_mnist

CAPTIONS = ("caption(dataset='{0}', when='train')",
            "caption(dataset='{0}', phrasings='heldout', when='eval')",
            "tokenize(max_tokens=16)")


def text_config(arg, dataset="mnist", first_stage="runs/klae_mnist"):
  """``ldm_mnist``'s model conditioned on captions of ``dataset``."""
  c = ldm_mnist.ldm_config(arg, first_stage, dataset)
  c.model.update(num_classes=0, label_dropout=0.1)
  c.model.ldm.update(text_encoder="minilm", max_tokens=16, text_pooled=True)
  c.data.preprocess = tuple(op.format(dataset) for op in CAPTIONS) + ("scale_01",)
  c.sample.guidance_weight = 1.0
  return c


def get_config(arg=None):
  arg = parse_arg(arg)
  c = text_config(arg)
  c.eval.metrics = tuple(c.eval.metrics) + ("cond_acc_mnist",)
  return c
