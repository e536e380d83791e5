"""PARASOL (METHODS.md 1b-1d): a latent diffusion model conditioned on a fine-grained style descriptor and a
semantic descriptor, trained on triplets mined by cross-modal search, sampled with modality-specific
classifier-free guidance from an inversion of the content image.

Modules, one job each: `descriptors` (the registry encoders A and C, also differentiably), `conditioning`
(projector M, tokens, null tokens, condition dropout), `network` (U-Net + VAE + guidance), `ddpm` (chain,
inversion with stored noises, reverse process), `models` (ids, base models, checkpoints -> models),
`checkpoint` (safetensors checkpoints), `data` (manifest and batches), `train` (the training loop on
accelerate), `curve` (loss-curve PNG), `params`, `stylizer` (the Stylizer), `grid` (2 contents x 2 styles
interpolation), `tiny` (tiny model and synthetic triplets).
"""
from .models import WeightsMissingError, list_models
from .params import Params
from .stylizer import Parasol, create

__all__ = ["Params", "Parasol", "WeightsMissingError", "create", "list_models"]
