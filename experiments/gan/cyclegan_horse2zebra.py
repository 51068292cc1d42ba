"""CycleGAN (Zhu et al. 2017) horse <-> zebra at 256x256, the paper's
configuration, on the tfds catalog's ``cycle_gan/horse2zebra``, for GPU/TPU
users.

  python launch.py --config experiments/gan/cyclegan_horse2zebra.py --workdir runs/cyclegan_horse2zebra \
      --config.data.offline=False
  ... --mode eval   (cycle errors on the test horses and zebras)
  ... --mode eval --config.sample.direction=BA --config.eval.metrics=fid_inception,kid_inception
                    (FID / KID of G_BA's horses, made from the 140 test
                    zebras, against the 120 test horses)

Smoke run (seconds, on tfds mock data): ``:smoke``.

Data: trainA (1,067 horses) and trainB (1,334 zebras) as two independent
streams (``data.unpaired``: the zebras arrive as 'target'), testA (120) and
testB (140) for evaluation; each photo resized to 256x256 (they are that
size), flipped at random, in [-1, 1]. The reference's 286 -> 256 random crop
has no op here and is left out. Sample metrics compare with the main
stream's eval split (the horses), so FID is computed for the zebra -> horse
direction (``sample.direction=BA``, above); the default direction (AB)
translates the test horses into zebras for the pictures.

Model and training (the paper's sec. 4 and appendix 7, and the reference's
``--model cycle_gan`` defaults): ResNet G of 9 blocks (c7s1-64, d128, d256,
R256 x 9, u128, u64, c7s1-3; ngf 64, instance norm, reflection padding, no
dropout), 70x70 PatchGANs (n_layers 3, ndf 64, instance norm), least-squares
loss, lambda_cycle = 10, identity weight 0.5 (0.5 lambda), pools of 50
fakes, Adam 2e-4 (beta1 0.5), batch 1 (so one device: on more, raise
``train.batch_size`` to their number), 200 epochs of max(1,067, 1,334) =
1,334 steps (the reference's epoch): lr constant for 100 epochs (133,400
steps), then linearly to 0 at 266,800. Parameters: G_AB and G_BA 11,378,179
each, D_A and D_B 2,764,737 each — the sums of the reference's layer shapes
(junyanz/pytorch-CycleGAN-and-pix2pix, ``define_G('resnet_9blocks')`` and
``define_D('basic')`` with instance norm), which round to the 11.378 M and
2.765 M it prints at start-up; tests/experiments/test_translation_paper_configs.py
checks this config's family builds exactly these. The paper reports
no FID for horse2zebra (AMT studies are for maps; horse <-> zebra is shown);
later papers measure CycleGAN's horse -> zebra FID near 77 (Park et al. 2020,
CUT, Table 1) with their own protocol.
"""
from experiments.gan.cyclegan_mnist_fonts import cyclegan_config
from genjax.config import parse_arg
from genjax.families.translation.config import shrink_translation_for_smoke

DATASET = "cycle_gan/horse2zebra"
EPOCH = 1_334            # max(len(trainA), len(trainB)), the reference's epoch
EPOCHS, CONSTANT_EPOCHS = 200, 100


def preprocess(size):
  return (f"resize({size})", "flip_lr", "scale_pm1")


def get_config(arg=None):
  smoke = parse_arg(arg) == "smoke"
  c = cyclegan_config(DATASET, DATASET, (256, 256, 3), num_steps=EPOCHS * EPOCH,
                      hold_steps=CONSTANT_EPOCHS * EPOCH)
  c.model.update(ngf=64, n_blocks=9, ndf=64, n_layers=3)
  c.data.update(offline=False, train_split="trainA", eval_split="testA",
                preprocess=preprocess(256), shuffle_buffer=EPOCH)
  c.data.unpaired.update(train_split="trainB", eval_split="testB")
  c.train.update(batch_size=1, log_every=EPOCH, ckpt_every=5 * EPOCH,
                 sample_every=5 * EPOCH, eval_every=20 * EPOCH, eval_num_examples=120,
                 eval_num_samples=120)
  c.eval.update(metrics=("cycle_a", "cycle_b"), batch_size=4, sample_batch_size=4,
                num_examples=120, num_samples=140)
  if smoke:   # the same model at 32x32, a few steps
    shrink_translation_for_smoke(c)
    c.model.update(image_shape=(32, 32, 3), source_shape=(32, 32, 3))
    c.data.preprocess = preprocess(32)
    c.optim.update(hold_steps=3, decay_steps=6)
    c.model.pool_size = 20
  return c
