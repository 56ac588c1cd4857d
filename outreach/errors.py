"""The errors the core raises, each carrying words a user understands."""

from __future__ import annotations


class OutreachError(Exception):
    """Base class: every error the core raises on purpose."""


class NotFound(OutreachError):
    """Raised when a record does not exist or belongs to another user.

    The two cases are deliberately indistinguishable, so that guessing ids
    reveals nothing.
    """


class ValidationError(OutreachError):
    """Raised when user input cannot be accepted; the message says why."""


class ConfigurationError(OutreachError):
    """Raised when a setting is missing or malformed."""


class InvalidTransition(OutreachError):
    """Raised when an outreach is asked to take a step its state does not allow."""

    def __init__(self, state: str, trigger: str) -> None:
        super().__init__(f"cannot apply '{trigger}' to an outreach that is '{state}'")
        self.state = state
        self.trigger = trigger


class TemplateError(OutreachError):
    """Raised when a template cannot be rendered."""


class TemplateTooBig(TemplateError):
    """Raised when a template would build text, a list or a number beyond its limits."""


class TemplateTooSlow(TemplateError):
    """Raised when a template takes longer than its time allowance to fill in."""


class TemplateTooComplex(TemplateError):
    """Raised when a template loops, nests or works more than its limits allow."""


class MissingVariable(TemplateError):
    """Raised when a template uses a variable that is missing or empty."""

    def __init__(self, variable: str, contact: str | None = None) -> None:
        who = f" for {contact}" if contact else ""
        super().__init__(f"the variable '{variable}' is missing or empty{who}")
        self.variable = variable
        self.contact = contact


class MailboxError(OutreachError):
    """Base class for failures talking to the user's mail servers."""


class MailboxAuthFailed(MailboxError):
    """Raised when the server refused the user name or password."""


class TemporaryFailure(MailboxError):
    """Raised when a server failed in a way that may pass: retry later."""


class PermanentFailure(MailboxError):
    """Raised when a server refused for good; `server_text` keeps its own words."""

    def __init__(self, message: str, code: int | None = None, server_text: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.server_text = server_text


class DeliveryUnknown(MailboxError):
    """Raised when the connection broke after the message body went out.

    The server may or may not have accepted it. Retrying could send it twice, so
    the answer is found by looking in the Sent folder, or asked of the user.
    """


class SendWithheld(OutreachError):
    """Raised by a send's `before_data` when the body must not go after all (the message
    was taken or called off meanwhile): the sender ends the mail transaction (RSET),
    nothing was delivered, and a kept session stays usable."""


class OAuthError(OutreachError):
    """Raised when signing in with Google or Microsoft, or renewing its token, failed.

    The message is a sentence for the user.
    """


class SignInRequired(OAuthError):
    """The provider no longer accepts the grant (revoked, expired): the user must sign in again."""
