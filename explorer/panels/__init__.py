"""One module per panel of the page: its layout (``layout()``) and its thin callbacks.

==============  ==========================================================================
module          panel
==============  ==========================================================================
dataset         upload, dataset summary, sortable property table
descriptors     SOAP hyperparameters and the background featurization job
map             projection (PCA/KPCA/PCovR/KPCovR), live mixing, colours, the map itself
viewer          the 3D structure behind a clicked point and its properties
clusters        clustering of the map or the features; a cluster as the selection
learning        learning curves of kernel models, as a background job
compare         what another descriptor adds to the map's (GFRE / GFRD), as a background job
export          selection (lasso, cluster, FPS) and downloads
==============  ==========================================================================

Callbacks are plain module-level functions, recorded by each module's ``callbacks``
(``_callbacks.Callbacks``) and registered on an app by :func:`register` (``explorer.app`` calls
it): nothing is registered at import. Each unpacks its inputs, calls one plain function of the same module (testable without a
browser) that calls ``compute`` or ``explorer.figures``, and returns. Browser-side state is ids and
settings only (``dcc.Store``); arrays live in the server-side ``explorer.store``.
"""

def register(app) -> None:
    """Register every panel's callbacks on ``app``."""
    # imported here: a module importing one panel (view_state needs descriptors.FIELDS) does
    # not import them all
    from . import clusters, compare, dataset, descriptors, export, learning, map, view, viewer  # noqa: A004

    for panel in (dataset, descriptors, map, viewer, view, clusters, learning, compare, export):
        panel.register(app)
