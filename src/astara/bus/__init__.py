"""The bus: how notifications travel from the services that emit them to consumers.

``base`` defines the small publish/consume interface; ``outbox`` is the embedded
transport (notifications stored in the same transaction as the change). An AMQP
transport implements the same interface.
"""

from astara.bus.base import Consumer, Message, Publisher

__all__ = ["Consumer", "Message", "Publisher"]
