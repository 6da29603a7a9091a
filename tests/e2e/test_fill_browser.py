"""The contact's fill page in headless Chromium against a real `formcase serve`: a form is
filled step by step (conditions, validation, a file, a drawn signature), reviewed and sent,
and the API shows what the contact did. Screenshots of each screen go to
test-artifacts/fill/ (phone and desktop sizes) for a person to look at."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from formcase.auth import service as tokens
from formcase.config import Settings
from formcase.db.engine import Database
from formcase.db.migrate import upgrade
from formcase.templates import service as templates
from formcase.workspaces import service as workspaces
from tests.attachments.samples import pdf, png
from tests.conftest import IN_CI
from tests.e2e.conftest import Formcase, free_port

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("FORMCASE_TEST_CHROMIUM", "/usr/bin/chromium"))
TEMPLATES = [
    Path(__file__).parents[1] / "fill" / name
    for name in ("browser.yaml", "contract.yaml", "files.yaml")
]
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "fill"

if not CHROMIUM.exists():
    if IN_CI:
        raise RuntimeError(f"{CHROMIUM} is missing: `make apt-test` installs Debian's chromium")
    pytest.skip(
        f"browser tests skipped: {CHROMIUM} is missing (apt-get install chromium)",
        allow_module_level=True,
    )

from playwright.sync_api import (  # noqa: E402
    Browser,
    FilePayload,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1280, height=900)


class Site:
    """A served installation with a workspace, the browser template and an API token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    def api(self, method: str, path: str, **options: Any) -> httpx.Response:
        headers = {**self.headers, **options.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **options)

    def new_form(self, slug: str = "browser", **body: Any) -> dict[str, Any]:
        created = self.api("POST", "/v1/forms", json={"flow": {"slug": slug}, **body})
        assert created.status_code == 201, created.text
        form: dict[str, Any] = created.json()
        return form


@pytest.fixture(params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest) -> Site:
    runner: Formcase = request.getfixturevalue(
        "formcase" if request.param == "sqlite" else "formcase_pg"
    )
    token = _populate(runner.env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # links.fill must point at this server: the page is opened from the API's link.
    runner.serve(port=port, env={"FORMCASE_PUBLIC_URL": url})
    return Site(url, token)


def _populate(env: dict[str, str]) -> str:
    """A workspace with the templates and a token, in the database the server will use.
    Made in-process: each `formcase` command costs seconds of imports, and test_server.py
    already goes through the CLI as a new user does."""
    settings = Settings(
        data_dir=Path(env["FORMCASE_DATA_DIR"]),
        database_url=env.get("FORMCASE_DATABASE_URL"),
        redis_url=None,
    )
    upgrade(settings)

    async def populate() -> str:
        database = Database(settings)
        try:
            async with database.sessionmaker() as session:
                workspace = await workspaces.create(session, "acme", "Acme")
                await workspaces.add_member(session, workspace, "boss@acme.example")
                for path in TEMPLATES:
                    await templates.publish(session, "acme", templates.read_file(path))
                _, secret = await tokens.create_token(session, "crm", ["acme"])
                return secret
        finally:
            await database.dispose()

    return asyncio.run(populate())


@pytest.fixture
def page(site: Site) -> Iterator[Page]:
    """A phone-sized page. Playwright's sync API keeps an event loop running while it is up,
    so it starts after `site` (whose PostgreSQL set-up and tear-down run their own loop)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield from _checked_page(browser)
        finally:
            browser.close()


def _checked_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A CSP violation or a script error is a defect of the page; so is a missing script,
    # style or image. (Refusal pages and refused API calls answer 4xx on purpose.)
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}")
            if response.status >= 400
            and response.request.resource_type in ("script", "stylesheet", "image", "font")
            else None
        ),
    )
    yield page
    context.close()
    assert errors == []


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def draw_signature(page: Page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None
    left, top = box["x"] + 20, box["y"] + box["height"] * 0.6
    page.mouse.move(left, top)
    page.mouse.down()
    for step in range(1, 25):
        x = left + step * (box["width"] - 60) / 24
        y = top - (box["height"] * 0.35) * abs(((step % 8) - 4) / 4)
        page.mouse.move(x, y, steps=3)
    page.mouse.up()


def inked(page: Page, selector: str) -> int:
    """How many pixels of a canvas are drawn on."""
    count: int = page.evaluate(
        """(selector) => {
            const canvas = document.querySelector(selector);
            const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
            let inked = 0;
            for (let i = 3; i < pixels.data.length; i += 4) if (pixels.data[i]) inked++;
            return inked;
        }""",
        selector,
    )
    return count


def test_fill_a_form_from_the_link_to_the_pdf(site: Site, page: Page) -> None:
    form = site.new_form(
        user={"email": "ann@example.com", "given_name": "Ann"},
        data={"name": "Ann Prefilled", "nickname": "Annie"},
    )
    page.goto(form["links"]["fill"])
    expect(page.locator("#loading")).to_be_hidden()

    # Step 1: the prefill is shown and editable; choosing "company" shows the VAT field and
    # adds the company step; a required field left empty is refused in the page.
    expect(page.locator("#f-name")).to_have_value("Ann Prefilled")
    expect(page.locator("#progress-text")).to_have_text("Step 1 of 3")
    expect(page.locator("#w-vat")).to_be_hidden()
    page.get_by_label("A company").check()
    expect(page.locator("#w-vat")).to_be_visible()
    expect(page.locator("#w-nickname")).to_be_hidden()
    expect(page.locator("#progress-text")).to_have_text("Step 1 of 4")
    page.fill("#f-name", "")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#e-name")).to_have_text("This field is required.")
    expect(page.locator("#f-name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-name")).to_be_focused()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#error-summary")).to_contain_text("VAT number")
    shot(page, "phone-1-errors")
    page.fill("#f-name", "Ann Smith")
    page.fill("#f-email", "ann@example.com")
    page.fill("#f-vat", "be0123")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#e-vat")).to_have_text("This is not in the expected format.")
    page.fill("#f-vat", "BE0123456789")
    # An address the page's quick check lets through but the server refuses: the server's
    # verdict lands next to the field (errors[].source.pointer), in the contact's language.
    page.fill("#f-email", "ann..smith@example.com")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#e-email")).to_have_text(
        "Enter an email address, such as name@example.com."
    )
    expect(page.locator("#f-email")).to_have_attribute("aria-invalid", "true")
    page.fill("#f-email", "ann@example.com")
    shot(page, "phone-1-about")
    page.get_by_role("button", name="Next").click()

    # Step 2, shown because of step 1's answer.
    expect(page.locator("#step-1-title")).to_have_text("Your company")
    expect(page.locator("#progress-text")).to_have_text("Step 2 of 4")
    page.fill("#f-company_name", "Acme <b>& Co</b>")
    page.fill("#f-employees", "2.5")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#e-employees")).to_have_text("Enter a whole number.")
    page.fill("#f-employees", "12")
    shot(page, "phone-2-company")
    page.get_by_role("button", name="Next").click()

    # Step 3. Reopened, the page resumes here with what was saved.
    expect(page.locator("#step-2")).to_be_visible()
    page.reload()
    expect(page.locator("#loading")).to_be_hidden()
    expect(page.locator("#step-2")).to_be_visible()
    expect(page.locator("#progress-text")).to_have_text("Step 3 of 4")
    page.get_by_role("button", name="Back").click()
    expect(page.locator("#f-company_name")).to_have_value("Acme <b>& Co</b>")
    page.get_by_role("button", name="Next").click()

    # A file, with its name and a preview once uploaded; a bad IBAN is refused.
    expect(page.locator("#step-2-title")).to_have_text("Papers")
    page.set_input_files(
        "#f-id_card", files=[FilePayload(name="card.png", mimeType="image/png", buffer=png(60, 40))]
    )
    expect(page.locator("#w-id_card .file-name")).to_have_text("card.png")
    expect(page.locator("#w-id_card img.thumb")).to_be_visible()
    page.fill("#f-iban", "BE71 0961 2345 6768")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#e-iban")).to_contain_text("valid IBAN")
    page.fill("#f-iban", "be71 0961 2345 6769")
    shot(page, "phone-3-papers")
    page.get_by_role("button", name="Next").click()

    # Step 4: the signature must be made before going on.
    expect(page.locator("#step-3-title")).to_have_text("Signature")
    page.get_by_label("I agree to the terms").check()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#e-signature")).to_have_text("Please sign before you continue.")
    page.locator("#w-signature .pad-sign").click()
    expect(page.locator("#e-signature")).to_contain_text("Draw your signature")
    draw_signature(page, "#w-signature canvas")
    shot(page, "phone-4-drawn")
    page.locator("#w-signature .pad-sign").click()
    expect(page.locator("#w-signature .signed-text")).to_contain_text("Signed on")
    expect(page.locator("#w-signature .sign-again")).to_be_visible()
    shot(page, "phone-4-signed")
    page.get_by_role("button", name="Next").click()

    # The review lists every visible answer, not the hidden nickname.
    review = page.locator("#review")
    expect(review).to_be_visible()
    for text in (
        "Ann Smith",
        "A company",
        "BE0123456789",
        "Acme <b>& Co</b>",
        "card.png",
        "BE71 0961 2345 6769",
    ):
        expect(review).to_contain_text(text)
    expect(review).not_to_contain_text("Annie")
    shot(page, "phone-5-review")
    page.set_viewport_size(DESKTOP)
    shot(page, "desktop-5-review")
    page.set_viewport_size(PHONE)
    page.get_by_role("button", name="Send my answers").click()
    expect(page.locator("#done-title")).to_have_text("Thank you!")
    shot(page, "phone-6-done")

    # What the API says now.
    fetched = site.api("GET", f"/v1/forms/{form['id']}").json()
    assert fetched["status"] == "completed"
    (response,) = fetched["responses"]
    answers = response["data"]
    assert "nickname" not in answers  # hidden when submitted: dropped
    assert answers["name"] == "Ann Smith"
    assert answers["kind"] == "company"
    assert answers["employees"] == 12
    assert answers["iban"] == "BE71096123456769"
    assert answers["agree"] is True
    assert answers["id_card"]
    signatures = response.get("signatures")
    assert signatures, f"no signatures in the form's response: {sorted(response)}"
    document = site.api("GET", f"/v1/responses/{response['id']}").json()
    assert document["data"]["attributes"]["data"] == answers
    pdf = site.api("GET", f"/v1/responses/{response['id']}", headers={"Accept": "application/pdf"})
    assert pdf.status_code == 200, pdf.text
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    for expected in ("Ann Smith", "Acme", "BE0123456789"):
        assert expected in text, (expected, text[:2000])

    # The link now says the form is complete.
    page.goto(form["links"]["fill"])
    expect(page.locator("h1")).to_have_text("Thank you, this form is complete")
    shot(page, "phone-7-complete")


def test_switch_to_french_and_decline(site: Site, page: Page) -> None:
    form = site.new_form(user={"email": "jo@example.com", "locale": "en"})
    page.set_viewport_size(DESKTOP)
    page.goto(form["links"]["fill"])
    expect(page.locator("#loading")).to_be_hidden()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("navigation", name="Language").get_by_role("link", name="Français").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("#loading")).to_be_hidden()
    expect(page.locator("#step-0-title")).to_have_text("À propos de vous")
    expect(page.locator("#progress-text")).to_have_text("Étape 1 sur 3")
    expect(page.get_by_role("textbox", name="Nom complet (obligatoire)")).to_be_visible()
    page.get_by_role("button", name="Suivant").click()
    expect(page.locator("#e-name")).to_have_text("Ce champ est obligatoire.")
    shot(page, "desktop-fr-errors")

    # The choice of language is kept: the link alone now opens in French.
    page.goto(form["links"]["fill"])
    expect(page.locator("#step-0-title")).to_have_text("À propos de vous")
    expect(page.locator("#loading")).to_be_hidden()

    # Declining, by keyboard: the dialog takes focus, Escape closes it, then decline.
    opener = page.get_by_role("button", name="Refuser ce formulaire")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Refuser ce formulaire ?")
    expect(dialog).to_be_visible()
    expect(page.locator("#decline-reason")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    opener.click()
    page.fill("#decline-reason", "Je ne suis plus client.")
    shot(page, "desktop-fr-decline-dialog")
    dialog.get_by_role("button", name="Refuser", exact=True).click()
    expect(page.locator("#declined-title")).to_have_text("Vous avez refusé ce formulaire")
    shot(page, "desktop-fr-declined")

    fetched = site.api("GET", f"/v1/forms/{form['id']}").json()
    assert fetched["status"] == "declined"
    (response,) = fetched["responses"]
    assert response["declined_at"] and response["user"]["locale"] == "fr"

    page.goto(form["links"]["fill"])
    expect(page.locator("h1")).to_have_text("Ce formulaire a été refusé")

    # Withdrawn while the contact has it open: the next call's 410 shows why, in French.
    other = site.new_form(user={"email": "jo@example.com", "locale": "fr"})
    page.goto(other["links"]["fill"])
    expect(page.locator("#loading")).to_be_hidden()
    archived = site.api("PATCH", f"/v1/forms/{other['id']}", json={"archived": True})
    assert archived.status_code == 200, archived.text
    page.get_by_role("button", name="Refuser ce formulaire").click()
    dialog.get_by_role("button", name="Refuser", exact=True).click()
    expect(page.locator("h1")).to_have_text("Ce formulaire a été retiré")
    assert site.api("GET", f"/v1/forms/{other['id']}").json()["status"] == "pending"


def test_sign_an_uploaded_pdf(site: Site, page: Page) -> None:
    form = site.new_form("contract", user={"email": "bo@example.com"})
    page.goto(form["links"]["fill"])
    expect(page.locator("#loading")).to_be_hidden()
    # Without the file, the document to sign says it is not ready yet.
    page.get_by_role("button", name="Next").click()
    documents = page.locator("#w-signature .documents")
    expect(documents).to_contain_text("“Your contract” will be ready once you have uploaded")
    page.get_by_role("button", name="Back").click()
    # A wrong file taken back, then the right one.
    page.set_input_files(
        "#f-contract",
        files=[FilePayload(name="wrong.pdf", mimeType="application/pdf", buffer=pdf(300))],
    )
    expect(page.locator("#w-contract .file-name")).to_have_text("wrong.pdf")
    page.get_by_role("button", name="Remove “wrong.pdf”").click()
    expect(page.locator("#w-contract .status")).to_have_text("“wrong.pdf” was removed.")
    expect(page.locator("#w-contract .files li")).to_have_count(0)
    page.set_input_files(
        "#f-contract",
        files=[FilePayload(name="contract.pdf", mimeType="application/pdf", buffer=pdf(595))],
    )
    expect(page.locator("#w-contract .file-name")).to_have_text("contract.pdf")
    page.get_by_role("button", name="Next").click()

    # Now it can be opened and is previewed before the signature pad.
    link = documents.get_by_role("link", name="Open “Your contract” (PDF)")
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href == f"/f/{form['links']['fill'].rsplit('/', 1)[1]}/api/documents/signature/1"
    expect(documents.locator("iframe")).to_have_attribute("title", "Preview of “Your contract”")
    document = httpx.get(site.url + href, timeout=30)
    assert document.status_code == 200 and document.content.startswith(b"%PDF")
    page.set_viewport_size(DESKTOP)
    shot(page, "desktop-contract-sign")
    page.set_viewport_size(PHONE)
    # A finger draws (touch events, as a phone sends them); Clear wipes it.
    canvas = page.locator("#w-signature canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    touch = page.context.new_cdp_session(page)
    scrolled = page.evaluate("window.scrollY")
    points = [(box["x"] + 30 + i * 12, box["y"] + 100 - i * 4) for i in range(20)]
    for kind, (x, y) in [("touchStart", points[0])] + [("touchMove", p) for p in points[1:]]:
        touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert inked(page, "#w-signature canvas") > 100
    assert page.evaluate("window.scrollY") == scrolled  # the finger drew, it did not scroll
    page.get_by_role("button", name="Clear").click()
    assert inked(page, "#w-signature canvas") == 0
    # Signed by keyboard alone: the typed name is drawn on the pad, then Tab to Sign.
    page.locator("#n-signature").focus()
    page.keyboard.type("Bo Example")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Clear")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#w-signature .signed-text")).to_contain_text("Signed on")
    expect(page.get_by_role("button", name="Sign again")).to_be_focused()
    shot(page, "phone-contract-signed")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#review")).to_contain_text("contract.pdf")
    expect(page.locator("#review")).not_to_contain_text("wrong.pdf")
    page.get_by_role("button", name="Send my answers").click()
    expect(page.locator("#done-title")).to_be_visible()

    fetched = site.api("GET", f"/v1/forms/{form['id']}").json()
    assert fetched["status"] == "completed"
    signatures = fetched["responses"][0]["signatures"]
    assert signatures, fetched["responses"][0]


PICKER = {
    "fr": {
        "choose": "Choisir un fichier",
        "choose_several": "Choisir des fichiers",
        "none": "Aucun fichier choisi",
        "proof": "Justificatif de domicile (obligatoire)",
        "remove": "Retirer « relevé.pdf »",
    },
    "nl": {
        "choose": "Kies een bestand",
        "choose_several": "Kies bestanden",
        "none": "Geen bestand gekozen",
        "proof": "Bewijs van adres (verplicht)",
        "remove": "“relevé.pdf” verwijderen",
    },
}


@pytest.mark.parametrize("locale", ["fr", "nl"])
def test_the_file_button_speaks_the_page_language(site: Site, page: Page, locale: str) -> None:
    words = PICKER[locale]
    form = site.new_form("files", user={"email": "lu@example.com", "locale": locale})
    # Playwright intercepts file choosers once something listens for them, and turning that
    # on takes a round trip: Enter opens the chooser at once, so listen from the start.
    page.on("filechooser", lambda _: None)
    page.goto(form["links"]["fill"])
    expect(page.locator("#loading")).to_be_hidden()
    expect(page.locator("html")).to_have_attribute("lang", locale)
    # The button and the "nothing chosen" text are the page's, never Chromium's English.
    expect(page.locator("#b-proof")).to_have_text(words["choose"])
    expect(page.locator("#c-proof")).to_have_text(words["none"])
    expect(page.locator("#b-extras")).to_have_text(words["choose_several"])
    expect(page.locator("#w-proof")).not_to_contain_text("Choose File")
    expect(page.locator("#w-proof")).not_to_contain_text("No file chosen")
    # The real input is the control: named by its label and the button, reached by Tab.
    # What a screen reader says of it is in the page's language too.
    proof = page.locator("#f-proof")
    expect(proof).to_have_accessible_name(f"{words['proof']} {words['choose']}")
    expect(proof).to_have_accessible_description(words["none"])
    page.locator("#f-name").focus()
    page.keyboard.press("Tab")
    expect(proof).to_be_focused()
    outline = page.eval_on_selector("#b-proof", "e => getComputedStyle(e).outlineStyle")
    assert outline == "solid"  # the focus shows on the button
    shot(page, f"phone-{locale}-file-focused")

    # Enter opens the chooser; the chosen file uploads and its name shows.
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(
        files=[FilePayload(name="relevé.pdf", mimeType="application/pdf", buffer=pdf(300))]
    )
    expect(page.locator("#c-proof")).to_have_text("relevé.pdf")
    expect(page.locator("#w-proof .file-name")).to_have_text("relevé.pdf")
    # Clicking the visible button opens the chooser too; set_input_files still uploads.
    with page.expect_file_chooser() as several:
        page.locator("#b-extras").click()
    assert several.value.is_multiple()
    page.set_input_files(
        "#f-extras",
        files=[
            FilePayload(name="a.pdf", mimeType="application/pdf", buffer=pdf(200)),
            FilePayload(name="b.png", mimeType="image/png", buffer=png(30, 20)),
        ],
    )
    expect(page.locator("#w-extras .file-name")).to_have_text(["a.pdf", "b.png"])
    expect(page.locator("#c-extras")).to_have_text("a.pdf, b.png")
    shot(page, f"phone-{locale}-files-chosen")
    page.set_viewport_size(DESKTOP)
    shot(page, f"desktop-{locale}-files-chosen")

    # Taken back, the picker says nothing is chosen again.
    page.get_by_role("button", name=words["remove"]).click()
    expect(page.locator("#c-proof")).to_have_text(words["none"])
    # A file dropped on the picker uploads, as one dropped on the native input did.
    dropped = page.evaluate_handle(
        """() => {
            const transfer = new DataTransfer();
            transfer.items.add(new File(["a letter"], "lettre.txt", { type: "text/plain" }));
            return transfer;
        }"""
    )
    page.dispatch_event("#w-proof .file-picker", "drop", {"dataTransfer": dropped})
    expect(page.locator("#c-proof")).to_have_text("lettre.txt")
    expect(page.locator("#w-proof .file-name")).to_have_text("lettre.txt")  # uploaded
    fetched = site.api("GET", f"/v1/forms/{form['id']}").json()
    (response,) = fetched["responses"]
    assert [file["name"] for file in response["attachments"]] == ["a.pdf", "b.png", "lettre.txt"]
