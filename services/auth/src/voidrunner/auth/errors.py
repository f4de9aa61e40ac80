"""The auth service's errors; each maps to a gRPC status through the common interceptor."""

from voidrunner.common.errors import (
    AlreadyExists,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)


class EmailTaken(AlreadyExists):
    def __init__(self) -> None:
        super().__init__("User with this email already exists")


class InvalidCredentials(Unauthenticated):
    def __init__(self) -> None:
        super().__init__("Invalid email or password")


class InvalidRefreshToken(Unauthenticated):
    def __init__(self) -> None:
        super().__init__("Invalid refresh token")


class BadRegistration(InvalidArgument):
    pass


class WrongCurrentPassword(PermissionDenied):
    def __init__(self) -> None:
        super().__init__("Current password is incorrect")
