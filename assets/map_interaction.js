/* The map as a person drives it: lasso / box selection, Shift to add, double-click to clear,
   arrow keys to step through structures; and the two things drawn on the map without a server
   round trip: the selection (plotly's selectedpoints) and the ring around the structure shown.

   Why not dcc.Graph's selectedData: plotly emits `plotly_selected` again, with no points, when
   the figure is redrawn, and dcc.Graph passes that on as if the user had cleared the selection;
   and with Shift held, plotly merges the new shape with selection polygons a redraw has reset.
   So the selection is computed here from the pointer's own path over the plotting area (the
   lasso's polygon, or the box from press to release) and the points' pixel positions, and
   reaches Dash through the `map-gesture` store: {kind: "select" | "clear", rows, shift, mode, t}.
   Arrow keys reach it through `viewer-step`: {base, steps, level: "structure" | "atom", t}: the
   row shown when the first of several quick presses came, and the signed count of presses since
   (a press answered before the server replied to the previous one must not be lost). */
(function () {
    "use strict";
    const GRAPH = "#map-graph .js-plotly-plot";
    const RING = "shown structure";

    // the last gestures seen, for a look from the browser's console (and a failing test's message)
    window.__explorerGestures = [];

    function setProps(id, data) {
        window.__explorerGestures = window.__explorerGestures.slice(-9).concat([
            {id: id, kind: data.kind, rows: data.rows ? data.rows.length : null, shift: data.shift, mode: data.mode}]);
        if (window.dash_clientside && window.dash_clientside.set_props) {
            window.dash_clientside.set_props(id, {data: data});
        }
    }

    function rowOf(customdata) {
        if (customdata === null || customdata === undefined) { return null; }
        const value = Array.isArray(customdata) || ArrayBuffer.isView(customdata) ? customdata[0] : customdata;
        const row = Number(value);
        return Number.isFinite(row) ? row : null;
    }

    // page pixels [x, y] of every selectable point, with its map row
    function pointPixels(gd) {
        const box = gd.getBoundingClientRect();
        const fl = gd._fullLayout;
        const out = [];
        gd._fullData.forEach(function (trace) {
            if (trace.name === RING || trace.visible !== true || !trace.x) { return; }
            const cd = (gd.data[trace.index] || {}).customdata || [];
            for (let i = 0; i < trace.x.length; i++) {
                const row = rowOf(cd[i]);
                if (row === null) { continue; }
                out.push([box.left + fl._size.l + fl.xaxis.l2p(trace.x[i]), box.top + fl._size.t + fl.yaxis.l2p(trace.y[i]), row]);
            }
        });
        return out;
    }

    function inside(x, y, polygon) {  // even-odd rule
        let crossings = false;
        for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
            const xi = polygon[i][0], yi = polygon[i][1], xj = polygon[j][0], yj = polygon[j][1];
            if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) { crossings = !crossings; }
        }
        return crossings;
    }

    function finishDrag(gd, drag) {
        const start = drag.path[0], end = drag.path[drag.path.length - 1];
        const moved = drag.path.reduce(function (m, p) { return Math.max(m, Math.hypot(p[0] - start[0], p[1] - start[1])); }, 0);
        if (moved < 4) {  // a click: it shows a structure; two quick ones clear the selection
            if (drag.double) { setProps("map-gesture", {kind: "clear", rows: [], shift: false, t: Date.now()}); }
            return;
        }
        const polygon = drag.mode === "select"
            ? [[start[0], start[1]], [end[0], start[1]], [end[0], end[1]], [start[0], end[1]]]
            : drag.path;
        const rows = [];
        pointPixels(gd).forEach(function (p) { if (inside(p[0], p[1], polygon)) { rows.push(p[2]); } });
        setProps("map-gesture", {kind: "select", rows: rows, shift: drag.shift, mode: drag.mode, t: Date.now()});
    }

    function hook(gd) {
        if (gd._explorerHooked || typeof gd.on !== "function") { return; }
        gd._explorerHooked = true;
        let drag = null;         // the pointer gesture on the plotting area, while the button is down
        let lastDown = 0;
        gd.addEventListener("pointerdown", function (event) {
            const now = Date.now();
            const double = now - lastDown < 450;
            lastDown = now;
            const mode = gd._fullLayout && gd._fullLayout.dragmode;
            // inside the plotting area, whatever layer was hit (the drag layer, or a selection's
            // outline drawn over it), but not the modebar or the legend
            const fl = gd._fullLayout;
            const box = gd.getBoundingClientRect();
            const x = event.clientX - box.left, y = event.clientY - box.top;
            const inArea = fl && fl._size && x >= fl._size.l && x <= fl._size.l + fl._size.w && y >= fl._size.t && y <= fl._size.t + fl._size.h;
            const onChrome = event.target && event.target.closest && event.target.closest(".modebar, .legend, .colorbar");
            const onPlot = inArea && !onChrome;
            window.__explorerLastDown = {onPlot: !!onPlot, mode: mode, button: event.button, shift: event.shiftKey,
                                         target: event.target && event.target.getAttribute ? event.target.getAttribute("class") : null};
            drag = onPlot && (mode === "lasso" || mode === "select") && event.button === 0
                ? {shift: event.shiftKey, double: double, mode: mode, path: [[event.clientX, event.clientY]]}
                : null;
        }, true);
        window.addEventListener("pointermove", function (event) {
            if (!drag) { return; }
            // a busy browser merges moves into one event: take every position it merged
            const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
            (moves.length ? moves : [event]).forEach(function (e) { drag.path.push([e.clientX, e.clientY]); });
        }, true);
        window.addEventListener("pointerup", function (event) {
            if (!drag) { return; }
            const done = drag;
            drag = null;
            done.path.push([event.clientX, event.clientY]);
            finishDrag(gd, done);
        }, true);
        // the view the user chose (zoom, pan, 3D camera, drag mode), kept across redraws of the same map:
        // plotly's uirevision alone lost it whenever the server sent a new figure
        let view = {revision: null, updates: {}};
        let restoring = false;
        gd.on("plotly_relayout", function (event) {
            if (restoring || !event) { return; }
            const revision = gd.layout.uirevision;
            if (view.revision !== revision) { view = {revision: revision, updates: {}}; }
            Object.keys(event).forEach(function (key) {
                if (key === "dragmode") { view.updates.dragmode = event[key]; return; }
                if (!/^(xaxis|yaxis|scene)\./.test(key)) { return; }
                const axis = key.split(".")[0];
                if (key === axis + ".autorange") {  // "reset axes": forget the ranges
                    Object.keys(view.updates).forEach(function (k) { if (k.startsWith(axis + ".range")) { delete view.updates[k]; } });
                }
                view.updates[key] = event[key];
            });
        });

        // a redraw from the server: put the view, the selection and the ring back on the new traces
        gd.on("plotly_react", function () {
            setTimeout(function () {
                if (view.revision === gd.layout.uirevision && Object.keys(view.updates).length) {
                    restoring = true;
                    Promise.resolve(window.Plotly.relayout(gd, Object.assign({}, view.updates)))
                        .finally(function () { restoring = false; });
                }
                applyAll(gd);
            }, 0);
        });
        applyAll(gd);
    }

    function findGraph() { return document.querySelector(GRAPH); }

    // -- what is drawn on the map -----------------------------------------------------------------
    const wanted = {rows: null, ring: null};
    let pendingSteps = {};  // level -> {base, steps}: arrow presses not yet answered by the server

    // a fingerprint (count and sum of point numbers) of each trace's selectedpoints
    function fingerprint(points) {
        if (!points || !points.length) { return "none"; }
        let sum = 0;
        for (let i = 0; i < points.length; i++) { sum += points[i]; }
        return points.length + ":" + sum;
    }

    function showsWanted(gd) {
        if (!gd.__explorerShown || !gd._fullData) { return true; }
        const shown = gd.__explorerShown;
        return gd._fullData.every(function (trace) {
            return trace.name === RING || !(trace.index in shown) || fingerprint(trace.selectedpoints) === shown[trace.index];
        });
    }

    function applySelection(gd, fixing) {
        if (!gd || !gd._fullData || gd._fullData.length === 0 || gd._fullData[0].type === "scatter3d") { return; }
        const chosen = wanted.rows && wanted.rows.length ? new Set(wanted.rows) : null;
        const update = [];
        const traces = [];
        gd._fullData.forEach(function (trace, k) {
            if (trace.name === RING) { return; }
            const cd = (gd.data[trace.index] || {}).customdata || [];
            let points = null;
            if (chosen) {
                points = [];
                for (let i = 0; i < cd.length; i++) {
                    if (chosen.has(rowOf(cd[i]))) { points.push(i); }
                }
            }
            update.push(points);
            traces.push(trace.index);
        });
        if (!fixing) {
            // plotly applies its own idea of the lasso (a smoothed polygon, merged with older ones
            // under Shift) when it is done, sometimes after the server has answered: for a moment
            // after each change, put the selection shown back to ours (a bounded check, no loop)
            clearInterval(gd.__explorerTimer);
            let checks = 20;
            gd.__explorerTimer = setInterval(function () {
                if (--checks <= 0) { clearInterval(gd.__explorerTimer); }
                if (!showsWanted(gd)) { applySelection(gd, true); }
            }, 100);
        }
        gd.__explorerShown = {};
        traces.forEach(function (t, k) { gd.__explorerShown[t] = fingerprint(update[k]); });
        if (traces.length) { window.Plotly.restyle(gd, {selectedpoints: update}, traces); }
    }

    function applyRing(gd) {
        if (!gd || !gd._fullData) { return; }
        const ring = gd._fullData.findIndex(function (t) { return t.name === RING; });
        let found = null;
        if (wanted.ring !== null && wanted.ring !== undefined) {
            gd._fullData.forEach(function (trace) {
                if (found || trace.name === RING) { return; }
                const cd = (gd.data[trace.index] || {}).customdata || [];
                for (let i = 0; i < cd.length; i++) {
                    if (rowOf(cd[i]) === wanted.ring) {
                        found = {x: trace.x[i], y: trace.y[i], z: trace.z ? trace.z[i] : null};
                        break;
                    }
                }
            });
        }
        if (ring < 0) {
            if (!found || !gd._fullData.length) { return; }
            // the same look as explorer.figures._ring_trace
            const three = gd._fullData[0].type === "scatter3d";
            const trace = three
                ? {type: "scatter3d", x: [found.x], y: [found.y], z: [found.z],
                   marker: {symbol: "circle-open", size: 12, color: "#111111", line: {width: 3}}}
                : {type: gd._fullData[0].type, x: [found.x], y: [found.y],
                   marker: {symbol: "circle-open", size: 20, color: "#111111", line: {width: 2.5}}};
            window.Plotly.addTraces(gd, Object.assign(trace, {name: RING, mode: "markers", hoverinfo: "skip", showlegend: false}));
            return;
        }
        const update = {x: [found ? [found.x] : []], y: [found ? [found.y] : []]};
        if (gd._fullData[ring].type === "scatter3d") { update.z = [found ? [found.z] : []]; }
        window.Plotly.restyle(gd, update, [gd._fullData[ring].index]);
    }

    function applyAll(gd) {
        applySelection(gd);
        applyRing(gd);
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        explorer_map: {
            // clientside callbacks (explorer/panels/map.py): store -> what the map shows
            show_selection: function (selection) {
                wanted.rows = (selection && selection.rows) || [];
                applySelection(findGraph());
                return window.dash_clientside.no_update;
            },
            show_ring: function (viewer) {
                wanted.ring = viewer && viewer.row !== undefined ? viewer.row : null;
                pendingSteps = {};  // the server has answered: count from the row now shown
                applyRing(findGraph());
                return window.dash_clientside.no_update;
            },
        },
    });

    // -- keyboard: arrow keys step through the structures (and atoms, in per-atom mode) ----------
    document.addEventListener("keydown", function (event) {
        const target = event.target;
        const tag = target && target.tagName ? target.tagName.toLowerCase() : "";
        if (tag === "input" || tag === "textarea" || tag === "select" || (target && target.isContentEditable)) { return; }
        if (target && target.closest && target.closest(".ag-root-wrapper, .dash-dropdown, [role=listbox], [role=slider]")) { return; }
        if (event.altKey || event.ctrlKey || event.metaKey) { return; }
        const steps = {ArrowRight: [1, "atom"], ArrowLeft: [-1, "atom"], ArrowDown: [1, "structure"], ArrowUp: [-1, "structure"]};
        const step = steps[event.key];
        if (!step) { return; }
        event.preventDefault();
        const pending = pendingSteps[step[1]] || {base: wanted.ring, steps: 0};
        pending.steps += step[0];
        pendingSteps = {};
        pendingSteps[step[1]] = pending;
        setProps("viewer-step", {base: pending.base, steps: pending.steps, level: step[1], t: Date.now()});
    });

    // dcc.Graph creates the plot div after the page renders (and again if it is re-mounted)
    new MutationObserver(function () {
        const gd = findGraph();
        if (gd) { hook(gd); }
    }).observe(document.documentElement, {childList: true, subtree: true});
})();
