"""SAGAN and YLG-SAGAN: the generator and the projection discriminator."""

from ylg.models.sagan import (ARCHITECTURES, ATTENTION_VARIANTS, Discriminator, Generator,
                              attention_resolutions, attention_variants,
                              resolve_masks)

__all__ = ["ARCHITECTURES", "ATTENTION_VARIANTS", "Generator", "Discriminator",
           "attention_resolutions", "attention_variants", "resolve_masks"]
