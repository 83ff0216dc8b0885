"""``$connect``, ``$disconnect`` and ``$default`` of the WebSocket API: records and forgets the caller's
connections, answers client frames (see ``cruddur_messaging.domain.live_connections``). The caller is the user uuid
in the authorizer's context (``cruddur_messaging.domain.live_callers``): this function never reads PostgreSQL."""
import json

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.containers import LiveConnectionContainer
from cruddur_messaging.domain.handshake import offered_subprotocols
from cruddur_messaging.domain.live_callers import ConnectionRefused, caller_of
from cruddur_messaging.domain.live_connections import answer_client_frame, connect, disconnect
from cruddur_messaging.errors import ApiError
from cruddur_messaging.observability import logger, metrics, tracer

container = LiveConnectionContainer()


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = event.get("requestContext") or {}
    route = request.get("routeKey")
    if route == "$connect":
        return _connect(event, request)
    if route == "$disconnect":
        return _disconnect(request)
    return {"statusCode": 200, "body": json.dumps(answer_client_frame(event.get("body")))}


def _connect(event: dict, request: dict) -> dict:
    try:
        connected = connect(container.connection_store, container.connection_gateway,
                            caller_of(request.get("authorizer")), request["connectionId"],
                            offered_subprotocols(event.get("headers")), container.live_settings.connections_per_user)
    except (ApiError, ConnectionRefused) as error:
        logger.info("connection refused", extra={"code": error.code})
        metrics.add_metric(name=f"Error_{error.code}", unit=MetricUnit.Count, value=1)
        return {"statusCode": error.status, "body": json.dumps({"message": error.message})}
    metrics.add_metric(name="LiveConnectionsOpened", unit=MetricUnit.Count, value=1)
    headers = {"Sec-WebSocket-Protocol": connected.subprotocol} if connected.subprotocol else {}
    return {"statusCode": 200, "headers": headers}


def _disconnect(request: dict) -> dict:
    try:
        disconnect(container.connection_store, caller_of(request.get("authorizer")), request["connectionId"])
    except (ApiError, ConnectionRefused) as error:
        # Nothing to answer to: the item goes with the first delivery that finds it gone, or with its TTL.
        logger.warning("connection not forgotten at disconnect", extra={"code": error.code})
    return {"statusCode": 200}
