"""Every ORM model, imported in one place so that metadata (and Alembic) sees them all."""

from formcase.attachments.models import Attachment
from formcase.auth.models import ApiToken, token_workspaces
from formcase.cases.models import Case, CaseContact, CaseEvent, CaseStep, CaseTemplate
from formcase.db.base import Base
from formcase.docintel.models import DocintelJob
from formcase.events.models import Event, EventSequence, Job
from formcase.forms.models import Form, FormTally
from formcase.notifications.models import Notification
from formcase.responses.models import Response, ResponseEvent
from formcase.signatures.models import Signature
from formcase.templates.models import FormTemplate, FormTemplateVersion
from formcase.webhooks.models import (
    ServerKey,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from formcase.workspaces.models import Member, Workspace, WorkspaceCertificate

__all__ = [
    "ApiToken",
    "Attachment",
    "Base",
    "Case",
    "CaseContact",
    "CaseEvent",
    "CaseStep",
    "CaseTemplate",
    "DocintelJob",
    "Event",
    "EventSequence",
    "Form",
    "FormTally",
    "FormTemplate",
    "FormTemplateVersion",
    "Job",
    "Member",
    "Notification",
    "Response",
    "ResponseEvent",
    "ServerKey",
    "Signature",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
    "Workspace",
    "WorkspaceCertificate",
    "token_workspaces",
]
