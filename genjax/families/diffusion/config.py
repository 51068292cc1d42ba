"""Defaults of the diffusion family; experiments override a few fields."""
from genjax.config import base_config
from genjax.core.lora import DEFAULT_TARGETS as LORA_TARGETS


def default_config():
  c = base_config()
  c.family = "diffusion"
  c.model.update(dict(
      # ddpm | classifier (of guidance) | guided | ldm (latent) | controlnet |
      # multi_controlnet | lora | sr3 (super-resolution)
      name="ddpm",
      image_shape=(28, 28, 1),
      # U-Net (Ho et al. 2020, appendix B): base width, multipliers per level,
      # ResBlocks per level, attention at these feature-map sizes.
      ch=64, ch_mult=(1, 2, 2), num_res_blocks=2, attn_resolutions=(14,),
      dropout=0.1, num_heads=1,
      num_classes=0,              # > 0: class-conditional (CFG's null class added)
      label_dropout=0.1,          # P(label -> null) in training (classifier-free guidance)
      schedule="linear",          # linear | cosine
      timesteps=1000,
      prediction="eps",           # eps | x0 | v
      loss="simple",              # simple (L_simple) | hybrid (L_simple + 1e-3 L_vlb, learned variance)
      variance="fixed_large",     # fixed_large (sigma^2 = beta) | fixed_small (beta~); 'learned' with loss=hybrid
      clip_x0=True,               # clip predicted x0 to [-1, 1] when sampling
      # Blocks recomputed in the backward pass instead of stored (Chen et al.
      # 2016): () or any of ('ResBlock', 'SelfAttention'). Memory, not maths.
      remat=(),
      ldm=ldm_group(), control=control_group(), lora=lora_group(), sr3=sr3_group(),
      restore=restore_group(),
  ))
  c.data.preprocess = ("scale_pm1",)   # 8-bit data -> [-1, 1], 256 bins (bits/dim)
  c.sample.update(dict(
      sampler="ddim",             # ddpm | ddim
      steps=50,                   # sampling steps (respaced schedule); <= timesteps
      eta=0.0,                    # DDIM eta in [0, 1]
      guidance_weight=0.0,        # classifier-free guidance w (conditional models)
      classifier_scale=1.0,       # classifier guidance's scale s (model.name='guided')
      inversion_fixed_point_iters=5,
      prompts=(),                 # text models: the prompts --mode sample draws for
      control_scale=1.0,          # ControlNet: the residuals' scale (0: the base model)
      control_image="",           # ControlNet: a PNG condition map --mode sample follows
      lora_weight=1.0,            # LoRA: the run's adapters' weight (0: the base model)
      adapters=(),                # LoRA: more adapter files, "file.safetensors[@weight]"
  ))
  c.optim.update(lr=2e-4, grad_clip=1.0, warmup_steps=500, ema_decay=0.9999)
  return c


def ldm_group():
  """model.ldm: latent diffusion (name='ldm', latent.py) over config.deps.first_stage."""
  return dict(
      backbone="unet",        # unet | dit
      dit="DiT-S/2",          # the DiT size, backbone='dit' (dit.DIT_SIZES)
      # A DiT narrower / shallower than its named size (0: the size's own),
      # for CPU-sized runs: hidden width, depth and heads.
      dit_hidden=0, dit_depth=0, dit_heads=0,
      transformer_depth=1,    # U-Net: LDM's SpatialTransformer (0: DDPM attention)
      latent_scale=0.0,       # s (latents z0 = s z); 0: the first stage's 1/std
      text_encoder="",        # '' | 'minilm' (text-conditional: batch['tokens'])
      text_pooled=True,       # the sentence embedding joins the time embedding
      max_tokens=16,          # L of the tokens (the data's tokenize op's max_tokens)
  )


def control_group():
  """model.control: ControlNet (name='controlnet', control.py) over config.deps.base."""
  return dict(
      key="control",          # the batch field of the condition map
      shape=(28, 28, 1),      # its [H, W, C] (a power-of-2 multiple of the denoiser's input)
      hint_channels=(16, 32, 96, 256),   # the condition encoder's widths
      label_dropout=0.5,      # P(label -> null) while training (the paper: 50% of prompts)
      # name='multi_controlnet': the batch field and the weight of each
      # ControlNet run in config.deps (sorted by name).
      keys=("control",), weights=(1.0,),
  )


def lora_group():
  """model.lora: LoRA (name='lora', lora.py) over config.deps.base: adapters
  of the kernels whose paths the regex matches (default: attention q/k/v/out)."""
  return dict(targets=LORA_TARGETS, rank=4, alpha=4.0)


def sr3_group():
  """model.sr3: SR3 (name='sr3', sr3.py), a denoiser conditioned on the
  bicubic upsampling of a low-resolution copy of each image."""
  return dict(
      # The degradation making the low-resolution image (degradations.py):
      # 'sr4' (bicubic 1/4: 28x28 -> 7x7), 'sr2' (1/2), 'sr2_pool', 'sr4_pool'.
      task="sr4",
  )


def restore_group():
  """model.restore: restoration (name='restore', restore.py) with the locked
  run config.deps.base; sample.steps and sample.eta set the denoising steps."""
  return dict(
      task="sr4",             # degradations.TASKS
      method="ddrm",          # restore.METHODS
      noise=-1.0,             # sigma_y on the [-1, 1] scale; negative: the task's default
      ddrm_eta=0.85, ddrm_eta_b=1.0,        # DDRM's eta and eta_b (Kawar et al. 2022)
      jump_length=10, resamplings=10,       # RePaint's j and r (Lugmayr et al. 2022)
      dps_scale=1.0,                        # DPS's step zeta (Chung et al. 2023)
      diffpir_lambda=1.0, diffpir_zeta=0.1,  # DiffPIR's lambda and zeta (Zhu et al. 2023)
      t0=0.5,                               # SDEdit's start time in (0, 1]
      ilvr_factor=4,                        # ILVR's low-pass factor N
      diversity_samples=4,                  # restorations per image of 'diversity'
  )
