/* The map as a person drives it: lasso / box selection, Shift to add, double-click to clear,
   arrow keys to step through structures; and the two things drawn on the map without a server
   round trip: the selection (plotly's selectedpoints) and the ring around the structure shown.

   Why not dcc.Graph's selectedData: plotly emits `plotly_selected` again, with no points, when
   the figure is redrawn, and dcc.Graph passes that on as if the user had cleared the selection.
   Here a selection counts only when it follows a real pointer gesture on the plot, and reaches
   Dash through the `map-gesture` store: {kind: "select" | "clear", rows, shift, mode, t}.
   Arrow keys reach it through `viewer-step`: {step: +1 | -1, level: "structure" | "atom", t}. */
(function () {
    "use strict";
    const GRAPH = "#map-graph .js-plotly-plot";
    const RING = "shown structure";

    function setProps(id, data) {
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

    function hook(gd) {
        if (gd._explorerHooked || typeof gd.on !== "function") { return; }
        gd._explorerHooked = true;
        let gesture = null;      // the pointer gesture a selection event may answer
        let lastDown = 0;
        gd.addEventListener("pointerdown", function (event) {
            const now = Date.now();
            gesture = {shift: event.shiftKey, double: now - lastDown < 450, t: now};
            lastDown = now;
        }, true);
        gd.on("plotly_selected", function (event) {
            if (!gesture) { return; }  // a redraw, not the user
            if (!event) { return; }    // a plain click (no area drawn): it shows a structure, keeps the selection
            const shift = gesture.shift;
            gesture = null;
            const rows = [];
            (event.points || []).forEach(function (p) {
                const row = rowOf(p.customdata);
                if (row !== null) { rows.push(row); }
            });
            setProps("map-gesture", {kind: "select", rows: rows, shift: shift, mode: gd._fullLayout.dragmode, t: Date.now()});
        });
        gd.on("plotly_deselect", function () {
            if (!gesture || !gesture.double) { return; }
            gesture = null;
            setProps("map-gesture", {kind: "clear", rows: [], shift: false, t: Date.now()});
        });
        // a redraw from the server: put the selection and the ring back on the new traces
        gd.on("plotly_react", function () { setTimeout(function () { applyAll(gd); }, 0); });
        applyAll(gd);
    }

    function findGraph() { return document.querySelector(GRAPH); }

    // -- what is drawn on the map -----------------------------------------------------------------
    const wanted = {rows: null, ring: null};

    function applySelection(gd) {
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
        setProps("viewer-step", {step: step[0], level: step[1], t: Date.now()});
    });

    // dcc.Graph creates the plot div after the page renders (and again if it is re-mounted)
    new MutationObserver(function () {
        const gd = findGraph();
        if (gd) { hook(gd); }
    }).observe(document.documentElement, {childList: true, subtree: true});
})();
