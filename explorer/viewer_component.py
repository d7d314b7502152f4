"""The 3D structure viewer's two halves: the browser code and the data it draws.

The drawing is chemiscope's ``MoleculeViewer`` (3Dmol.js inside; CPK/Jmol colours, bonds by
covalent radii on the drawn atoms, unit cell, supercells, environments, shapes, colour by a
per-atom property with a colour bar, PNG export), from the JavaScript bundle that the installed
``chemiscope`` package ships (``chemiscope/sphinx/static/chemiscope.min.js``). It is served by this
app under :data:`SCRIPT_URL` (same origin: the Content-Security-Policy's ``script-src 'self'``;
never a CDN) and driven by ``assets/structure_viewer.js``.

What goes to the browser for one click is :func:`viewer_payload`: the structure's arrays (and
those of the trajectory it belongs to), its per-atom properties, its shapes and, in per-atom
mode, its environments. The browser does the rest (styles, supercell, wrapping, labels, playback),
so a click costs the server one small JSON document.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from compute.tensors import ellipsoids, symmetric_matrices

from .rows import numeric_columns, shape_groups

#: where the app serves chemiscope's built JavaScript
SCRIPT_URL = "/_viewer/chemiscope.min.js"
#: a trajectory sent with a click holds at most this many atoms over all its frames ...
MAX_TRAJECTORY_ATOMS = 200_000
#: ... and at most this many frames
MAX_TRAJECTORY_FRAMES = 400
#: consecutive structures are frames of one trajectory when no atom moves more than this (Å)
MAX_FRAME_STEP = 1.5
#: shapes keep one scale over a whole dataset (a twice larger dipole is a twice longer arrow on
#: every structure): the largest per-atom arrow / ellipsoid semi-axis of the dataset is this long (Å)
#: at scale 1; per-structure ones reach beyond the atoms (see :func:`shape_scales`)
ARROW_LENGTH = {"structure": 2.0, "atom": 1.5}
ELLIPSOID_SIZE = {"structure": 2.0, "atom": 1.2}
#: one colour per shape (arrows and ellipsoids each in the order of the dataset's shape list); ellipsoids are see-through
#: (chemiscope reads the alpha of a ``#RRGGBBAA`` colour) so that the atoms inside stay visible.
#: One colour per shape, not the atoms' colours: an arrow starts inside its atom's ball and a white
#: hydrogen arrow is lost on the light background.
SHAPE_COLORS = {"arrow": ("#d62728", "#2ca02c", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"),
                "ellipsoid": ("#2f6fad", "#9467bd", "#17becf", "#bcbd22", "#2ca02c", "#8c564b")}
ELLIPSOID_ALPHA = {"structure": "bf", "atom": "bf"}  # 0.75, 0.75
#: a model's predicted vector or tensor, drawn with its reference (same scale, same place): one
#: colour no reference shape has, so the two read apart when they overlap
PREDICTED_COLORS = {"arrow": "#111111", "ellipsoid": "#f0a30a"}


def script_path() -> Path:
    """The built chemiscope bundle inside the installed ``chemiscope`` package."""
    path = Path(str(resources.files("chemiscope"))) / "sphinx" / "static" / "chemiscope.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"chemiscope's built viewer is not in the installed package ({path})")
    return path


def install(server) -> None:
    """Serve :func:`script_path` at :data:`SCRIPT_URL` on the Flask ``server`` (cached a day: 3 MB)."""
    import flask

    if any(rule.rule == SCRIPT_URL for rule in server.url_map.iter_rules()):
        return

    def chemiscope_script():
        return flask.send_file(script_path(), mimetype="text/javascript", max_age=86400, conditional=True)

    server.add_url_rule(SCRIPT_URL, "viewer_chemiscope_script", chemiscope_script)


# -- the structure, as chemiscope reads it --------------------------------------------------------


def structure_json(atoms) -> dict:
    """chemiscope's structure: ``size``, ``names``, ``x``/``y``/``z`` (Å, 4 decimals: a smaller
    document) and ``cell`` (9 numbers, rows a, b, c) when the structure is periodic.

    Examples
    --------
    >>> from ase.build import molecule
    >>> s = structure_json(molecule("H2O"))
    >>> s["size"], s["names"], "cell" in s
    (3, ['O', 'H', 'H'], False)
    """
    pos = np.round(np.asarray(atoms.positions, dtype=float), 4)
    out = {"size": int(len(atoms)), "names": list(atoms.get_chemical_symbols()),
           "x": pos[:, 0].tolist(), "y": pos[:, 1].tolist(), "z": pos[:, 2].tolist()}
    cell = np.asarray(atoms.cell.array, dtype=float)
    if np.any(atoms.pbc) and abs(np.linalg.det(cell)) > 1e-8:
        out["cell"] = np.round(cell, 6).ravel().tolist()
    return out


def _same_system(a, b) -> bool:
    if len(a) != len(b) or not np.array_equal(a.numbers, b.numbers) or not np.array_equal(a.pbc, b.pbc):
        return False
    if not np.allclose(a.cell.array, b.cell.array, atol=0.5):
        return False
    step = np.asarray(b.positions) - np.asarray(a.positions)
    cell = np.asarray(a.cell.array, dtype=float)
    if np.any(a.pbc) and abs(np.linalg.det(cell)) > 1e-8:  # minimum image: a wrapped atom did not jump
        frac = step @ np.linalg.inv(cell)
        frac -= np.round(frac) * np.asarray(a.pbc, dtype=float)
        step = frac @ cell
    return bool(np.all(np.linalg.norm(step, axis=1) < MAX_FRAME_STEP)) if len(step) else False


def trajectory_frames(structures, index: int, max_atoms: int = MAX_TRAJECTORY_ATOMS,
                      max_frames: int = MAX_TRAJECTORY_FRAMES) -> list[int]:
    """The structures around ``index`` that form one trajectory with it: consecutive, the same
    atoms in the same order, no atom moving more than :data:`MAX_FRAME_STEP` between frames.
    ``[index]`` alone when it is no trajectory. At most ``max_frames`` frames and ``max_atoms``
    atoms in all, as evenly around ``index`` as the trajectory allows.

    Examples
    --------
    >>> from ase.build import molecule
    >>> frames = [molecule("H2O") for _ in range(3)] + [molecule("CH4")]
    >>> trajectory_frames(frames, 1), trajectory_frames(frames, 3)
    ([0, 1, 2], [3])
    """
    n = len(structures[index])
    limit = max(1, min(max_frames, max_atoms // max(n, 1)))
    lo = hi = index
    grew = True
    while grew and hi - lo + 1 < limit:
        grew = False
        if hi + 1 < len(structures) and _same_system(structures[hi], structures[hi + 1]):
            hi += 1
            grew = True
        if hi - lo + 1 < limit and lo > 0 and _same_system(structures[lo - 1], structures[lo]):
            lo -= 1
            grew = True
    return list(range(lo, hi + 1))


# -- properties and shapes ------------------------------------------------------------------------


def _extent(atoms) -> float:
    """How far the atoms reach from their centre of mass (Å)."""
    if not len(atoms):
        return 0.0
    pos = np.asarray(atoms.positions, dtype=float)
    return float(np.linalg.norm(pos - atoms.get_center_of_mass(), axis=1).max())


_SCALES: dict[int, tuple] = {}


def shape_scales(dataset) -> dict[str, dict]:
    """The shapes a dataset offers, by label (``"<name> (structure)"``, ``"<name> (per atom)"``):
    ``level``, ``columns``, ``kind`` ("arrow" for 3-vectors, "ellipsoid" for 6-component tensors),
    ``factor`` (Å per unit of the data, one for the whole dataset so sizes compare between
    structures) and ``color``. The largest per-atom arrow is :data:`ARROW_LENGTH` long, the largest
    per-atom semi-axis :data:`ELLIPSOID_SIZE`; per-structure shapes sit at the centre of mass, so
    the largest arrow is 2 Å longer than the farthest atom of the structures is from their centre
    (a shorter one, buried in its molecule, is shown with the scale control) and the largest
    ellipsoid reaches as far as that atom; at least the sizes above and at most 10 Å (a bulk
    crystal). Cached per dataset (it reads every row once)."""
    cached = _SCALES.get(id(dataset))
    if cached is not None and cached[0]() is dataset:
        return cached[1]
    import weakref

    found = []
    table = dataset.structure_properties
    if dataset.structures and len(table) == len(dataset.structures):
        found += [("structure", name, cols, table) for name, cols in shape_groups(numeric_columns(table, table.columns)).items()]
    atoms_table = dataset.atom_properties
    if dataset.structures and len(atoms_table.columns) > 2:
        found += [("atom", name, cols, atoms_table) for name, cols in shape_groups(numeric_columns(atoms_table, atoms_table.columns)).items()]
    reach = None
    out: dict[str, dict] = {}
    for level, name, cols, source in found:
        values = source[cols].to_numpy(dtype=float)
        values = values[np.isfinite(values).all(axis=1)]
        if not len(values):
            continue
        tensor = len(cols) == 6
        biggest = float(np.abs(np.linalg.eigvalsh(symmetric_matrices(values))).max() if tensor else np.linalg.norm(values, axis=1).max())
        target = (ELLIPSOID_SIZE if tensor else ARROW_LENGTH)[level]
        if level == "structure":
            if reach is None:  # the extent of (up to 200, evenly picked) structures
                picked = dataset.structures[:: max(1, len(dataset.structures) // 200)]
                reach = max(_extent(a) for a in picked)
            target = min(10.0, max(target, reach if tensor else reach + 2.0))
        label = f"{name} ({'per atom' if level == 'atom' else 'structure'})"
        out[label] = {"level": level, "columns": list(cols), "kind": "ellipsoid" if tensor else "arrow",
                      "factor": target / biggest if biggest > 0 else 1.0}
    for kind, palette in SHAPE_COLORS.items():
        for k, label in enumerate(sorted(label for label in out if out[label]["kind"] == kind)):
            spec = out[label]
            spec["color"] = palette[k % len(palette)] + (ELLIPSOID_ALPHA[spec["level"]] if kind == "ellipsoid" else "")
    try:
        _SCALES[id(dataset)] = (weakref.ref(dataset), out)
        if len(_SCALES) > 32:  # datasets come and go with uploads: forget the oldest
            _SCALES.pop(next(iter(_SCALES)))
    except TypeError:  # not weak-referenceable: computed again next time
        pass
    return out


def predicted_shape(specs: dict, name: str, level: str, values_by_structure: dict) -> dict:
    """The shape spec of a model's predictions of property ``name`` (``level`` "structure" or
    "atom"), beside :func:`shape_scales`' spec of the reference: same kind and scale (a predicted
    arrow twice as long means a twice larger prediction), its own colour. ``values_by_structure``:
    structure index -> (1, k) or (n_atoms, k) predicted components. {} without a reference."""
    reference = f"{name} ({'per atom' if level == 'atom' else 'structure'})"
    if reference not in specs:
        return {}
    spec = specs[reference]
    color = PREDICTED_COLORS[spec["kind"]] + (ELLIPSOID_ALPHA[level] if spec["kind"] == "ellipsoid" else "")
    label = f"{name} predicted ({'per atom' if level == 'atom' else 'structure'})"
    return {label: {**spec, "color": color, "values": values_by_structure, "reference": reference}}


def _shapes_for(frames_atoms, structure_rows, atom_rows, specs, structures=None) -> list[dict]:
    """chemiscope shapes of each frame (``structure.shapes`` as its MoleculeViewer reads them:
    ``{label: {kind, parameters: {global, structure: [one], atom: [one per atom]}}}``), for the
    shapes of :func:`shape_scales`: an arrow per 3-vector, an ellipsoid per tensor; per-structure
    ones at the centre of mass, per-atom ones on every atom. A spec with ``values`` (a model's
    predictions, :func:`predicted_shape`) takes them by structure index (``structures``, of each
    frame) instead of from the tables. The browser's scale control sets
    ``parameters.global.scale``."""
    out: list[dict] = [{} for _ in frames_atoms]
    for label, spec in specs.items():
        level, tensor = spec["level"], spec["kind"] == "ellipsoid"
        rows = structure_rows if level == "structure" else atom_rows
        if rows is None and "values" not in spec:
            continue
        for k in range(len(frames_atoms)):
            if "values" in spec:
                values = spec["values"].get(int(structures[k]))
                if values is None or len(values) != (1 if level == "structure" else len(frames_atoms[k])):
                    continue
                values = np.asarray(values, dtype=float)
            else:
                values = (rows[spec["columns"]].to_numpy(dtype=float)[k:k + 1] if level == "structure"
                          else atom_rows[k][spec["columns"]].to_numpy(dtype=float))
            if not (values.size and np.isfinite(values).all()):
                continue
            if tensor:
                axes, quaternions = ellipsoids(values)
                axes = np.round(np.maximum(axes * spec["factor"], 0.02), 4).tolist()
                quaternions = np.round(quaternions, 6).tolist()
                items = [{"semiaxes": a, "orientation": q} for a, q in zip(axes, quaternions)]
            else:
                vectors = values * spec["factor"]
                # a zero vector has no direction (chemiscope divides by its length): a speck instead
                vectors[np.linalg.norm(vectors, axis=1) < 1e-4] = (0.0, 0.0, 1e-4)
                items = [{"vector": v} for v in np.round(vectors, 4).tolist()]
            params: dict = {"global": {"scale": 1.0, "color": spec["color"]}}
            if not tensor:  # thicker than chemiscope's defaults (0.1, 0.15, 0.2): seen beside the bonds
                big = level == "structure"
                params["global"].update(baseRadius=0.18 if big else 0.08, headRadius=0.4 if big else 0.18,
                                        headLength=0.9 if big else 0.35)
            if level == "structure":
                items[0]["position"] = np.round(frames_atoms[k].get_center_of_mass(), 4).tolist()
                params["structure"] = items
            else:
                params["atom"] = items
            out[k][label] = {"kind": spec["kind"], "parameters": params}
    return out


def _atom_rows(dataset, structure: int, n_atoms: int):
    """The atom-property rows of ``structure`` (in atom order), or None when they do not match."""
    table = dataset.atom_properties
    if len(table.columns) <= 2:
        return None
    mine = table[table["structure"] == structure].sort_values("atom")
    return mine if len(mine) == n_atoms else None


def viewer_payload(dataset, rows, row: int, *, cutoff: float | None = None, title: str = "", predictions: dict | None = None) -> dict:
    """What the browser needs to show map row ``row``: ``frames`` (the trajectory the structure
    belongs to, each ``{structure, row, data, properties}``: chemiscope's structure with its
    ``shapes``, and its numeric per-atom properties), ``frame`` (the position of the clicked one),
    ``center`` and ``cutoff`` (per-atom mode), ``title``, ``properties`` (the names offered for
    colours and labels) and ``shapes`` (the shape names). ``predictions``
    (``{"name", "level", "values": {structure: components}}``, a vector or tensor model's) adds
    the predicted shape beside the reference one."""
    structure = int(rows.structure[row])
    center = int(rows.atom[row]) if rows.atom is not None else None
    frames = trajectory_frames(dataset.structures, structure)
    atoms_of = [dataset.structures[s] for s in frames]
    atom_rows = [_atom_rows(dataset, s, len(a)) for s, a in zip(frames, atoms_of)]
    if any(r is None for r in atom_rows):
        atom_rows = None
    table = dataset.structure_properties
    specs = shape_scales(dataset)
    if predictions:
        specs = {**specs, **predicted_shape(specs, predictions["name"], predictions["level"], predictions["values"])}
    shapes = _shapes_for(atoms_of, table.iloc[frames] if len(table) == len(dataset.structures) else None, atom_rows,
                         specs, frames)
    names = numeric_columns(atom_rows[0], atom_rows[0].columns) if atom_rows else []
    # the first map row of each frame (the ring on the map follows playback)
    first = {}
    for r in np.flatnonzero(np.isin(rows.structure, frames)):
        first.setdefault(int(rows.structure[r]), int(r))
    if center is not None:  # per-atom mode: the frame's environment with the same centre atom
        same = np.flatnonzero(np.isin(rows.structure, frames) & (rows.atom == center))
        first.update({int(rows.structure[r]): int(r) for r in same})
    out_frames = []
    for k, (s, atoms) in enumerate(zip(frames, atoms_of)):
        data = structure_json(atoms)
        if shapes[k]:
            data["shapes"] = shapes[k]
        props = {"index": list(range(len(atoms)))}
        if atom_rows:
            for name in names:
                values = atom_rows[k][name].to_numpy(dtype=float)
                props[str(name)] = [None if not np.isfinite(v) else round(float(v), 6) for v in values]
        out_frames.append({"structure": int(s), "row": first.get(int(s)), "data": data, "properties": props})
    return {
        "dataset": None, "per": rows.per, "structure": structure, "center": center,
        "cutoff": float(cutoff) if (center is not None and cutoff) else None,
        "title": title, "frames": out_frames, "frame": frames.index(structure),
        "properties": ["index"] + [str(n) for n in names],
        "shapes": sorted({name for frame in shapes for name in frame}),
    }
