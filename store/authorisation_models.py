"""Each user's PAGM profiles per role, as an administrator configured them (SPEC §3).

A role held without a row here carries its role's default profiles
(contracts/authorisations.py): accounts created before profiles were configured per user.
The history of every change is the hash-chained ``authorisation_history`` log
(store/trace_models.py).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base


class RoleProfiles(Base):
    __tablename__ = "user_role_profiles"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    role_code: Mapped[str] = mapped_column(ForeignKey("roles.code"), primary_key=True)
    profiles: Mapped[str] = mapped_column(Text)  # one per line
