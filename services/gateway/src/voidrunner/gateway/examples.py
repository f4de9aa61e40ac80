"""Example bodies for the OpenAPI document, one set per operation id (see openapi.py).

Kept in one place so a change of a body shows up in one file; the gateway's tests check that
every operation has an example and that each one is valid against its operation's schema.
"""

from __future__ import annotations

from typing import Any

USER_ID = "0b7f9c1e-5a44-4c1b-9d63-2f0a8e4b7c11"
TASK_ID = "6f1d2c3b-8e7a-4f60-9b1c-3d2e1f0a9b8c"
EXECUTION_ID = "c4a1e2f3-7b6d-4e5f-8a9b-0c1d2e3f4a5b"
CREATED = "2026-11-26T10:00:00Z"
FINISHED = "2026-11-26T10:00:02.250Z"

API_KEY_TEXT = "vr_9Vx3qZVGQvacMgDZk4LGYg_GxYilBbi0oiRGloEGw81pGchNo6j8NkOVEo8_D16h_Y"
API_KEY = {
    "id": "f55c77a9-9546-42f6-9c32-00d99382c662",
    "name": "CI runner",
    "scopes": ["read", "run"],
    "prefix": API_KEY_TEXT[:11],
    "created_at": CREATED,
    "expires_at": None,
    "last_used_at": None,
}
USER = {
    "id": USER_ID,
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "role": "user",
    "created_at": CREATED,
    "updated_at": CREATED,
}
TOKENS = {
    "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiIwYjdmIn0.c2lnbmF0dXJl",
    "refresh_token": "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJ0eXBlIjoicmVmcmVzaCJ9.c2ln",
    "token_type": "Bearer",
    "expires_in": 900,
    "user": USER,
}
NEW_TASK = {
    "name": "nightly-report",
    "description": "Sums yesterday's numbers",
    "script_content": "import sys\nprint(sum(map(int, sys.stdin.read().split())))",
    "script_type": "python",
    "priority": 5,
    "timeout_seconds": 60,
    "metadata": {"team": "data"},
    "stdin": "1 2 3",
    "env": {"REPORT_DAY": "2026-11-25"},
}
TASK = {
    "id": TASK_ID,
    "user_id": USER_ID,
    **NEW_TASK,
    "status": "pending",
    "memory_limit_mb": 256,
    "cpu_limit": 1.0,
    "max_output_bytes": 1_048_576,
    "created_at": CREATED,
    "updated_at": CREATED,
}
EXECUTION = {
    "id": EXECUTION_ID,
    "task_id": TASK_ID,
    "status": "completed",
    "return_code": 0,
    "stdout": "6\n",
    "stderr": "",
    "stdout_truncated": False,
    "stderr_truncated": False,
    "termination_reason": "exit",
    "execution_time_ms": 41,
    "cpu_time_ms": 28,
    "memory_usage_bytes": 9_437_184,
    "attempt": 1,
    "started_at": "2026-11-26T10:00:02.200Z",
    "completed_at": FINISHED,
    "created_at": CREATED,
}
PENDING = {
    "id": EXECUTION_ID,
    "task_id": TASK_ID,
    "status": "pending",
    "stdout_truncated": False,
    "stderr_truncated": False,
    "attempt": 0,
    "created_at": CREATED,
}
SESSION = {k: v for k, v in TOKENS.items() if k != "refresh_token"}
LIMITS = {
    "timeout_seconds": 300,
    "memory_limit_mb": 256,
    "cpu_limit": 1.0,
    "max_output_bytes": 1_048_576,
}
MAX_LIMITS = {
    "timeout_seconds": 3600,
    "memory_limit_mb": 2048,
    "cpu_limit": 4.0,
    "max_output_bytes": 16_777_216,
}
RUNTIME = {
    "name": "python",
    "language": "python",
    "version": "3.11",
    "available": True,
    "executors": 2,
    "default_limits": LIMITS,
    "max_limits": MAX_LIMITS,
}
LOG_STREAM = (
    'event: stdout\nid: 1:1\ndata: {"stream":"stdout","seq":1,"attempt":1,"text":"6\\n"}\n\n'
    'event: end\nid: 1:2\ndata: {"status":"completed","attempt":1,"seq":2,"return_code":0,'
    '"termination_reason":"exit"}\n\n'
)

ONE_SHOT = {k: v for k, v in PENDING.items() if k != "task_id"}
RUN_FILES = [
    {"path": "main.py", "content": "import util, sys\nprint(util.twice(sys.argv[1]))"},
    {"path": "util.py", "content": "def twice(s):\n    return s * 2"},
]
RUN_CASES = [
    {"name": "sample", "args": ["ab"], "expected_stdout": "abab\n"},
    {"name": "secret", "args": ["xyz"], "expected_stdout": "xyzxyz\n", "hidden": True},
]
# What a one-shot run ran, as its resource gives it back: a hidden case by its name alone.
RUN_VIEW = {
    "files": [f | {"encoding": "utf8"} for f in RUN_FILES],
    "args": ["ab"],
    "test_cases": [
        {
            "name": "sample",
            "hidden": False,
            "stdin": "",
            "args": ["ab"],
            "expected_stdout": "abab\n",
            "compare": "trim_trailing_whitespace",
        },
        {"name": "secret", "hidden": True},
    ],
    "stop_on_first_failure": False,
}

WEBHOOK = {
    "id": "7b0e4f0e-9a51-4a3c-8f3e-2d1c5b7a9e10",
    "url": "https://example.com/hooks/voidrunner",
    "events": ["execution.completed", "execution.failed"],
    "enabled": True,
    "description": "CI results",
    "created_at": "2026-01-05T09:00:00Z",
    "updated_at": "2026-01-05T09:00:00Z",
}
DELIVERY = {
    "id": "0f6c2b8e-3d4a-4e5b-9c7d-1a2b3c4d5e6f",
    "message_id": "msg_2b7Qk9xX1vP0aLmN4sT8rYwE",
    "webhook_id": WEBHOOK["id"],
    "event_type": "execution.completed",
    "execution_id": "b3c5d7e9-1f2a-4b6c-8d0e-2f4a6b8c0d1e",
    "state": "delivered",
    "attempts": 2,
    "created_at": "2026-01-05T09:01:00Z",
    "attempt_log": [
        {
            "attempt": 1,
            "attempted_at": "2026-01-05T09:01:00Z",
            "status_code": 503,
            "latency_ms": 120,
            "error": "answered 503",
        },
        {
            "attempt": 2,
            "attempted_at": "2026-01-05T09:01:05Z",
            "status_code": 200,
            "latency_ms": 85,
        },
    ],
}
PAGE_END = {"has_more": False, "next_cursor": None}
SHARE = {
    "email": "grace@example.com",
    "role": "runner",
    "created_at": CREATED,
    "updated_at": CREATED,
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "health": {
        "response": {
            "status": "ok",
            "timestamp": CREATED,
            "uptime": 3600.5,
            "version": "0.1.0",
            "service": "voidrunner-gateway",
        }
    },
    "ready": {
        "response": {
            "status": "ready",
            "checks": {"auth": "ok", "tasks": "ok", "nats": "ok", "revocations": "ok"},
        }
    },
    "ping": {"response": {"message": "pong"}},
    "register": {
        "request": {
            "email": "ada@example.com",
            "password": "Sup3r-secret!",
            "name": "Ada Lovelace",
        },
        "response": TOKENS,
    },
    "login": {
        "request": {"email": "ada@example.com", "password": "Sup3r-secret!"},
        "response": TOKENS,
    },
    "refresh": {"request": {"refresh_token": TOKENS["refresh_token"]}, "response": TOKENS},
    "logout": {
        "request": {"refresh_token": TOKENS["refresh_token"]},
        "response": {"message": "logged out successfully"},
    },
    "me": {"response": {"user": USER}},
    "create_session": {
        "request": {"email": "ada@example.com", "password": "Sup3r-secret!"},
        "response": SESSION,
    },
    "register_session": {
        "request": {
            "email": "ada@example.com",
            "password": "Sup3r-secret!",
            "name": "Ada Lovelace",
        },
        "response": SESSION,
    },
    "refresh_session": {"response": SESSION},
    "delete_session": {"response": {"message": "logged out successfully"}},
    "create_task": {"request": NEW_TASK, "response": TASK},
    "list_tasks": {
        "response": {
            "tasks": [TASK],
            "total": 1,
            "limit": 20,
            "offset": 0,
            "pagination": {"has_more": False},
        }
    },
    "get_task": {"response": TASK},
    "update_task": {
        "request": {"priority": 8, "description": None},
        "response": {k: v for k, v in TASK.items() if k != "description"} | {"priority": 8},
    },
    "delete_task": {"response": {"message": "Task deleted successfully"}},
    "start_execution": {"response": PENDING},
    "list_executions": {
        "response": {
            "executions": [EXECUTION],
            "limit": 20,
            "pagination": {"has_more": True, "next_cursor": "eyJrIjpbIjIwMjYtMTEtMjYiXX0"},
        }
    },
    "get_execution": {"response": EXECUTION},
    "list_all_executions": {
        "response": {
            "executions": [EXECUTION],
            "limit": 20,
            "pagination": {"has_more": False},
        }
    },
    "create_run": {
        "request": {
            "script_type": "python",
            "files": RUN_FILES,
            "args": ["ab"],
            "test_cases": RUN_CASES,
        },
        "response": ONE_SHOT | {"script_type": "python", "run": RUN_VIEW},
    },
    "create_runs": {
        "request": {
            "runs": [
                {"script_type": "python", "script_content": "print(1)"},
                {"script_type": "bash", "script_content": "echo 2"},
            ]
        },
        "response": {"executions": [ONE_SHOT]},
    },
    "update_execution": {
        "request": {
            "status": "completed",
            "return_code": 0,
            "stdout": "6\n",
            "execution_time_ms": 41,
            "termination_reason": "exit",
        },
        "response": EXECUTION,
    },
    "cancel_execution": {"response": {"message": "Execution cancelled successfully"}},
    "execution_logs": {"response": LOG_STREAM},
    "stream_token": {
        "response": {"stream_token": TOKENS["access_token"], "expires_in": 60},
    },
    "runtimes": {"response": {"runtimes": [RUNTIME]}},
    "create_api_key": {
        "request": {"name": "CI runner", "scopes": ["read", "run"], "expires_at": None},
        "response": API_KEY | {"key": API_KEY_TEXT},
    },
    "create_webhook": {
        "request": {
            "url": "https://example.com/hooks/voidrunner",
            "events": ["execution.completed", "execution.failed"],
            "description": "CI results",
        },
        "response": WEBHOOK | {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
    },
    "list_webhooks": {"response": {"webhooks": [WEBHOOK], "pagination": PAGE_END}},
    "get_webhook": {"response": WEBHOOK},
    "update_webhook": {"request": {"enabled": False}, "response": WEBHOOK | {"enabled": False}},
    "list_deliveries": {"response": {"deliveries": [DELIVERY], "pagination": PAGE_END}},
    "redeliver": {
        "response": DELIVERY | {"state": "pending", "next_attempt_at": "2026-01-05T10:00:00Z"}
    },
    "secret_info": {
        "response": {"exists": True, "created_at": "2026-01-05T09:00:00Z"},
    },
    "rotate_secret": {
        "response": {
            "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "previous_valid_until": "2026-01-06T09:00:00Z",
            "created_at": "2026-01-05T09:00:00Z",
        },
    },
    "list_api_keys": {
        "response": {"api_keys": [API_KEY], "pagination": {"has_more": False, "next_cursor": None}}
    },
    "admin_stats": {
        "response": {
            "as_of": "2026-01-05T10:00:00Z",
            "active": {"pending": 2, "running": 5},
            "window": {
                "minutes": 60,
                "accepted": 412,
                "by_status": {
                    "completed": 380,
                    "failed": 22,
                    "timeout": 3,
                    "running": 5,
                    "pending": 2,
                },
                "by_termination_reason": {"exit": 402, "timeout": 3},
                "runtimes": [
                    {
                        "runtime": "python",
                        "executions": 300,
                        "unsuccessful": 18,
                        "run_ms": {"p50": 41.0, "p95": 350.5},
                        "queue_wait_ms": {"p50": 12.0, "p95": 95.0},
                    }
                ],
                "per_minute": [
                    {"minute": "2026-01-05T09:00:00Z", "accepted": 7, "finished": 7},
                ],
            },
            "lanes": [
                {"lane": "urgent", "pending": 0, "in_flight": 1, "redelivered": 0},
                {"lane": "normal", "pending": 2, "in_flight": 4, "redelivered": 0},
                {"lane": "low", "pending": 0, "in_flight": 0, "redelivered": 0},
            ],
            "outbox": {"pending": 0, "oldest_seconds": 0.0},
            "capacity": {"executors": 2, "slots": 16, "busy": 5},
        }
    },
    "admin_executors": {
        "response": {
            "executors": [
                {
                    "id": "executor-7f3a",
                    "backend": "bwrap",
                    "runtimes": ["bash", "c", "python"],
                    "slots": 8,
                    "busy": 3,
                    "draining": False,
                    "started_at": "2026-01-05T08:00:00Z",
                    "last_heartbeat_at": "2026-01-05T10:00:00Z",
                }
            ]
        }
    },
    # Sharing (issue 18).
    "list_shares": {"response": {"shares": [SHARE]}},
    "share_task": {"request": {"email": "Grace@example.com", "role": "runner"}, "response": SHARE},
    "unshare_task": {"response": {"message": "Share removed successfully"}},
    "change_password": {
        "request": {"current_password": "Sup3r-secret!", "new_password": "Ev3n-more-secret!"},
        "response": {"message": "password changed"},
    },
}
