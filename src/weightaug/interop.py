"""weightaug batches as nfn's and back, so nfn's layers run on weightaug data and weightaug's augmentations on
nfn's (nfn: neural functional layers, Zhou et al.; ``pip install 'weightaug[nfn]'``).

nfn holds a batch as ``WeightSpaceFeatures``: weights ``(B, C, n_out, n_in)`` and biases ``(B, C, n_out)`` with
C channels; a :class:`WeightBatch` is its one-channel case (``(B, n_out, n_in)``, ``(B, n_out)``). The tensors
are shared, not copied, both ways.
"""

from __future__ import annotations

from typing import Any

from weightaug.weights import NetworkSpec, WeightBatch


def _nfn_data() -> Any:
    try:
        from nfn.common import data
    except ImportError as err:
        raise ImportError(f"nfn is not installed ({err}); pip install 'weightaug[nfn]'") from err
    return data


def to_nfn(weights: WeightBatch) -> Any:
    """``weights`` as nfn's ``WeightSpaceFeatures`` of one channel."""
    data = _nfn_data()
    return data.WeightSpaceFeatures([w.unsqueeze(1) for w in weights.weights], [b.unsqueeze(1) for b in weights.biases])


def from_nfn(features: Any, spec: NetworkSpec) -> WeightBatch:
    """nfn ``WeightSpaceFeatures`` of one channel as a :class:`WeightBatch` of ``spec`` (shapes checked)."""
    channels = {t.shape[1] for t in (*features.weights, *features.biases)}
    if channels != {1}:
        raise ValueError(
            f"nfn features with {sorted(channels)} channels are not networks' weights: a WeightBatch is one "
            "channel; take one, e.g. features.map(lambda t: t[:, :1])"
        )
    return WeightBatch(spec, [w.squeeze(1) for w in features.weights], [b.squeeze(1) for b in features.biases])


def nfn_spec(spec: NetworkSpec) -> Any:
    """nfn's ``NetworkSpec`` for networks of ``spec``, what its layers are built with: as nfn writes it, -1 for
    the hidden (permutable) axes, the input and output widths where they are fixed."""
    data, last = _nfn_data(), spec.n_layers - 1
    weights = [(o if k == last else -1, i if k == 0 else -1) for k, (o, i) in enumerate(spec.weight_shapes)]
    return data.NetworkSpec([data.ArraySpec(w) for w in weights], [data.ArraySpec((w[0],)) for w in weights])
