"""DynamoDB Streams, second consumer: posts ``message.created``, ``conversation.updated`` and ``read`` frames to
the members' open connections (see ``cruddur_messaging.domain.live_delivery`` for where and why)."""
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.config import get_live_settings, get_settings
from cruddur_messaging.domain.live_delivery import live_delivery
from cruddur_messaging.observability import logger, metrics, tracer

get_settings()
get_live_settings()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    delivery = live_delivery()
    response = delivery.deliver(event.get("Records") or [], context.get_remaining_time_in_millis)
    delivery.publish_metrics()
    return response
