"""``sv6d serve``: the HTTP API and search page under uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.output import DataDirOption


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: Annotated[
            str | None, typer.Option("--host", help="Address to bind (default $SV6D_HOST, else 127.0.0.1).")
        ] = None,
        port: Annotated[
            int | None, typer.Option("--port", min=0, max=65535, help="Port (default $SV6D_PORT, else 8000).")
        ] = None,
        data_dir_opt: DataDirOption = None,
        no_auth: Annotated[
            bool, typer.Option("--no-auth", help="Turn API keys off (local use; refused off loopback).")
        ] = False,
        log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    ) -> None:
        """Serve the API (keys in SV6D_API_KEYS; refuses a non-loopback address without them)."""
        import uvicorn

        from api.main import create_app
        from api.server import uvicorn_config
        from api.settings import Settings, check_bind

        overrides: dict[str, object] = {}
        if data_dir_opt is not None:
            overrides["data_dir"] = Path(data_dir_opt)
        if no_auth:
            overrides["auth_disabled"] = True
        if host is not None:
            overrides["host"] = host
        if port is not None:
            overrides["port"] = port
        settings = Settings(**overrides)  # type: ignore[arg-type]
        check_bind(settings, settings.host)
        application = create_app(settings, host=settings.host)
        config = uvicorn_config(
            application, settings.host, settings.port, settings.limits, log_level=log_level
        )
        uvicorn.Server(config).run()
