/* The map as a person drives it: lasso / box selection, Shift to add, double-click to clear, a
   click to show a structure, arrow keys to step through structures; and the two things drawn on
   the map without a server round trip: the selection (plotly's selectedpoints) and the ring
   around the structure shown.

   In lasso and box mode plotly never sees the press: its own selection recomputed the selection
   on every pointer move (slow on 10,000 points), emitted `plotly_selected` with no points when the
   figure was redrawn, merged Shift selections with polygons a redraw had reset, and highlighted a
   smoothed polygon that differed from the one counted. Here the pointer's own path is the polygon
   (the box runs from press to release); the points inside it, by their pixel positions, become the
   selection at once: highlighted on the map and written to the selection store
   (`selection-state`: {rows, source}), whose other readers (the count, the table, the exports)
   follow. A press that does not move is a click: the point under it (within CLICK_PX) is shown in
   the viewer through the graph's clickData, as a click in zoom or pan mode is.

   Arrow keys reach the server through `viewer-step`: {base, steps, level: "structure" | "atom", t}:
   the row shown when the first of several quick presses came, and the signed count of presses
   since (a press answered before the server replied to the previous one must not be lost). */
(function () {
    "use strict";
    const GRAPH = "#map-graph .js-plotly-plot";
    const RING = "shown structure";
    const SELECTION = "selection-state";
    const CLICK_PX = 10;        // a click within this distance of a point picks it
    const MOVE_PX = 4;          // a press that moves less is a click
    const DOUBLE_MS = 450;      // two presses within this time are a double-click

    // the last gestures seen, for a look from the browser's console (and a failing test's message)
    window.__explorerGestures = [];

    function remember(gesture) {
        window.__explorerGestures = window.__explorerGestures.slice(-9).concat([gesture]);
    }

    function setProps(id, props) {
        if (window.dash_clientside && window.dash_clientside.set_props) {
            window.dash_clientside.set_props(id, props);
        }
    }

    function rowOf(customdata) {
        if (customdata === null || customdata === undefined) { return null; }
        const value = Array.isArray(customdata) || ArrayBuffer.isView(customdata) ? customdata[0] : customdata;
        const row = Number(value);
        return Number.isFinite(row) ? row : null;
    }

    function is2d(gd) {
        return gd && gd._fullData && gd._fullData.length > 0 && gd._fullData[0].type !== "scatter3d" && gd._fullLayout.xaxis;
    }

    // page pixels [x, y] of every selectable point, with its map row, trace and point number
    function pointPixels(gd) {
        const box = gd.getBoundingClientRect();
        const fl = gd._fullLayout;
        const left = box.left + fl._size.l, top = box.top + fl._size.t;
        const out = [];
        gd._fullData.forEach(function (trace) {
            if (trace.name === RING || trace.visible !== true || !trace.x) { return; }
            const cd = trace.customdata || [];
            for (let i = 0; i < trace.x.length; i++) {
                const row = rowOf(cd[i]);
                if (row === null) { continue; }
                out.push([left + fl.xaxis.l2p(trace.x[i]), top + fl.yaxis.l2p(trace.y[i]), row, trace.index, i]);
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

    // -- the outline drawn while dragging (plotly's own is never started) -------------------------
    const SVG = "http://www.w3.org/2000/svg";

    function startOutline() {
        const svg = document.createElementNS(SVG, "svg");
        svg.setAttribute("class", "explorer-selection-outline");
        svg.style.cssText = "position:fixed;left:0;top:0;width:100vw;height:100vh;pointer-events:none;z-index:1000";
        const shape = document.createElementNS(SVG, "polygon");
        shape.setAttribute("style", "fill:rgba(31,119,180,0.08);stroke:#333;stroke-width:1;stroke-dasharray:4 3");
        svg.appendChild(shape);
        document.body.appendChild(svg);
        return {svg: svg, shape: shape, frame: 0};
    }

    function drawOutline(drag) {
        if (drag.outline.frame) { return; }
        // at most once per frame: a fast pointer sends several moves per frame
        drag.outline.frame = requestAnimationFrame(function () {
            drag.outline.frame = 0;
            const points = polygonOf(drag).map(function (p) { return p[0] + "," + p[1]; }).join(" ");
            drag.outline.shape.setAttribute("points", points);
        });
    }

    function endOutline(drag) {
        if (drag.outline.frame) { cancelAnimationFrame(drag.outline.frame); }
        drag.outline.svg.remove();
    }

    function polygonOf(drag) {
        const start = drag.path[0], end = drag.path[drag.path.length - 1];
        return drag.mode === "select"
            ? [[start[0], start[1]], [end[0], start[1]], [end[0], end[1]], [start[0], end[1]]]
            : drag.path;
    }

    // -- what a finished press does ---------------------------------------------------------------
    function select(gd, drag) {
        const polygon = polygonOf(drag);
        const chosen = [];
        pointPixels(gd).forEach(function (p) { if (inside(p[0], p[1], polygon)) { chosen.push(p[2]); } });
        const source = drag.mode === "select" ? "box" : "lasso";
        let selection;
        if (drag.shift) {
            if (!chosen.length) { remember({kind: "select", rows: 0, shift: true, mode: drag.mode}); return; }  // adds nothing
            const before = wanted.rows || [];
            const rows = Array.from(new Set(before.concat(chosen))).sort(function (a, b) { return a - b; });
            const old = wanted.source;
            selection = {rows: rows, source: before.length && old && old !== source ? old + " + " + source : source};
        } else {
            const rows = Array.from(new Set(chosen)).sort(function (a, b) { return a - b; });
            selection = {rows: rows, source: rows.length ? source : null};
        }
        remember({kind: "select", rows: selection.rows.length, shift: drag.shift, mode: drag.mode});
        publish(selection);
    }

    function clear() {
        remember({kind: "clear"});
        publish({rows: [], source: null});
    }

    // the store first (the count and the server's readers start at once), then the highlight:
    // restyling 10,000 WebGL points takes ~0.1 s, which must not delay them
    function publish(selection) {
        wanted.rows = selection.rows;
        wanted.source = selection.source;
        setProps(SELECTION, {data: selection});
        later(function () { applySelection(findGraph()); });
    }

    function later(work) { setTimeout(work, 0); }

    function click(gd, at) {
        let best = null, bestDistance = CLICK_PX;
        pointPixels(gd).forEach(function (p) {
            const d = Math.hypot(p[0] - at[0], p[1] - at[1]);
            if (d <= bestDistance) { best = p; bestDistance = d; }
        });
        remember({kind: "click", row: best ? best[2] : null});
        if (!best) { return; }
        // the same shape as a click plotly reports in zoom or pan mode (dcc.Graph's clickData)
        setProps("map-graph", {clickData: {points: [{curveNumber: best[3], pointNumber: best[4], pointIndex: best[4], customdata: [best[2]]}]}});
    }

    // the first lasso of a page ran the point search cold (JavaScript compiles hot code only after
    // it has run): run it once on an idle moment, on a polygon that holds nothing
    function warmUp(gd) {
        const run = function () {
            if (!is2d(gd) || gd.__explorerWarm) { return; }
            gd.__explorerWarm = true;
            const nowhere = [[-3, -3], [-2, -3], [-2, -2]];
            let found = 0;
            pointPixels(gd).forEach(function (p) { if (inside(p[0], p[1], nowhere)) { found += 1; } });
            return found;
        };
        if (window.requestIdleCallback) { window.requestIdleCallback(run, {timeout: 2000}); } else { setTimeout(run, 100); }
    }

    function hook(gd) {
        if (gd._explorerHooked || typeof gd.on !== "function") { return; }
        gd._explorerHooked = true;
        gd.on("plotly_afterplot", function () { if (!gd.__explorerWarm) { warmUp(gd); } });
        let drag = null;         // the pointer gesture on the plotting area, while the button is down
        let lastPress = {t: 0, x: 0, y: 0};

        function onPlotArea(event) {
            const fl = gd._fullLayout;
            if (!fl || !fl._size) { return false; }
            const box = gd.getBoundingClientRect();
            const x = event.clientX - box.left, y = event.clientY - box.top;
            const inArea = x >= fl._size.l && x <= fl._size.l + fl._size.w && y >= fl._size.t && y <= fl._size.t + fl._size.h;
            const onChrome = event.target && event.target.closest && event.target.closest(".modebar, .legend, .colorbar, .infolayer");
            return inArea && !onChrome;
        }

        function ours(event) {
            const mode = gd._fullLayout && gd._fullLayout.dragmode;
            return (mode === "lasso" || mode === "select") && is2d(gd) && onPlotArea(event);
        }

        gd.addEventListener("pointerdown", function (event) {
            if (event.button !== 0 || !ours(event)) { drag = null; return; }
            // cancelling the pointerdown keeps the mouse events (and so plotly's drag) from following
            event.preventDefault();
            event.stopPropagation();
            const now = Date.now();
            const double = now - lastPress.t < DOUBLE_MS && Math.hypot(event.clientX - lastPress.x, event.clientY - lastPress.y) < 2 * CLICK_PX;
            lastPress = {t: double ? 0 : now, x: event.clientX, y: event.clientY};
            if (window.Plotly && window.Plotly.Fx) { window.Plotly.Fx.unhover(gd); }
            drag = {shift: event.shiftKey, double: double, mode: gd._fullLayout.dragmode, moved: 0,
                    path: [[event.clientX, event.clientY]], outline: null, pointer: event.pointerId};
        }, true);
        // in case a browser still sends the mouse events: plotly must not start its own selection
        ["mousedown", "touchstart"].forEach(function (type) {
            gd.addEventListener(type, function (event) {
                if (drag || (type === "touchstart" && event.touches && event.touches[0] && ours(event.touches[0]))) {
                    event.stopPropagation();
                }
            }, true);
        });
        gd.addEventListener("mousemove", function (event) { if (drag) { event.stopPropagation(); } }, true);

        window.addEventListener("pointermove", function (event) {
            if (!drag) { return; }
            // a busy browser merges moves into one event: take every position it merged
            const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
            const start = drag.path[0];
            (moves.length ? moves : [event]).forEach(function (e) {
                drag.path.push([e.clientX, e.clientY]);
                drag.moved = Math.max(drag.moved, Math.hypot(e.clientX - start[0], e.clientY - start[1]));
            });
            if (drag.moved >= MOVE_PX) {
                if (!drag.outline) { drag.outline = startOutline(); }
                drawOutline(drag);
            }
        }, true);
        function release(event, cancelled) {
            if (!drag) { return; }
            const done = drag;
            drag = null;
            if (done.outline) { endOutline(done); }
            if (cancelled) { return; }
            done.path.push([event.clientX, event.clientY]);
            done.moved = Math.max(done.moved, Math.hypot(event.clientX - done.path[0][0], event.clientY - done.path[0][1]));
            if (done.moved >= MOVE_PX) { select(gd, done); return; }
            if (done.double) { clear(); return; }
            click(gd, done.path[0]);
        }
        window.addEventListener("pointerup", function (event) { release(event, false); }, true);
        window.addEventListener("pointercancel", function (event) { release(event, true); }, true);

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
                gd.__explorerShown = null;  // new traces: whatever they show, apply ours
                applyAll(gd);
            }, 0);
        });
        applyAll(gd);
    }

    function findGraph() { return document.querySelector(GRAPH); }

    // -- what is drawn on the map -----------------------------------------------------------------
    const wanted = {rows: [], source: null, ring: null};
    let pendingSteps = {};  // level -> {base, steps}: arrow presses not yet answered by the server

    // a fingerprint of a selection (count and sum of rows): an unchanged one is not applied again
    function fingerprint(rows) {
        let sum = 0;
        for (let i = 0; i < rows.length; i++) { sum += rows[i]; }
        return rows.length + ":" + sum;
    }

    function applySelection(gd) {
        if (!is2d(gd)) { return; }
        const key = fingerprint(wanted.rows) + "|" + gd._fullData.length;
        if (gd.__explorerShown === key) { return; }
        const chosen = wanted.rows.length ? new Set(wanted.rows) : null;
        const update = [];
        const traces = [];
        gd._fullData.forEach(function (trace) {
            if (trace.name === RING) { return; }
            const cd = trace.customdata || [];
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
        gd.__explorerShown = key;
        if (traces.length) { window.Plotly.restyle(gd, {selectedpoints: update}, traces); }
    }

    function applyRing(gd) {
        if (!gd || !gd._fullData) { return; }
        const ring = gd._fullData.findIndex(function (t) { return t.name === RING; });
        let found = null;
        if (wanted.ring !== null && wanted.ring !== undefined) {
            gd._fullData.forEach(function (trace) {
                if (found || trace.name === RING) { return; }
                const cd = trace.customdata || [];
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

    // "412 structures selected (lasso)": counted here, the moment the selection changes
    function summary(selection, features, nothing) {
        const rows = (selection && selection.rows) || [];
        if (!rows.length) { return nothing; }
        let word = "structure";
        if (features && features.per === "atom") { word = "environment"; }
        else if (features && features.hypers && Object.keys(features.hypers).length === 0) { word = "row"; }
        const source = selection.source ? " (" + selection.source + ")" : "";
        return rows.length.toLocaleString("en-US") + " " + word + (rows.length === 1 ? "" : "s") + " selected" + source;
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        explorer_map: {
            // clientside callbacks (explorer/panels/*.py): store -> what the page shows
            show_selection: function (selection) {
                wanted.rows = (selection && selection.rows) || [];
                wanted.source = (selection && selection.source) || null;
                later(function () { applySelection(findGraph()); });
                return window.dash_clientside.no_update;
            },
            show_ring: function (viewer) {
                wanted.ring = viewer && viewer.row !== undefined ? viewer.row : null;
                pendingSteps = {};  // the server has answered: count from the row now shown
                later(function () { applyRing(findGraph()); });  // after the viewer's request is sent
                return window.dash_clientside.no_update;
            },
            selection_summary: summary,
            // a click on a map or parity point -> the viewer's row (no server round trip)
            show_clicked: function (mapClick, parityClick, mapState) {
                const trigger = ((window.dash_clientside.callback_context.triggered || [])[0] || {}).prop_id || "";
                const click = trigger.startsWith("map-parity-graph") ? parityClick : mapClick;
                const point = click && click.points && click.points[0];
                const row = point ? rowOf(point.customdata) : null;
                if (row === null || !mapState) { return window.dash_clientside.no_update; }
                return {row: row, dataset: mapState.dataset, per: mapState.per};
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
        remember({kind: "step", level: step[1], steps: pending.steps});
        setProps("viewer-step", {data: {base: pending.base, steps: pending.steps, level: step[1], t: Date.now()}});
    });

    // dcc.Graph creates the plot div after the page renders (and again if it is re-mounted)
    new MutationObserver(function () {
        const gd = findGraph();
        if (gd) { hook(gd); }
    }).observe(document.documentElement, {childList: true, subtree: true});
})();
