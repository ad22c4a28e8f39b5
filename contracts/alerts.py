"""An alert over the channels other than email (SPEC §4: the CDC notification is late).
Stdlib only: the workflow, the activity and the tests share it."""


from dataclasses import dataclass

POST_ALERT = "PosterAlerte"


@dataclass
class ChannelAlert:
    """A short text for the configured alert channels (chat or SMS gateway webhooks).

    Never personal data: the ticket, instants and the page's address only.
    """

    idempotency_key: str
    text: str
    ticket: str
