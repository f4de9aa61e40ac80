"""Who may call which auth RPC (voidrunner.common.grpc_access checks it on every call).

Only the gateway: it signs users in and out, reads the public keys it verifies tokens with, and
asks for stream tokens. No other service has a reason to touch users or sessions.
"""

from __future__ import annotations

from voidrunner.contracts.identities import ServiceName
from voidrunner.proto.auth.v1 import auth_pb2

_SERVICE = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
_GATEWAY = frozenset({ServiceName.GATEWAY.value})

RULES: dict[str, frozenset[str]] = {
    f"/{_SERVICE}/{method.name}": _GATEWAY
    for method in auth_pb2.DESCRIPTOR.services_by_name["AuthService"].methods
}
