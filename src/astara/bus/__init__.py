"""The bus: how notifications travel from the services that emit them to consumers.

``base`` defines the small publish/consume interface; ``outbox`` is the embedded
transport (notifications stored in the same transaction as the change), always the
source of truth. With ``[bus] transport = amqp``, ``relay`` publishes committed outbox
rows to RabbitMQ and ``amqp``'s consumer (an oslo.messaging notification listener)
delivers them, and a real Neutron's, like the outbox consumer's ``run``.
"""

from astara.bus.base import Consumer, Message, Publisher

__all__ = ["Consumer", "Message", "Publisher"]
