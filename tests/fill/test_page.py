"""The contact's fill page at /f/{token}: what the server renders (languages, every element,
escaping, refusals, security headers, static files). Its script is tested in a browser by
tests/e2e/test_fill_browser.py."""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from formcase.fill.i18n import TEXTS
from formcase.fill.page import STATIC_DIR
from tests.conftest import MakeTenant
from tests.helpers import Tenant

EVERYTHING = Path(__file__).with_name("everything.yaml")
ESCAPES = """
slug: escapes
name: "Escapes </title><script>alert(1)</script>"
locale: en
steps:
  - id: one
    title: "Step </h2><script>alert(2)</script>"
    elements:
      - key: who
        type: text
        label: "Who </label><script>alert(3)</script>"
        placeholder: "\\" onfocus=\\"alert(4)"
      - key: pick
        type: choices
        label: Pick
        options: [{value: "a\\"><script>alert(5)</script>", label: "</script><script>alert(6)"}]
"""


@pytest.fixture
async def everything(make_tenant: MakeTenant) -> Tenant:
    return await make_tenant(template_files=[EVERYTHING])


async def new_form(
    client: httpx.AsyncClient, tenant: Tenant, slug: str = "everything", **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/forms", json={"flow": {"slug": slug}, **body}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    form: dict[str, Any] = response.json()
    return form


def path_of(form: dict[str, Any]) -> str:
    link: str = form["links"]["fill"]
    return link.replace("http://127.0.0.1:8000", "")


class Page(HTMLParser):
    """The rendered page, as a browser would read it: elements with attributes, and text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.texts).append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            found
            for name, found in self.tags
            if name == tag and all(found.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str, **attrs: str) -> dict[str, str | None]:
        (found,) = self.find(tag, **attrs)
        return found

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())

    def data(self) -> dict[str, Any]:
        """The page data for fill.js, from its JSON block."""
        ((_, attrs),) = [(n, a) for n, a in self.tags if n == "script" and a.get("id")]
        assert attrs == {"type": "application/json", "id": "fill-data"}
        block: dict[str, Any] = json.loads(self.scripts[0])
        return block


async def test_the_page_in_each_language(client: httpx.AsyncClient, everything: Tenant) -> None:
    form = await new_form(client, everything, user={"email": "an@example.com"})
    expected = {
        "en": ("Typed answers", "Full name", "Next", "Step", "Decline this form"),
        "fr": ("Réponses saisies", "Nom complet", "Suivant", "Retour", "Refuser ce formulaire"),
        "nl": ("Getypte antwoorden", "Volledige naam", "Volgende", "Terug", "Dit formulier"),
    }
    for locale, texts in expected.items():
        answer = await client.get(path_of(form), params={"locale": locale})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        page = Page(answer.text)
        assert page.one("html")["lang"] == locale
        for text in texts:
            assert text in page.text, (locale, text)
        switcher = [a for a in page.find("a") if a.get("hreflang")]
        assert [(a["hreflang"], a["href"]) for a in switcher] == [
            ("en", "?locale=en"),
            ("fr", "?locale=fr"),
            ("nl", "?locale=nl"),
        ]
        assert [a["hreflang"] for a in switcher if "aria-current" in a] == [locale]
        # The file picker speaks the page's language, not the browser's.
        picker = re.search(r'<div class="file-picker">(.*?)</div>', answer.text, re.S)
        assert picker, locale
        assert (
            " ".join(Page(picker.group(1)).texts).split()
            == {
                "en": ["Choose", "files", "No", "file", "chosen"],
                "fr": ["Choisir", "des", "fichiers", "Aucun", "fichier", "choisi"],
                "nl": ["Kies", "bestanden", "Geen", "bestand", "gekozen"],
            }[locale]
        )
        data = page.data()
        assert data["locale"] == locale and data["requested_locale"] == locale
        assert data["texts"]["file_none"] in Page(picker.group(1)).text  # what fill.js resets to
        assert data["steps"][0]["elements"][0]["label"] == texts[1]
        assert data["texts"]["next"] == texts[2]


async def test_which_language(
    client: httpx.AsyncClient, everything: Tenant, make_tenant: MakeTenant
) -> None:
    french = await new_form(client, everything, user={"email": "a@x.example", "locale": "fr"})
    page = Page((await client.get(path_of(french))).text)
    assert page.one("html")["lang"] == "fr" and "Suivant" in page.text
    assert page.data()["requested_locale"] is None  # the API keeps the contact's own locale

    # A language the template lacks: its default; the page's own texts too, in English.
    german = await client.get(path_of(french), params={"locale": "de"})
    assert Page(german.text).one("html")["lang"] == "en" and "Next" in german.text
    # Nonsense in ?locale= is ignored, not an error.
    odd = await client.get(path_of(french), params={"locale": "<b>x</b>"})
    assert odd.status_code == 200 and "Suivant" in odd.text and "<b>x" not in odd.text

    # Once the contact chose a language (the script's first call), the bare link keeps it.
    opened = await client.post(path_of(french) + "/api/state", params={"locale": "nl"})
    assert opened.status_code == 200, opened.text
    assert Page((await client.get(path_of(french))).text).one("html")["lang"] == "nl"

    # A template in one language we have no texts for: no switcher, English buttons.
    solo = await make_tenant()
    contact = await new_form(client, solo, "contact-details", user={"email": "b@x.example"})
    page = Page((await client.get(path_of(contact), params={"locale": "fr"})).text)
    assert page.one("html")["lang"] == "en"  # the template's texts are English only
    assert "Suivant" in page.text  # the contact asked for French: our own texts are
    assert not [a for a in page.find("a") if a.get("hreflang")]


async def test_every_element_type(client: httpx.AsyncClient, everything: Tenant) -> None:
    form = await new_form(
        client,
        everything,
        user={"email": "an@example.com"},
        data={"full_name": "An", "age": 40, "newsletter": True, "colour": "blue"},
    )
    page = Page((await client.get(path_of(form))).text)

    def label_for(key: str) -> str:
        match = re.search(
            rf'<label for="f-{key}"(?: id="l-{key}")?>(.*?)</label>', answer.text, re.S
        )
        assert match, key
        return re.sub(r"<[^>]+>", "", match.group(1)).strip()

    answer = await client.get(path_of(form))
    assert label_for("full_name") == "Full name * (required)"
    assert page.one("input", id="f-full_name") == {
        "type": "text",
        "id": "f-full_name",
        "name": "full_name",
        "value": "An",
        "placeholder": "Ann Smith",
        "aria-required": "true",
        "maxlength": "80",
        "aria-describedby": "e-full_name",
    }
    assert label_for("story") == "Your story"
    assert page.one("textarea", id="f-story")["name"] == "story"
    assert label_for("mail") == "Email address"
    assert page.one("input", id="f-mail")["type"] == "email"
    assert label_for("mobile") == "Mobile phone"
    assert page.one("input", id="f-mobile")["type"] == "tel"
    assert label_for("age") == "Age"
    age = page.one("input", id="f-age")
    assert age["value"] == "40" and age["inputmode"] == "numeric"
    assert label_for("born") == "Date of birth"
    born = page.one("input", id="f-born")
    assert (born["type"], born["min"], born["max"]) == ("date", "1900-01-01", "2020-12-31")
    assert label_for("account") == "Bank account"
    assert page.one("input", id="f-account")["autocomplete"] == "off"
    assert label_for("newsletter") == "Send me the newsletter"
    newsletter = page.one("input", id="f-newsletter")
    assert newsletter["type"] == "checkbox" and "checked" in newsletter
    # Option groups: a fieldset and its legend, one labelled input per option.
    assert "Favourite colour" in answer.text and "Fruits you like" in answer.text
    assert len(page.find("fieldset")) == 2 and len(page.find("legend")) == 2
    assert [(i["type"], i["value"], "checked" in i) for i in page.find("input", name="colour")] == [
        ("radio", "red", False),
        ("radio", "blue", True),
    ]
    assert [i["type"] for i in page.find("input", name="fruits")] == ["checkbox"] * 3
    for option in ("Red", "Blue", "Apple", "Pear", "Plum"):
        assert f">{option}</label>" in answer.text
    assert "Pick what suits you." in page.text and "There is no wrong answer." in page.text
    assert label_for("photo") == "Photos"
    photo = page.one("input", id="f-photo")
    assert photo["type"] == "file" and photo["accept"] == "image/png,image/jpeg"
    assert "multiple" in photo
    assert "Accepted: PNG, JPEG. At most 2 MB per file." in page.text
    # The native input stays the control, named by the field's label and the button's text;
    # the button and what was chosen are the page's own texts.
    assert photo["class"] == "visually-hidden file-input"
    assert photo["aria-labelledby"] == "l-photo b-photo"
    assert photo["aria-describedby"] == "d-photo c-photo e-photo"
    assert page.one("label", id="b-photo")["for"] == "f-photo"
    assert ">Choose files</label>" in answer.text
    assert '<span class="file-chosen" id="c-photo">No file chosen</span>' in answer.text
    # The signature: a drawing area, a typed alternative with its label, and two buttons.
    assert "Signature" in page.text
    assert str(page.one("canvas")["aria-label"]).startswith("Signature area")
    assert page.one("input", id="n-signed")["type"] == "text"
    assert '<label for="n-signed"' in answer.text
    assert ">Clear</button>" in answer.text and ">Sign</button>" in answer.text

    # Every input has a label (or, in option groups, one per option).
    labelled = {str(label["for"]) for label in page.find("label")}
    for name, attrs in page.tags:
        if name in ("input", "textarea") and attrs.get("id") != "decline-reason":
            assert attrs.get("id") in labelled, attrs
    assert page.one("textarea", id="decline-reason") and "decline-reason" in labelled

    # The script gets each element's rules, in the page's language.
    elements = {e["key"]: e for s in page.data()["steps"] for e in s["elements"] if e["key"]}
    assert len(elements) == 12
    assert elements["age"] | {"label": "x"} == {
        "key": "age",
        "type": "number",
        "label": "x",
        "required": False,
        "visible_if": None,
        "options": [],
        "documents": 0,
        "min": 0,
        "max": 130,
        "decimals": 0,
        "multiple": False,
    }
    assert elements["fruits"]["max_selections"] == 2
    assert elements["photo"]["max_size"] == 2097152


async def test_values_and_labels_are_escaped(
    client: httpx.AsyncClient, tenant: Tenant, tmp_path: Path, make_tenant: MakeTenant
) -> None:
    path = tmp_path / "escapes.yaml"
    path.write_text(ESCAPES)
    tricky = await make_tenant(template_files=[path])
    form = await new_form(
        client,
        tricky,
        "escapes",
        user={"email": "x@example.com"},
        data={"who": '"><script>alert(7)</script>'},
    )
    html = (await client.get(path_of(form))).text
    assert re.findall(r"<script[^>]*>", html) == [
        '<script type="application/json" id="fill-data">',
        re.findall(r'<script src="[^"]+" defer>', html)[0],
    ]
    for number in range(1, 8):
        assert f"alert({number})" in html  # shown, as text
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html
    assert 'value="&#34;&gt;&lt;script&gt;alert(7)&lt;/script&gt;"' in html
    assert 'placeholder="&#34; onfocus=&#34;alert(4)"' in html
    page = Page(html)
    assert page.one("input", id="f-who")["value"] == '"><script>alert(7)</script>'
    data = page.data()  # the JSON block cannot be closed early by a label
    assert data["steps"][0]["elements"][1]["options"][0]["label"] == "</script><script>alert(6)"


async def test_opening_the_page_changes_nothing(
    client: httpx.AsyncClient, everything: Tenant
) -> None:
    form = await new_form(client, everything, user={"email": "an@example.com"})
    for _ in range(2):
        assert (await client.get(path_of(form))).status_code == 200
        assert (await client.head(path_of(form))).status_code == 200
    fetched = (await client.get(f"/v1/forms/{form['id']}", headers=everything.headers)).json()
    assert fetched["responses"] == [] and fetched["status"] == "pending"
    assert fetched["updated_at"] == form["updated_at"]


async def test_the_page_reopens_where_the_contact_stopped(
    client: httpx.AsyncClient, everything: Tenant
) -> None:
    form = await new_form(client, everything, user={"email": "an@example.com"})
    page = Page((await client.get(path_of(form))).text)
    assert [s["id"] for s in page.find("section") if "hidden" not in s] == ["step-0"]
    await client.post(path_of(form) + "/api/state")
    saved = await client.post(
        path_of(form) + "/api/steps/typed", json={"data": {"full_name": "Bo", "age": 7}}
    )
    assert saved.status_code == 200, saved.text
    page = Page((await client.get(path_of(form))).text)
    assert [s["id"] for s in page.find("section") if "hidden" not in s] == ["step-1"]
    assert "Step 2 of 3" in page.text
    assert page.one("input", id="f-full_name")["value"] == "Bo"  # the saved answers
    assert page.one("input", id="f-age")["value"] == "7"


async def test_security_headers(client: httpx.AsyncClient, everything: Tenant) -> None:
    form = await new_form(client, everything, user={"email": "an@example.com"})
    for path in (path_of(form), "/f/no-such-link"):
        headers = (await client.get(path)).headers
        policy = dict(
            part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";")
        )
        assert policy["default-src"] == "'none'"
        assert policy["script-src"] == "'self'"  # no inline script, no other host
        assert policy["style-src"] == "'self'"
        assert policy["img-src"] == "'self' data: blob:"
        assert policy["frame-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"  # the link is the credential
        assert headers["cache-control"] == "no-store"
        assert headers["x-content-type-options"] == "nosniff"


async def test_static_files(client: httpx.AsyncClient, everything: Tenant) -> None:
    form = await new_form(client, everything, user={"email": "an@example.com"})
    page = Page((await client.get(path_of(form))).text)
    (script,) = [
        str(attrs["src"]) for name, attrs in page.tags if name == "script" and "src" in attrs
    ]
    style = page.one("link", rel="stylesheet")["href"] or ""
    for url, name, kind in (
        (script, "fill.js", "text/javascript"),
        (style, "fill.css", "text/css"),
    ):
        body = (STATIC_DIR / name).read_bytes()
        assert url == f"/static/fill/{name}?v={hashlib.sha256(body).hexdigest()[:12]}"
        served = await client.get(url)
        assert served.status_code == 200 and served.content == body
        assert served.headers["content-type"].startswith(kind)
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert (await client.get("/static/fill/nothing.js")).status_code == 404
    assert (await client.get("/static/fill/%2e%2e/page.py")).status_code == 404
    # The script itself names no other host: everything comes from this server.
    source = (STATIC_DIR / "fill.js").read_text() + (STATIC_DIR / "fill.css").read_text()
    assert not re.search(r"https?://", source.replace("^https?:\\/\\/", ""))


async def test_refusal_pages(
    client: httpx.AsyncClient, everything: Tenant, force_status: Any
) -> None:
    def user(locale: str) -> dict[str, str]:
        return {"email": "an@example.com", "locale": locale}

    draft = await new_form(client, everything, draft=True, user=user("fr"))
    later = await new_form(client, everything, active_from="2099-03-01T10:00:00Z", user=user("nl"))
    expired = await new_form(client, everything, active_until="2001-02-03", user=user("en"))
    withdrawn = await new_form(client, everything, user=user("fr"))
    await client.patch(
        f"/v1/forms/{withdrawn['id']}", json={"archived": True}, headers=everything.headers
    )
    completed = await new_form(client, everything, user=user("nl"))
    await force_status(completed["id"], "completed")
    declined = await new_form(client, everything, user=user("en"))
    # Declined in French: the contact's last choice of language wins over user.locale.
    await client.post(path_of(declined) + "/api/state", params={"locale": "fr"})
    assert (await client.post(path_of(declined) + "/api/decline")).status_code == 200

    cases = [
        ("/f/no-such-link", 404, "en", "There is no form at this link"),
        ("/f/" + "x" * 300, 404, "en", "There is no form at this link"),
        (path_of(draft), 409, "fr", "Ce formulaire n'est pas encore prêt"),
        (path_of(later), 409, "nl", "Het opent op 1 maart 2099 om 10:00 UTC."),
        (path_of(expired), 410, "en", "It could be filled until 3 February 2001 at 00:00 UTC."),
        (path_of(withdrawn), 410, "fr", "Ce formulaire a été retiré"),
        (path_of(completed), 409, "nl", "Bedankt, dit formulier is ingevuld"),
        (path_of(declined), 409, "fr", "Ce formulaire a été refusé"),
    ]
    for path, status, locale, text in cases:
        answer = await client.get(path)
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        page = Page(answer.text)
        assert page.one("html")["lang"] == locale, path
        assert text in page.text, (path, page.text)
        assert not page.find("form")  # nothing to fill in

    # ?locale= still chooses; an unknown link follows the browser's language.
    english = await client.get(path_of(completed), params={"locale": "en"})
    assert "Thank you, this form is complete" in english.text
    unknown = await client.get("/f/nope", headers={"Accept-Language": "nl-BE,nl;q=0.9"})
    assert "Er is geen formulier op deze link" in unknown.text


def test_every_text_in_every_language() -> None:
    """fill.js and the templates only use texts that exist, and each language has them all,
    with the same placeholders."""
    english = TEXTS["en"]
    for code, texts in TEXTS.items():
        assert set(texts) == set(english), code
        for key, text in texts.items():
            assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", english[key]))
        assert len(texts["months"].split(",")) == 12
    script = (STATIC_DIR / "fill.js").read_text()
    used = set(re.findall(r"\bT\.(\w+)", script)) | set(re.findall(r'T\["(\w+)"\]', script))
    templates = Path(STATIC_DIR.parent / "templates")
    for template in templates.glob("*.html"):
        used |= set(re.findall(r"\bt\.(\w+)", template.read_text()))
    assert used - set(english) == set()
    assert {"err_required", "sig_sign", "decline_confirm", "submit"} <= used
