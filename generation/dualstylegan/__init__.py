"""DualStyleGAN (METHODS.md section 5): exemplar-based portrait style transfer with the official checkpoints.

Modules, one job each: `ops` (upfirdn2d and the fused activation in plain PyTorch), `stylegan2` (generator,
discriminator), `network` (DualStyleGAN: ModRes, colour transforms, the weight vector w, stage-I init),
`irse` / `psp` (the pSp encoder into Z+ and ArcFace), `sampler` (the sampling network N), `checkpoints`
(safe reading, strict loading, safetensors conversion; `convert` is its command line), `architecture`
(layouts read from checkpoints), `models` (style sets, files, loading), `align` (face alignment / centre
crop), `losses`, `exemplar` (destylisation and extrinsic-code optimisation), `inference` (the transfer),
`params`, `tiny`, `stylizer`, `training` (progressive fine-tuning stages I-III), `stages` (the
stages end to end, `stylelens train dualstylegan`).
"""
from .models import MODELS, WeightsMissingError, list_models
from .params import Params
from .stylizer import DualStyleGANStylizer, create

__all__ = ["MODELS", "DualStyleGANStylizer", "Params", "WeightsMissingError", "create", "list_models"]
