"""Users and the claims that keep their e-mail addresses unique. Pure: no I/O.

A user is the stream ``user-<id>``. E-mail uniqueness needs no index of its own: the
first event of the stream ``email-<normalised address>`` claims the address, and the
event store lets only one writer append at version 0. Signing up claims the address,
then registers the user; a process that dies in between leaves a claim whose user
stream is empty, which a later signup for the same address may complete once the
claim is old enough that its writer cannot still be at work.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from contracts import Message
from contracts.gateway import PreferencesChanged, Role, UserRegistered
from eventing.aggregate import Aggregate

# Far longer than a signup takes between its two appends, so a claim this old whose user
# stream is still empty was left behind by a process that died.
ABANDONED_CLAIM_AGE = timedelta(seconds=10)


def normalise_email(email: str) -> str:
    """The form an address is stored and looked up in: addresses are case-insensitive."""
    return email.strip().lower()


# Private events: they hold secrets or bookkeeping and never leave the gateway's store.


class PasswordSet(Message):
    type = "gateway.PasswordSet"

    user_id: str
    password_hash: str


class RoleChanged(Message):
    type = "gateway.RoleChanged"

    user_id: str
    role: Role


class EmailClaimed(Message):
    type = "gateway.EmailClaimed"

    email: str
    user_id: str
    claimed_at: datetime


@dataclass(frozen=True, slots=True)
class Preferences:
    # Both kinds of notification are opt-in: off until the user switches them on.
    reminders: bool = False
    updates: bool = False
    show_paid: bool = True


class User(Aggregate):
    stream_prefix = "user"

    def __init__(self, user_id: str) -> None:
        super().__init__(user_id)
        self.email = ""
        self.display_name = ""
        self.role: Role = "user"
        self.password_hash = ""
        self.preferences = Preferences()

    @classmethod
    def register(
        cls, user_id: str, email: str, display_name: str, password_hash: str, role: Role
    ) -> User:
        user = cls(user_id)
        user.trigger(
            UserRegistered(user_id=user_id, email=email, display_name=display_name, role=role)
        )
        user.trigger(PasswordSet(user_id=user_id, password_hash=password_hash))
        # Announced with the registration, so that other services learn the defaults
        # from their owner instead of assuming their own.
        user.trigger(PreferencesChanged(user_id=user_id, **asdict(user.preferences)))
        return user

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def set_password(self, password_hash: str) -> None:
        self.trigger(PasswordSet(user_id=self.id, password_hash=password_hash))

    def change_role(self, role: Role) -> None:
        if role != self.role:
            self.trigger(RoleChanged(user_id=self.id, role=role))

    def change_preferences(
        self,
        *,
        reminders: bool | None = None,
        updates: bool | None = None,
        show_paid: bool | None = None,
    ) -> Preferences:
        """Change the given preferences; an unchanged set records nothing."""
        changed = Preferences(
            reminders=self.preferences.reminders if reminders is None else reminders,
            updates=self.preferences.updates if updates is None else updates,
            show_paid=self.preferences.show_paid if show_paid is None else show_paid,
        )
        if changed != self.preferences:
            self.trigger(PreferencesChanged(user_id=self.id, **asdict(changed)))
        return self.preferences

    def apply(self, event: Message) -> None:
        match event:
            case UserRegistered():
                self.email = event.email
                self.display_name = event.display_name
                self.role = event.role
            case PasswordSet():
                self.password_hash = event.password_hash
            case RoleChanged():
                self.role = event.role
            case PreferencesChanged():
                self.preferences = Preferences(
                    reminders=event.reminders, updates=event.updates, show_paid=event.show_paid
                )
            case _:
                raise TypeError(f"a user has no event {event.type}")


class EmailClaim(Aggregate):
    """An e-mail address taken by one user; its id is the normalised address."""

    stream_prefix = "email"

    def __init__(self, email: str) -> None:
        super().__init__(email)
        self.user_id = ""
        self.claimed_at: datetime | None = None

    @classmethod
    def claim(cls, email: str, user_id: str, now: datetime) -> EmailClaim:
        claim = cls(email)
        claim.trigger(EmailClaimed(email=email, user_id=user_id, claimed_at=now))
        return claim

    def may_be_abandoned(self, now: datetime) -> bool:
        """Old enough that, if its user stream is empty, the signup behind it died."""
        return self.claimed_at is not None and now - self.claimed_at >= ABANDONED_CLAIM_AGE

    def apply(self, event: Message) -> None:
        match event:
            case EmailClaimed():
                self.user_id = event.user_id
                self.claimed_at = event.claimed_at
            case _:
                raise TypeError(f"an e-mail claim has no event {event.type}")
