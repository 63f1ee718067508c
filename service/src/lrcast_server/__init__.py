"""lrcast-server: named learning-rate schedules over HTTP, consistent across ranks and replicas.

``create_app(settings)`` builds the FastAPI app; ``lrcast-server serve`` runs it with uvicorn.
"""

__version__ = "0.1.0"

from lrcast_server.app import create_app
from lrcast_server.settings import Settings, get_settings

__all__ = ["Settings", "__version__", "create_app", "get_settings"]
