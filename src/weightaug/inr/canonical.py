"""Canonical INRs: one representative per orbit of the SIREN symmetries, computed once per dataset.

A sine network keeps its function under three actions on a hidden neuron: permuting it among its layer, flipping
its sign (incoming row, bias, outgoing column), and shifting its bias by ``k pi / w0`` (the outgoing column flips
where ``k`` is odd). Two canonical forms quotient them out:

- **phase** (as ScaleGMN's canonicalisation): shift each hidden bias into ``[-pi / 2 w0, pi / 2 w0]``, then flip
  the neurons whose bias is negative, so every bias lies in ``[0, pi / 2 w0]``. Exact up to float rounding of the
  shifted bias; no sign freedom is left (a neuron with bias exactly 0 keeps its sign).
- **order**: each hidden layer's neurons sorted by their bias magnitude. After the phase form this is a
  canonical form of all three symmetries (exact but for ties), and the start of the template matching below,
  so that matching too gives one result per orbit.
- **template**: weight matching (:func:`weightaug.align.weight_matching`) of every INR once to one template,
  permutations only after the phase form (a sign flip would leave its interval), signed permutations without
  it (from biases made positive, so the start is one per orbit too). The template is built from the training split only, so no test INR shapes it: ``medoid`` (the training
  INR with the least summed distance to a sample of the others) or ``mean`` (Git Re-Basin's MergeMany: start at
  the medoid, match the training INRs to it, average them, repeat ``iterations`` times).

With every INR matched to one template, plain MixUp between two canonical INRs is an aligned MixUp whose
matching was paid once per dataset. :func:`canonicalize` writes a dataset's canonical copy, shard for shard,
with its labels and stored fit quality unchanged; ``weightaug canonicalize`` is its verb.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from weightaug.align import weight_matching
from weightaug.inr.store import FIELDS, INRDataset, INRSplit, write_manifest, write_shard
from weightaug.io import remove, staging_path, swap_in
from weightaug.symmetry import SignedPermutation, shift_biases
from weightaug.weights import SpecMismatchError, WeightBatch

TEMPLATES = {
    "none": "no permutation canonicalisation",
    "medoid": "match every INR to the training INR closest to the others",
    "mean": "match every INR to the iterated mean of the aligned training INRs (MergeMany)",
}
TEMPLATE_FILE = "template.safetensors"  # beside a canonical copy's shards: the network every INR was matched to
MEDOID_SAMPLE = 512  # training INRs the medoid is chosen among (its distances are all pairs of them)


class CanonicalFormError(ValueError):
    """A canonical form that does not exist, or cannot apply to a dataset."""


@dataclass(frozen=True)
class CanonicalForm:
    """What :func:`canonicalize` does: the phase form, and a template to match every INR to."""

    phase: Annotated[bool, "Shift and flip every hidden bias into [0, pi / 2 w0]."] = True
    template: Annotated[str, TEMPLATES] = "mean"
    iterations: Annotated[int, "Rounds of the mean template (match all, average)."] = 5

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise CanonicalFormError(f"template must be one of {', '.join(TEMPLATES)}, got {self.template!r}")
        if self.iterations < 1:
            raise CanonicalFormError(f"iterations must be >= 1, got {self.iterations}")
        if not self.phase and self.template == "none":
            raise CanonicalFormError("a canonical form needs the phase form, a template, or both")

    @classmethod
    def parse(cls, text: str, iterations: int = 5) -> CanonicalForm:
        """``phase``, ``mean``, ``medoid`` or a phase form and a template joined by ``+`` (``phase+mean``)."""
        parts = [p.strip() for p in text.split("+")]
        templates = [p for p in parts if p in TEMPLATES and p != "none"]
        unknown = [p for p in parts if p != "phase" and p not in templates]
        if unknown or len(templates) > 1 or not parts:
            raise CanonicalFormError(
                f"canonical form {text!r}: write phase, a template ({', '.join(t for t in TEMPLATES if t != 'none')})"
                " or both joined by +, e.g. phase+mean"
            )
        return cls("phase" in parts, templates[0] if templates else "none", iterations)

    @classmethod
    def of(cls, manifest: dict) -> CanonicalForm | None:
        """The form a dataset's manifest records (None: the INRs as fitted)."""
        info = manifest.get("canonical")
        return None if info is None else cls(info["phase"], info["template"], info["iterations"])

    @property
    def name(self) -> str:
        return "+".join(["phase"] * self.phase + [self.template] * (self.template != "none"))


def canonical_phase(wb: WeightBatch) -> WeightBatch:
    """Every hidden bias shifted by ``k pi / w0`` and sign-flipped into ``[0, pi / 2 w0]``: the same functions."""
    spec = wb.spec
    if spec.activation != "sine":
        raise SpecMismatchError(f"the phase form is for sine networks; {spec.activation} networks have no phase")
    period = math.pi / spec.w0
    return positive_biases(shift_biases(wb, [-torch.round(b / period) for b in wb.biases[:-1]]))


def positive_biases(wb: WeightBatch) -> WeightBatch:
    """Every hidden neuron of negative bias sign-flipped: one network per orbit of the sign flips."""
    signs = tuple(torch.where(b < 0, -1.0, 1.0).to(b.dtype) for b in wb.biases[:-1])
    return SignedPermutation(SignedPermutation.identity(wb.spec, len(wb), wb.device).perms, signs).apply(wb)


def sort_by_bias(wb: WeightBatch) -> WeightBatch:
    """Every hidden layer's neurons in the order of their bias magnitude: one order per permutation orbit."""
    perms = tuple(b.abs().argsort(dim=1) for b in wb.biases[:-1])
    return SignedPermutation(perms).apply(wb)


def medoid(wb: WeightBatch, sample: int = MEDOID_SAMPLE) -> WeightBatch:
    """The network (of the first ``sample``) with the least summed Euclidean distance to the others, batch of 1."""
    flat = wb[:sample].flatten().double()
    return wb[[int(torch.cdist(flat, flat).sum(1).argmin())]]


def match_to(template: WeightBatch, wb: WeightBatch, signs: bool, chunk: int = 4096) -> WeightBatch:
    """Each network of ``wb`` matched to the single ``template``, ``chunk`` networks at a time."""
    parts = []
    for lo in range(0, len(wb), chunk):
        part = wb[lo : lo + chunk]
        target = template[torch.zeros(len(part), dtype=torch.long)]
        parts.append(weight_matching(target, part, signs=signs).aligned)
    return WeightBatch.cat(parts)


def build_template(train: WeightBatch, form: CanonicalForm) -> WeightBatch:
    """The template of ``form`` from the training networks, already in ``apply_form(train, form, None)``."""
    template = medoid(train)
    if form.template == "mean":
        for _ in range(form.iterations):
            template = match_to(template, train, signs=not form.phase).map(lambda t: t.mean(0, keepdim=True))
    return template


def apply_form(wb: WeightBatch, form: CanonicalForm, template: WeightBatch | None) -> WeightBatch:
    """``wb`` in the canonical form (``template`` from :func:`build_template`; None: phase form and order only)."""
    wb = sort_by_bias(canonical_phase(wb) if form.phase else positive_biases(wb))
    if template is not None:
        wb = match_to(template, wb, signs=not form.phase)
    return wb


def canonicalize(
    source: str | Path, out: str | Path, form: CanonicalForm = CanonicalForm(), overwrite: bool = False
) -> INRDataset:
    """Write ``source``'s canonical copy to ``out``: the same shards, labels and fit quality, every INR in ``form``.

    Built into a hidden sibling of ``out`` and swapped in whole; the manifest records the form and the source
    dataset, and the template is kept beside the shards (:data:`TEMPLATE_FILE`), so that :func:`form_of` can
    bring new INRs into the same form.
    """
    ds = INRDataset(source)
    out = Path(out)
    if out.resolve() == ds.root.resolve():
        raise CanonicalFormError(f"--out {out} is the source dataset; write the canonical copy to another folder")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it, or choose another --out")
    if ds.spec.activation != "sine":
        raise CanonicalFormError(
            f"{ds.root} holds {ds.spec.activation} networks: its canonical forms are for sine INRs"
        )
    start = time.perf_counter()
    template = None
    if form.template != "none":
        template = build_template(apply_form(ds.split("train").weights, form, None), form)
    staged = staging_path(out)
    remove(staged)
    try:
        staged.mkdir(parents=True)
        manifest = dict(ds.manifest)
        shards = []
        for entry in manifest["shards"]:
            part = ds.shard(entry)
            moved = INRSplit(apply_form(part.weights, form, template), *(getattr(part, f) for f in FIELDS))
            shards.append(entry | {"sha256": write_shard(staged, entry["file"], moved, ds.quality)})
        manifest["shards"] = shards
        if template is not None:
            save_file({f"t{k}": t.contiguous() for k, t in enumerate(template.tensors())}, staged / TEMPLATE_FILE)
        manifest["canonical"] = asdict(form) | {
            "name": form.name,
            "from": str(ds.root),
            "seconds": round(time.perf_counter() - start, 2),
        }
        write_manifest(staged, manifest)
        swap_in(staged, out)
    finally:
        remove(staged)
    return INRDataset(out)


def form_of(ds: INRDataset) -> tuple[CanonicalForm, WeightBatch | None]:
    """The canonical form of a dataset :func:`canonicalize` wrote, with its template: ``apply_form(new, *form_of(ds))``
    brings new INRs of its spec into the same form."""
    form = CanonicalForm.of(ds.manifest)
    if form is None:
        raise CanonicalFormError(f"{ds.root} is not a canonical copy; make one with `weightaug canonicalize`")
    if form.template == "none":
        return form, None
    tensors = load_file(ds.root / TEMPLATE_FILE)
    flat = [tensors[f"t{k}"] for k in range(2 * ds.spec.n_layers)]
    return form, WeightBatch(ds.spec, tuple(flat[0::2]), tuple(flat[1::2]))


def pair_similarity(wb: WeightBatch, pairs: Tensor) -> Tensor:
    """``(P,)`` cosine similarity of the flat weights of each pair ``(i, j)`` in ``pairs`` (P, 2)."""
    flat = wb.flatten().double()
    return torch.nn.functional.cosine_similarity(flat[pairs[:, 0]], flat[pairs[:, 1]], dim=1)
