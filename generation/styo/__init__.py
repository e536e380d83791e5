"""StyO (METHODS.md section 4): one-shot face stylization on Stable Diffusion, by identifier disentanglement
(IDL: fine-tune on contrastive prompts with rare-token identifiers) and fine-grained content control (FCC:
recombined, augmented prompts with the source pass's content attention columns in the stylised pass).

Modules, one job each: `prompts` (templates, augmentation, Content Index), `identifiers` (rare tokens),
`encoding` (text and VAE), `training` (IDL), `lora` (the peft option), `auxset` (the auxiliary faces),
`store` (fine-tuned model folders), `checkpoint` (saving, resuming, loading), `finetune` (IDL end to end),
`attention` (FCC's processor), `fcc` (sampling), `params`, `models` (base models; the tiny one is
`generation.diffusion.tiny`'s), `stylizer` (the Stylizer).
"""
from .finetune import finetune
from .models import MODELS, WeightsMissingError, list_models
from .params import Params
from .store import list_finetuned, open_model
from .stylizer import StyO, create
from .training import TrainSettings

__all__ = ["MODELS", "Params", "StyO", "TrainSettings", "WeightsMissingError", "create", "finetune",
           "list_finetuned", "list_models", "open_model"]
