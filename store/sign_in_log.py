"""Every sign-in failure and lockout, with who (the username typed), where (the client
address) and when; never the password. The throttle reads its counts from here, so it
holds across API processes and restarts."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.models import Base, UtcDateTime, utcnow

FAILURE = "failure"
LOCKOUT = "lockout"  # a try refused without checking the password
SUCCESS = "success"
# The longest wait imposed between two tries.
MAX_DELAY_SECONDS = 900.0


class SignInAttempt(Base):
    __tablename__ = "sign_in_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


def record(session: Session, username: str, address: str, outcome: str) -> None:
    session.add(SignInAttempt(username=username[:64], address=address[:64], outcome=outcome))


def wait_seconds(session: Session, username: str, address: str, free_failures: int,
                 window: timedelta) -> float:
    """How long this user or address must still wait before the next try (0: may try).
    After ``free_failures`` failures within ``window`` (for the user: since their last
    success), each further failure doubles the wait: 1 s, 2 s, 4 s… up to 15 min."""
    now = utcnow()
    since = now - window
    last_success = session.scalar(select(func.max(SignInAttempt.at)).where(
        SignInAttempt.username == username, SignInAttempt.outcome == SUCCESS))
    user_since = max(since, last_success) if last_success else since
    waits = [_wait(session, SignInAttempt.username == username, user_since, free_failures, now),
             _wait(session, SignInAttempt.address == address, since, free_failures, now)]
    return max(waits)


def _wait(session: Session, who, since: datetime, free_failures: int, now: datetime) -> float:  # type: ignore[no-untyped-def]
    count, last = session.execute(select(func.count(), func.max(SignInAttempt.at)).where(
        who, SignInAttempt.outcome == FAILURE, SignInAttempt.at > since)).one()
    if count < free_failures or last is None:
        return 0.0
    if last.tzinfo is None:  # SQLite hands back naive UTC values for aggregates
        from datetime import UTC

        last = last.replace(tzinfo=UTC)
    delay = min(2.0 ** (count - free_failures), MAX_DELAY_SECONDS)
    return max(0.0, (last + timedelta(seconds=delay) - now).total_seconds())
