"""The events formcase writes (and webhooks may subscribe to), with the older Penbox names
accepted for them. Kept apart, with no imports, so that any domain can name them."""

FORMS_CREATED = "forms:created"
FORMS_UPDATED = "forms:updated"
FORMS_DELETED = "forms:deleted"  # accepted in subscriptions; formcase deletes no forms yet
FORMS_ARCHIVED = "forms:archived"
FORMS_UNARCHIVED = "forms:unarchived"
RESPONSES_CREATED = "responses:created"
RESPONSES_UPDATED = "responses:updated"
RESPONSES_DELETED = "responses:deleted"  # accepted; formcase deletes no responses yet
RESPONSES_COMPLETED = "responses:completed"
CASES_CREATED = "cases:created"
CASES_UPDATED = "cases:updated"
CASES_STATUS_CHANGED = "cases:status_changed"
CASES_STEP_STARTED = "cases:step_started"

ALL = (
    FORMS_CREATED,
    FORMS_UPDATED,
    FORMS_DELETED,
    FORMS_ARCHIVED,
    FORMS_UNARCHIVED,
    RESPONSES_CREATED,
    RESPONSES_UPDATED,
    RESPONSES_DELETED,
    RESPONSES_COMPLETED,
    CASES_CREATED,
    CASES_UPDATED,
    CASES_STATUS_CHANGED,
    CASES_STEP_STARTED,
)
# `requests:*` are the older names of `forms:*`.
ALIASES = {kind.replace("forms:", "requests:"): kind for kind in ALL if kind.startswith("forms:")}
