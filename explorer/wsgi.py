"""WSGI entry point for a production server with several worker processes, e.g.

    EXPLORER_DATA_DIR=/srv/explorer EXPLORER_TOKEN=... gunicorn -w 4 -b 0.0.0.0:8050 explorer.wsgi:server

Settings come from the ``EXPLORER_*`` environment (see ``explorer.settings``). Workers share
nothing but the data folder: the store and the background-job cache live there.
"""

from .app import create_app
from .cli import quiet_web_process
from .settings import Settings

app = create_app(Settings.from_env())
quiet_web_process()
app.job_manager.warm_up()
server = app.server
