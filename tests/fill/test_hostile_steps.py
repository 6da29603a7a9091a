"""A step's answers arrive without authentication, through a form's link: values that cannot
be stored are a 400 (413 for size) naming the answer, and the step is not saved."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import MakeTenant
from tests.forms.test_hostile_values import HUGE, SURROGATE, post_text
from tests.helpers import Tenant, assert_error, fill_api

SURVEY = Path(__file__).with_name("survey.yaml")


@pytest.fixture
async def surveyed(make_tenant: MakeTenant) -> Tenant:
    return await make_tenant(template_files=[SURVEY])


@pytest.mark.parametrize(
    ("step", "data", "status", "fragments"),
    [
        (
            "about",
            f'{{"name": "Bo", "kind": "person", "age": {HUGE}}}',
            400,
            ["data.age", "64-bit"],
        ),
        ("about", f'{{"name": {SURROGATE}, "kind": "person"}}', 400, ["data.name", "surrogate"]),
        ("about", f'{{{SURROGATE}: "x"}}', 400, ["'data' has a key", "surrogate"]),
        ("end", '{"comment": "%s"}' % ("x" * 70_000), 413, ["'data'", "65536 bytes"]),
    ],
)
async def test_a_step_that_cannot_be_stored_is_not_saved(
    client: httpx.AsyncClient,
    surveyed: Tenant,
    step: str,
    data: str,
    status: int,
    fragments: list[str],
) -> None:
    created = await client.post(
        "/v1/forms",
        json={"flow": {"slug": "survey"}, "data": {"name": "Ann"}},
        headers=surveyed.headers,
    )
    form = created.json()
    response = await post_text(client, fill_api(form, f"steps/{step}"), f'{{"data": {data}}}')
    assert_error(response, status, *fragments)
    state = (await client.post(fill_api(form, "state"))).json()
    assert state["response"]["data"] == {"name": "Ann"}  # the prefill only
    assert state["response"]["step"] is None
    # A good answer is still taken.
    saved = await client.post(
        fill_api(form, "steps/about"),
        json={"data": {"name": "Bo", "kind": "person", "age": 2**63 - 1}},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["response"]["data"]["age"] == 2**63 - 1
