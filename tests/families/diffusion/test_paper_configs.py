"""Paper-shaped latent diffusion U-Nets: parameter counts by ``jax.eval_shape``
(nothing allocated) against the reference implementation's.

The reference numbers were printed by diffusers' own classes built from the
released models' configs (``scripts/reference/paper_unet_params.py``, run
once in the benchmark venv with torch 2.13.0 and diffusers 0.39.0):
Stable Diffusion v1's U-Net 859,520,964 (the published "859.5M") and LDM-4
on CelebA-HQ 256 274,056,163 (LDM's Table 12: 274M).
"""
import jax
import jax.numpy as jnp

from genjax.families.diffusion.unet import UNet, count_params

SD_V1_UNET_PARAMS = 859_520_964
LDM4_CELEBAHQ_UNET_PARAMS = 274_056_163


def test_stable_diffusion_v1_unet_has_the_reference_parameter_count():
  # 64x64x4 latents (512 px, KL-f8), 320 channels x (1, 2, 4, 4), two blocks a
  # level, a spatial transformer of depth 1 and 8 heads at the first three
  # levels and the middle, cross-attention to 77 CLIP ViT-L/14 states of 768-d.
  unet = UNet(ch=320, ch_mult=(1, 2, 4, 4), num_res_blocks=2, attn_resolutions=(64, 32, 16),
              num_heads=8, transformer_depth=1, dropout=0.0, out_channels=4)
  args = (jax.ShapeDtypeStruct((1, 64, 64, 4), jnp.float32),
          jax.ShapeDtypeStruct((1,), jnp.int32),
          jax.ShapeDtypeStruct((1, 77, 768), jnp.float32))
  shapes = jax.eval_shape(lambda x, t, c: unet.init(jax.random.PRNGKey(0), x, t, context=c),
                          *args)
  assert sum(leaf.size for leaf in jax.tree.leaves(shapes["params"])) == SD_V1_UNET_PARAMS


def test_ldm4_celebahq_unet_has_the_reference_parameter_count():
  # 64x64x3 latents (256 px, f = 4), 224 channels x (1, 2, 3, 4), two blocks a
  # level, DDPM self-attention at 32, 16 and 8 (32-channel heads: 7 at the
  # first level; heads do not change the count), unconditional.
  unet = UNet(ch=224, ch_mult=(1, 2, 3, 4), num_res_blocks=2, attn_resolutions=(32, 16, 8),
              num_heads=7, dropout=0.0, out_channels=3)
  assert count_params(unet, (64, 64, 3)) == LDM4_CELEBAHQ_UNET_PARAMS
