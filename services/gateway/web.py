"""The web app and the admin panel: the front end's built files, served on the API's origin.

``web/`` builds (``npm run build``) into ``web/dist``: ``index.html`` and hashed files
under ``assets/``. Both the app (``/``) and the admin panel (``/admin``) are pages of one
single-page application, so any path that is not a file and not part of the API is
answered with ``index.html`` and the browser's router shows the page. Hashed assets never
change under their name and are cached for a year; ``index.html`` is revalidated every
time, so a new build reaches users on their next load.

A gateway started without a build still serves the API, and says so at ``/``.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.types import Scope

from eventing.logs import get_logger

log = get_logger(__name__)


class PagePath(PathConvertor):
    """Any path but the API's and the probes': the front end never shadows a route of
    theirs, whatever order routes are added in, and an unknown one is the API's 404."""

    regex = r"(?!(api|docs|healthz|readyz|metrics)(/|$)|openapi\.json$).*"


register_url_convertor("page", PagePath())


def serve_front_end(app: FastAPI, build: Path) -> None:
    """Serve ``build`` (the front end's output folder) at ``/``, after every API route."""
    index = build / "index.html"
    if not index.is_file():
        log.warning("the web app is not built: run `make web`", folder=str(build))
    assets = build / "assets"
    if assets.is_dir():
        app.mount("/assets", _ImmutableFiles(directory=assets), name="assets")

    root = build.resolve()

    # Not async: it looks at files, so it runs in the thread pool, off the event loop.
    @app.get("/{path:page}", include_in_schema=False)
    def page(path: str) -> Response:
        if not index.is_file():
            return PlainTextResponse(
                "The web app is not built: run `make web` (the API is at /api/v1).",
                status_code=503,
            )
        file = (build / path).resolve()
        if path and file.is_file() and file.is_relative_to(root):
            return FileResponse(file)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})


class _ImmutableFiles(StaticFiles):
    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
