"""DynamoDB Streams, second consumer: posts ``message.created``, ``conversation.updated``, ``read`` and ``unread``
frames to the members' open connections (see ``cruddur_messaging.domain.live_delivery`` for where and why)."""
from aws_lambda_powertools.utilities.typing import LambdaContext

from cruddur_messaging.containers import LiveDeliveryContainer
from cruddur_messaging.domain.live_delivery import LiveDelivery
from cruddur_messaging.observability import logger, metrics, tracer

container = LiveDeliveryContainer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    # One delivery per invocation (it caches connections per batch), over the container's clients, caches and pool.
    delivery = LiveDelivery(container.connection_store, container.connection_gateway, container.group_members,
                            container.member_handles, container.read_state_store, container.post_executor)
    response = delivery.deliver(event.get("Records") or [], context.get_remaining_time_in_millis)
    delivery.publish_metrics()
    return response
