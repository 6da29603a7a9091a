"""schemathesis against the app with every check, on SQLite and on PostgreSQL: each answer's
status, headers and body are those the OpenAPI document lists, schema-valid requests are
accepted and invalid ones refused. Bounded (a few examples per operation) to stay a test."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from typing import Any

import schemathesis
import schemathesis.engine
from hypothesis import strategies as st
from schemathesis.engine import Status, events
from schemathesis.python.asgi import shutdown_lifespans

from formcase.app import create_app
from formcase.auth import service as tokens
from formcase.config import Settings
from formcase.db.engine import Database
from formcase.templates import service as templates
from formcase.workspaces import service as workspaces
from tests.conftest import DEMO_TEMPLATES

MAX_EXAMPLES = 10

# Schema-valid requests that formcase refuses for what no schema can know, each allowed only
# for its operation, status and message, with the reason:
# (operation, status, a regular expression the message matches, why).
FORMS = ("POST /v1/forms", "POST /v1/requests")
REFUSALS = [
    *(
        (
            operation,
            400,
            r"Webhook URL host '.*' (cannot be resolved|resolves to .*: refused|is .*: refused)",
            "whether a host name resolves, and to a public address, only DNS can say",
        )
        for operation in ("POST /v1/webhooks", "PATCH /v1/webhooks/{webhook_id}", *FORMS)
    ),
    *(
        (
            operation,
            400,
            r"^'company' and 'workspace' name different workspaces",
            "two fields that must name the same workspace (JSON Schema compares no values)",
        )
        for operation in ("POST /v1/webhooks", *FORMS)
    ),
    *(
        (operation, 400, pattern, why)
        for operation in FORMS
        for pattern, why in (
            (r"unknown option '.*' \(this template has", "a template's own options"),
            (r"is not an element of this template", "prefill keys are the template's elements"),
            (r"^Field 'owner\.email': .* is not a member of workspace", "an owner is a member"),
        )
    ),
    *(
        (
            operation,
            422,
            r"^This form is \w+: ",
            "a change the form's state does not allow (Penbox's 422 for a business rule)",
        )
        for operation in ("PATCH /v1/forms/{form_id}", "PATCH /v1/requests/{form_id}")
    ),
    *(
        (operation, 400, r"^Locale '.*' is not one of this template's", "a template's locales")
        for operation in ("GET /v1/form_templates/{slug}/steps", "GET /v1/flows/{slug}/steps")
    ),
    (
        "GET /v1/attachments",
        422,
        r"cannot be turned into PDF pages",
        "files whose content is no document",
    ),
    (
        "POST /v1/cases",
        400,
        r"no case template \S+ in this token's workspaces",
        "a template id that names none of the tenant's (Penbox answers 400 for it)",
    ),
    ("POST /v1/cases", 400, r"is not a member of the workspace", "the owner must be a member"),
    (
        "POST /v1/cases",
        400,
        r"^Field 'schema\[\d+\] \(",
        "a schema entry checked against its field in the template, and its value against its "
        "type (Penbox: 400, a bad schema value)",
    ),
    *(
        (operation, 400, r"is not a status of this case", "the statuses are the template's")
        for operation in ("POST /v1/cases", "PATCH /v1/cases/{case_id}")
    ),
    (
        "POST /v1/cases/{case_id}/contacts",
        400,
        r"the main contact cannot be removed",
        "which role is the main one is the case's",
    ),
    (
        "POST /v1/cases/{case_id}/data",
        400,
        r"is not a field of this case",
        "the fields are the case's",
    ),
    *(
        (
            operation,
            400,
            r"two (contacts|fields) have the key",
            "keys unique across items (JSON Schema's uniqueItems compares whole items)",
        )
        for operation in (
            "POST /v1/cases",
            "POST /v1/cases/{case_id}/contacts",
            "POST /v1/document-intelligence",
            "POST /v1/document_intelligence",
        )
    ),
    *(
        (
            operation,
            code,
            pattern,
            why,
        )
        for operation in ("POST /v1/document-intelligence", "POST /v1/document_intelligence")
        for code, pattern, why in (
            (400, r"no attachment \S+ in this workspace", "an attachment id that names none"),
            (415, r"document intelligence reads", "a document's type is read from its bytes"),
            (400, r"^Field 'attachments\[\d+\]': '.*' ", "a document that cannot be read"),
        )
    ),
]


# Any operation: PostgreSQL's text holds no NUL character, and formcase says so with a 400
# (kit.errors) rather than repeat the database's rule on every string of the document.
NUL = "holds a NUL character"
# Any operation that stores a free-form JSON value (`data`, `external_args`, step data …):
# kit.json_input's limits on what lies inside it (docs/api.md "Limits"), which a schema of
# "any object" cannot state without a recursive one that the client generators do not take.
FREE_FORM_VALUE = (
    r"^Field '.*' (is an integer outside the 64-bit range|holds a lone UTF-16 surrogate"
    r"|is not a JSON number|is nested more than \d+ levels)"
)
FREE_FORM_SIZE = r"^Field '.*' is \d+ bytes as JSON; the limit is"


def _refusal_is_semantic(label: str, status: int, message: str) -> bool:
    if status == 400 and (NUL in message or re.search(FREE_FORM_VALUE, message, re.S)):
        return True
    if status == 413 and re.search(FREE_FORM_SIZE, message, re.S):
        return True
    return any(
        label == operation and status == code and re.search(pattern, message)
        for operation, code, pattern, _ in REFUSALS
    )


def _phones() -> st.SearchStrategy[str]:
    """What `format: phone` means (kit.phones): a number libphonenumber deems valid, here
    libphonenumber's own example of each region and type, in E.164 or as written there."""
    import phonenumbers

    numbers = [
        phonenumbers.example_number_for_type(region, kind)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    ]
    formats = (phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return st.sampled_from(
        sorted(
            {
                phonenumbers.format_number(number, style)
                for number in numbers
                if number is not None
                for style in formats
            }
        )
    )


schemathesis.openapi.format("phone", _phones())


async def _tenant(config: Settings) -> str:
    """A workspace with a member and the demo templates; the secret of a token for it."""
    database = Database(config)
    try:
        async with database.sessionmaker() as session:
            slug = f"fuzz-{secrets.token_hex(4)}"
            workspace = await workspaces.create(session, slug, "Fuzzed")
            await workspaces.add_member(session, workspace, f"owner@{slug}.example")
            for path in sorted(DEMO_TEMPLATES.glob("*.yaml")):
                await templates.publish(session, slug, templates.read_file(path))
            _, secret = await tokens.create_token(session, "fuzz", [slug])
            return secret
    finally:
        await database.dispose()


def _described(recorder: Any, case_id: str, check: Any) -> str:
    """A failure as a person reads it: the check, the operation, what formcase answered,
    and the request to reproduce it."""
    case = recorder.cases[case_id].value
    interaction = recorder.interactions.get(case_id)
    answer = ""
    if interaction is not None and interaction.response is not None:
        response = interaction.response
        answer = f"{response.status_code} {response.content[:300]!r}"
    failure = check.failure_info.failure
    return (
        f"{check.name} on {case.operation.label}: {failure.title}: {answer}\n"
        f"{failure.message}\n{check.failure_info.code_sample}"
    )


def _semantic(recorder: Any, case_id: str, label: str) -> bool:
    interaction = recorder.interactions.get(case_id)
    if interaction is None or interaction.response is None:
        return False
    response = interaction.response
    try:
        message = str(json.loads(response.content)["message"])
    except (ValueError, KeyError, TypeError):
        return False
    return _refusal_is_semantic(label, response.status_code, message)


def fuzz(config: Settings, token: str) -> tuple[list[str], int]:
    """One bounded schemathesis run, every check and every phase (examples, coverage,
    fuzzing, stateful), as `schemathesis run --checks all` would make it; the failures found,
    each with the request that shows it, and how many scenarios ran."""
    import sys

    sys.path.insert(0, "/tmp")

    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", create_app(config))
    schema.config.update(headers={"Authorization": f"Bearer {token}"}, continue_on_failure=True)
    schema.config.checks.update(included_check_names=["all"])
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True)
    failures: list[str] = []
    scenarios = 0
    try:
        for event in schemathesis.engine.from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                scenarios += 1
                for case_id, checks in event.recorder.checks.items():
                    for check in checks:
                        label = event.recorder.cases[case_id].value.operation.label
                        if check.name == "positive_data_acceptance" and _semantic(
                            event.recorder, case_id, label
                        ):
                            continue
                        if check.status is Status.FAILURE and check.failure_info is not None:
                            failures.append(_described(event.recorder, case_id, check))
                        elif check.status is Status.ERROR:
                            failures.append(f"{check.name} crashed on {case_id}")
            elif isinstance(event, events.NonFatalError | events.FatalError):
                failures.append(f"error: {event}")
    finally:
        shutdown_lifespans()
    return sorted(set(failures)), scenarios


def test_the_api_is_what_its_description_says(settings: Settings) -> None:
    # No rate limits (the fuzzer sends far more than 100 requests a minute) and no worker
    # (what it would deliver is not under test here).
    # Webhooks to public https URLs only, as the document says (without the setting that
    # also allows http and private addresses for a local receiver).
    config = settings.model_copy(
        update={
            "rate_limit_token": "",
            "rate_limit_client": "",
            "run_worker": False,
            "webhook_allow_private": False,
        }
    )
    failures, scenarios = fuzz(config, asyncio.run(_tenant(config)))
    assert scenarios > 100
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)
