"""Bodies of /api/v1/tasks/{id}/shares."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from voidrunner.contracts.shares import ShareRole
from voidrunner.gateway.schemas.auth import Email


class ShareCreate(BaseModel):
    """Share the task with whoever signs in with `email`, now or once they register.

    The answer is the same whether or not that email has an account. Sharing again with the
    same email changes the share's role (200 instead of 201): the call is idempotent.
    """

    model_config = ConfigDict(extra="ignore", strict=True)
    email: Email = Field(examples=["grace@example.com"])
    # Not strict: a JSON string is the enum's value (strict mode wants an enum instance).
    role: Annotated[ShareRole, Field(strict=False)] = Field(
        description="`viewer`: reads the task, its executions and their logs; `runner`: also "
        "starts and cancels executions"
    )


class Share(BaseModel):
    email: str = Field(description="Lower-cased", examples=["grace@example.com"])
    role: ShareRole
    created_at: dt.datetime
    updated_at: dt.datetime


class ShareList(BaseModel):
    """Every share of the task, oldest first (a task has at most 100)."""

    shares: list[Share]
