"""Parameter counts of two published latent-diffusion U-Nets, from diffusers'
own classes (run once, in the benchmark venv with torch + diffusers; no
weights are downloaded: the models are built from their released configs,
written out below).

  bash benchmarks/peers/setup.sh
  .venv-bench/bin/python scripts/reference/paper_unet_params.py

- Stable Diffusion v1's U-Net: ``UNet2DConditionModel`` with the config of
  CompVis/stable-diffusion-v1-4's ``unet/config.json`` (320 channels,
  multipliers 1-2-4-4, 2 blocks per level, cross-attention to 768-d CLIP
  text states, 8 heads): the published 859.5M.
- LDM-4 on CelebA-HQ 256 (Rombach et al. 2022, Table 12: 274M):
  ``UNet2DModel`` with the config of CompVis/ldm-celebahq-256's
  ``unet/config.json`` (224 channels, multipliers 1-2-3-4, attention at
  32/16/8 with 32-channel heads, 64x64x3 latents).

tests/families/diffusion/test_paper_configs.py holds the printed numbers.
"""
from diffusers import UNet2DConditionModel, UNet2DModel

SD_V1 = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32)
LDM4_CELEBAHQ = dict(
    sample_size=64, in_channels=3, out_channels=3, layers_per_block=2,
    block_out_channels=(224, 448, 672, 896),
    down_block_types=("DownBlock2D",) + ("AttnDownBlock2D",) * 3,
    up_block_types=("AttnUpBlock2D",) * 3 + ("UpBlock2D",),
    attention_head_dim=32, norm_num_groups=32)


def count(model):
  return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
  print("sd_v1_unet", count(UNet2DConditionModel(**SD_V1)))
  print("ldm4_celebahq_unet", count(UNet2DModel(**LDM4_CELEBAHQ)))
