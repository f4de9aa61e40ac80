"""The stream token: what the auth service signs and the gateway accepts for one log stream.

Browsers' EventSource cannot send an Authorization header, so a client asks for a short-lived
token scoped to one execution's logs and puts it in the stream's URL. Its audience and type
differ from an access token's, so it opens nothing else; it carries the session (`sid`), so a
logout revokes it with the access tokens.
"""

from __future__ import annotations

STREAM_TOKEN_AUDIENCE = "voidrunner-logs"
STREAM_TOKEN_TYPE = "stream"
STREAM_TOKEN_TTL_SECONDS = 60
# The claim naming the execution whose logs it opens.
STREAM_TOKEN_EXECUTION_CLAIM = "exe"
