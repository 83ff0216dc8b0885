"""GET /api/users/{handle}/short: a user's public card; no token needed (the frontend sends ``@handle``)."""
from dataclasses import asdict
from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.config import get_settings
from cruddur_messaging.domain.users_short import CARD_MAX_AGE_SECONDS, find_user_short
from cruddur_messaging.http.api import build_resolver, json_response
from cruddur_messaging.observability import logger, metrics, tracer

get_settings()
app = build_resolver()


@app.get("/api/users/<handle>/short")
def get_user_short(handle: str):
    return json_response(asdict(find_user_short(unquote(handle))),
                         headers={"Cache-Control": f"public, max-age={CARD_MAX_AGE_SECONDS}"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
