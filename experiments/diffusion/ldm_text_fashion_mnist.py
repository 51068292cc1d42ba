"""Text-conditional latent diffusion on Fashion-MNIST: captions through the frozen all-MiniLM-L6-v2.

  python launch.py --config experiments/autoencoder/klae_fashion_mnist.py --workdir runs/klae_fashion_mnist
  python launch.py --config experiments/diffusion/ldm_text_fashion_mnist.py --workdir runs/ldm_text_fashion_mnist
  python launch.py --config experiments/diffusion/ldm_text_fashion_mnist.py \
      --workdir runs/ldm_text_fashion_mnist --mode sample \
      --config.sample.prompts="('a bright sneaker', 'a photo of a large dark coat')"

``ldm_text_mnist``'s model and schedule over the KL-f4 latents of
``klae_fashion_mnist``, with captions written from the garment's class name
and its measured brightness, size and position (genjax.data.captions,
``dataset='fashion_mnist'``: "a photo of a dark pullover", "a bright sneaker,
on the left"); held-out phrasings and attribute combinations at evaluation,
where ``cond_acc_fashion_mnist`` checks that samples show the class their
caption names. Not trained or measured yet on the 2-core CPU (docs/results.md,
"Latent diffusion").
"""
from genjax.config import parse_arg
from experiments.diffusion import ldm_text_mnist


def get_config(arg=None):
  arg = parse_arg(arg)
  c = ldm_text_mnist.text_config(arg, "fashion_mnist", "runs/klae_fashion_mnist")
  c.eval.metrics = tuple(c.eval.metrics) + ("cond_acc_fashion_mnist",)
  return c
