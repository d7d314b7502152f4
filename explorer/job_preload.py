"""Imported once by the job forkserver (``explorer.jobs``), so that each job process starts with
the app's modules already loaded. Imports only: nothing numerical may run here, since every job
process is forked from the process that imports this."""

import explorer.panels.clusters  # noqa: F401
import explorer.panels.dataset  # noqa: F401
import explorer.panels.descriptors  # noqa: F401
import explorer.panels.export  # noqa: F401
import explorer.panels.learning  # noqa: F401
import explorer.panels.map  # noqa: F401
import explorer.panels.view  # noqa: F401
import explorer.panels.viewer  # noqa: F401
