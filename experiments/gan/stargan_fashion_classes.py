"""StarGAN (Choi et al. 2018) with Fashion-MNIST's ten classes as its domains
(the reference's RaFD kind: one class per image, softmax cross-entropy),
one generator translating a garment into any class, sized like
stargan_mnist_attributes (~30 minutes on 2 CPU cores, not yet measured).

  python launch.py --config experiments/gan/stargan_fashion_classes.py --workdir runs/stargan_fashion_classes
  ... --mode eval   (target_acc: translations into each of the 10 classes that
                     the Fashion-MNIST classifier assigns to that class)
  ... --mode sample --config.sample.domain=7   (everything as sneakers)

Smoke run (seconds): ``:smoke``.

Data: Fashion-MNIST's training garments padded to 32x32, in [-1, 1]; the
domain is the label (``model.domain_key='label'``, one-hot for G). Model
and training as stargan_mnist_attributes (G ngf 16 with 6 residual blocks,
D 4 layers with ndf 32: a 2x2 critic map as the reference's, whose docstring
says why, WGAN-GP, lambda_cls 1, lambda_rec 10, n_critic 5, 16 images
per iteration, Adam 1e-4, constant then linear decay). ``rec_error`` is
the cycle back into the garment's own class; FID-FashionMNIST scores
translations into random classes.
"""
from genjax.config import parse_arg
from genjax.families.translation.config import shrink_stargan_for_smoke, stargan_config


def get_config(arg=None):
  smoke = parse_arg(arg) == "smoke"
  c = stargan_config()
  c.model.update(source_key="image", target_key="image", image_shape=(32, 32, 1),
                 source_shape=(32, 32, 1), ngf=16, n_blocks=6, ndf=32, d_layers=4,
                 domain_kind="classes", num_domains=10, domain_key="label",
                 domain_measure="fashion_mnist")
  c.data.update(name="fashion_mnist", preprocess=("pad(2)", "scale_pm1"))
  c.train.update(batch_size=80, num_steps=3_000, log_every=50, ckpt_every=500,
                 sample_every=500, eval_every=1_000, eval_metrics=("target_acc", "rec_error"),
                 eval_num_examples=500, eval_num_samples=500)
  c.optim.update(schedule="linear", hold_steps=1_500, decay_steps=3_000)
  c.eval.update(metrics=("target_acc", "rec_error", "fid_fashion_mnist"),
                batch_size=250, sample_batch_size=250, num_examples=2_000, num_samples=2_000)
  if smoke:
    shrink_stargan_for_smoke(c)
    c.eval.metrics = ("target_acc", "rec_error")
  return c
