"""``$connect`` authorizer of the WebSocket API: admits a Cognito access token (subprotocol or ``?access_token=``)
and hands its ``sub`` and its user's uuid (or why there is none) to the connection's routes; anything else is
refused at the handshake with a 401 (see ``cruddur_messaging.domain.live_callers``). A token that cannot be
checked now (it names a key this container does not know and the pool's JWKS cannot be fetched) is refused with
a 500 instead, which a client retries rather than signing the user out."""
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.containers import AuthorizerContainer
from cruddur_messaging.data.jwks import KeysUnavailable
from cruddur_messaging.domain.access_tokens import TokenRejected, allow_policy
from cruddur_messaging.domain.handshake import token_of_handshake
from cruddur_messaging.domain.live_callers import caller_context
from cruddur_messaging.observability import logger, metrics, tracer

container = AuthorizerContainer()


class Unauthorized(Exception):
    """API Gateway answers 401 when an authorizer fails with exactly this message (a Deny policy is a 403)."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class CannotVerifyNow(Exception):
    """Any other failure of an authorizer is a 500 (docs/websocket-api.md cites the API Gateway guide): retry."""

    def __init__(self) -> None:
        super().__init__("The token cannot be checked now; retry.")


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    token = token_of_handshake(event.get("headers"), event.get("queryStringParameters"))
    try:
        if token is None:
            raise TokenRejected("no token")
        admitted = container.access_token_verifier.verify(token)
    except TokenRejected as rejection:
        logger.info("connection refused", extra={"reason": str(rejection)})
        metrics.add_metric(name="LiveConnectionsRefused", unit=MetricUnit.Count, value=1)
        raise Unauthorized() from None
    except KeysUnavailable as outage:
        logger.warning("connection deferred: the JWKS cannot be fetched",
                       extra={"retry_after_seconds": outage.retry_after_seconds})
        metrics.add_metric(name="LiveConnectionsDeferred", unit=MetricUnit.Count, value=1)
        raise CannotVerifyNow() from None
    return allow_policy(admitted, event["methodArn"], caller_context(container.callers, admitted.sub))
