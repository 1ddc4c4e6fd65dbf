"""Builds bench/data/quality-set.tsv: the kinds of text a pipeline sends, for `./bench.sh quality`.

One line per text, "kind<TAB>text" (tabs and newlines inside a text written as \\t and \\n). Every text is generated
from the templates and word lists below with a fixed seed: no downloads, the same file on every machine and Python 3
version (random.Random's choice/randrange are stable across 3.x). The long paragraphs take runs of sentences from
bench/data/corpus.txt (CPython docstrings) and mix in template prose from other domains, so no kind is only the corpus
the quantiser was once tuned on. Run from the repository root:

    /usr/bin/python3 bench/data/make_quality_set.py > bench/data/quality-set.tsv
"""

import os
import random
import re
import sys

PER_KIND = 150
R = random.Random(20261202)

NOUNS = ["invoice", "password", "router", "refund", "battery", "garden", "passport", "mortgage", "laptop", "kitchen",
         "server", "contract", "vaccine", "bicycle", "printer", "budget", "flight", "recipe", "license", "database",
         "thermostat", "warranty", "keyboard", "insurance", "subscription", "tax return", "headphones", "roof", "engine",
         "spreadsheet", "backup", "certificate", "dentist", "parking permit", "coffee machine", "visa", "pension",
         "firewall", "camera", "lease", "prescription", "shipment", "password manager", "heat pump", "smartphone"]
VERBS = ["reset", "cancel", "renew", "install", "repair", "update", "replace", "configure", "export", "recover",
         "transfer", "upgrade", "clean", "return", "track", "schedule", "compare", "calibrate", "migrate", "restore"]
ADJS = ["cheap", "fast", "reliable", "quiet", "secure", "portable", "energy-efficient", "waterproof", "lightweight",
        "affordable", "open-source", "refurbished", "wireless", "automatic", "organic", "second-hand", "compact"]
PLACES = ["Berlin", "Lisbon", "Osaka", "Toronto", "Nairobi", "Lyon", "Austin", "Krakow", "Melbourne", "Seville",
          "the office", "the city centre", "my area", "the airport", "the suburbs", "Oslo", "Chennai", "Porto"]
TOPICS = ["climate policy", "machine learning", "supply chains", "urban cycling", "remote work", "coral reefs",
          "quantum computing", "public libraries", "electric grids", "sleep research", "food safety", "open data",
          "ancient Rome", "jazz history", "soil health", "space debris", "language learning", "cyber security",
          "water treatment", "container shipping", "rare earth mining", "wind turbines", "school lunches"]
PEOPLE = ["the committee", "our team", "the city council", "researchers", "the supplier", "the landlord",
          "customers", "the board", "engineers", "the nurses", "local farmers", "the auditors"]

QUERY_TEMPLATES = [
    "how do I {v} my {n}", "how to {v} a {n} without losing data", "why won't my {n} {v}", "best {a} {n} {year}",
    "{n} {v} error {code}", "can I {v} my {n} online?", "what is the deadline to {v} a {n} in {p}?",
    "Where can I {v} a {n} near {p}?", "is it safe to {v} the {n} myself", "{a} {n} under {price} dollars",
    "How long does it take to {v} a {n}?", "What happens if I don't {v} my {n} on time?", "{n} vs {n2}: which is more {a}?",
    "who is responsible to {v} the {n} when renting", "steps to {v} {n} after update", "{n} price in {p}",
    "Do I need an appointment to {v} my {n}?", "{v} {n} for free", "what does {code} mean on a {n}",
]
TITLE_TEMPLATES = [
    "A Practical Guide to {T}", "{T}: What the Data Says", "Why {P} Are Rethinking {T}", "The Hidden Cost of {T}",
    "{N}s in {Y}: A Buyer's Checklist", "Ten Lessons From a Decade of {T}", "How {P} Cut Costs by {pct}%",
    "Understanding {T} in Five Charts", "Release Notes {ver}", "Q{q} {Y} Results: {T} Drives Growth",
    "Case Study: {T} in {Pl}", "{T} Explained for Beginners", "Interview: {P} on the Future of {T}",
    "Chapter {num}: {T} and Its Critics", "Migrating Your {N} to Version {ver}", "{A} {N}s Compared",
]
PARA_TEMPLATES = [
    "{P} met on {day} to discuss {t}. After a long debate they agreed to {v} the {n} by the end of the quarter, "
    "although several members warned that the budget of {price} dollars would not cover the work. A follow-up meeting "
    "in {p} will review the first results, and a written report is expected before the summer.",
    "Research on {t} has grown quickly over the last {num} years. Early studies focused on small samples, but recent "
    "work from {p} combines thousands of measurements and finds that the effect is smaller than first reported. "
    "The authors caution that the data cover only a few regions and call for long-term funding.",
    "If your {n} stops working, first check the power supply and restart it. Most faults clear after a restart; if "
    "not, {v} the settings to their defaults and try again. Keep the receipt: the warranty covers repairs for {num} "
    "months, and the shop in {p} can lend you a replacement while yours is away.",
    "The {a} {n} sold out within hours of its launch in {p}. Reviewers praised its design but criticised the price, "
    "which at {price} dollars is well above its rivals. The maker says a cheaper model will follow next year, along "
    "with software updates that {v} the most common problems.",
]
CODE_SNIPPETS = [
    "def {f}({x}, {y}=None):\n    if {y} is None:\n        {y} = []\n    return [{x} * 2 for _ in range({num})]",
    "for (int i = 0; i < {num}; i++) {{\n    total += values[i] * {x};\n}}",
    "SELECT {x}, COUNT(*) AS n FROM {tbl} WHERE created_at > '{date}' GROUP BY {x} ORDER BY n DESC LIMIT {num};",
    "const {f} = async ({x}) => {{\n  const res = await fetch(`/api/{tbl}/${{{x}}}`);\n  return res.json();\n}};",
    "public async Task<{T}> {F}Async(string {x}, CancellationToken ct) => await _{tbl}.FindAsync({x}, ct);",
    "git checkout -b feature/{f} && git commit -am \"{F}: handle empty {x}\" && git push origin HEAD",
    "docker run --rm -p {port}:{port} -e {ENV}={x} {tbl}/{f}:{ver}",
    "import numpy as np\n{x} = np.zeros(({num}, {num2}), dtype=np.float32)\nprint({x}.mean(axis=0))",
    "fn {f}({x}: &[u8]) -> Result<usize, Error> {{\n    Ok({x}.len() * {num})\n}}",
    "if err := {f}(ctx, {x}); err != nil {{\n\treturn fmt.Errorf(\"{f}: %w\", err)\n}}",
    "curl -s -H 'Authorization: Bearer $TOKEN' https://api.example.com/v{num}/{tbl}?limit={num2} | jq '.items[].{x}'",
    "#include <stdio.h>\nint main(void) {{ printf(\"%d\\n\", {num} * {num2}); return 0; }}",
    "class {F}:\n    \"\"\"Keeps the {x} of a {tbl} row.\"\"\"\n    def __init__(self, {x}):\n        self.{x} = {x}",
    "{ENV}={x} python -m {f} --epochs {num} --lr 0.00{num2}",
]
IDENT = ["user_id", "order", "payload", "item", "count", "buffer", "config", "session", "row", "token", "path", "limit"]
FUNCS = ["parse_rows", "load_config", "retry", "merge", "flatten", "send_email", "resize", "checksum", "to_json", "dedupe"]
TABLES = ["orders", "users", "invoices", "events", "products", "payments", "sensors", "tickets"]
MD_TEMPLATES = [
    "# {T}\n\n{sentence}\n\n- {n}\n- {n2}\n- {n3}",
    "## Installation\n\n```bash\npip install {f}=={ver}\n```\n\nThen run `{f} --help`.",
    "> **Note:** {sentence}",
    "1. {V} the {n}.\n2. Check the [docs](https://example.com/{f}).\n3. {V2} the {n2} if needed.",
    "| Option | Default | Description |\n|---|---|---|\n| `{x}` | `{num}` | {sentence} |",
    "### {T}\n\n*Updated {date}* - {sentence} See [issue #{num}](https://github.com/example/{f}/issues/{num}).",
    "- [x] {V} {n}\n- [ ] {V2} {n2}\n- [ ] write tests for `{f}()`",
    "**{T}**: {sentence} _{P}_ disagree.",
]
NUMBER_TEMPLATES = [
    "{date},{n},{num},{price}.{cents},{pct}%", "Invoice #{inv} | {date} | {num} x {n} | EUR {price}.{cents}",
    "| {n} | {num} | {price}.{cents} | {pct}% |\n| {n2} | {num2} | {price2}.{cents} | {pct2}% |",
    "Temperature {t1}.{d} C, humidity {pct}%, pressure {hpa} hPa at {hh}:{mm} UTC",
    "Order {inv}: {num} items, subtotal ${price}.{cents}, tax ${tax}.{cents}, total ${price2}.{cents}",
    "{num}, {num2}, {price}, {price2}, {inv}", "Q{q} {year}: revenue {price} M, margin {pct}%, headcount {num}",
    "ID {inv} | lat {lat}.{d}{d2} | lon {lon}.{d2}{d} | alt {num} m", "{hh}:{mm}:{ss} ERROR code={code} retries={num2} latency_ms={num}",
    "+49 30 {num}{num2} {inv}", "SKU-{inv}-{num} {n} {price}.{cents} {pct}% off", "{date}\t{num}\t{num2}\t{price}.{cents}",
]
SHORT_WORDS = ["invoice", "refund policy", "password", "New York", "dark mode", "tax", "kubernetes", "hello", "pricing",
               "privacy", "log in", "shipping cost", "ibuprofen", "error 404", "holiday", "contact", "resume template",
               "weather", "unsubscribe", "dogs", "vegan pasta", "mortgage rates", "GPU", "Paris", "opening hours",
               "sign up", "battery life", "return label", "python", "football", "translation", "wifi", "bank", "ok"]

NON_ENGLISH = {
    "de": ["Wie kann ich mein {de_n} zurücksetzen?", "Die Sitzung des Ausschusses wurde auf {de_day} verschoben.",
           "Unser Team hat das neue {de_n} in {p} vorgestellt, und die Kunden waren begeistert.",
           "Bitte senden Sie die Rechnung bis spätestens Freitag an die Buchhaltung.",
           "Der Zug nach {p} hat heute etwa {num} Minuten Verspätung."],
    "fr": ["Comment puis-je annuler mon {fr_n} en ligne ?", "La réunion du conseil municipal aura lieu {fr_day} à {p}.",
           "Les chercheurs ont publié une étude sur {fr_t} qui remet en question les résultats précédents.",
           "Merci de confirmer votre adresse avant l'expédition de la commande.",
           "Le prix du {fr_n} a augmenté de {pct} % depuis l'année dernière."],
    "es": ["¿Dónde puedo renovar mi {es_n} cerca de {p}?", "El equipo terminó el informe sobre {es_t} antes del plazo.",
           "La tienda ofrece un descuento del {pct} % en todos los productos esta semana.",
           "Mañana lloverá en el norte y hará sol en el sur.", "Necesito cambiar la fecha de mi vuelo a {p}."],
    "it": ["Come posso aggiornare il mio {it_n}?", "Il museo resterà chiuso per lavori fino a {it_day}.",
           "La ricetta richiede due uova, farina e un pizzico di sale."],
    "pt": ["Como faço para recuperar a senha da minha conta?", "O relatório sobre {pt_t} será publicado em {p}.",
           "A entrega do pedido está prevista para {pt_day}."],
    "nl": ["Hoe kan ik mijn abonnement opzeggen?", "De vergadering over {nl_t} is verplaatst naar {nl_day}."],
    "other": ["Как сбросить пароль от учётной записи?", "東京の天気は明日晴れるでしょう。", "我想取消我的订单，请帮我处理。",
              "비밀번호를 재설정하려면 어떻게 해야 하나요?", "Bu ürünü iade etmek istiyorum.", "Jak mogę zmienić adres dostawy?",
              "Ποια είναι η προθεσμία για την υποβολή;", "Hvordan kan jeg endre passordet mitt?"],
}
DE_N = ["Passwort", "Abonnement", "Konto", "Fahrrad", "Handy", "Auto"]
FR_N = ["abonnement", "billet", "contrat", "rendez-vous", "colis"]
ES_N = ["pasaporte", "contrato", "seguro", "abono de transporte"]
IT_N = ["abbonamento", "telefono", "contratto"]
DAYS = {"de": ["Montag", "nächsten Dienstag", "den 3. Mai"], "fr": ["lundi prochain", "le 12 juin", "demain"],
        "it": ["lunedì", "fine mese"], "pt": ["sexta-feira", "o fim do mês"], "nl": ["volgende week", "maandag"]}
TOPICS_FR = ["le climat", "l'éducation", "les transports publics", "la santé"]
TOPICS_ES = ["la economía", "el cambio climático", "la salud pública", "la vivienda"]
TOPICS_PT = ["energia solar", "educação", "saúde pública"]
TOPICS_NL = ["het klimaat", "de begroting", "het openbaar vervoer"]


def c(xs):
    return R.choice(xs)


def fill(template, **extra):
    values = dict(
        n=c(NOUNS), n2=c(NOUNS), n3=c(NOUNS), v=c(VERBS), V=c(VERBS).capitalize(), V2=c(VERBS).capitalize(), a=c(ADJS),
        A=c(ADJS).title(), p=c(PLACES), Pl=c(PLACES), t=c(TOPICS), T=c(TOPICS).title(), P=c(PEOPLE).title(),
        N=c(NOUNS).title(), year=R.randrange(2015, 2027), Y=R.randrange(2015, 2027), code=f"E{R.randrange(10, 999)}",
        price=R.randrange(5, 5000), price2=R.randrange(5, 5000), cents=f"{R.randrange(100):02d}", pct=R.randrange(1, 95),
        pct2=R.randrange(1, 95), num=R.randrange(2, 500), num2=R.randrange(2, 99), q=R.randrange(1, 5),
        ver=f"{R.randrange(1, 9)}.{R.randrange(0, 20)}.{R.randrange(0, 9)}", day=c(["Monday", "Tuesday", "Friday", "March 3rd"]),
        date=f"{R.randrange(2019, 2027)}-{R.randrange(1, 13):02d}-{R.randrange(1, 29):02d}", inv=R.randrange(10000, 99999),
        t1=R.randrange(-20, 40), d=R.randrange(10), d2=R.randrange(10), hpa=R.randrange(960, 1040), hh=f"{R.randrange(24):02d}",
        mm=f"{R.randrange(60):02d}", ss=f"{R.randrange(60):02d}", tax=R.randrange(1, 400), lat=R.randrange(-80, 80),
        lon=R.randrange(-170, 170), f=c(FUNCS), F="".join(w.title() for w in c(FUNCS).split("_")), x=c(IDENT), y=c(IDENT),
        tbl=c(TABLES), port=c([80, 443, 5672, 8080, 15672, 6379]), ENV=c(["LOG_LEVEL", "DATABASE_URL", "MODE", "REGION"]),
        de_n=c(DE_N), fr_n=c(FR_N), es_n=c(ES_N), it_n=c(IT_N), de_day=c(DAYS["de"]), fr_day=c(DAYS["fr"]),
        it_day=c(DAYS["it"]), pt_day=c(DAYS["pt"]), nl_day=c(DAYS["nl"]), fr_t=c(TOPICS_FR), es_t=c(TOPICS_ES),
        pt_t=c(TOPICS_PT), nl_t=c(TOPICS_NL), sentence="")
    values.update(extra)
    return template.format(**values)


def sentences_of_corpus():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.txt")
    with open(path, encoding="utf-8") as f:
        paragraphs = [line.strip() for line in f if line.strip()]
    return paragraphs, [s for p in paragraphs for s in re.split(r"(?<=[.!?])\s+", p) if 6 <= len(s.split()) <= 30]


def unique(make, count):
    seen, out, attempts = set(), [], 0
    while len(out) < count and attempts < count * 100:
        attempts += 1
        text = make()
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def main():
    paragraphs, sentences = sentences_of_corpus()
    kinds = {}
    kinds["query"] = unique(lambda: fill(c(QUERY_TEMPLATES)), PER_KIND)
    kinds["title"] = unique(lambda: fill(c(TITLE_TEMPLATES)), PER_KIND)

    def paragraph():
        if R.random() < 0.5:
            start = R.randrange(len(sentences) - 8)
            return " ".join(sentences[start:start + R.randrange(4, 8)])
        return " ".join(fill(c(PARA_TEMPLATES)) for _ in range(R.randrange(1, 3)))
    kinds["paragraph"] = unique(paragraph, PER_KIND)
    kinds["code"] = unique(lambda: fill(c(CODE_SNIPPETS)), PER_KIND)
    kinds["numbers"] = unique(lambda: fill(c(NUMBER_TEMPLATES)), PER_KIND)
    kinds["markdown"] = unique(lambda: fill(c(MD_TEMPLATES), sentence=c(sentences)), PER_KIND)
    languages = list(NON_ENGLISH)
    kinds["non-english"] = unique(lambda: fill(c(NON_ENGLISH[c(languages)])), PER_KIND)

    def words():
        if R.random() < 0.5:
            return c(SHORT_WORDS)
        return c([c(NOUNS), f"{c(ADJS)} {c(NOUNS)}", f"{c(VERBS)} {c(NOUNS)}", c(PLACES), c(TOPICS)])
    kinds["words"] = unique(words, PER_KIND)

    out = sys.stdout
    for kind, texts in kinds.items():
        for text in texts:
            out.write(kind + "\t" + text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n") + "\n")


if __name__ == "__main__":
    main()
