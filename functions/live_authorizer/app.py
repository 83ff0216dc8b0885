"""``$connect`` authorizer of the WebSocket API: admits a Cognito access token (subprotocol or ``?access_token=``)
and hands its ``sub`` and its user's uuid (or why there is none) to the connection's routes; anything else is
refused at the handshake with a 401 (see ``cruddur_messaging.domain.live_callers``)."""
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.containers import AuthorizerContainer
from cruddur_messaging.domain.access_tokens import TokenRejected, allow_policy
from cruddur_messaging.domain.handshake import token_of_handshake
from cruddur_messaging.domain.live_callers import caller_context
from cruddur_messaging.observability import logger, metrics, tracer

container = AuthorizerContainer()


class Unauthorized(Exception):
    """API Gateway answers 401 when an authorizer fails with exactly this message (a Deny policy is a 403)."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


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
    return allow_policy(admitted, event["methodArn"], caller_context(container.callers, admitted.sub))
