"""An alert over the channels other than email (SPEC §4: the CDC notification is late).
Stdlib only: the workflow, the activity and the tests share it."""


from dataclasses import dataclass, field

POST_ALERT = "PosterAlerte"


@dataclass
class ChannelAlert:
    """A short text for the configured alert channels (chat or SMS gateway webhooks).

    The text is never personal data: the ticket, instants and the page's address only.
    """

    idempotency_key: str
    text: str
    ticket: str
    # The phone numbers of the people to alert (head of service, Region contact, the
    # incident's handlers), for an SMS gateway to text each of them; a chat room ignores
    # them. Personal data: sealed in Temporal, never in a log or the incident's history.
    to: list[str] = field(default_factory=list)
