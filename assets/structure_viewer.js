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
            const viewer = integerLabels(new Chemiscope.MoleculeViewer(host, ["index"]));
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
                    supercell: [1, 1, 1], shapes: [], scale: 1.0};
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
        root.append(head, host);
        canvas().appendChild(root);
        const cell = {root: root, host: host, title: title, swatch: swatch, close: close, viewer: viewer, names: names,
                      payload: null, frame: 0, color: unusedColor()};
        swatch.style.background = cell.color;
        root.style.setProperty("--viewer-color", cell.color);
        root.addEventListener("pointerdown", function () { activate(cells.indexOf(cell)); }, true);
        close.addEventListener("click", function (event) { event.stopPropagation(); removeCell(cells.indexOf(cell)); });
        cells.push(cell);
        layoutCells();
        return cell;
    }

    function layoutCells() {
        const box = canvas();
        if (!box) { return; }
        box.setAttribute("data-viewers", String(cells.length));
        cells.forEach(function (cell, k) {
            cell.root.classList.toggle("active", k === active);
            cell.close.style.display = cells.length > 1 ? "" : "none";
            if (cell.viewer) { cell.viewer.resize(); }
        });
        const add = document.getElementById("viewer-add");
        if (add) { add.disabled = cells.length >= MAX_VIEWERS || !cells.length || !cells[active].payload; }
    }

    // integer labels (atom indices) as integers: chemiscope writes every number with 3 digits ("0.00e+0")
    function integerLabels(viewer) {
        const format = viewer._formatLabel;
        if (typeof format === "function") {
            viewer._formatLabel = function (value) { return Number.isInteger(value) ? String(value) : format.call(viewer, value); };
        }
        return viewer;
    }

    function ensureViewer(Chemiscope, cell, names) {
        const key = names.join("\u0001");
        if (cell.viewer && cell.names === key) { return; }
        if (cell.viewer) {
            cell.viewer.refreshOptions(true, names);
        } else {
            cell.viewer = integerLabels(new Chemiscope.MoleculeViewer(cell.host, names));
        }
        cell.names = key;
    }

    // -- drawing ----------------------------------------------------------------------------------
    function inverse3(m) {  // rows a, b, c
        const [a, b, c, d, e, f, g, h, i] = m;
        const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
        if (Math.abs(det) < 1e-12) { return null; }
        return [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
                (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
                (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det];
    }

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

    function chemiscopeSettings(cell) {
        const style = styleOf(cell);
        const payload = cell.payload;
        const frame = payload.frames[cell.frame];
        const out = {
            bonds: style !== "space-filling",
            atoms: style !== "licorice",
            spaceFilling: style === "space-filling",
            atomLabels: settings.labels !== "none",
            unitCell: settings.options.indexOf("cell") >= 0 && !!frame.data.cell,
            supercell: frame.data.cell ? withinBudget(settings.supercell, frame.data.size, payload.max_atoms) : [1, 1, 1],
            keepOrientation: true,
            shape: (settings.shapes || []).filter(function (n) { return frame.data.shapes && n in frame.data.shapes; }).join(","),
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
        if (payload.center !== null && payload.center !== undefined) {
            out.environments = {activated: true, center: false, cutoff: payload.cutoff || 4.0,
                                bgStyle: settings.options.indexOf("environment") >= 0 ? "hide" : "ball-stick",
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
            const perAtom = payload.center !== null && payload.center !== undefined;
            const options = {target: perAtom ? "atom" : "structure", trajectory: false, keepOrientation: !fresh};
            if (perAtom) {
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
            return new Promise(function (resolve) {
                cell.viewer.load(structureOf(frame), properties, options, resolve);
            }).then(function () {
                cell.viewer.applySettings(chemiscopeSettings(cell));
                showStyle(cell);
                cell.viewer.highlight(perAtom ? payload.center : undefined);
                if (fresh) { resetView(cell); }
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

    function titleOf(cell) {
        const p = cell.payload, f = p.frames[cell.frame];
        let text = p.frames.length > 1 ? p.title.replace(/^#\d+/, "#" + f.structure) : p.title;
        if (p.frames.length > 1) { text += " \u00b7 frame " + (cell.frame + 1) + "/" + p.frames.length; }
        if (!styleChosen && styleOf(cell) === "space-filling") { text += " \u00b7 space filling: many atoms (choose a style for bonds)"; }
        return text;
    }

    // the view a new structure opens with (fitted to the panel); "Reset view" goes back to it
    function resetView(cell) {
        if (!cell || !cell.viewer || !cell.viewer._viewer) { return; }
        const gl = cell.viewer._viewer;
        const view = gl.getView();  // [x, y, z, zoom, qx, qy, qz, qw]: the rotation back to none
        // a tilted view (35 degrees about the x=y diagonal): a flat or linear molecule along an axis is never seen edge-on
        if (view && view.length >= 8) { view[4] = 0.2125; view[5] = 0.2125; view[6] = 0; view[7] = 0.9537; gl.setView(view); }
        // fitted to the atoms (not the unit cell: a molecule in a large box would be a speck)
        const model = cell.viewer._current ? cell.viewer._current.model : null;
        gl.zoomTo(model ? {model: model} : {});
        gl.zoom(styleOf(cell) === "space-filling" ? 1.1 : 1.5);
        gl.setSlab(-1000, 1000);
        gl.render();
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
        if (cell.viewer) { cell.viewer.remove(); }
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
        const link = document.createElement("a");
        link.href = cell.viewer.exportPNG();
        link.download = "structure-" + cell.payload.frames[cell.frame].structure + ".png";
        document.body.appendChild(link);
        link.click();
        link.remove();
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
            settings: function (style, labels, colorBy, lo, hi, options, sa, sb, sc, shapes, scale) {
                const n = function (v, d) { const x = Number(v); return v === null || v === undefined || v === "" || !Number.isFinite(x) ? d : x; };
                const clamp = function (v) { return Math.max(1, Math.min(5, Math.round(n(v, 1)))); };
                const before = JSON.stringify([settings.options.indexOf("wrap") >= 0, settings.scale]);
                settings = {style: style || "ball-and-stick", labels: labels || "none", colorBy: colorBy || null,
                            range: [n(lo, null), n(hi, null)], options: options || [], supercell: [clamp(sa), clamp(sb), clamp(sc)],
                            shapes: shapes || [], scale: Math.max(0.05, n(scale, 1))};
                const reload = before !== JSON.stringify([settings.options.indexOf("wrap") >= 0, settings.scale]);
                const refit = style !== previousStyle;  // space filling is larger: fit it in the view again
                if (style === pageStyle) { pageStyle = null; }
                else if (previousStyle !== null && style !== previousStyle) { styleChosen = true; }
                previousStyle = style;
                cells.forEach(function (cell) {
                    if (!cell.payload || !cell.viewer) { return; }
                    if (reload) { draw(cell, cell.frame, false); }
                    else {
                        cell.viewer.applySettings(chemiscopeSettings(cell));
                        if (refit) { resetView(cell); }
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
        playing: function () { return playing !== null; },
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
            };
        },
    };
})();
