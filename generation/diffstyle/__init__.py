"""DiffStyle (METHODS.md section 3): training-free style transfer by content injection in h-space.

The content image's UNet bottleneck features are slerped into the reverse process that starts from the
style image's DDIM-inverted noise. Modules, one job each: `hspace` (normalised/masked slerp, the mid-block
hook), `schedule` (DDIM arithmetic), `denoisers` (pixel DDPM and Stable Diffusion behind one interface),
`algorithm` (inversion, injection, calibration, boosting), `params`, `models` (ids, weights, loading),
`tiny` (tiny seeded models), `stylizer` (the Stylizer).
"""
from .models import MODELS, WeightsMissingError, list_models
from .params import Params
from .stylizer import DiffStyle, create

__all__ = ["MODELS", "DiffStyle", "Params", "WeightsMissingError", "create", "list_models"]
