/* The 3D structure viewer: chemiscope's MoleculeViewer (3Dmol.js), from the bundle the installed
   chemiscope package ships, served by this app (explorer/viewer_component.py: SCRIPT_URL).

   The server sends what a click shows (`viewer-payload`: the frames of the structure's trajectory
   with their per-atom properties and shapes, the centre atom and cutoff in per-atom mode); here it
   is drawn, and everything else happens without a server round trip: styles, labels, colours,
   unit cell, supercell, wrapping into the cell, "environment only", shape scale, playback, and up to
   four viewers side by side, each with its own marker on the map. The active viewer (the one with
   the coloured frame) follows clicks on the map; a click on another viewer makes it active.

   Each viewer cell carries `data-drawn` ("structure:frame" once 3Dmol has rendered it): what the
   browser tests and the benchmark wait for. */
(function () {
    "use strict";
    const SCRIPT_URL = "/_viewer/chemiscope.min.js";
    const MAX_VIEWERS = 4;
    // Above this many drawn atoms a structure opens space filling unless a style was chosen: with
    // software WebGL, turning 10,000 atoms took 267 ms a frame with bonds, 50 ms without
    const LARGE_ATOMS = 3000;
    // Above this many drawn atoms, or with software WebGL (no GPU: every pixel costs), turning,
    // zooming or panning draws at the screen's own resolution instead of 3Dmol's antialiasing 2x (a
    // quarter of the pixels); the sharp frame comes back when the hand stops. With software WebGL,
    // 120 mouse moves turning 10,000 copper atoms took 12.8 s at 2x, 6.8 s so; a small molecule 10.6 s.
    const DRAFT_ATOMS = 2000;
    const SOFTWARE_GL = /swiftshader|llvmpipe|softpipe|software|basic render/i;
    const DRAFT_WHEEL_MS = 250;  // a zoom by the wheel is over when no wheel event came for this long
    // a per-structure arrow more than this far out of the screen plane is turned into it (degrees)
    const ARROW_TILT = 25;
    // a new structure fills its view: its farthest atom this far from the centre to the edge, with
    // about the radius an atom is drawn with in each style (Å; space filling: van der Waals radii)
    const FILL_EDGE = 0.9;
    const DRAWN_RADIUS = {"ball-and-stick": 0.5, "licorice": 0.3, "space-filling": 1.9};
    // atoms per Å^3 above which a structure with a cell is condensed matter (crystals and liquids hold
    // 0.03-0.15; a molecule in a vacuum box far fewer): its unit cell is fitted in the view with it
    const CONDENSED_DENSITY = 0.01;
    const PREDICTED = " predicted (";  // in the label of a model's predicted shape (viewer_component.predicted_shape)
    const COLORS = ["#d62728", "#2f6fad", "#2ca02c", "#9467bd"];
    const PINS = "pinned viewers";   // the map trace marking each viewer's structure
    const MAP = "#map-graph .js-plotly-plot";
    const SPEEDS = {"0.5x": 1400, "1x": 700, "2x": 350, "4x": 175, "8x": 90};

    // chemiscope's bundle carries its own plotly.js and publishes it as window.Plotly. Loaded
    // before the page's own plotly (which Dash fetches when the first graph mounts), dcc.Graph
    // found that one and drew the map with it: no positioned layers, the title and colour bar
    // under the plot, the plot over the tabs. So the bundle loads only once the page's plotly is
    // there, window.Plotly keeps pointing at it (chemiscope uses its own copy internally), and
    // the page's plotly style rules are put back last in the page.
    function pagePlotly() {
        return new Promise(function (resolve) {
            const start = Date.now();
            (function wait() {
                if (window.Plotly || Date.now() - start > 60000) { resolve(window.Plotly); } else { setTimeout(wait, 100); }
            })();
        });
    }
    function plotlyRules() {
        const rules = [];
        Array.from(document.styleSheets).forEach(function (sheet) {
            const owner = sheet.ownerNode;
            if (!owner || owner.id !== "plotly.js-style-global") { return; }
            try { Array.from(sheet.cssRules).forEach(function (rule) { rules.push(rule.cssText); }); } catch (error) { /* unreadable */ }
        });
        return rules;
    }
    function restorePlotlyRules(rules) {
        if (!rules.length) { return; }
        const style = document.createElement("style");
        style.id = "explorer-plotly-base";
        style.textContent = rules.join("\n");
        document.head.appendChild(style);
    }

    let loading = null;
    function library() {
        if (window.Chemiscope) { return Promise.resolve(window.Chemiscope); }
        if (!loading) {
            loading = pagePlotly().then(function (plotly) {
                return new Promise(function (resolve, reject) {
                    if (plotly) {  // the bundle's assignment is ignored; the page's plotly stays
                        Object.defineProperty(window, "Plotly", {configurable: true, enumerable: true,
                                                                 get: function () { return plotly; }, set: function () {}});
                    }
                    const saved = plotlyRules();
                    const script = document.createElement("script");
                    script.src = SCRIPT_URL;
                    script.onload = function () { restorePlotlyRules(saved); resolve(window.Chemiscope); };
                    script.onerror = function () { loading = null; reject(new Error("cannot load " + SCRIPT_URL)); };
                    document.head.appendChild(script);
                });
            });
        }
        return loading;
    }
    // A viewer built and drawn once off screen while the page is idle, adopted by the first cell:
    // creating chemiscope's viewer (a WebGL context, 3Dmol's shader programs compiled on its first
    // render) cost the first click of a page ~300 ms more than later ones.
    let warm = null;         // {host, viewer, names} until adopted
    function warmUp(Chemiscope) {
        if (warm || cells.length || !Chemiscope || !Chemiscope.MoleculeViewer) { return; }
        const host = document.createElement("div");
        host.className = "structure-host";
        host.setAttribute("aria-hidden", "true");
        host.style.cssText = "position:fixed;left:-10000px;top:0;width:320px;height:320px;";
        document.body.appendChild(host);
        try {
            const viewer = adapted(new Chemiscope.MoleculeViewer(host, ["index"]));
            warm = {host: host, viewer: viewer, names: "index"};
            // water, ball and stick, one arrow: the programs a first structure needs
            const water = {size: 3, names: ["O", "H", "H"], x: [0, 0.76, -0.76], y: [0, 0.59, 0.59], z: [0, 0, 0],
                           shapes: {warm: {kind: "arrow", parameters: {global: {}, structure: [{vector: [0, 0, 1]}]}}}};
            viewer.load(water, {index: [0, 1, 2]}, {target: "structure", trajectory: false}, function () {});
        } catch (error) {  // no WebGL: the first click builds its viewer and says why
            host.remove();
            warm = null;
        }
    }
    function whenIdle(callback) {
        if (window.requestIdleCallback) { window.requestIdleCallback(callback, {timeout: 3000}); }
        else { setTimeout(callback, 200); }
    }
    // fetched (and compiled) as the page opens, then a viewer warmed up: the first click only draws
    function preload() {
        library().then(function (Chemiscope) { whenIdle(function () { warmUp(Chemiscope); }); }).catch(function () {});
    }
    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", preload);
    } else {
        preload();
    }

    function setProps(id, props) {
        if (window.dash_clientside && window.dash_clientside.set_props) { window.dash_clientside.set_props(id, props); }
    }

    // -- state ------------------------------------------------------------------------------------
    const cells = [];        // {root, host, title, viewer, names, payload, frame, color}
    let active = 0;
    let settings = {style: "ball-and-stick", labels: "none", colorBy: null, range: [null, null], options: [],
                    supercell: [1, 1, 1], shapes: [], scale: 1.0, predicted: "beside"};
    let playing = null;      // interval id
    let previousStyle = null;
    let styleChosen = false; // a style picked by the user (not the page's default) is always kept
    let pageStyle = null;    // a style the page itself put in the menu, until the menu reports it
    const DEFAULT_STYLE = "ball-and-stick";
    let speed = "1x";

    function canvas() { return document.getElementById("viewer-canvas"); }

    function unusedColor() {
        const used = cells.map(function (c) { return c.color; });
        return COLORS.find(function (c) { return used.indexOf(c) < 0; }) || COLORS[0];
    }

    function newCell(Chemiscope) {
        const root = document.createElement("div");
        root.className = "structure-cell";
        const head = document.createElement("div");
        head.className = "structure-cell-head";
        const swatch = document.createElement("span");
        swatch.className = "structure-swatch";
        const title = document.createElement("span");
        title.className = "structure-title";
        const close = document.createElement("button");
        close.className = "structure-close";
        close.title = "Close this viewer";
        close.textContent = "\u00d7";
        head.append(swatch, title, close);
        let host = document.createElement("div");
        host.className = "structure-host";
        let viewer = null, names = null;
        if (warm) {  // the viewer warmed up off screen moves in (its WebGL context goes with it)
            host = warm.host;
            host.removeAttribute("style");
            host.removeAttribute("aria-hidden");
            viewer = warm.viewer;
            names = warm.names;
            warm = null;
        }
        // the predicted shapes' own view, beside the reference one (see `split`); hidden until asked
        const twinHost = document.createElement("div");
        twinHost.className = "structure-twin";  // not a .structure-host: that selector names the main view
        const hosts = document.createElement("div");
        hosts.className = "structure-hosts";
        hosts.append(host, twinHost);
        host.appendChild(caption("reference"));
        twinHost.appendChild(caption("predicted"));
        root.append(head, hosts);
        canvas().appendChild(root);
        const cell = {root: root, host: host, title: title, swatch: swatch, close: close, viewer: viewer, names: names,
                      twinHost: twinHost, twin: null, twinNames: null, split: false,
                      payload: null, frame: 0, color: unusedColor()};
        watchDraft(cell);
        swatch.style.background = cell.color;
        root.style.setProperty("--viewer-color", cell.color);
        root.addEventListener("pointerdown", function () { activate(cells.indexOf(cell)); }, true);
        close.addEventListener("click", function (event) { event.stopPropagation(); removeCell(cells.indexOf(cell)); });
        cells.push(cell);
        layoutCells();
        return cell;
    }

    function caption(text) {
        const span = document.createElement("span");
        span.className = "structure-caption";
        span.textContent = text;
        return span;
    }

    function layoutCells() {
        const box = canvas();
        if (!box) { return; }
        box.setAttribute("data-viewers", String(cells.length));
        cells.forEach(function (cell, k) {
            cell.root.classList.toggle("active", k === active);
            cell.close.style.display = cells.length > 1 ? "" : "none";
            if (cell.viewer) { cell.viewer.resize(); }
            if (cell.twin && cell.split) { cell.twin.resize(); }
        });
        const add = document.getElementById("viewer-add");
        if (add) { add.disabled = cells.length >= MAX_VIEWERS || !cells.length || !cells[active].payload; }
    }

    // chemiscope's viewer as this page wants it:
    // - integer labels (atom indices) as integers: chemiscope writes every number with 3 digits ("0.00e+0");
    // - its "3x3x3 supercell" badge at the bottom left: the rule that places it is not in the shadow
    //   root its viewer draws in, and unplaced the badge hides under the options button at the top left
    const BADGE_CSS = ".chsp-cell-info { position: absolute; bottom: 5px; left: 5px; z-index: 2; pointer-events: none;"
        + " font: 0.75rem system-ui, sans-serif; background: rgba(255, 255, 255, 0.85); color: #333; border-radius: 3px;"
        + " padding: 1px 5px; } .chsp-cell-info:empty { display: none; }";
    function adapted(viewer) {
        const format = viewer._formatLabel;
        if (typeof format === "function") {
            viewer._formatLabel = function (value) { return Number.isInteger(value) ? String(value) : format.call(viewer, value); };
        }
        if (viewer._shadow) {
            const style = document.createElement("style");
            style.textContent = BADGE_CSS;
            viewer._shadow.appendChild(style);
        }
        return viewer;
    }

    function ensureViewer(Chemiscope, cell, names) {
        const key = names.join("\u0001");
        if (cell.viewer && cell.names === key) { return; }
        if (cell.viewer) {
            cell.viewer.refreshOptions(true, names);
        } else {
            cell.viewer = adapted(new Chemiscope.MoleculeViewer(cell.host, names));
        }
        cell.names = key;
    }

    // -- drawing ----------------------------------------------------------------------------------
    function det3(m) {  // rows a, b, c
        const [a, b, c, d, e, f, g, h, i] = m;
        return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    }
    function inverse3(m) {  // rows a, b, c
        const [a, b, c, d, e, f, g, h, i] = m;
        const det = det3(m);
        if (Math.abs(det) < 1e-12) { return null; }
        return [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
                (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
                (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det];
    }

    // per-atom mode: the payload names a centre atom
    function perAtom(payload) { return !!payload && payload.center !== null && payload.center !== undefined; }
    // per-atom mode showing only the centre's environment (the other atoms hidden)
    function environmentOnly(payload) { return perAtom(payload) && settings.options.indexOf("environment") >= 0; }

    // the frame as chemiscope draws it: wrapped into the cell if asked, shapes scaled
    function structureOf(frame) {
        const data = frame.data;
        const s = Object.assign({}, data, {x: data.x.slice(), y: data.y.slice(), z: data.z.slice()});
        if (settings.options.indexOf("wrap") >= 0 && data.cell) {
            const m = data.cell, inv = inverse3(m);
            if (inv) {
                for (let k = 0; k < s.size; k++) {
                    const x = s.x[k], y = s.y[k], z = s.z[k];
                    // fractional = r . inv(cell) (cell rows are a, b, c)
                    let fa = x * inv[0] + y * inv[3] + z * inv[6];
                    let fb = x * inv[1] + y * inv[4] + z * inv[7];
                    let fc = x * inv[2] + y * inv[5] + z * inv[8];
                    fa -= Math.floor(fa); fb -= Math.floor(fb); fc -= Math.floor(fc);
                    s.x[k] = fa * m[0] + fb * m[3] + fc * m[6];
                    s.y[k] = fa * m[1] + fb * m[4] + fc * m[7];
                    s.z[k] = fa * m[2] + fb * m[5] + fc * m[8];
                }
            }
        }
        if (data.shapes) {
            s.shapes = {};
            Object.keys(data.shapes).forEach(function (name) {
                const shape = data.shapes[name];
                const params = Object.assign({}, shape.parameters, {global: Object.assign({}, shape.parameters.global, {scale: settings.scale})});
                s.shapes[name] = {kind: shape.kind, parameters: params};
            });
        }
        return s;
    }

    // the server's atom budget (compute.budget max_viewer_atoms) bounds the supercell too
    function withinBudget(supercell, size, limit) {
        const out = supercell.slice();
        while (limit && out[0] * out[1] * out[2] * size > limit && out[0] * out[1] * out[2] > 1) {
            const k = out.indexOf(Math.max.apply(null, out));
            out[k] -= 1;
        }
        return out;
    }

    // the style drawn: the chosen one, or space filling for a large structure while none was chosen
    function styleOf(cell) {
        if (styleChosen || !cell || !cell.payload) { return settings.style; }
        const frame = cell.payload.frames[cell.frame];
        const copies = frame.data.cell ? withinBudget(settings.supercell, frame.data.size, cell.payload.max_atoms) : [1, 1, 1];
        return frame.data.size * copies[0] * copies[1] * copies[2] > LARGE_ATOMS ? "space-filling" : DEFAULT_STYLE;
    }

    // the style menu shows the style drawn (a change the page makes itself is not the user's choice)
    function showStyle(cell) {
        const style = styleOf(cell);
        if (style !== settings.style) {
            pageStyle = style;
            setProps("viewer-style", {value: style});
        }
    }

    // the shapes ticked that this frame has
    function shownShapes(cell) {
        const frame = cell.payload.frames[cell.frame];
        return (settings.shapes || []).filter(function (n) { return frame.data.shapes && n in frame.data.shapes; });
    }

    // a model's predicted shapes in a view of their own, beside the reference (turned together):
    // asked for ("beside"), and both a predicted shape and another one are shown
    function splits(cell) {
        if (settings.predicted !== "beside" || !cell.payload) { return false; }
        const shown = shownShapes(cell);
        return shown.some(function (n) { return n.indexOf(PREDICTED) >= 0; }) && shown.some(function (n) { return n.indexOf(PREDICTED) < 0; });
    }

    // chemiscope's settings of the cell's main view, or (`twin`) of the predicted shapes' view
    function chemiscopeSettings(cell, twin) {
        const style = styleOf(cell);
        const payload = cell.payload;
        const frame = payload.frames[cell.frame];
        let shapes = shownShapes(cell);
        if (cell.split) { shapes = shapes.filter(function (n) { return (n.indexOf(PREDICTED) >= 0) === !!twin; }); }
        const out = {
            bonds: style !== "space-filling",
            atoms: style !== "licorice",
            spaceFilling: style === "space-filling",
            atomLabels: settings.labels !== "none",
            unitCell: settings.options.indexOf("cell") >= 0 && !!frame.data.cell,
            supercell: frame.data.cell ? withinBudget(settings.supercell, frame.data.size, payload.max_atoms) : [1, 1, 1],
            keepOrientation: true,
            shape: shapes.join(","),
        };
        if (settings.labels !== "none") { out.labelsProperty = settings.labels in frame.properties ? settings.labels : "element"; }
        const by = settings.colorBy && frame.properties[settings.colorBy] ? settings.colorBy : null;
        if (by) {
            let lo = settings.range[0], hi = settings.range[1];
            if (lo === null || hi === null) {  // automatic range: the values of every frame
                let min = Infinity, max = -Infinity;
                payload.frames.forEach(function (f) {
                    (f.properties[by] || []).forEach(function (v) { if (v !== null && v < min) { min = v; } if (v !== null && v > max) { max = v; } });
                });
                if (lo === null) { lo = min; }
                if (hi === null) { hi = max; }
            }
            if (!(hi > lo)) { hi = lo + 1; }
            out.color = {property: by, min: lo, max: hi, transform: "linear", palette: "bwr"};
        } else {
            out.color = {property: "element"};
        }
        if (perAtom(payload)) {
            out.environments = {activated: true, center: false, cutoff: payload.cutoff || 4.0,
                                bgStyle: environmentOnly(payload) ? "hide" : "ball-stick",
                                bgColor: "CPK"};
        }
        return out;
    }

    // draw frame `k` of the cell's payload; `fresh`: a new structure (camera reset)
    function draw(cell, k, fresh) {
        return library().then(function (Chemiscope) {
            const payload = cell.payload;
            const frame = payload.frames[k];
            ensureViewer(Chemiscope, cell, payload.properties);
            cell.frame = k;
            const options = {target: perAtom(payload) ? "atom" : "structure", trajectory: false, keepOrientation: !fresh};
            if (perAtom(payload)) {
                options.environments = frame.data.names.map(function (_, i) {
                    return {structure: frame.structure, center: i, cutoff: payload.cutoff || 4.0};
                });
                options.highlight = payload.center;
            }
            const properties = {};
            payload.properties.forEach(function (name) {
                properties[name] = (frame.properties[name] || []).map(function (v) { return v === null ? undefined : v; });
            });
            cell.root.removeAttribute("data-drawn");
            const structure = structureOf(frame);
            return new Promise(function (resolve) {
                cell.viewer.load(structure, properties, options, resolve);
            }).then(function () {
                cell.split = splits(cell);
                cell.viewer.applySettings(chemiscopeSettings(cell));
                showStyle(cell);
                cell.viewer.highlight(perAtom(payload) ? payload.center : undefined);
                return drawTwin(Chemiscope, cell, structure, properties, options);
            }).then(function () {
                if (fresh) { resetView(cell); } else { copyView(cell); }
                cell.title.textContent = titleOf(cell);
                cell.root.setAttribute("data-structure", String(frame.structure));
                cell.root.setAttribute("data-drawn", frame.structure + ":" + k);
                layoutCells();
                showPlayback();
                drawPins();
            });
        }).catch(function (error) {
            cell.title.textContent = "Cannot draw this structure: " + error;
            console.error(error);
        });
    }

    // the twin view of the predicted shapes: the same structure, drawn the same way, turned with
    // the main view (3Dmol's linked viewers), or hidden when the cell does not split
    function drawTwin(Chemiscope, cell, structure, properties, options) {
        link(cell, false);
        cell.root.classList.toggle("split", cell.split);
        if (!cell.split) { return Promise.resolve(); }
        const key = cell.payload.properties.join("\u0001");
        if (!cell.twin) {
            cell.twin = adapted(new Chemiscope.MoleculeViewer(cell.twinHost, cell.payload.properties));
        } else if (cell.twinNames !== key) {
            cell.twin.refreshOptions(true, cell.payload.properties);
        }
        cell.twinNames = key;
        cell.viewer.resize();
        cell.twin.resize();
        return new Promise(function (resolve) {
            cell.twin.load(structure, properties, Object.assign({}, options, {keepOrientation: true}), resolve);
        }).then(function () {
            cell.twin.applySettings(chemiscopeSettings(cell, true));
            cell.twin.highlight(options.highlight);
            link(cell, true);
        });
    }

    // 3Dmol's linked viewers: a turn of one is drawn by the other
    function link(cell, on) {
        if (!cell.twin || !cell.viewer || !cell.viewer._viewer || !cell.twin._viewer) { return; }
        const a = cell.viewer._viewer, b = cell.twin._viewer;
        a.linkedViewers = (a.linkedViewers || []).filter(function (v) { return v !== b; });
        b.linkedViewers = (b.linkedViewers || []).filter(function (v) { return v !== a; });
        if (on) { a.linkViewer(b); b.linkViewer(a); }
    }

    // the twin looks from where the main view looks
    function copyView(cell) {
        if (cell.split && cell.twin && cell.twin._viewer && cell.viewer && cell.viewer._viewer) {
            cell.twin._viewer.setView(cell.viewer._viewer.getView(), true);
        }
    }

    function titleOf(cell) {
        const p = cell.payload, f = p.frames[cell.frame];
        let text = p.frames.length > 1 ? p.title.replace(/^#\d+/, "#" + f.structure) : p.title;
        if (p.frames.length > 1) { text += " \u00b7 frame " + (cell.frame + 1) + "/" + p.frames.length; }
        if (!styleChosen && styleOf(cell) === "space-filling") { text += " \u00b7 space filling: many atoms (choose a style for bonds)"; }
        return text;
    }

    // -- the camera ---------------------------------------------------------------------------------
    // quaternions [x, y, z, w] as 3Dmol's view holds them: the rotation from the structure's axes to
    // the screen's (x right, y up, z towards the person)
    function qmul(a, b) {
        return [a[3] * b[0] + a[0] * b[3] + a[1] * b[2] - a[2] * b[1], a[3] * b[1] - a[0] * b[2] + a[1] * b[3] + a[2] * b[0],
                a[3] * b[2] + a[0] * b[1] - a[1] * b[0] + a[2] * b[3], a[3] * b[3] - a[0] * b[0] - a[1] * b[1] - a[2] * b[2]];
    }
    function qrotate(q, v) {  // q v q*
        const r = qmul(qmul(q, [v[0], v[1], v[2], 0]), [-q[0], -q[1], -q[2], q[3]]);
        return [r[0], r[1], r[2]];
    }
    const dot = function (a, b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; };
    const cross = function (a, b) { return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]; };
    const unit = function (v) { const n = Math.hypot(v[0], v[1], v[2]); return n > 1e-12 ? [v[0] / n, v[1] / n, v[2] / n] : null; };
    function qbetween(u, w) {  // the shortest rotation taking unit vector u to unit vector w
        const c = dot(u, w);
        if (c < -0.999999) {  // opposite: half a turn about any axis perpendicular to u
            const axis = unit(cross(u, Math.abs(u[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0]));
            return [axis[0], axis[1], axis[2], 0];
        }
        const a = cross(u, w), n = Math.hypot(a[0], a[1], a[2], 1 + c);
        return [a[0] / n, a[1] / n, a[2] / n, (1 + c) / n];
    }

    // the directions of the per-structure arrows shown (a dipole, its prediction), in the
    // structure's axes
    function shownArrows(cell) {
        const shapes = cell.payload.frames[cell.frame].data.shapes || {};
        const out = [];
        shownShapes(cell).forEach(function (name) {
            const shape = shapes[name];
            const items = shape && shape.kind === "arrow" && shape.parameters && shape.parameters.structure;
            const v = items && items[0] && items[0].vector ? unit(items[0].vector) : null;
            if (v) { out.push(v); }
        });
        return out;
    }

    // the view turned as little as it takes for the arrows shown to lie across the screen: an arrow
    // pointing at the person is a dot. Nothing changes while each is within ARROW_TILT of the screen.
    function faceArrows(cell, view) {
        const arrows = shownArrows(cell);
        if (!arrows.length) { return view; }
        const q = view.slice(4, 8);
        const toward = qrotate([-q[0], -q[1], -q[2], q[3]], [0, 0, 1]);  // the person, in the structure's axes
        const limit = Math.sin(ARROW_TILT * Math.PI / 180);
        if (arrows.every(function (v) { return Math.abs(dot(v, toward)) <= limit; })) { return view; }
        // the new line of sight: across the first two arrows that are not parallel, or across the first
        let d = null;
        for (let k = 1; k < arrows.length && !d; k++) {
            const n = cross(arrows[0], arrows[k]);
            if (Math.hypot(n[0], n[1], n[2]) > 0.2) { d = unit(n); }
        }
        if (!d) {
            const v = arrows[0], c = dot(toward, v);
            d = unit([toward[0] - c * v[0], toward[1] - c * v[1], toward[2] - c * v[2]]) || unit(cross(v, Math.abs(v[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0]));
        }
        if (dot(d, toward) < 0) { d = [-d[0], -d[1], -d[2]]; }
        // turning d onto the old line of sight first keeps the rest of the view as it was
        const turned = qmul(q, qbetween(d, toward));
        return view.slice(0, 4).concat(turned);
    }

    // the arrows shown were changed: turn the view (not zoom) so that they lie across the screen
    function orientToArrows(cell) {
        if (!cell || !cell.payload || !cell.viewer || !cell.viewer._viewer) { return; }
        const gl = cell.viewer._viewer;
        const view = gl.getView();
        if (!view || view.length < 8) { return; }
        const turned = faceArrows(cell, view);
        if (turned !== view) { gl.setView(turned); copyView(cell); }
    }

    // the view a new structure opens with (fitted to the panel); "Reset view" goes back to it
    function resetView(cell) {
        if (!cell || !cell.viewer || !cell.viewer._viewer) { return; }
        const gl = cell.viewer._viewer;
        const view = gl.getView();  // [x, y, z, zoom, qx, qy, qz, qw]: the rotation back to none
        // a tilted view (35 degrees about the x=y diagonal): a flat or linear molecule along an axis
        // is never seen edge-on; turned further when an arrow shown would point at the person
        if (view && view.length >= 8) {
            view[4] = 0.2125; view[5] = 0.2125; view[6] = 0; view[7] = 0.9537;
            gl.setView(cell.payload ? faceArrows(cell, view) : view);
        }
        fitView(cell);
    }

    // what is shown fills the panel again, turned as it is (see fill)
    function fitView(cell) {
        if (!cell || !cell.viewer || !cell.viewer._viewer) { return; }
        const gl = cell.viewer._viewer;
        const model = cell.viewer._current ? cell.viewer._current.model : null;
        const atoms = model ? fittedAtoms(cell, model) : [];
        gl.zoomTo(model ? {model: model, index: atoms.map(function (a) { return a.index; })} : {});
        gl.render();  // 3Dmol's projection (modelToScreen) follows the view once drawn
        fill(cell, gl, atoms);
        gl.setSlab(-1000, 1000);
        gl.render();
        copyView(cell);
    }

    // a point of the structure where it is drawn, in the window's coordinates (as
    // getBoundingClientRect gives them: 3Dmol's modelToScreen gives the page's, which differ once scrolled)
    function onScreen(gl, p) {
        return onScreenAll(gl, [p])[0];
    }
    // many at once (3Dmol measures the canvas once per call, not once per point)
    function onScreenAll(gl, points) {
        if (!points.length) { return []; }
        const dx = window.pageXOffset, dy = window.pageYOffset;
        return gl.modelToScreen(points.map(function (p) { return {x: p[0], y: p[1], z: p[2]}; }))
            .map(function (r) { return {x: r.x - dx, y: r.y - dy}; });
    }

    // the box [x0, y0, x1, y1] of points of the structure on the screen (window coordinates)
    function screenBox(gl, points) {
        const box = [Infinity, Infinity, -Infinity, -Infinity];
        onScreenAll(gl, points).forEach(function (r) {
            box[0] = Math.min(box[0], r.x); box[1] = Math.min(box[1], r.y);
            box[2] = Math.max(box[2], r.x); box[3] = Math.max(box[3], r.y);
        });
        return box;
    }

    // the atoms a view is fitted to: all that are drawn; with "environment only" in per-atom mode,
    // those within the cutoff of the centre (the others are hidden)
    function fittedAtoms(cell, model) {
        const atoms = model.selectedAtoms({}), payload = cell.payload;
        if (!environmentOnly(payload) || !atoms[payload.center]) { return atoms; }
        const c = atoms[payload.center], cutoff = payload.cutoff || 4.0;
        return atoms.filter(function (a) { return Math.hypot(a.x - c.x, a.y - c.y, a.z - c.z) <= cutoff + 1e-6; });
    }

    // the corners of the unit cell when it is shown around condensed matter, for the
    // view to hold the whole cell; none for a molecule in a vacuum box (a speck in a large box)
    function cellCorners(cell) {
        const frame = cell.payload.frames[cell.frame], m = frame.data.cell;
        if (!m || environmentOnly(cell.payload) || settings.options.indexOf("cell") < 0) { return []; }
        const volume = Math.abs(det3(m));
        if (!(volume > 0) || frame.data.size / volume < CONDENSED_DENSITY) { return []; }
        const out = [];  // the cell drawn (a supercell's copies are atoms on both sides of it)
        [0, 1].forEach(function (i) {
            [0, 1].forEach(function (j) {
                [0, 1].forEach(function (k) {
                    out.push([0, 1, 2].map(function (d) { return i * m[d] + j * m[3 + d] + k * m[6 + d]; }));
                });
            });
        });
        return out;
    }

    // the points the shapes shown reach: arrow tips, and each ellipsoid's largest semi-axis along
    // the three axes from its centre
    function shapeReach(cell) {
        const frame = cell.payload.frames[cell.frame], shapes = frame.data.shapes || {}, k = settings.scale;
        const points = [];
        shownShapes(cell).forEach(function (name) {
            const p = shapes[name].parameters;
            const placed = (p.structure || []).map(function (item) { return [item.position || [0, 0, 0], item]; })
                .concat((p.atom || []).map(function (item, i) { return [[frame.data.x[i], frame.data.y[i], frame.data.z[i]], item]; }));
            placed.forEach(function (pair) {
                const at = pair[0], item = pair[1];
                if (item.vector) {
                    points.push([at[0] + item.vector[0] * k, at[1] + item.vector[1] * k, at[2] + item.vector[2] * k]);
                } else if (item.semiaxes) {
                    const r = Math.max.apply(null, item.semiaxes) * k;
                    [0, 1, 2].forEach(function (d) {
                        const up = at.slice(), down = at.slice();
                        up[d] += r; down[d] -= r;
                        points.push(up, down);
                    });
                }
            });
        });
        return points;
    }

    // 3Dmol's zoomTo fits the atoms' bounding sphere, which leaves a flat or long structure small
    // in its panel: centred and zoomed so that the farthest atom (its drawn radius included), shape
    // tip or crystal cell corner shown is FILL_EDGE of the way from the view's centre to its edge
    function fill(cell, gl, atoms) {
        const box = cell.host.getBoundingClientRect();
        if (!atoms.length || !cell.payload || box.width < 10 || box.height < 10) { gl.zoom(1.5); return; }
        const points = atoms.map(function (a) { return [a.x, a.y, a.z]; }).concat(shapeReach(cell), cellCorners(cell));
        const [x0, y0, x1, y1] = screenBox(gl, points);
        // pixels per Å: in an orthographic view the three unit axes' images have squared lengths summing to 2s²
        const [o, ex, ey, ez] = onScreenAll(gl, [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]);
        const s = Math.sqrt([ex, ey, ez].reduce(function (sum, r) { return sum + (r.x - o.x) ** 2 + (r.y - o.y) ** 2; }, 0) / 2);
        // the middle of what is shown to the middle of the view (zoomTo centres the atoms alone,
        // and an arrow or ellipsoid reaches out to one side), then the zoom about it
        gl.translateScene(box.left + box.width / 2 - (x0 + x1) / 2, box.top + box.height / 2 - (y0 + y1) / 2);
        const radius = DRAWN_RADIUS[styleOf(cell)] * s;
        const zoom = Math.min(FILL_EDGE * box.width / 2 / ((x1 - x0) / 2 + radius), FILL_EDGE * box.height / 2 / ((y1 - y0) / 2 + radius));
        gl.zoom(Number.isFinite(zoom) && zoom > 0 ? Math.min(zoom, 8) : 1.5);
    }

    // -- drafts: large structures turn at the screen's resolution ---------------------------------
    function drawnAtoms(cell) {
        if (!cell.payload) { return 0; }
        const frame = cell.payload.frames[cell.frame];
        const copies = frame.data.cell ? withinBudget(settings.supercell, frame.data.size, cell.payload.max_atoms) : [1, 1, 1];
        return frame.data.size * copies[0] * copies[1] * copies[2];
    }

    let software = null;     // the WebGL renderer is software (asked once)
    function softwareGL(cell) {
        if (software === null && cell.viewer && cell.viewer._viewer && cell.viewer._viewer.renderer) {
            try {
                const gl = cell.viewer._viewer.renderer.getContext();
                const info = gl.getExtension("WEBGL_debug_renderer_info");
                software = SOFTWARE_GL.test(String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER)));
            } catch (error) { software = false; }
        }
        return !!software;
    }
    let draftsOn = true;     // off: every frame sharp, as chemiscope's viewer draws (the benchmark's peer)
    function draft(cell, on) {
        if (!!cell.drafting === on) { return; }
        if (on && (!draftsOn || (drawnAtoms(cell) <= DRAFT_ATOMS && !softwareGL(cell)))) { return; }
        cell.drafting = on;
        [cell.viewer, cell.split ? cell.twin : null].forEach(function (viewer) {
            const gl = viewer && viewer._viewer;
            if (!gl || !gl.renderer) { return; }
            gl.renderer._antialias = !on;  // 3Dmol doubles the pixel ratio when it antialiases
            gl.resize();                   // a new drawing buffer, drawn again
        });
    }

    function watchDraft(cell) {
        let wheel = null;
        const end = function () { draft(cell, false); };
        [cell.host, cell.twinHost].forEach(function (host) {
            host.addEventListener("pointerdown", function () {
                draft(cell, true);
                window.addEventListener("pointerup", end, {once: true, capture: true});
                window.addEventListener("pointercancel", end, {once: true, capture: true});
            }, true);
            host.addEventListener("wheel", function () {
                draft(cell, true);
                clearTimeout(wheel);
                wheel = setTimeout(end, DRAFT_WHEEL_MS);
            }, {capture: true, passive: true});
        });
    }

    function sameTrajectory(a, b) {
        if (!a || !b || a.dataset !== b.dataset || a.per !== b.per || a.center !== b.center || a.frames.length !== b.frames.length) { return false; }
        return a.frames[0].structure === b.frames[0].structure && a.frames[a.frames.length - 1].structure === b.frames[b.frames.length - 1].structure;
    }

    // -- the active viewer, pins and the map ------------------------------------------------------
    function activate(k) {
        if (k < 0 || k === active || k >= cells.length) { return; }
        stop();
        active = k;
        layoutCells();
        showPlayback();
        const cell = cells[active];
        if (cell.payload) {  // the ring, the URL and the details follow the active viewer
            const frame = cell.payload.frames[cell.frame];
            if (frame.row !== null && frame.row !== undefined) {
                setProps("viewer-state", {data: {row: frame.row, dataset: cell.payload.dataset, per: cell.payload.per}});
            }
        }
    }

    function addViewer() {
        if (cells.length >= MAX_VIEWERS || !cells[active] || !cells[active].payload) { return; }
        stop();
        library().then(function (Chemiscope) {
            const source = cells[active];
            const cell = newCell(Chemiscope);
            cell.payload = source.payload;
            active = cells.length - 1;
            layoutCells();
            draw(cell, source.frame, true);
        });
    }

    function removeCell(k) {
        if (cells.length <= 1 || k < 0) { return; }
        stop();
        const cell = cells.splice(k, 1)[0];
        link(cell, false);
        if (cell.viewer) { cell.viewer.remove(); }
        if (cell.twin) { cell.twin.remove(); }
        cell.root.remove();
        if (active >= cells.length || active === k) {
            active = Math.min(active, cells.length - 1);
            active = -1;
            activate(Math.max(0, Math.min(k, cells.length - 1)));
        } else if (active > k) {
            active -= 1;
        }
        layoutCells();
        drawPins();
    }

    function rowOf(customdata) {
        if (customdata === null || customdata === undefined) { return null; }
        const value = Array.isArray(customdata) || ArrayBuffer.isView(customdata) ? customdata[0] : customdata;
        const row = Number(value);
        return Number.isFinite(row) ? row : null;
    }

    // one marker per viewer on the map, in the viewer's colour (only with two viewers or more)
    function drawPins() {
        const gd = document.querySelector(MAP);
        if (!gd || !gd._fullData || !window.Plotly || !gd._fullData.length) { return; }
        const wanted = cells.length > 1 ? cells.filter(function (c) { return c.payload; }).map(function (c) {
            return {row: c.payload.frames[c.frame].row, color: c.color};
        }) : [];
        const at = {};
        wanted.forEach(function (w) { at[w.row] = null; });
        const three = gd._fullData[0].type === "scatter3d";
        gd._fullData.forEach(function (trace) {
            if (trace.name === PINS || trace.name === "shown structure") { return; }
            const cd = trace.customdata || [];
            for (let i = 0; i < cd.length; i++) {
                const row = rowOf(cd[i]);
                if (row !== null && row in at && at[row] === null) { at[row] = [trace.x[i], trace.y[i], trace.z ? trace.z[i] : null]; }
            }
        });
        const shown = wanted.filter(function (w) { return at[w.row]; });
        const x = shown.map(function (w) { return at[w.row][0]; });
        const y = shown.map(function (w) { return at[w.row][1]; });
        const z = shown.map(function (w) { return at[w.row][2]; });
        const colors = shown.map(function (w) { return w.color; });
        const key = JSON.stringify([x, y, colors]);
        const index = gd._fullData.findIndex(function (t) { return t.name === PINS; });
        if (index < 0) {
            if (!shown.length) { return; }
            const trace = {type: three ? "scatter3d" : gd._fullData[0].type, x: x, y: y, name: PINS, mode: "markers",
                           hoverinfo: "skip", showlegend: false,
                           marker: {symbol: "diamond-open", size: three ? 10 : 16, color: colors, line: {width: 3, color: colors}}};
            if (three) { trace.z = z; }
            gd.__pinsKey = key;
            window.Plotly.addTraces(gd, trace);
            return;
        }
        if (gd.__pinsKey === key) { return; }
        gd.__pinsKey = key;
        const update = {x: [x], y: [y], "marker.color": [colors], "marker.line.color": [colors]};
        if (three) { update.z = [z]; }
        window.Plotly.restyle(gd, update, [gd._fullData[index].index]);
    }

    // the map is redrawn by the server (a new figure has no pins): put them back
    new MutationObserver(function () {
        const gd = document.querySelector(MAP);
        if (gd && !gd.__pinsHooked && gd.on) {
            gd.__pinsHooked = true;
            gd.on("plotly_afterplot", function () {
                if (cells.length > 1 && !gd._fullData.some(function (t) { return t.name === PINS; })) {
                    gd.__pinsKey = null;
                    setTimeout(drawPins, 0);
                }
            });
        }
    }).observe(document.documentElement, {childList: true, subtree: true});

    // -- playback ---------------------------------------------------------------------------------
    function playbackBar() { return document.getElementById("viewer-playback"); }

    function buildPlayback() {
        const bar = playbackBar();
        if (!bar || bar.__built) { return bar; }
        bar.__built = true;
        const play = document.createElement("button");
        play.className = "button viewer-play";
        play.textContent = "\u25b6 Play";
        play.addEventListener("click", function () { if (playing) { stop(true); } else { start(); } });
        const slider = document.createElement("input");
        slider.type = "range";
        slider.className = "viewer-frame";
        slider.min = "0";
        slider.step = "1";
        slider.setAttribute("aria-label", "frame");
        slider.addEventListener("input", function () {
            stop();
            const cell = cells[active];
            if (cell && cell.payload) { draw(cell, Number(slider.value), false).then(function () { follow(cell, true); }); }
        });
        const pace = document.createElement("select");
        pace.className = "viewer-speed";
        pace.setAttribute("aria-label", "speed");
        Object.keys(SPEEDS).forEach(function (name) { pace.add(new Option(name, name, name === speed, name === speed)); });
        pace.addEventListener("change", function () { speed = pace.value; if (playing) { stop(); start(); } });
        const label = document.createElement("span");
        label.className = "viewer-frame-label";
        bar.append(play, slider, pace, label);
        bar.__parts = {play: play, slider: slider, pace: pace, label: label};
        return bar;
    }

    function showPlayback() {
        const bar = buildPlayback();
        if (!bar) { return; }
        const cell = cells[active];
        const n = cell && cell.payload ? cell.payload.frames.length : 0;
        bar.style.display = n > 1 ? "" : "none";
        if (n > 1) {
            const parts = bar.__parts;
            parts.slider.max = String(n - 1);
            parts.slider.value = String(cell.frame);
            parts.label.textContent = "frame " + (cell.frame + 1) + " / " + n;
            parts.play.textContent = playing ? "\u275a\u275a Pause" : "\u25b6 Play";
        }
    }

    // the map's ring and the contract attributes follow the frame shown; `settle`: tell the server too
    function follow(cell, settle) {
        const frame = cell.payload.frames[cell.frame];
        if (frame.row === null || frame.row === undefined) { return; }
        const map = window.dash_clientside && window.dash_clientside.explorer_map;
        if (map && map.show_ring) { map.show_ring({row: frame.row}); }
        setProps("structure-viewer", {"data-structure-index": String(frame.structure), "data-atom-count": String(frame.data.size)});
        if (settle) { setProps("viewer-state", {data: {row: frame.row, dataset: cell.payload.dataset, per: cell.payload.per}}); }
    }

    function start() {
        const cell = cells[active];
        if (!cell || !cell.payload || cell.payload.frames.length < 2) { return; }
        let busy = false;
        playing = setInterval(function () {
            if (busy) { return; }  // a slow frame is never queued behind another
            busy = true;
            const next = (cell.frame + 1) % cell.payload.frames.length;
            draw(cell, next, false).then(function () { follow(cell, false); busy = false; });
        }, SPEEDS[speed]);
        showPlayback();
    }

    function stop(settle) {
        if (!playing) { return; }
        clearInterval(playing);
        playing = null;
        showPlayback();
        const cell = cells[active];
        if (settle && cell && cell.payload) { follow(cell, true); }
    }

    // -- PNG --------------------------------------------------------------------------------------
    function exportPNG() {
        const cell = cells[active];
        if (!cell || !cell.viewer || !cell.payload) { return; }
        const name = "structure-" + cell.payload.frames[cell.frame].structure + ".png";
        if (!(cell.split && cell.twin)) { download(cell.viewer.exportPNG(), name); return; }
        // reference and predicted views side by side in one image
        Promise.all([cell.viewer.exportPNG(), cell.twin.exportPNG()].map(function (url) {
            return new Promise(function (resolve, reject) {
                const image = new Image();
                image.onload = function () { resolve(image); };
                image.onerror = reject;
                image.src = url;
            });
        })).then(function (images) {
            const both = document.createElement("canvas");
            both.width = images[0].width + images[1].width;
            both.height = Math.max(images[0].height, images[1].height);
            const context = both.getContext("2d");
            context.drawImage(images[0], 0, 0);
            context.drawImage(images[1], images[0].width, 0);
            download(both.toDataURL("image/png"), name);
        }).catch(function (error) { console.error(error); });
    }

    function download(url, name) {
        const anchor = document.createElement("a");
        anchor.href = url;
        anchor.download = name;
        document.body.appendChild(anchor);
        anchor.click();
        anchor.remove();
    }

    document.addEventListener("click", function (event) {
        const target = event.target && event.target.closest ? event.target.closest("button") : null;
        if (!target) { return; }
        if (target.id === "viewer-reset") { resetView(cells[active]); }
        if (target.id === "viewer-png") { exportPNG(); }
        if (target.id === "viewer-add") { addViewer(); }
    });

    // -- Dash's side --------------------------------------------------------------------------------
    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        explorer_viewer: {
            // a new payload from the server -> the active viewer (None: nothing to show)
            show: function (payload) {
                const box = canvas();
                if (!box) { return window.dash_clientside.no_update; }
                if (!payload) {
                    stop();
                    cells.slice(1).forEach(function () { removeCell(cells.length - 1); });
                    if (cells[0]) { cells[0].payload = null; cells[0].root.style.display = "none"; cells[0].root.removeAttribute("data-drawn"); }
                    box.classList.add("empty");
                    showPlayback();
                    drawPins();
                    return window.dash_clientside.no_update;
                }
                box.classList.remove("empty");
                library().then(function (Chemiscope) {
                    if (!cells.length) { newCell(Chemiscope); active = 0; }
                    const cell = cells[active];
                    cell.root.style.display = "";
                    const before = cell.payload;
                    const k = payload.frame;
                    if (sameTrajectory(before, payload)) {  // a step along the trajectory shown: keep the camera
                        cell.payload = payload;
                        if (cell.frame !== k || !cell.root.getAttribute("data-drawn")) { draw(cell, k, false); }
                        else { cell.title.textContent = titleOf(cell); showPlayback(); drawPins(); }
                        return;
                    }
                    stop();
                    cell.payload = payload;
                    draw(cell, k, true);
                });
                return window.dash_clientside.no_update;
            },
            // the controls above the viewer -> every viewer
            settings: function (style, labels, colorBy, lo, hi, options, sa, sb, sc, shapes, scale, predicted) {
                const n = function (v, d) { const x = Number(v); return v === null || v === undefined || v === "" || !Number.isFinite(x) ? d : x; };
                const clamp = function (v) { return Math.max(1, Math.min(5, Math.round(n(v, 1)))); };
                const old = settings;  // replaced whole, never changed in place
                settings = {style: style || "ball-and-stick", labels: labels || "none", colorBy: colorBy || null,
                            range: [n(lo, null), n(hi, null)], options: options || [], supercell: [clamp(sa), clamp(sb), clamp(sc)],
                            shapes: shapes || [], scale: Math.max(0.05, n(scale, 1)), predicted: predicted || "beside"};
                const changed = function (name) { return JSON.stringify(old[name]) !== JSON.stringify(settings[name]); };
                const toggled = function (option) { return (old.options.indexOf(option) >= 0) !== (settings.options.indexOf(option) >= 0); };
                const reload = toggled("wrap") || old.scale !== settings.scale;  // new coordinates or shape sizes
                const shapesChanged = changed("shapes");
                // the view is fitted again, turned as it is, to what is shown now: space filling is
                // larger, so is a supercell; a shape ticked must fit in; wrapping moves atoms; "environment
                // only" hides some. Not for a new shape scale: zoomed out to fit, the shapes would look the same
                const refit = style !== previousStyle || changed("supercell") || shapesChanged || toggled("wrap") || toggled("environment");
                if (style === pageStyle) { pageStyle = null; }
                else if (previousStyle !== null && style !== previousStyle) { styleChosen = true; }
                previousStyle = style;
                cells.forEach(function (cell) {
                    if (!cell.payload || !cell.viewer) { return; }
                    // the predicted shapes move into (or out of) a view of their own: drawn again
                    if (reload || splits(cell) !== cell.split) {
                        draw(cell, cell.frame, false).then(function () {
                            if (shapesChanged) { orientToArrows(cell); }
                            if (refit) { fitView(cell); }
                        });
                    } else {
                        cell.viewer.applySettings(chemiscopeSettings(cell));
                        if (cell.split && cell.twin) { cell.twin.applySettings(chemiscopeSettings(cell, true)); }
                        if (shapesChanged) { orientToArrows(cell); }
                        if (refit) { fitView(cell); }
                        cell.root.setAttribute("data-settings", JSON.stringify(settings));
                    }
                });
                return window.dash_clientside.no_update;
            },
        },
    });

    // for a look from the console (and the tests' failure messages)
    window.__explorerViewer = {
        cells: function () {
            return cells.map(function (c, k) {
                return {active: k === active, color: c.color, structure: c.payload ? c.payload.frames[c.frame].structure : null,
                        frame: c.frame, frames: c.payload ? c.payload.frames.length : 0, drawn: c.root.getAttribute("data-drawn")};
            });
        },
        settings: function () { return JSON.parse(JSON.stringify(settings)); },
        // the per-structure arrows of the active viewer as they are on the screen (3Dmol's own
        // projection), with the screen images of the structure's unit axes: how foreshortened each is
        arrows: function () {
            const cell = cells[active];
            if (!cell || !cell.payload || !cell.viewer || !cell.viewer._viewer) { return null; }
            const gl = cell.viewer._viewer, shapes = cell.payload.frames[cell.frame].data.shapes || {};
            const screen = function (p) { const r = onScreen(gl, p); return [r.x, r.y]; };
            const out = [];
            shownShapes(cell).forEach(function (name) {
                const shape = shapes[name], items = shape && shape.kind === "arrow" && shape.parameters.structure;
                if (!items || !items[0].position) { return; }
                const p = items[0].position, v = items[0].vector;
                out.push({name: name, vector: v, start: screen(p), end: screen([p[0] + v[0], p[1] + v[1], p[2] + v[2]])});
            });
            return {arrows: out, origin: screen([0, 0, 0]), axes: [screen([1, 0, 0]), screen([0, 1, 0]), screen([0, 0, 1])]};
        },
        playing: function () { return playing !== null; },
        drafts: function (on) { draftsOn = on !== false; },
        // what 3Dmol draws in the active viewer (read by the browser tests, as they read plotly's _fullData)
        model: function () {
            const cell = cells[active];
            if (!cell || !cell.viewer || !cell.viewer._current) { return null; }
            const v = cell.viewer, atoms = v._current.model.selectedAtoms({});
            const s = v.saveSettings();
            let bonds = 0, longest = 0;
            atoms.forEach(function (a) {
                (a.bonds || []).forEach(function (j) {
                    const b = atoms[j];
                    if (!b || j < a.index) { return; }
                    bonds += 1;
                    longest = Math.max(longest, Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z));
                });
            });
            const data = cell.payload.frames[cell.frame].data;
            const inv = data.cell ? inverse3(data.cell) : null;
            return {
                atoms: atoms.length, elements: atoms.slice(0, data.size).map(function (a) { return a.elem; }),
                bonds: bonds, longest_bond: longest, cell: !!s.unitCell, supercell: s.supercell,
                fractional: inv ? atoms.slice(0, data.size).map(function (a) {
                    return [a.x * inv[0] + a.y * inv[3] + a.z * inv[6], a.x * inv[1] + a.y * inv[4] + a.z * inv[7],
                            a.x * inv[2] + a.y * inv[5] + a.z * inv[8]];
                }) : null,
                labels: (v._current.atomLabels || []).length,
                highlighted: v._highlighted ? v._highlighted.center : null,
                color: s.color, colorbar: !!v._colorBar, shape: s.shape,
                split: !!cell.split, twin_shape: cell.split && cell.twin ? cell.twin.saveSettings().shape : null,
                drafting: !!cell.drafting, software_gl: softwareGL(cell),
                // the atoms the view is fitted to as 3Dmol projects them, against the view's own box
                extent: (function () {
                    const gl = v._viewer, box = cell.host.getBoundingClientRect();
                    return {atoms: screenBox(gl, fittedAtoms(cell, v._current.model).map(function (a) { return [a.x, a.y, a.z]; })),
                            view: [box.left, box.top, box.right, box.bottom],
                            cell: onScreenAll(gl, cellCorners(cell)).map(function (r) { return [r.x, r.y]; })};
                })(),
            };
        },
    };
})();
