"""pix2pix (Isola et al. 2017) at the paper's 256x256 on the CMP facades
photos of the tfds catalog, translating their edges to the photos, for
GPU/TPU users.

  python launch.py --config experiments/gan/pix2pix_facades.py --workdir runs/pix2pix_facades \
      --config.data.offline=False
  ... --mode eval   (L1 / PSNR / SSIM to the 106 held-out photos, FID with
                    Inception features)

Smoke run (seconds, on tfds mock data): ``:smoke``.

Data. The paper's facades task is labels -> photos on pix2pix's own paired
set (400 training pairs), which the tfds catalog (4.9) does not have:
``cycle_gan/facades`` holds the same 400 + 106 photos and label maps, but as
two unpaired splits (trainA / testA the photos, the facades' A side as in
pix2pix's "A to B is photos to labels"; trainB / testB the label maps),
written in an order hashed from the file names, so which map belongs to
which photo is lost; ``cityscapes`` (the paper's other label-map task) is
paired but needs a manual download and has no 'image' field
(``image_left``, ``segmentation_label``), while genjax's pipelines read
'image' and derive every other field from it by named ops. So this config
keeps the paper's facades photos, its networks and its training, and takes
the source from the paper's edges -> photo tasks (edges2shoes,
edges2handbags): the Canny edges of each photo (sigma 2), repeated to 3
channels (the RGB input of the paper's networks). The photos are resized to
256x256 (they are that size) and flipped at random (before the edges are
taken, so the pair stays aligned); the reference's 286 -> 256 random crop
has no op here and is left out.

Model and training (the paper's, sec. 3.2, 4 and the reference's defaults:
``--netG unet_256 --norm batch --lambda_L1 100 --pool_size 0``): U-Net G of 8
stride-2 levels down to 1x1 (ngf 64, batch norm, dropout 0.5 in the 3 inner
decoder layers, at test time too), the 70x70 PatchGAN (n_layers 3, ndf 64,
batch norm) on the (edges, photo) pair, vanilla (BCE) loss, lambda_l1 = 100,
Adam 2e-4 (beta1 0.5, beta2 0.999), batch 1 (so one device: on more, raise
``train.batch_size`` to their number), 200 epochs of the 400 photos: lr
constant for 100 epochs (40,000 steps), then linearly to 0 at 80,000.
Parameters: G 54,413,955 and D 2,768,705 — the sums of the reference's
layer shapes (junyanz/pytorch-CycleGAN-and-pix2pix, ``define_G('unet_256')``,
``define_D('basic')`` on the 6-channel pair), which round to the 54.414 M and
2.769 M it prints at start-up; tests/experiments/test_translation_paper_configs.py
checks this config's family builds exactly these. The paper reports no
FID for facades (qualitative figures; FCN scores on Cityscapes).
"""
from genjax.config import parse_arg
from genjax.families.translation.config import default_config, shrink_translation_for_smoke

TRAIN_PHOTOS = 400       # cycle_gan/facades trainA
TEST_PHOTOS = 106        # testA
EPOCHS, CONSTANT_EPOCHS = 200, 100


def preprocess(size):
  """Photos at ``size``, flipped, their Canny edges as a 3-channel source."""
  return (f"resize({size})", "flip_lr", "canny(sigma=2.0, outkey='source')",
          "greyscale(channels=3, inkey='source')", "scale_pm1")


def get_config(arg=None):
  smoke = parse_arg(arg) == "smoke"
  c = default_config()
  c.model.update(name="pix2pix", image_shape=(256, 256, 3), source_shape=(256, 256, 3),
                 generator="unet", ngf=64, num_downs=8, norm="batch", dropout=True,
                 ndf=64, n_layers=3, gan_mode="vanilla", lambda_gan=1.0, lambda_l1=100.0)
  c.data.update(name="cycle_gan/facades", offline=False, train_split="trainA",
                eval_split="testA", preprocess=preprocess(256), shuffle_buffer=TRAIN_PHOTOS)
  steps = EPOCHS * TRAIN_PHOTOS
  c.train.update(batch_size=1, num_steps=steps, log_every=TRAIN_PHOTOS,
                 ckpt_every=10 * TRAIN_PHOTOS, sample_every=10 * TRAIN_PHOTOS,
                 eval_every=20 * TRAIN_PHOTOS, eval_metrics=("l1", "psnr"),
                 eval_num_examples=TEST_PHOTOS, eval_num_samples=TEST_PHOTOS)
  c.optim.update(schedule="linear", hold_steps=CONSTANT_EPOCHS * TRAIN_PHOTOS,
                 decay_steps=steps)
  c.eval.update(metrics=("l1", "psnr", "ssim", "fid_inception"), batch_size=2,
                sample_batch_size=2, num_examples=TEST_PHOTOS, num_samples=TEST_PHOTOS)
  if smoke:   # the same model at 32x32 (5 U-Net levels), a few steps
    shrink_translation_for_smoke(c)
    c.model.update(image_shape=(32, 32, 3), source_shape=(32, 32, 3), num_downs=5)
    c.data.preprocess = preprocess(32)
    c.train.eval_metrics = ("l1",)
    c.optim.update(hold_steps=3, decay_steps=6)
    c.eval.metrics = ("l1", "psnr")
  return c
