"""The HTTP service: REST endpoints, a WebSocket stream and a web page around one model.

``create_app(recognizer, config)`` returns the FastAPI app; ``serve(config)`` loads the model
named in the config and runs the app under uvicorn (what `voxemo serve` calls).
"""

from voxemo.serving.app import create_app, page_html
from voxemo.serving.config import ServeConfig
from voxemo.serving.gate import InferenceGate, ServiceBusy
from voxemo.serving.server import build_app, serve

__all__ = ["InferenceGate", "ServeConfig", "ServiceBusy", "build_app", "create_app", "page_html", "serve"]
