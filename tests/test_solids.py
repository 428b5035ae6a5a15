"""3D sources: the procedural solids against their analytic volumes, meshes read in their standard layouts,
winding-number occupancy against analytic solids (closed, and with a hole punched in), and bad files skipped."""

import math

import numpy as np
import pytest
import torch

from weightaug.data.meshes import MeshError, load_meshes, read_off
from weightaug.data.occupancy import held_out_samples, iou, occupancy_samples
from weightaug.data.shapes import RADIUS, SHAPES, ProceduralShapes


def _volume(name: str, u: torch.Tensor) -> float:
    """The analytic volume of a solid of :data:`SHAPES` with proportions ``u`` (written from the definitions)."""
    a, b = u[0].item(), u[1].item()
    mix = lambda v, lo, hi: lo + (hi - lo) * v  # noqa: E731
    ratio_rh = lambda v, lo, hi: (RADIUS / math.sqrt(1 + mix(v, lo, hi) ** 2), mix(v, lo, hi))  # noqa: E731
    if name == "sphere":
        return 4 / 3 * math.pi * RADIUS**3
    if name == "ellipsoid":
        return 4 / 3 * math.pi * RADIUS**3 * mix(a, 0.35, 0.8) * mix(b, 0.35, 0.8)
    if name == "box":
        d = np.array([1, mix(a, 0.3, 1), mix(b, 0.3, 1)])
        return 8 * np.prod(d / np.linalg.norm(d) * RADIUS)
    if name in ("cylinder", "tube", "cone"):
        r, k = ratio_rh(a, 0.5, 2.0)
        h = r * k
        full = math.pi * r * r * 2 * h
        return {"cylinder": full, "tube": full * (1 - mix(b, 0.45, 0.75) ** 2), "cone": full / 3}[name]
    if name == "pyramid":
        r, k = ratio_rh(a, 0.6, 2.0)
        return (2 * r / math.sqrt(2)) ** 2 * 2 * (r * k) / 3
    if name == "wedge":
        r, k = ratio_rh(a, 0.4, 1.5)
        return 3 * math.sqrt(3) / 4 * r * r * 2 * (r * k)
    if name == "torus":
        k = mix(a, 0.2, 0.5)
        major = RADIUS / (1 + k)
        return 2 * math.pi**2 * major * (major * k) ** 2
    if name == "capsule":
        r = RADIUS * mix(a, 0.25, 0.5)
        return math.pi * r * r * 2 * (RADIUS - r) + 4 / 3 * math.pi * r**3
    if name == "octahedron":
        return 4 / 3 * RADIUS**3 * mix(a, 0.5, 1) * mix(b, 0.5, 1)
    t = RADIUS * mix(a, 0.12, 0.3)  # cross: three bars, pairwise overlapping in the central cube
    length = math.sqrt(RADIUS**2 - 2 * t * t)
    return 3 * (2 * length) * (2 * t) ** 2 - 2 * (2 * t) ** 3


def test_each_procedural_solid_has_its_analytic_volume():
    shapes = ProceduralShapes(warp=0.0)
    ids = torch.arange(2 * len(SHAPES))  # two objects of every class
    points, occupancy = held_out_samples(shapes, ids, 200_000, seed=1)
    measured = occupancy.mean(1) * 8  # the cube [-1, 1]^3 has volume 8
    for i in ids.tolist():
        name = shapes.classes[shapes.labels[i]]
        expected = _volume(name, shapes.params(torch.tensor([i]))[0, :3])
        assert measured[i].item() == pytest.approx(expected, rel=0.05, abs=0.004), name
    assert points.abs().max() <= 1


def test_solids_are_drawn_per_object_and_their_points_lie_where_said():
    shapes = ProceduralShapes()
    ids = torch.tensor([5, 17, 40])
    points, occupancy = occupancy_samples(shapes, ids, 512, 512, 0.02, seed=3)
    again, _ = occupancy_samples(shapes, ids[1:], 512, 512, 0.02, seed=3)
    torch.testing.assert_close(points[1:], again)  # the same object gets the same points in any batch
    assert not torch.equal(points[:, :512], occupancy_samples(shapes, ids, 512, 512, 0.02, seed=4)[0][:, :512])
    surface = shapes.surface(ids, 400, seed=0)
    step = 1e-3 * torch.randn_like(surface)
    flips = shapes.inside(ids, surface + step) != shapes.inside(ids, surface - step)
    assert flips.float().mean() > 0.95  # a small step either way crosses the surface
    near = occupancy[:, 512:].mean()
    assert 0.3 < near < 0.7  # points near the surface fall on both sides
    assert surface.norm(dim=-1).max() <= RADIUS + shapes.warp + 1e-3


def test_iou_counts_agreement_of_the_positive_sets():
    occupancy = torch.tensor([[1.0, 1, 0, 0], [0, 0, 0, 0]])
    logits = torch.tensor([[2.0, -1, 3, -2], [-1.0, -1, -1, -1]])
    torch.testing.assert_close(iou(logits, occupancy), torch.tensor([1 / 3, 1.0]))


def _write_off(path, vertices, faces, fused=False, comment=False):
    header = f"OFF{len(vertices)} {len(faces)} 0\n" if fused else f"OFF\n{len(vertices)} {len(faces)} 0\n"
    body = "".join(f"{x} {y} {z}\n" for x, y, z in vertices) + "".join(
        f"{len(f)} {' '.join(map(str, f))}\n" for f in faces
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(("# written by a test\n" if comment else "") + header + body)


def _sphere(subdivisions=3):
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=subdivisions)
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def test_off_headers_as_modelnet_writes_them(tmp_path):
    square = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)]
    _write_off(tmp_path / "plain.off", square, [(0, 1, 2, 3)])
    _write_off(tmp_path / "fused.off", square, [(0, 1, 2, 3)], fused=True, comment=True)
    for name in ("plain.off", "fused.off"):
        vertices, faces = read_off(tmp_path / name)
        assert vertices.shape == (4, 3) and faces.tolist() == [[0, 1, 2], [0, 2, 3]]  # the quad fanned
    (tmp_path / "short.off").write_text("OFF\n4 1 0\n0 0 0\n1 0 0\n")
    with pytest.raises(MeshError, match="short.off: the OFF header promises 4 vertices"):
        read_off(tmp_path / "short.off")


def _modelnet(root, n_train=2, n_test=1):
    vertices, faces = _sphere(2)
    box = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
    box_faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    for split, n in (("train", n_train), ("test", n_test)):
        for k in range(n):
            scale = 1 + k  # normalisation removes size
            _write_off(root / "ball" / split / f"ball_{split}_{k}.off", vertices * scale + 3, faces, fused=k == 0)
            _write_off(root / "cube" / split / f"cube_{split}_{k}.off", box * scale * [1, 2, 1], box_faces)


def test_modelnet_layout_loads_train_first_normalised_and_winding_numbers_are_right(tmp_path):
    _modelnet(tmp_path / "ModelNet40")
    source = load_meshes("modelnet40", tmp_path)
    assert source.classes == ("ball", "cube") and source.n_train == 4 and len(source.labels) == 6
    assert all("/train/" in f for f in source.files[:4]) and all("/test/" in f for f in source.files[4:])
    assert all(np.abs(v).max() == pytest.approx(0.9) for v in source.vertices)  # the longest side spans +-0.9
    ball, cube = source.files.index("ball/train/ball_train_0.off"), source.files.index("cube/train/cube_train_0.off")
    points = torch.rand(2, 20_000, 3) * 2 - 1
    inside = source.inside(torch.tensor([ball, cube]), points)
    radius = points[0].norm(dim=-1)
    far = (radius - 0.9).abs() > 0.05  # away from the facets of the icosphere
    assert (inside[0][far] == (radius < 0.9)[far]).all()
    box = (points[1].abs() <= torch.tensor([0.45, 0.9, 0.45])).all(-1)  # a 1:2:1 box, longest side to +-0.9
    assert (inside[1] == box).float().mean() > 0.999
    surface = source.surface(torch.tensor([ball]), 2000, seed=0)[0]
    assert (surface.norm(dim=-1) - 0.9).abs().max() < 0.06


def test_winding_numbers_stay_right_away_from_a_hole(tmp_path):
    vertices, faces = _sphere(4)
    centroids = vertices[faces].mean(1)
    _write_off(tmp_path / "holes" / "ball" / "punched.off", vertices, faces[centroids[:, 2] < 0.8])  # cap cut
    source = load_meshes("meshes", tmp_path / "holes")
    points = torch.rand(1, 20_000, 3) * 2 - 1
    inside = source.inside(torch.tensor([0]), points)[0]
    radius = points[0].norm(dim=-1)
    away = ((radius - 0.9).abs() > 0.05) & (points[0, :, 2] < 0.3)  # far from the surface and from the hole
    assert (inside[away] == (radius < 0.9)[away]).all()


def test_bad_mesh_files_are_skipped_with_their_reason_and_the_rest_load(tmp_path):
    root = tmp_path / "mine"
    vertices, faces = _sphere(1)
    _write_off(root / "ok" / "a.off", vertices, faces)
    _write_off(root / "ok" / "nan.off", [(float("nan"), 0, 0), (1, 0, 0), (0, 1, 0)], [(0, 1, 2)])
    _write_off(root / "ok" / "flat.off", [(0, 0, 0), (1, 0, 0), (2, 0, 0)], [(0, 1, 2)])
    (root / "ok" / "empty.off").write_text("")
    (root / "ok" / "junk.obj").write_bytes(b"\x00\x01 not a mesh")
    source = load_meshes("meshes", root)
    assert source.files == ["ok/a.off"] and source.n_train == 0
    reasons = {s["file"]: s["reason"] for s in source.skipped}
    assert set(reasons) == {"ok/nan.off", "ok/flat.off", "ok/empty.off", "ok/junk.obj"}
    assert "NaN" in reasons["ok/nan.off"] and "degenerate" in reasons["ok/flat.off"]
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.off").write_text("OFF\n")
    with pytest.raises(MeshError, match="holds no class sub-folders"):
        load_meshes("meshes", tmp_path / "flat")
    with pytest.raises(MeshError, match="modelnet40 needs its files: pass --data-dir"):
        load_meshes("modelnet40", None)


def test_marching_cubes_of_a_ball_lies_on_its_sphere():
    from weightaug.inr.render import cube_grid, surface_mesh

    points = cube_grid(33)
    vertices, faces = surface_mesh((0.7 - points.norm(dim=-1)).reshape(33, 33, 33), 0.0)
    assert np.abs(np.linalg.norm(vertices, axis=1) - 0.7).max() < 0.01 and len(faces) > 100
    assert surface_mesh(torch.ones(8, 8, 8), 0.0) is None  # nothing to draw


def test_modelnet_downloads_and_unpacks_where_asked(tmp_path, monkeypatch):
    import shutil

    import weightaug.data.meshes as meshes

    _modelnet(tmp_path / "site" / "ModelNet10")
    archive = shutil.make_archive(str(tmp_path / "site" / "ModelNet10"), "zip", tmp_path / "site", "ModelNet10")
    monkeypatch.setitem(meshes.MODELNET, "modelnet10", (f"file://{archive}", "ModelNet10"))
    source = load_meshes("modelnet10", tmp_path / "data", download=True)
    assert source.classes == ("ball", "cube") and (tmp_path / "data" / "ModelNet10" / "ball" / "train").is_dir()
    assert not list((tmp_path / "data").glob(".*"))  # nothing half-unpacked left behind
    assert load_meshes("modelnet10", tmp_path / "data").files == source.files  # found there the next time
