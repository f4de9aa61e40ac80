"""Who may call which tasks RPC (voidrunner.common.grpc_access checks it on every call).

Only the gateway acts for users (and for admins, through UpdateExecution); the scheduler's reaper
lists overdue executions. Nobody finishes an execution over gRPC but the gateway's admin route:
executors report over NATS, where the recorder accepts only the attempt's current claim.
"""

from __future__ import annotations

from voidrunner.contracts.identities import ServiceName
from voidrunner.proto.tasks.v1 import tasks_pb2
from voidrunner.proto.webhooks.v1 import webhooks_pb2

_SERVICE = tasks_pb2.DESCRIPTOR.services_by_name["TasksService"].full_name
_GATEWAY = frozenset({ServiceName.GATEWAY.value})
_SCHEDULER = frozenset({ServiceName.SCHEDULER.value})

_CALLERS: dict[str, frozenset[str]] = {
    "CreateTask": _GATEWAY,
    "GetTask": _GATEWAY,
    "UpdateTask": _GATEWAY,
    "DeleteTask": _GATEWAY,
    "ListTasks": _GATEWAY,
    "StartExecution": _GATEWAY,
    "GetExecution": _GATEWAY,
    "ListExecutions": _GATEWAY,
    "CancelExecution": _GATEWAY,
    "UpdateExecution": _GATEWAY,
    "ListOverdueExecutions": _SCHEDULER,
    "ListRuntimes": _GATEWAY,
    "GetStats": _GATEWAY,
    "CreateRuns": _GATEWAY,
    # Sharing (issue 18).
    "ListShares": _GATEWAY,
    "PutShare": _GATEWAY,
    "DeleteShare": _GATEWAY,
}

# Webhooks are managed for users, so only through the gateway.
_WEBHOOKS_SERVICE = webhooks_pb2.DESCRIPTOR.services_by_name["WebhooksService"].full_name
_WEBHOOK_METHODS = webhooks_pb2.DESCRIPTOR.services_by_name["WebhooksService"].methods_by_name

RULES: dict[str, frozenset[str]] = {
    **{f"/{_SERVICE}/{m}": who for m, who in _CALLERS.items()},
    **{f"/{_WEBHOOKS_SERVICE}/{m}": _GATEWAY for m in _WEBHOOK_METHODS},
}
