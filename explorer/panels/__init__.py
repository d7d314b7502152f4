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
export          selection (lasso, cluster, FPS) and downloads
==============  ==========================================================================

Callbacks are module-level (``dash.callback``) and registered when ``explorer.app`` imports this
package. Each unpacks its inputs, calls one plain function of the same module (testable without a
browser) that calls ``compute`` or ``explorer.figures``, and returns. Browser-side state is ids and
settings only (``dcc.Store``); arrays live in the server-side ``explorer.store``.
"""
