"""The words invoices put before their values, per field, in en, de, fr and nl (with some es,
it and pt): what `docintel.invoice` looks for on a page.

Patterns match folded text (`values.fold`: lower case, no accents), so "Fälligkeit" is written
"falligkeit" here. Each label carries a weight (how surely it names its field: "Rechnungsnummer"
1.0, a bare "Rechnung" before a number 0.6). Where two labels overlap on a line the longer one
wins, which is how "Rechnungssumme ohne USt." is a net amount although it contains
"Rechnungssumme" (a total) and "USt" (a tax). Labels of things that are not our fields
("Bestellnummer", "Lieferdatum", "Gesamtbetrag der Zuschläge") are here too, as `other_*`: they
claim their text so that a shorter label inside them cannot, and end the value of the label
before them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AMOUNT_FIELDS = ("total_amount", "net_amount", "tax_amount", "amount_due", "prepaid")
DATE_FIELDS = ("issue_date", "due_date", "other_date")


@dataclass(frozen=True)
class Label:
    field: str
    pattern: re.Pattern[str]
    weight: float
    # the value must follow at once ("vom 05.06.2018"): weak words that are labels only then
    adjacent: bool = False
    # a document's title word ("Invoice", "Rechnung"): a label only when its value follows
    # in the same run of words (a title alone heads nothing)
    title: bool = False


def _labels(field: str, weight: float, *patterns: str, **options: bool) -> list[Label]:
    # ends at a word's end, or with punctuation ("N°AV-2024-002" as OCR glues it)
    return [
        Label(field, re.compile(rf"(?<![\w-]){p}(?:(?<!\w)|(?!\w))"), weight, **options)
        for p in patterns
    ]


LABELS: list[Label] = [
    # --- invoice number --------------------------------------------------------------------
    *_labels(
        "invoice_number",
        1.0,
        r"invoice\s*(?:number|no\.?|nr\.?|num\.?|#|id)",
        r"rechnungs?\s*-?\s*(?:nummer|nr\.?|no\.?)",
        r"rechnungsnummer",
        r"rechnung\s*(?:nr\.?|no\.?|#)",
        r"(?:n\s?[°o]|no\.?|num(?:ero)?\.?)\s*(?:de\s+(?:la\s+)?)?facture",
        r"facture\s*(?:n\s?[°ºo]\.?|no\.?|num(?:ero)?\.?|#)",
        r"factuur\s*-?\s*(?:nummer|nr\.?|no\.?|#)",
        r"factuurnummer",
        r"numero\s+de\s+factura",
        r"factura\s*(?:n[°o]\.?|no\.?|#)",
        r"fattura\s*(?:n[°o]\.?|no\.?|#)",
        r"beleg\s*-?\s*(?:nr\.?|nummer)",
        r"bill\s*(?:no\.?|number|#)",
        r"gutschrift\s*-?\s*(?:nr\.?|nummer)",
        r"credit\s*note\s*(?:no\.?|number|#)",
        r"avoir\s*n\s?[°o]\.?",
        r"creditnota\s*(?:nummer|nr\.?)",
        r"receipt\s*(?:no\.?|number|#)",
    ),
    # "Handelsrechnung (380) Nr. 471102": the document type code, as e-invoice viewers print it
    *_labels("invoice_number", 0.9, r"\(\d{3}\)\s*nr\.?"),
    # the title word alone, then a number ("Invoice INV/2023/03/0008", "Facture FA-2017-0009")
    *_labels(
        "invoice_number",
        0.6,
        r"invoice",
        r"rechnung",
        r"facture",
        r"factuur",
        r"factura",
        r"fattura",
        r"gutschrift",
        r"credit\s+note",
        title=True,
    ),
    *_labels("invoice_number", 0.4, r"booking\s*(?:id|number|no\.?)", r"document\s*(?:no|nr)\.?"),
    # a bare "Nummer", "No." under an invoice's title
    *_labels(
        "invoice_number", 0.45, r"nummer", r"number", r"numero", r"no\.", r"nr\.?", r"n\s?[°º]"
    ),
    # --- dates -----------------------------------------------------------------------------
    *_labels(
        "issue_date",
        1.0,
        r"invoice\s*date",
        r"date\s+of\s+(?:the\s+)?(?:invoice|issue)",
        r"issue\s*date",
        r"date\s+issued",
        r"issued\s+(?:on|at)",
        r"billing\s+date",
        r"rechnungs-?\s*datum",
        r"beleg-?\s*datum",
        r"ausstellungsdatum",
        r"datum\s+der\s+rechnung",
        r"date\s+de\s+(?:la\s+)?factur(?:e|ation)",
        r"date\s+d'?\s?emission",
        r"factuur\s*datum",
        r"datum\s+factuur",
        r"fecha\s+de\s+(?:la\s+)?factura",
        r"data\s+(?:della\s+)?fattura",
    ),
    *_labels("issue_date", 0.6, r"datum", r"date", r"dated", r"fecha"),
    *_labels("issue_date", 0.45, r"vom", r"du", r"von", adjacent=True),
    *_labels(
        "due_date",
        1.0,
        r"due\s*date",
        r"date\s+due",
        r"payment\s+due(?:\s+date)?",
        r"due\s+(?:on|by)",
        r"pay(?:able)?\s+(?:by|before|until)",
        r"please\s+(?:remit|pay)\s+(?:until|by|before)",
        r"f(?:a|ae)lligkeits?(?:datum|tag)?",
        r"f(?:a|ae)llig\s+(?:am|bis)",
        r"zahlungsziel",
        r"zahlbar\s+(?:bis|am)(?:\s+zum)?",
        r"(?:uberweisen|zahlen)\s+sie\s+(?:\w+\s+){0,3}?bis\s*(?:zum)?",
        r"date\s+d'?\s?echeance",
        r"echeance",
        r"date\s+limite\s+de\s+(?:paiement|reglement)",
        r"a\s+payer\s+avant\s+le",
        r"payable\s+(?:le|avant\s+le)",
        r"vervaldatum",
        r"vervaldag",
        r"uiterste\s+betaaldatum",
        r"(?:te\s+)?betalen\s+voor",
        r"fecha\s+de\s+vencimiento",
        r"scadenza",
    ),
    *_labels("due_date", 0.7, r"due", r"payable"),
    *_labels("due_date", 0.5, r"bis(?:\s+zum)?", r"until", adjacent=True),
    *_labels(
        "other_date",
        1.0,
        r"liefer-?\s*(?:und\s+leistungs)?datum",
        r"leistungs-?\s*datum",
        r"(?:order|bestell|auftrags?|lieferschein)-?\s*datum",
        r"order\s+date",
        r"orderdatum",
        r"date\s+of\s+(?:delivery|order|supply)",
        r"(?:delivery|shipping|ship|order)\s+date",
        r"date\s+de\s+(?:livraison|commande|prestation)",
        r"(?:lever|order|bestel)datum",
        r"check\s*-?\s*(?:in|out)",
        r"(?:abrechnungs|rechnungs|leistungs)zeitraum",
        r"tax\s+point(?:\s+date)?",
        r"(?:billing|service)\s+period",
        r"periode",
        r"stand",
        r"a\s+partir\s+du",
    ),
    # --- amounts ---------------------------------------------------------------------------
    *_labels(
        "total_amount",
        1.0,
        r"grand\s+total",
        r"total\s+amount",
        r"invoice\s+total",
        r"(?:total|amount|sum)\s*\(?\s*(?:incl\.?|including|inc\.?)\s*(?:vat|tax|gst)\)?",
        r"total\s+for\s+this\s+invoice",
        r"total\s+ttc",
        r"montant\s+(?:total\s+)?(?:eur\s+)?ttc",
        r"total\s+facture",
        r"bruttosumme",
        r"bruttobetrag",
        r"gesamtbetrag",
        r"gesamtsumme",
        r"rechnungsbetrag",
        r"gutschrifts?(?:betrag|summe)",
        r"montant\s+(?:total\s+)?de\s+l'\s?avoir",
        r"credit\s+(?:note\s+)?total",
        r"rechnungssumme",
        r"endbetrag",
        r"summe\s+(?:inkl|incl)\.?\s*(?:ust|mwst)\.?",
        # "Beitrag inklusive 19 % Versicherungsteuer 220,00 €": an amount with its tax in it
        r"(?:inkl(?:usive)?|incl(?:uding|usief)?|einschl(?:iesslich)?|inclus|ttc)\.?\s+"
        r"(?:\d+(?:[.,]\d+)?\s*%\s*)?(?:\w*steuer|mwst|ust|vat|tax|btw|tva|taxes)\.?",
        r"gesamt\s*(?:inkl|incl)\.?\s*(?:ust|mwst)\.?",
        r"totaal\s*(?:incl\.?\s*btw|bedrag)",
        r"totaalbedrag",
        r"factuur\s*totaal",
        r"factuurbedrag",
        r"importe\s+total",
        r"totale\s+(?:fattura|documento)",
    ),
    *_labels("total_amount", 0.7, r"total", r"summe", r"totaal", r"totale", r"gesamt"),
    *_labels("total_amount", 0.4, r"ttc", r"betrag", r"montant", r"bedrag", r"amount"),
    *_labels(
        "net_amount",
        1.0,
        r"net\s*(?:amount|total|value)",
        r"total\s+net",
        r"sub\s*-?\s*total",
        r"(?:total|amount|sum|subtotal)\s*\(?\s*(?:excl\.?|excluding|before|ex\.?|without|"
        r"net\s+of)\s*(?:vat|tax|gst|btw|tva|mwst)?\)?",
        r"untaxed\s+amount",
        r"taxable\s+amount",
        r"total\s+ht",
        r"montant\s+(?:total\s+)?(?:eur\s+)?ht",
        r"total\s+hors\s+tax(?:e|es)?",
        r"sous\s*-?\s*total",
        r"nettobetrag",
        r"nettosumme",
        r"summe\s+netto",
        r"gesamt\s+netto",
        r"rechnungssumme\s+ohne\s+(?:ust|mwst)\.?",
        r"(?:summe|betrag)\s+ohne\s+(?:ust|mwst)\.?",
        r"zwischensumme",
        r"excl(?:usief|\.)?\s+btw",
        r"totaal\s+excl\.?\s*btw",
        r"subtotaal",
        r"base\s+imponible",
        r"imponibile",
    ),
    *_labels(
        "net_amount",
        0.6,
        r"netto",
        r"positionssumme",
        r"warenwert",
        r"grondslag",
        r"gesamtbeitrag",
        r"ht",
    ),
    *_labels(
        "tax_amount",
        1.0,
        r"(?:total\s+)?(?:vat|tax|gst|sales\s+tax)\s*(?:amount|total)",
        r"total\s+(?:vat|tax|taxes|tva)",
        r"mwst\.?\s*-?\s*betrag",
        r"ust\.?\s*-?\s*betrag",
        r"umsatzsteuer(?:betrag)?",
        r"mehrwertsteuer(?:betrag)?",
        r"steuerbetrag",
        r"(?:zzgl|zuzugl|zuzuglich)\.?\s*(?:der\s+)?(?:ust|mwst|umsatzsteuer)\.?",
        r"ust\.?\s*gesamt",
        r"versicherungs?steuer",
        r"montant\s+(?:de\s+(?:la\s+)?)?tva",
        r"plus\s+vat",
        r"btw\s*-?\s*bedrag",
        r"total\s+taxes",
    ),
    *_labels(
        "tax_amount",
        0.8,
        r"vat",
        r"tax",
        r"taxe",
        r"taxes",
        r"gst",
        r"mwst\.?",
        r"ust\.?",
        r"tva",
        r"btw",
        r"iva",
        r"steuer",
    ),
    *_labels(
        "amount_due",
        1.0,
        r"amount\s+due",
        r"balance\s+due",
        r"total\s+(?:amount\s+)?due",
        r"due\s+payable",
        r"(?:amount|total)\s+payable",
        r"zahlbetrag",
        r"zu\s+zahlen(?:der\s+\w+)?",
        r"offener\s+betrag",
        r"restbetrag",
        r"noch\s+zu\s+zahlen",
        r"net\s+a\s+payer",
        r"(?:solde|somme|reste|montant)\s+a\s+payer",
        r"a\s+payer",
        r"(?:nog\s+)?te\s+betalen",
        r"openstaand\s+bedrag",
    ),
    *_labels("amount_due", 0.6, r"balance", r"solde"),
    *_labels(
        "prepaid",
        1.0,
        r"erhaltene\s+anzahlungen?",
        r"anzahlungen?",
        r"bereits\s+(?:bezahlt|gezahlt|erhalten)",
        r"(?:amount\s+)?paid",
        r"prepaid",
        r"payments?\s+received",
        r"acomptes?",
        r"deja\s+(?:paye|regle)",
        r"vooruitbetaald",
        r"reeds\s+betaald",
    ),
    *_labels(
        "other_amount",
        1.0,
        r"gesamtbetrag\s+der\s+(?:zu|ab)schlage",
        r"(?:zu|ab)schlag\w*",
        r"rabatt\w*",
        r"skonto",
        r"discount",
        r"credits?",
        r"remise",
        r"korting",
        r"(?:shipping|versand)\w*",
        r"frais\s+de\s+port",
        r"offene\s+zahlungen",
        r"ausstehende\s+forderung",
        r"thuiskopie\w*",
        r"capital\s+de",
        r"basisbetrag",
        r"montant\s+du\s+prelevement",
    ),
    # --- identifiers that are not ours -----------------------------------------------------
    *_labels(
        "other_id",
        1.0,
        r"kunden?\s*-?\s*(?:nummer|nr\.?)",
        r"customer\s*(?:no\.?|number|id|#)",
        r"account\s*(?:no\.?|number)",
        r"klant\s*(?:nummer|nr\.?)",
        r"klantnummer",
        r"order\s*-?\s*(?:no\.?|number|id|#|nummer)",
        r"ordernummer",
        r"bestell(?:ung)?\s*-?\s*(?:nr\.?|nummer)",
        r"auftrags?\s*-?\s*(?:nr\.?|nummer)(?:\s*-?\s*lief)?",
        r"lieferschein\s*-?\s*(?:nr\.?|nummer)",
        r"lief\s*-?\s*nr\.?",
        r"numero\s+de\s+(?:dossier|commande|client)",
        r"n\s?[°o]\s*(?:de\s+)?(?:client|commande)",
        r"id\.?\s*client",
        r"client\s*id",
        r"(?:votre|your|ihre|unsere|uw)\s+(?:reference|referenz|nummer|ref\.?)",
        r"reference",
        r"ref\.?",
        r"steuer\s*-?\s*(?:nummer|nr\.?)",
        r"tax\s*(?:number|no\.?)",
        r"po\s*(?:number|no\.?)",
        r"contract\s*(?:no\.?|number)",
        r"vertrag\w*",
        r"leitwege\s*-?\s*id",
        r"globale\s+nummer",
        r"gln",
        r"siret",
        r"siren",
        r"ape",
        r"kvk",
        r"hrb",
        r"rcs",
        r"gstin",
        r"cin",
        r"bic",
        r"swift",
        r"blz",
        r"reklamationsnummer",
        # the invoice a credit note or reminder refers to, not its own number
        r"facture\s+d'\s?origine",
        r"original\s+invoice(?:\s+(?:no\.?|number))?",
        r"(?:ursprungs|bezugs)rechnung",
        r"(?:bezug|bezogen)\s+auf\s+(?:die\s+)?rechnung",
        r"oorspronkelijke\s+factuur",
        r"ursprungsbeleg\s*-?\s*nr\.?",
        r"seite",
        r"page",
    ),
    # --- parties and their identifiers -----------------------------------------------------
    *_labels(
        "supplier_vat_number",
        1.0,
        # OCR reads "Id" as "ld" or "1d"
        r"ust\.?\s*-?\s*[il1]d\.?\s*-?\s*(?:nr|no)?\.?",
        r"ust-?[il1]dnr\.?",
        r"ust[il1]d(?:nr)?\.?",
        r"umsatzsteuer\s*-?\s*id(?:entifikations)?\s*-?\s*(?:nummer|nr\.?)?",
        r"mwst\s*-?\s*nr\.?",
        r"vat\s*-?\s*(?:id|no\.?|number|reg(?:istration)?\.?\s*(?:no\.?|number)?)\.?",
        r"vat\s*/\s*tin",
        r"tva\s+intra\s*-?\s*(?:communautaire)?",
        r"n\s?[°o]\s*(?:de\s+)?tva(?:\s+intra\s*-?\s*(?:communautaire)?)?",
        r"numero\s+(?:de\s+)?tva(?:\s+intra\s*-?\s*(?:communautaire)?)?",
        r"identifiant\s+tva",
        r"btw\s*-?\s*(?:nummer|nr\.?|id|identificatienummer)",
        r"partita\s+iva",
        r"(?:nif|cif)",
    ),
    *_labels("supplier_vat_number", 0.6, r"tva", r"btw", r"vat", r"iva"),
    *_labels(
        "iban",
        1.0,
        r"iban",
        r"bank\s*account",
        r"account\s*number",
        r"kontonummer",
        r"kto\s*-?\s*nr\.?",
        r"rekening(?:nummer)?",
        r"compte",
        r"rib",
    ),
    *_labels("currency", 1.0, r"w(?:a|ae)hrung", r"currency", r"devise", r"valuta", r"moneda"),
    *_labels(
        "seller",
        1.0,
        r"verk(?:a|ae)ufer",
        r"lieferant",
        r"leistungserbringer",
        r"rechnungssteller",
        r"seller",
        r"supplier",
        r"vendor",
        r"sold\s+by",
        r"service\s+provider",
        r"issued\s+by",
        r"fournisseur",
        r"vendeur",
        r"emetteur",
        r"prestataire",
        r"leverancier",
        r"verkoper",
    ),
    *_labels(
        "payee",
        1.0,
        r"titulaire\s+du\s+compte",
        r"kontoinhaber",
        r"account\s+holder",
        r"rekeninghouder",
        r"payable\s+to",
        r"in\s+favou?r\s+of",
        r"beneficiaire",
        r"begunstigde",
    ),
    *_labels(
        "buyer",
        1.0,
        r"k(?:a|ae)ufer",
        r"leistungsempf(?:a|ae)nger",
        r"rechnungsempf(?:a|ae)nger",
        r"rechnungsadresse",
        r"auftraggeber",
        r"buyer",
        r"bill(?:ed)?\s+to(?:\s+address)?",
        r"billing\s+address",
        r"invoice(?:d)?\s+to",
        r"invoice\s+address",
        r"sold\s+to",
        r"factur(?:e|ee)\s+a",
        r"adresse\s+de\s+facturation",
        r"destinataire",
        r"acheteur",
        r"factuuradres",
        r"afnemer",
        r"koper",
        r"nom\s+de\s+l'?\s?abonne",
        r"guest\s+name",
    ),
    *_labels("buyer", 0.6, r"kunde", r"customer", r"client", r"klant"),
    *_labels(
        "shipping",
        1.0,
        r"(?:abweichender\s+)?warenempf(?:a|ae)nger",
        r"liefer(?:adresse|anschrift)",
        r"ship(?:ping)?\s+(?:to|address)",
        r"deliver(?:y)?\s+(?:to|address)",
        r"adresse\s+de\s+livraison",
        r"afleveradres",
    ),
    *_labels("name", 1.0, r"name", r"firma", r"nom", r"naam", r"company", r"raison\s+sociale"),
]

# Words next to a VAT id or IBAN that make it the buyer's ("N° TVA client", "Uw BTW nummer").
BUYER_HINT = re.compile(
    r"(?<!\w)(?:client|customer|kunde|kunden|uw|your|ihre|votre|acheteur|buyer|koper|afnemer|"
    r"destinataire|debiteur|k(?:a|ae)ufer)(?!\w)"
)

# Legal forms that end a company's name.
LEGAL_FORM = re.compile(
    r"(?<![\w])(?:gmbh(?:\s*&\s*co\.?(?:\s*kg)?)?|ag|kg|kgaa|ohg|e\.\s?k\.|ug|se|"
    r"b\.\s?v\.?|bv|n\.\s?v\.?|nv|vof|bvba|sprl|srl|s\.r\.l\.|sarl|sas|sasu|eurl|snc|s\.a\.|sa|"
    r"ltd\.?|limited|inc\.?|llc|llp|plc|corp\.?|corporation|co\.|a\.\s?g\.|pvt\.?\s+ltd\.?|"
    r"private\s+limited|s\.p\.a\.|spa|s\.l\.|sl|oy|ab|as|a/s|aps)(?![\w])",
)
# French legal forms are not part of the name ("Free SAS au capital de …" is the company
# Free, "Au bon moulin SARL" is Au bon moulin); German, Dutch and English ones are.
FRENCH_FORMS = frozenset({"sarl", "sas", "sasu", "eurl", "snc", "sa", "s.a."})

# Words of a document's title, stripped from a letterhead line ("Amazon Web Services Invoice").
TITLE_WORDS = re.compile(
    r"(?<!\w)(?:tax\s+)?(?:invoice|rechnung|facture|factuur|factura|fattura|gutschrift|credit\s+"
    r"note|avoir|creditnota|receipt|quittung|recu|kwitantie|payment\s+receipt|bill|"
    r"rechnungs-?korrektur|beitragsrechnung|copy|kopie|original|duplicata)(?!\w)\.?"
)

# Lines of the legal footer (registration, capital, management): the issuer's.
REGISTRATION = re.compile(
    r"(?<!\w)(?:siege\s+social|capital\s+de|au\s+capital|rcs|siret|siren|hrb|hra|"
    r"registergericht|amtsgericht|handelsregister\w*|gesch(?:a|ae)ftsf(?:u|ue)hr\w*|vorstand|"
    r"aufsichtsrat|kvk|registered\s+(?:office|in)|company\s+(?:no|number|registration)|"
    r"ust-?id\w*|steuer-?nr|sitz\s+der\s+gesellschaft)(?!\w)"
)

# Document types by the words of their title, most specific first.
DOCUMENT_TYPES: list[tuple[str, re.Pattern[str]]] = [
    (
        "self_billed_invoice",
        re.compile(r"selbst\s+ausgestellte\s+rechnung|self-?billed|autofacturation"),
    ),
    (
        "credit_note",
        re.compile(
            r"(?<!\w)(?:credit\s*note|credit\s+memo|gutschrift|avoir|creditnota|creditfactuur|"
            r"nota\s+de\s+credito)(?!\w)"
        ),
    ),
    (
        "corrected_invoice",
        re.compile(
            r"rechnungs-?\s*korrektur|korrekturrechnung|stornorechnung|corrective\s+invoice|"
            r"facture\s+rectificative"
        ),
    ),
    ("proforma_invoice", re.compile(r"pro\s*-?\s*forma")),
    (
        "receipt",
        re.compile(r"(?<!\w)(?:payment\s+receipt|receipt|quittung|kassenbon|recu|kwitantie)(?!\w)"),
    ),
]

# Column headers of a line-item table, by column.
COLUMNS: dict[str, re.Pattern[str]] = {
    "description": re.compile(
        r"(?<!\w)(?:description|beschreibung|bezeichnung|artikelbezeichnung|artikel|produkt|"
        r"product|item|designation|libelle|omschrijving|leistung|product\s+title)(?!\w)"
    ),
    "quantity": re.compile(
        r"(?<!\w)(?:quantity|qty|menge|anzahl|quantite|qte|nombre|aantal|hoeveelheid|"
        r"cantidad|quantita)(?!\w)"
    ),
    "unit_price": re.compile(
        r"(?<!\w)(?:unit\s+price|price|rate|einzelpreis|preis|vk-preis|nettopreis|"
        r"prix(?:\s+unitaire)?|p\.\s?u\.(?:\s+ht)?|prijs(?:\s+per\s+stuk)?|stuksprijs|"
        r"precio)(?!\w)"
    ),
    "amount": re.compile(
        r"(?<!\w)(?:amount|total|line\s+total|betrag|gesamt(?:betrag|preis)?|summe|"
        r"zeilenbetrag|nettobetrag|nettowert|montant(?:\s+ht)?|prix\s+ht|bedrag|"
        r"prijs\s+incl\.?\s+btw|importe)(?!\w)"
    ),
}


# Words of each language, for telling the document's language.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


LANGUAGE_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "invoice total date amount due tax the and for of payment bill to from number your "
        "please price quantity description"
    ),
    "de": _words(
        "rechnung betrag datum summe und der die das mwst ust zahlung bitte steuer menge "
        "preis nummer ihre wir sie fur"
    ),
    "fr": _words(
        "facture montant date total le la les et des tva paiement du de prix quantite votre "
        "nous pour sur"
    ),
    "nl": _words(
        "factuur bedrag datum totaal het de en van btw betaling voor prijs aantal uw wij een op te"
    ),
    "es": _words("factura importe fecha total el la los y de pago precio cantidad"),
    "it": _words("fattura importo data totale il la e di pagamento prezzo quantita"),
}
