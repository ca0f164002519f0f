"""Server configuration for the UI tests: galata's, on 127.0.0.1 and the port of
playwright.config.js, serving the scratch folder global-setup.js fills.

!! Never use this configuration in production: it turns off the token and exposes the
JupyterLab application in the browser's global scope.
"""

import json
import os
from pathlib import Path

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821

c.ServerApp.ip = "127.0.0.1"  # noqa: F821
c.ServerApp.port = int(os.environ.get("SMOLDEPOT_UI_PORT", "18931"))  # noqa: F821
c.ServerApp.allow_root = True  # noqa: F821  (CI and containers run as root)

# No news or update checks (the machine has no network but the package registries).
settings = Path(os.environ.get("SMOLDEPOT_UI_SCRATCH", ".")) / "settings"
notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
notification.parent.mkdir(parents=True, exist_ok=True)
notification.write_text(json.dumps({"checkForUpdates": False, "fetchNews": "false"}))
c.LabApp.user_settings_dir = str(settings)  # noqa: F821
c.ServerApp.log_level = "ERROR"  # noqa: F821
