"""CORS as an HTTP API applies its ``CorsConfiguration``: the API answers preflight requests itself (on any
path, without authorization) and sets the CORS headers of every other response, replacing any the function
returned."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class CorsPolicy:
    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_configuration(cls, configuration: Mapping[str, Any]) -> "CorsPolicy":
        def names(key: str) -> tuple[str, ...]:
            value = configuration.get(key, [])
            return tuple(value if isinstance(value, list) else [value])

        max_age = configuration.get("MaxAge")
        return cls(
            allow_origins=names("AllowOrigins"),
            allow_methods=names("AllowMethods"),
            allow_headers=names("AllowHeaders"),
            expose_headers=names("ExposeHeaders"),
            max_age=int(max_age) if max_age is not None else None,
            allow_credentials=bool(configuration.get("AllowCredentials", False)),
        )

    def _allowed_origin(self, origin: str | None) -> str | None:
        if not origin:
            return None
        if "*" in self.allow_origins:
            return "*"
        return origin if origin in self.allow_origins else None

    def preflight_headers(self, origin: str | None) -> dict[str, str]:
        """Headers of the API's own answer to a preflight; none when the origin is not allowed."""
        return self._headers(origin, {
            "access-control-allow-methods": ",".join(self.allow_methods),
            "access-control-allow-headers": ",".join(self.allow_headers),
            "access-control-max-age": str(self.max_age) if self.max_age is not None else "",
        })

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """CORS headers to add to an actual (non-preflight) response."""
        return self._headers(origin, {"access-control-expose-headers": ",".join(self.expose_headers)})

    def _headers(self, origin: str | None, specific: dict[str, str]) -> dict[str, str]:
        """The allowed origin's headers: ``specific`` (those with a value) and the ones every answer carries."""
        allowed = self._allowed_origin(origin)
        if allowed is None:
            return {}
        headers = {"access-control-allow-origin": allowed}
        headers.update({name: value for name, value in specific.items() if value})
        if self.allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        if allowed != "*":
            headers["vary"] = "origin"
        return headers
