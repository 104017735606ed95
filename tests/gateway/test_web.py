"""The front end's files, served by the gateway on the API's origin."""

from __future__ import annotations

from pathlib import Path

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.gateway.support import error_of, running

INDEX = "<!doctype html><title>livevote</title>"


def _build(folder: Path) -> Path:
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(INDEX)
    (folder / "assets" / "main-1a2b3c.js").write_text("console.log('hi')")
    (folder / "favicon.svg").write_text("<svg/>")
    return folder


async def test_every_page_path_is_the_app_and_the_api_keeps_its_own_paths(
    gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    app = create_app(gateway_settings.model_copy(update={"web_dir": _build(tmp_path / "dist")}))
    async with running(app) as client:
        for page in ("/", "/admin", "/admin/votings/v-1", "/credits/success?session_id=cs_1"):
            answer = await client.get(page)
            assert answer.status_code == 200, page
            assert answer.text == INDEX
            # Revalidated on every load, so a new build reaches users at once.
            assert answer.headers["cache-control"] == "no-cache"
        asset = await client.get("/assets/main-1a2b3c.js")
        assert asset.status_code == 200
        assert "immutable" in asset.headers["cache-control"]
        assert (await client.get("/favicon.svg")).text == "<svg/>"
        assert (await client.get("/assets/missing.js")).status_code == 404
        # Never a file outside the build.
        outside = await client.get("/..%2f..%2fetc%2fpasswd")
        assert outside.text == INDEX
        for api in ("/api/v1/nothing", "/api", "/docs/nothing"):
            answer = await client.get(api)
            assert answer.status_code == 404, api
            assert error_of(answer)["code"] == "NOT_FOUND"
        assert (await client.get("/healthz")).json()["status"] == "ok"


async def test_without_a_build_the_pages_say_how_to_make_one(
    gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    app = create_app(gateway_settings.model_copy(update={"web_dir": tmp_path / "none"}))
    async with running(app) as client:
        answer = await client.get("/")
        assert answer.status_code == 503
        assert "make web" in answer.text
        assert (await client.get("/healthz")).status_code == 200
