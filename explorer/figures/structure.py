"""One structure in 3D: :func:`structure_figure` (atoms as shaded sphere meshes or markers, bonds,
unit cell, the centre atom and cutoff sphere of an environment) and :func:`empty_scene_figure`.

Bonds come from :func:`compute.systems.covalent_bonds` (one neighbour search, periodic images
included); the meshes are built here (:func:`unit_sphere`).
"""

from __future__ import annotations

import functools

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from .style import COLORSCALE, MISSING_COLOR, TEMPLATE, title as title_layout

#: atoms up to this count are drawn as shaded sphere meshes; above it, as markers
MAX_MESH_ATOMS = 500
#: sphere radius of an atom, as a fraction of its covalent radius (ball-and-stick look)
ATOM_RADIUS_SCALE = 0.5
#: two atoms are bonded when closer than this times the sum of their covalent radii
BOND_TOLERANCE = 1.2
_LIGHTING = dict(ambient=0.7, diffuse=0.55, specular=0.25, roughness=0.5, fresnel=0.1)
_LIGHTPOSITION = dict(x=1000, y=1500, z=2500)


def unit_sphere(subdivisions: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (v, 3) and triangles (f, 3) of an icosphere of radius 1.

    ``subdivisions`` 0, 1, 2, 3 give 12, 42, 162, 642 vertices.
    """
    t = (1.0 + 5.0**0.5) / 2.0
    verts = [
        (-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t),
        (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1),
    ]  # fmt: skip
    faces = [
        (0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
        (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8),
        (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1),
    ]  # fmt: skip
    v = np.array(verts, dtype=float)
    f = np.array(faces, dtype=np.int64)
    for _ in range(subdivisions):
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        uniq, inverse = np.unique(edges, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        mid = v.shape[0] + inverse.reshape(3, -1).T  # midpoints of edges (01, 12, 20) per face
        v = np.concatenate([v, 0.5 * (v[uniq[:, 0]] + v[uniq[:, 1]])])
        a, b, c = f.T
        ab, bc, ca = mid.T
        f = np.concatenate(
            [np.stack(s, axis=1) for s in ((a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca))]
        )
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v, f


def _spheres_mesh(centers: np.ndarray, radii: np.ndarray, subdivisions: int):
    """One mesh holding a sphere per centre: (vertices, faces, atom of each vertex)."""
    sv, sf = unit_sphere(subdivisions)
    m = centers.shape[0]
    verts = (centers[:, None, :] + radii[:, None, None] * sv[None, :, :]).reshape(-1, 3)
    faces = (sf[None, :, :] + (np.arange(m) * sv.shape[0])[:, None, None]).reshape(-1, 3)
    owner = np.repeat(np.arange(m), sv.shape[0])
    return verts, faces, owner


def _rgb(color) -> str:
    r, g, b = (int(round(255 * float(c))) for c in color[:3])
    return f"rgb({r},{g},{b})"


def _cell_edges(cell: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 12 edges of the parallelepiped spanned by ``cell`` rows (zero-length ones dropped)."""
    a, b, c = np.asarray(cell, dtype=float)
    o = np.zeros(3)
    edges = []
    for u, v, w in ((a, b, c), (b, c, a), (c, a, b)):
        for start in (o, v, w, v + w):
            edges.append((start, start + u))
    edges = [(p, q) for p, q in edges if np.linalg.norm(q - p) > 1e-8]
    unique = []
    for p, q in edges:
        if not any(np.allclose(p, p2) and np.allclose(q, q2) for p2, q2 in unique):
            unique.append((p, q))
    return unique


def _segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, ...]:
    """x, y, z arrays of line segments separated by NaN gaps (one Scatter3d lines trace)."""
    k = starts.shape[0]
    pts = np.full((3 * k, 3), np.nan)
    pts[0::3] = starts
    pts[1::3] = ends
    return pts[:, 0], pts[:, 1], pts[:, 2]


def structure_bonds(atoms, tolerance: float = BOND_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """Directed bonds ``(i, D)``: atom ``i`` is bonded to the atom at ``positions[i] + D``.

    Pairs closer than ``tolerance`` times the sum of covalent radii, with periodic images
    (:func:`compute.systems.covalent_bonds`); each bond appears once from each end, so drawing
    the half ``positions[i] -> positions[i] + D / 2`` for every entry draws each bond inside the
    cell whole (half in the colour of each atom) and a bond across the cell boundary as a stub
    leaving each atom towards its partner's image.
    """
    from compute.systems import covalent_bonds

    return covalent_bonds(atoms, tolerance)


@functools.lru_cache(maxsize=1)
def _structure_template() -> go.layout.Template:
    """The few parts of the app's template a 3D view uses (its axes are hidden): building the
    whole template into every structure figure took ~50 ms per click and 6.5 kB of JSON."""
    white = pio.templates[TEMPLATE].layout
    return go.layout.Template(layout=dict(font=white.font, hoverlabel=white.hoverlabel, paper_bgcolor="white",
                                          colorway=white.colorway))


def structure_figure(
    atoms,
    *,
    center: int | None = None,
    cutoff: float | None = None,
    atom_color: np.ndarray | None = None,
    atom_color_name: str = "",
    title: str = "",
    max_mesh_atoms: int = MAX_MESH_ATOMS,
    uirevision=None,
) -> go.Figure:
    """A 3D view of one structure: atoms, bonds, unit cell; centre atom and cutoff sphere.

    Parameters
    ----------
    atoms : ase.Atoms
    center : int, optional
        Per-atom mode: the atom at the centre of the environment, drawn with a dark ring and,
        when ``cutoff`` is given, a translucent sphere of radius ``cutoff`` around it.
    cutoff : float, optional
        Radius of the cutoff sphere, in Å.
    atom_color : array (n_atoms,), optional
        A per-atom property: atoms are coloured by it with a colour bar titled
        ``atom_color_name`` (atoms with NaN are grey). By default atoms have Jmol colours.
    title : str
    max_mesh_atoms : int
        Up to this many atoms are drawn as shaded spheres (``Mesh3d``, radius proportional to
        the covalent radius); above it, as markers (``Scatter3d``), which stays fast.
    uirevision
        Keep the camera while this value is unchanged (None: reset for every structure).

    Returns
    -------
    plotly.graph_objects.Figure
        Traces: one per element (named by the symbol, in the legend; ``customdata`` of each
        vertex or marker is its atom index), "bonds" (line segments, half in each atom's
        colour), "unit cell" (periodic structures only), "centre atom" and "cutoff sphere"
        (per-atom mode).

    Examples
    --------
    >>> from ase.build import molecule
    >>> fig = structure_figure(molecule("CH4"))
    >>> sorted(t.name for t in fig.data if t.meta and t.meta.get("kind") == "atoms")
    ['C', 'H']
    """
    from ase.data import chemical_symbols, covalent_radii
    from ase.data.colors import jmol_colors

    n = len(atoms)
    pos = np.asarray(atoms.positions, dtype=float)
    numbers = np.asarray(atoms.numbers)
    symbols = np.array([chemical_symbols[z] for z in numbers])
    use_mesh = n <= max_mesh_atoms
    traces = []

    values = None
    if atom_color is not None:
        values = np.asarray(atom_color, dtype=float).ravel()
        if values.shape[0] != n:
            raise ValueError(
                f"structure_figure: atom_color has {values.shape[0]} values for {n} atoms"
            )
    has_values = values is not None and np.isfinite(values).any()
    cmin = cmax = None
    if has_values:
        cmin, cmax = float(np.nanmin(values)), float(np.nanmax(values))
        if cmax <= cmin:
            cmin, cmax = cmin - 0.5, cmax + 0.5

    def hover_text(rows):
        text = [f"<b>{symbols[a]}</b> atom {a}" for a in rows]
        if values is not None:
            name = atom_color_name or "value"
            text = [f"{t}<br>{name}: {values[a]:.4g}" for t, a in zip(text, rows)]
        return np.array(text)

    # -- atoms: one trace per element (and per "has a value") ---------------------------------------
    groups = []
    for z in sorted(set(numbers.tolist()), key=lambda z: (z == 1, z)):
        rows = np.flatnonzero(numbers == z)
        if has_values:
            finite = np.isfinite(values[rows])
            groups.append((z, rows[finite], True))
            if (~finite).any():
                groups.append((z, rows[~finite], False))
        else:
            groups.append((z, rows, False))
    # sphere detail: 162 vertices per atom up to 150 atoms (smooth at any zoom; a finer mesh made a
    # small molecule's figure 1 MB, slow to send and to draw), 42 above
    subdivisions = 2 if n <= 150 else 1
    first_scale = True
    for z, rows, colored in groups:
        if rows.size == 0:
            continue
        symbol = chemical_symbols[z]
        element_color = _rgb(jmol_colors[z])
        if values is not None and not colored:
            element_color = MISSING_COLOR
        radius = ATOM_RADIUS_SCALE * covalent_radii[z]
        meta = dict(kind="atoms", element=symbol, atoms=rows.tolist())
        showscale = colored and first_scale
        if colored:
            first_scale = False
        if use_mesh:
            verts, faces, owner = _spheres_mesh(pos[rows], np.full(rows.size, radius), subdivisions)
            atom_of_vertex = rows[owner]
            mesh = dict(
                x=verts[:, 0], y=verts[:, 1], z=verts[:, 2],
                i=faces[:, 0], j=faces[:, 1], k=faces[:, 2],
                name=symbol, legendgroup=symbol, showlegend=True,
                customdata=atom_of_vertex,
                flatshading=False, lighting=_LIGHTING, lightposition=_LIGHTPOSITION,
                meta=meta,
            )  # fmt: skip
            if values is None:  # the atom's number from customdata: no text per vertex to send
                mesh.update(hovertemplate=f"<b>{symbol}</b> atom %{{customdata}}<extra></extra>")
            else:
                mesh.update(text=hover_text(rows)[owner], hovertemplate="%{text}<extra></extra>")
            if colored:
                mesh.update(
                    intensity=values[atom_of_vertex], intensitymode="vertex",
                    coloraxis="coloraxis", showscale=showscale,
                )  # fmt: skip
            else:
                mesh.update(color=element_color, showscale=False)
            traces.append(go.Mesh3d(**mesh))
        else:
            px = (2.0 + 6.0 * covalent_radii[z]) * float(np.clip((500.0 / n) ** (1 / 3), 0.4, 1.0))
            marker = dict(size=px, line=dict(width=0.5, color="#444444"), opacity=1.0)
            if colored:
                marker.update(color=values[rows], coloraxis="coloraxis")
            else:
                marker.update(color=element_color)
            traces.append(
                go.Scatter3d(
                    x=pos[rows, 0], y=pos[rows, 1], z=pos[rows, 2], mode="markers",
                    name=symbol, legendgroup=symbol, customdata=rows,
                    text=hover_text(rows), hovertemplate="%{text}<extra></extra>",
                    marker=marker, meta=meta,
                )  # fmt: skip
            )

    # -- bonds (half in the colour of each end) and the unit cell ---------------------------------------
    bond_traces, n_bonds = _bond_traces(atoms, colored_atoms=values is not None)
    traces.extend(bond_traces)
    if atoms.pbc.any() and np.abs(atoms.cell.array).sum() > 0:
        traces.append(_cell_trace(atoms.cell.array))

    # -- per-atom mode: centre and cutoff sphere --------------------------------------------------------
    if center is not None:
        center = int(center)
        if not 0 <= center < n:
            raise ValueError(f"structure_figure: center {center} is not an atom index (0..{n - 1})")
        c = pos[center]
        traces.append(
            go.Scatter3d(
                x=[c[0]], y=[c[1]], z=[c[2]], mode="markers", name="centre atom",
                customdata=[center], text=hover_text([center]),
                hovertemplate="centre: %{text}<extra></extra>",
                marker=dict(size=26 if use_mesh else 18, symbol="circle-open", color="#111111",
                            line=dict(width=4, color="#111111")),
                meta=dict(kind="center", atom=center),
            )  # fmt: skip
        )
        if cutoff is not None and cutoff > 0:
            sv, sf = unit_sphere(3)
            verts = c + float(cutoff) * sv
            traces.append(
                go.Mesh3d(
                    x=verts[:, 0], y=verts[:, 1], z=verts[:, 2],
                    i=sf[:, 0], j=sf[:, 1], k=sf[:, 2],
                    name=f"cutoff sphere ({float(cutoff):g} Å)", color="#4f8fd6", opacity=0.15,
                    hoverinfo="skip", showlegend=True, flatshading=False,
                    lighting=dict(ambient=0.8, diffuse=0.3, specular=0.1),
                    meta=dict(kind="cutoff", radius=float(cutoff), center=c.tolist()),
                )  # fmt: skip
            )

    fig = go.Figure(data=traces)
    hidden = dict(visible=False, showbackground=False, showgrid=False, zeroline=False)
    layout = dict(
        template=_structure_template(),
        paper_bgcolor="white",
        # the legend sits in a strip below the view, so it never covers atoms
        margin=dict(l=0, r=0, t=40 if title else 0, b=30),
        scene=dict(
            domain=dict(y=[0.08, 1.0]),
            xaxis=hidden, yaxis=hidden, zaxis=hidden, aspectmode="data",
            bgcolor="white", dragmode="orbit",
            camera=dict(projection=dict(type="orthographic"), eye=dict(x=1.7, y=1.1, z=0.7)),
        ),  # fmt: skip
        legend=dict(itemsizing="constant", orientation="h", x=0.0, y=0.0, yanchor="top", bgcolor="rgba(255,255,255,0.7)"),
        uirevision=uirevision,
        meta=dict(n_atoms=int(n), n_bonds=int(n_bonds), mode="mesh" if use_mesh else "markers"),
    )
    if title:
        layout["title"] = title_layout(title)
    if has_values:
        layout["coloraxis"] = dict(
            colorscale=COLORSCALE, cmin=cmin, cmax=cmax,
            colorbar=dict(title=dict(text=atom_color_name, side="right"), thickness=14, len=0.7),
        )  # fmt: skip
    fig.update_layout(**layout)
    return fig



def _bond_traces(atoms, *, colored_atoms: bool) -> tuple[list, int]:
    """(traces, number of bonds): a lines trace of half-bonds per element, each half in the colour
    of its atom (grey when the atoms are coloured by a property)."""
    from ase.data.colors import jmol_colors

    pos = np.asarray(atoms.positions, dtype=float)
    numbers = np.asarray(atoms.numbers)
    bond_i, bond_d = structure_bonds(atoms)
    n_bonds = bond_i.size // 2
    traces = []
    if bond_i.size:
        starts = pos[bond_i]
        ends = starts + 0.5 * bond_d
        first = True
        for z in sorted(set(numbers[bond_i].tolist())):
            sel = numbers[bond_i] == z
            color = _rgb(jmol_colors[z]) if not colored_atoms else "#8a8a8a"
            x, y, zz = _segments(starts[sel], ends[sel])
            traces.append(
                go.Scatter3d(
                    x=x, y=y, z=zz, mode="lines", name="bonds", legendgroup="bonds",
                    showlegend=first, hoverinfo="skip",
                    line=dict(color=color, width=7 if len(atoms) <= 200 else 4),
                    meta=dict(kind="bonds", n_bonds=int(n_bonds), n_halves=int(sel.sum())),
                )  # fmt: skip
            )
            first = False
    return traces, n_bonds


def _cell_trace(cell: np.ndarray):
    """The edges of the unit cell, one lines trace."""
    edges = _cell_edges(cell)
    x, y, zz = _segments(np.array([p for p, _ in edges]), np.array([q for _, q in edges]))
    return go.Scatter3d(
        x=x, y=y, z=zz, mode="lines", name="unit cell", hoverinfo="skip",
        line=dict(color="#333333", width=2), meta=dict(kind="cell", n_edges=len(edges)),
    )  # fmt: skip


def empty_scene_figure() -> go.Figure:
    """An empty 3D scene, laid out as :func:`structure_figure`: drawn (invisibly) when the page
    opens, so the first structure shown reuses a ready WebGL scene.

    Examples
    --------
    >>> empty_scene_figure().data[0].type
    'scatter3d'
    """
    import ase

    layout = structure_figure(ase.Atoms("H", positions=[[0.0, 0.0, 0.0]])).layout
    layout.update(title=None, meta=None)
    return go.Figure(data=[go.Scatter3d(x=[], y=[], z=[], mode="markers", showlegend=False, hoverinfo="skip")], layout=layout)
