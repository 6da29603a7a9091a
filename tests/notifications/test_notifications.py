"""Invitations, reminders and confirmations, sent by the app's own worker to a real SMTP
server and a real HTTP SMS gateway, and shown in the form's notifications[]."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.cases import templates as case_templates
from formcase.kit.time import isoformat_z, utcnow
from formcase.notifications.service import INVITE_JOB, REMIND_JOB
from tests.helpers import Tenant, assert_error, fill_api
from tests.notifications.conftest import (
    Gateway,
    Mailbox,
    Settle,
    SmtpServer,
    free_port,
    make_due,
    new_form,
    notifications,
    planned,
    self_signed,
    wait_until_done,
)

pytestmark = pytest.mark.usefixtures("smtp")

JANE = {"email": "jane@client.example", "given_name": "Jane", "family_name": "Doe"}


async def test_invitation_email(
    client: httpx.AsyncClient, lettered: Tenant, settled: Settle, smtp: SmtpServer
) -> None:
    form = await new_form(client, lettered, user={**JANE, "locale": "fr"})
    # The answer to the creation already shows the invitation it queued.
    assert [(n["status"], n["to"]) for n in form["notifications"]] == [
        ("pending", "jane@client.example")
    ]
    [note] = await settled(form["id"], 1)
    assert note["status"] == "sent", note
    assert note["method"] == "email" and note["to"] == "jane@client.example"
    assert note["from"] == "Formcase Tests <forms@formcase.example>"
    assert note["template"] == "request_invitation" and note["locale"] == "fr"
    assert note["active"] is True and note["error"] is None
    assert note["at"] >= form["created_at"]

    [mail] = smtp.mailbox.to("jane@client.example")
    message = mail.message
    assert (
        message["Subject"] == f"Workspace {lettered.slug} vous demande de remplir « Annual review »"
    )
    assert message["From"] == "Formcase Tests <forms@formcase.example>"
    assert message["To"] == "jane@client.example"
    assert message["Message-ID"] == note["message_id"]
    assert note["message_id"].startswith(f"<{note['id']}@")
    text, html = mail.part("plain"), mail.part("html")
    link = form["links"]["fill"]
    assert text.startswith("Bonjour Jane,")
    assert f"Ouvrir le formulaire: {link}" in text
    assert f'href="{link}"' in html and 'lang="fr"' in html
    assert "Ce lien vous est personnel" in text
    # the form's expiry, in the contact's language
    assert "Merci de répondre avant le" in text
    assert smtp.mailbox.logins == [("mailer", "s3cret/pw")]  # the URL's login, %-decoded


@pytest.mark.parametrize(("tls", "scheme"), [("starttls", "smtp+starttls"), ("implicit", "smtps")])
async def test_tls_to_the_mail_server(
    client: httpx.AsyncClient,
    lettered: Tenant,
    settled: Settle,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    tls: str,
    scheme: str,
) -> None:
    """STARTTLS (required by the server before it takes a login) and TLS from the start,
    the server's certificate checked against FORMCASE_SMTP_CA_FILE."""
    pem = self_signed(tmp_path)
    server = SmtpServer(Mailbox(), free_port(), tls=tls, pem=pem)
    server.start()
    try:
        url = f"{scheme}://mailer:s3cret%2Fpw@127.0.0.1:{server.port}"
        monkeypatch.setattr(settings, "smtp_url", url)
        monkeypatch.setattr(settings, "smtp_ca_file", pem[0])
        form = await new_form(client, lettered, user=JANE)
        [note] = await settled(form["id"], 1)
        assert note["status"] == "sent", note
        assert len(server.mailbox.to(JANE["email"])) == 1
        assert server.mailbox.logins == [("mailer", "s3cret/pw")]

        # Without the CA, the certificate is not trusted: not sent, and the reason says so.
        monkeypatch.setattr(settings, "smtp_ca_file", None)
        monkeypatch.setattr(settings, "job_max_attempts", 1)
        other = await new_form(client, lettered, user={"email": "other@client.example"})
        [note] = await settled(other["id"], 1)
        assert note["status"] == "failed" and "CERTIFICATE_VERIFY_FAILED" in note["error"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("locale", "subject", "greeting"),
    [
        ("en", "Workspace {slug} asks you to fill in “Annual review”", "Hello Jane,"),
        ("nl", "Workspace {slug} vraagt u “Annual review” in te vullen", "Beste Jane,"),
        ("de", "Workspace {slug} asks you to fill in “Annual review”", "Hello Jane,"),
    ],
)
async def test_invitation_speaks_the_contacts_language(
    client: httpx.AsyncClient,
    lettered: Tenant,
    settled: Settle,
    smtp: SmtpServer,
    locale: str,
    subject: str,
    greeting: str,
) -> None:
    """English, Dutch; a language the template does not speak falls back to its own."""
    address = f"{locale}@client.example"
    form = await new_form(client, lettered, user={**JANE, "email": address, "locale": locale})
    [note] = await settled(form["id"], 1)
    assert note["locale"] == ("en" if locale == "de" else locale)
    [mail] = smtp.mailbox.to(address)
    assert mail.message["Subject"] == subject.format(slug=lettered.slug)
    assert mail.part("plain").startswith(greeting)


async def test_template_texts_and_sender(
    client: httpx.AsyncClient, lettered: Tenant, settled: Settle, smtp: SmtpServer
) -> None:
    form = await new_form(
        client,
        lettered,
        flow={"slug": "custom-letters"},
        user=JANE,
        active_until=isoformat_z(utcnow() + timedelta(days=3)),
    )
    [note] = await settled(form["id"], 1)
    assert note["status"] == "sent", note
    assert note["from"] == "Acme Accounting <forms@formcase.example>"
    [mail] = smtp.mailbox.to(JANE["email"])
    assert mail.message["Subject"] == "Jane, your tax documents please"
    assert mail.message["Reply-To"] == "help@acme.example"
    text, html = mail.part("plain"), mail.part("html")
    assert "Dear Jane Doe," in text
    assert "for Tax documents <before Friday>." in text
    assert "for Tax documents &lt;before Friday&gt;." in html  # escaped in HTML
    assert form["links"]["fill"] in text  # the link is always there


async def test_sms_through_the_http_gateway(
    client: httpx.AsyncClient, lettered: Tenant, settled: Settle, gateway: Gateway
) -> None:
    form = await new_form(client, lettered, user={"phone": "+32 470 11 22 33", "locale": "nl"})
    [note] = await settled(form["id"], 1)
    assert note["status"] == "sent", note
    assert note["method"] == "sms" and note["to"] == "+32470112233"
    assert note["from"] == "ACME" and note["message_id"] == "sms-1"
    [(path, headers, body)] = gateway.received
    assert path == "/sms" and headers["Authorization"] == "Bearer gateway-token"
    assert body == {
        "recipient": "+32470112233",
        "sender": "ACME",
        "message": f"Workspace {lettered.slug} vraagt u “Annual review” in te vullen: "
        + form["links"]["fill"],
    }


async def test_both_channels_and_template_sms(
    client: httpx.AsyncClient, lettered: Tenant, settled: Settle, gateway: Gateway, smtp: SmtpServer
) -> None:
    form = await new_form(
        client, lettered, flow={"slug": "custom-letters"}, user={**JANE, "phone": "+32470112233"}
    )
    found = await settled(form["id"], 2)
    assert [(n["method"], n["status"]) for n in found] == [("email", "sent"), ("sms", "sent")]
    [(_, _, body)] = gateway.received
    # The template's SMS text, and the link added because the text has none.
    assert body["message"] == f"Acme: your tax documents please, Jane {form['links']['fill']}"
    assert len(smtp.mailbox.to(JANE["email"])) == 1


async def test_gateway_refusal_fails_without_retrying(
    client: httpx.AsyncClient,
    lettered: Tenant,
    settled: Settle,
    gateway: Gateway,
    settings: Any,
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(settings, "sms_url", gateway.base + "/refuse")
    form = await new_form(client, lettered, user={"phone": "+32470112233"})
    [note] = await settled(form["id"], 1)
    assert note["status"] == "failed" and note["active"] is False
    assert "422" in note["error"] and "invalid number" in note["error"]
    assert len(gateway.received) == 1  # a refusal is final: not tried again


async def test_log_provider_and_no_smtp_skip_with_a_note(
    client: httpx.AsyncClient, lettered: Tenant, settled: Settle, settings: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(settings, "smtp_url", None)
    form = await new_form(client, lettered, user={**JANE, "phone": "+32470112233"})
    email, sms = await settled(form["id"], 2)
    assert email["status"] == "skipped" and "FORMCASE_SMTP_URL" in email["error"]
    assert sms["status"] == "skipped" and "'log'" in sms["error"]
    assert email["active"] is False


async def test_refused_recipient_fails_at_once(
    client: httpx.AsyncClient, lettered: Tenant, settled: Settle, smtp: SmtpServer
) -> None:
    smtp.mailbox.refused.add("ghost@client.example")
    form = await new_form(client, lettered, user={"email": "ghost@client.example"})
    [note] = await settled(form["id"], 1)
    assert note["status"] == "failed"
    assert "550" in note["error"] and "No such user" in note["error"]


@pytest.mark.usefixtures("quick_retries")
async def test_smtp_down_then_up_is_retried(
    client: httpx.AsyncClient, lettered: Tenant, settled: Settle, smtp: SmtpServer
) -> None:
    smtp.stop()
    form = await new_form(client, lettered, user=JANE)
    deadline = utcnow() + timedelta(seconds=20)
    while True:  # the first attempts fail: the notification says why and stays pending
        [note] = await notifications(client, lettered, form["id"])
        if note["error"]:
            break
        assert utcnow() < deadline, note
        await asyncio.sleep(0.3)
    assert note["status"] == "pending" and note["active"] is True
    assert note["error"].startswith("attempt ") and "Connect" in note["error"]
    smtp.start()
    [note] = await settled(form["id"], 1)
    assert note["status"] == "sent" and note["error"] is None
    assert len(smtp.mailbox.to(JANE["email"])) == 1


async def test_a_list_shows_each_forms_own_notifications(
    client: httpx.AsyncClient, lettered: Tenant, settled: Settle, smtp: SmtpServer
) -> None:
    jane = await new_form(client, lettered, user=JANE)
    joe = await new_form(client, lettered, user={**JANE, "email": "joe@client.example"})
    nobody = await new_form(client, lettered, user={"given_name": "Anon"})
    listed = await client.get("/v1/forms?page[size]=100", headers=lettered.headers)
    assert listed.status_code == 200, listed.text
    sent_to = {
        form["id"]: [(n["to"], n["template"]) for n in form["notifications"]]
        for form in listed.json()["data"]
    }
    assert sent_to == {
        jane["id"]: [("jane@client.example", "request_invitation")],
        joe["id"]: [("joe@client.example", "request_invitation")],
        nobody["id"]: [],
    }
    for form in (jane, joe):  # sent before the next test's mailbox opens
        await settled(form["id"], 1)


async def test_draft_is_not_invited_until_sent(
    client: httpx.AsyncClient, lettered: Tenant, settled: Settle, smtp: SmtpServer
) -> None:
    form = await new_form(client, lettered, user=JANE, draft=True)
    assert form["notifications"] == []
    sent = await client.patch(
        f"/v1/forms/{form['id']}", json={"draft": False}, headers=lettered.headers
    )
    assert sent.status_code == 200, sent.text
    assert [n["status"] for n in sent.json()["notifications"]] == ["pending"]
    await settled(form["id"], 1)
    # Back to draft and out again: no second invitation.
    for draft in (True, False):
        patched = await client.patch(
            f"/v1/forms/{form['id']}", json={"draft": draft}, headers=lettered.headers
        )
        assert patched.status_code == 200
    assert len(await notifications(client, lettered, form["id"])) == 1
    assert len(smtp.mailbox.to(JANE["email"])) == 1


async def test_opt_out_of_the_invitation(
    client: httpx.AsyncClient, lettered: Tenant, smtp: SmtpServer
) -> None:
    form = await new_form(client, lettered, user=JANE, options={"send_invitation": False})
    assert form["notifications"] == []
    bad = await new_form_response(client, lettered, options={"max_reminders": -1})
    assert_error(bad, 400, "max_reminders", "0 to 50")


async def new_form_response(
    client: httpx.AsyncClient, tenant: Tenant, **body: Any
) -> httpx.Response:
    return await client.post(
        "/v1/forms", json={"flow": {"slug": "letters"}, **body}, headers=tenant.headers
    )


async def test_invitation_waits_for_active_from(
    client: httpx.AsyncClient,
    lettered: Tenant,
    settled: Settle,
    smtp: SmtpServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    opens = utcnow().replace(microsecond=0) + timedelta(days=2)
    form = await new_form(client, lettered, user=JANE, active_from=isoformat_z(opens))
    assert form["notifications"] == []
    assert await make_due(sessionmaker, INVITE_JOB, form["id"]) == opens
    [note] = await settled(form["id"], 1)
    assert note["status"] == "sent" and note["template"] == "request_invitation"

    # Archived before it opens: no invitation.
    other = await new_form(
        client, lettered, user={"email": "other@client.example"}, active_from=isoformat_z(opens)
    )
    archived = await client.patch(
        f"/v1/forms/{other['id']}", json={"archived": True}, headers=lettered.headers
    )
    assert archived.status_code == 200
    await make_due(sessionmaker, INVITE_JOB, other["id"])
    await wait_until_done(sessionmaker, INVITE_JOB, other["id"])
    assert await notifications(client, lettered, other["id"]) == []
    assert smtp.mailbox.to("other@client.example") == []


async def test_reminders_every_n_days_until_completed(
    client: httpx.AsyncClient,
    lettered: Tenant,
    settled: Settle,
    smtp: SmtpServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    form = await new_form(
        client, lettered, user=JANE, options={"reminder_interval_days": 2, "max_reminders": 3}
    )
    await settled(form["id"], 1)
    planned_at = await make_due(sessionmaker, REMIND_JOB, form["id"])
    assert timedelta(days=2) - timedelta(minutes=1) < planned_at - utcnow() <= timedelta(days=2)
    _, reminder = await settled(form["id"], 2)
    assert reminder["status"] == "sent" and reminder["template"] == "request_reminder"
    mails = smtp.mailbox.to(JANE["email"])
    assert mails[-1].message["Subject"] == "Reminder: “Annual review” is waiting for you"
    assert form["links"]["fill"] in mails[-1].part("plain")
    [next_one] = await planned(sessionmaker, REMIND_JOB, form["id"])
    assert next_one.payload["number"] == 2

    # The contact completes the form: the next reminder's day comes, nothing is sent.
    await complete(client, form)
    await make_due(sessionmaker, REMIND_JOB, form["id"])
    await wait_until_done(sessionmaker, REMIND_JOB, form["id"])
    assert len(await notifications(client, lettered, form["id"])) == 2
    assert await planned(sessionmaker, REMIND_JOB, form["id"]) == []  # the chain has ended


async def test_reminders_stop_at_the_maximum(
    client: httpx.AsyncClient,
    lettered: Tenant,
    settled: Settle,
    smtp: SmtpServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    form = await new_form(
        client, lettered, user=JANE, options={"reminder_interval_days": 1, "max_reminders": 2}
    )
    await settled(form["id"], 1)
    for count in (2, 3):
        await make_due(sessionmaker, REMIND_JOB, form["id"])
        await settled(form["id"], count)
    assert await planned(sessionmaker, REMIND_JOB, form["id"]) == []
    templates = [n["template"] for n in await notifications(client, lettered, form["id"])]
    assert templates == ["request_invitation", "request_reminder", "request_reminder"]


async def test_reminders_off_by_default(
    client: httpx.AsyncClient,
    lettered: Tenant,
    settled: Settle,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    form = await new_form(client, lettered, user=JANE)
    await settled(form["id"], 1)
    assert await planned(sessionmaker, REMIND_JOB, form["id"]) == []


async def complete(client: httpx.AsyncClient, form: dict[str, Any]) -> None:
    assert (await client.post(fill_api(form, "state"))).status_code == 200
    saved = await client.post(
        fill_api(form, "steps/about"), json={"data": {"name": "Jane", "agree": True}}
    )
    assert saved.status_code == 200, saved.text
    submitted = await client.post(fill_api(form, "submit"))
    assert submitted.status_code == 200, submitted.text


async def test_confirmation_on_completion(
    client: httpx.AsyncClient, lettered: Tenant, settled: Settle, smtp: SmtpServer
) -> None:
    form = await new_form(
        client, lettered, user={**JANE, "locale": "nl"}, options={"send_confirmation": True}
    )
    await settled(form["id"], 1)
    await complete(client, form)
    _, confirmation = await settled(form["id"], 2)
    assert confirmation["template"] == "request_completed"
    assert confirmation["status"] == "sent"
    mail = smtp.mailbox.to(JANE["email"])[-1]
    assert mail.message["Subject"] == "We hebben uw antwoorden op “Annual review” ontvangen"
    text = mail.part("plain")
    assert "U hoeft niets meer te doen." in text
    assert form["links"]["fill"] not in text  # nothing left to open

    quiet = await new_form(client, lettered, user={"email": "quiet@client.example"})
    await settled(quiet["id"], 1)
    await complete(client, quiet)
    assert len(await notifications(client, lettered, quiet["id"])) == 1  # off by default


async def test_a_case_email_step_goes_out_by_smtp(
    client: httpx.AsyncClient,
    lettered: Tenant,
    smtp: SmtpServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    claim = Path(__file__).parents[1] / "cases" / "claim.yaml"
    async with sessionmaker() as session:
        template, _ = await case_templates.import_template(
            session, lettered.slug, case_templates.read_file(claim)
        )
    created = await client.post(
        "/v1/cases",
        json={"template": {"id": str(template.id)}, "contacts": [JANE]},
        headers=lettered.headers,
    )
    assert created.status_code == 200, created.text
    case_id = created.json()["id"]
    started = await client.post(f"/v1/cases/{case_id}/start/welcome", headers=lettered.headers)
    assert started.status_code == 200, started.text
    deadline = utcnow() + timedelta(seconds=20)
    while True:
        case = (await client.get(f"/v1/cases/{case_id}", headers=lettered.headers)).json()
        [welcome] = [s for s in case["steps"] if s["key"] == "welcome"]
        if welcome["notification"]["status"] != "pending":
            break
        assert utcnow() < deadline, welcome
        await asyncio.sleep(0.3)
    assert welcome["notification"]["status"] == "sent", welcome
    [mail] = smtp.mailbox.to(JANE["email"])
    assert mail.message["Subject"] == "Your claim"
    assert "We have opened your claim." in mail.part("plain")
    assert mail.message["Message-ID"] == welcome["notification"]["message_id"]
