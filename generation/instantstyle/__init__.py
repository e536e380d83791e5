"""InstantStyle (METHODS.md section 2): tuning-free style transfer on diffusers' IP-Adapter.

Image features go only into the UNet's style block (optionally the layout block) and the style embedding
has the content description's CLIP text embedding subtracted. Modules, one job each: `blocks` (block names
per UNet family, scale plan and its verification), `subtraction` (style mix and content subtraction),
`params` (the Params dataclass), `models` (model ids, weights presence, loading), `canny` (edge maps for
ControlNet), `tiny` (tiny seeded pipelines for tests), `stylizer` (the Stylizer).
"""
from .models import MODELS, WeightsMissingError, list_models
from .params import Params
from .stylizer import InstantStyle, create

__all__ = ["MODELS", "InstantStyle", "Params", "WeightsMissingError", "create", "list_models"]
