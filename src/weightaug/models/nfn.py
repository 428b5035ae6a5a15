"""NFN: neural functionals with NP (all neurons permutable) or HNP (hidden neurons only) equivariant layers."""

from __future__ import annotations

from weightaug.models.equivariant import EquivariantStack
from weightaug.weights import NetworkSpec


class NFN(EquivariantStack):
    """Neural functional: equivariant layers (mean reduction), mean pooling; ``mode`` hnp or np.

    ``np`` treats input and output neurons as permutable too (fewer parameters), and adds learned positional
    offsets along their axes after the first layer so it still sees their order; ``hnp`` respects that only
    hidden neurons can be permuted.
    """

    description = "NFN: NP / HNP equivariant neural functional layers, mean pooling"

    def __init__(
        self,
        spec: NetworkSpec,
        n_classes: int = 10,
        mode: str = "hnp",
        hidden: int = 32,
        n_layers: int = 3,
        embed_dim: int = 128,
    ) -> None:
        if mode not in ("np", "hnp"):
            raise ValueError(f"NFN mode must be 'np' or 'hnp', got {mode!r}")
        self.mode = mode
        super().__init__(spec, n_classes, hidden, n_layers, "mean", "mean", embed_dim, permute_io=mode == "np")
