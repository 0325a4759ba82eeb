"""Sentences for languages without a text package in Debian (Finnish, Hindi), from small grammars.

Written for this project (no outside text). Each template only combines forms that agree (Finnish cases,
Hindi gender), so every generated sentence is grammatical; the grammars yield several thousand sentences.
"""

from __future__ import annotations

from itertools import product

_FI_PEOPLE = [
    "Liisa",
    "Matti",
    "äiti",
    "isä",
    "opettaja",
    "naapuri",
    "pieni poika",
    "vanha mies",
    "tyttö",
    "lääkäri",
]
_FI_TIMES = [
    "tänään",
    "huomenna",
    "eilen",
    "aamulla",
    "illalla",
    "usein",
    "joskus",
    "nyt",
    "kesällä",
    "talvella",
]
_FI_OBJECTS = {  # verb (3rd person singular) -> partitive objects it takes
    "syö": ["omenaa", "leipää", "kalaa", "puuroa", "jäätelöä"],
    "juo": ["kahvia", "teetä", "maitoa", "vettä", "mehua"],
    "lukee": ["kirjaa", "lehteä", "kirjettä", "runoa"],
    "etsii": ["avainta", "koiraa", "kissaa", "puhelinta", "lompakkoa"],
    "rakastaa": ["musiikkia", "kesää", "lunta", "merta"],
}
_FI_ADJ_NOUN = (
    ["punainen", "iso", "pieni", "vanha", "uusi", "kaunis", "hiljainen", "kylmä"],
    ["talo", "auto", "järvi", "metsä", "katu", "huone", "pöytä", "laiva"],
)
_FI_PLACES = ["kaupungissa", "kylässä", "metsässä", "satamassa", "koulun lähellä", "joen rannalla", "pihalla"]
_FI_GOALS = ["kauppaan", "kouluun", "kotiin", "töihin", "saunaan", "metsään", "torille", "kirjastoon"]

_HI_PEOPLE = {  # person -> gender (m/f)
    "राम": "m", "सीता": "f", "मेरा भाई": "m", "मेरी बहन": "f", "वह लड़का": "m", "वह लड़की": "f",
    "हमारे पिता": "m", "उसकी माँ": "f", "डॉक्टर साहब": "m", "नई अध्यापिका": "f",
}  # fmt: skip
_HI_HONORIFIC = {"हमारे पिता", "डॉक्टर साहब"}  # take plural agreement: देखते हैं
_HI_OBJECTS = {  # habitual verb stem -> objects
    "खा": ["खाना", "फल", "रोटी", "चावल", "मिठाई"],
    "पी": ["पानी", "चाय", "दूध", "कॉफ़ी"],
    "पढ़": ["किताब", "अख़बार", "कहानी", "चिट्ठी"],
    "देख": ["फ़िल्म", "टीवी", "तस्वीरें", "आसमान"],
    "लिख": ["चिट्ठी", "कविता", "कहानी", "नाम"],
}
_HI_TIMES = ["आज", "कल", "रोज़", "सुबह", "शाम को", "कभी कभी", "अक्सर", "रात को"]
_HI_PLACES = ["बाज़ार", "स्कूल", "घर", "दफ़्तर", "मंदिर", "गाँव", "शहर", "नदी के किनारे"]
_HI_NOUNS = {"घर": "m", "कमरा": "m", "पेड़": "m", "शहर": "m", "किताब": "f", "गाड़ी": "f", "नदी": "f", "सड़क": "f"}
_HI_ADJ = {"बड़ा": "बड़ी", "छोटा": "छोटी", "अच्छा": "अच्छी", "नया": "नई", "पुराना": "पुरानी", "सुंदर": "सुंदर"}


def finnish() -> list[str]:
    """Finnish sentences: object, location and motion templates."""
    out = [
        f"{p.capitalize()} {verb} {obj} {t}."
        for p, (verb, objs), t in product(_FI_PEOPLE, _FI_OBJECTS.items(), _FI_TIMES)
        for obj in objs
    ]
    adjs, nouns = _FI_ADJ_NOUN
    out += [f"{place.capitalize()} on {adj} {noun}." for place, adj, noun in product(_FI_PLACES, adjs, nouns)]
    out += [f"{p.capitalize()} menee {g} {t}." for p, g, t in product(_FI_PEOPLE, _FI_GOALS, _FI_TIMES)]
    return out


def _hi_agree(person: str, gender: str, stem: str) -> str:
    """Habitual verb + auxiliary agreeing with the subject: खाता है, खाती है, खाते हैं."""
    if person in _HI_HONORIFIC:
        return f"{stem}ते हैं"
    return f"{stem}{'ता' if gender == 'm' else 'ती'} है"


def hindi() -> list[str]:
    """Hindi sentences with gender agreement of verbs and adjectives."""
    out = []
    for (person, gender), (stem, objs), t in product(_HI_PEOPLE.items(), _HI_OBJECTS.items(), _HI_TIMES):
        out += [f"{person} {t} {obj} {_hi_agree(person, gender, stem)}।" for obj in objs]
    for (noun, gender), (adj_m, adj_f) in product(_HI_NOUNS.items(), _HI_ADJ.items()):
        out.append(f"यह {noun} बहुत {adj_m if gender == 'm' else adj_f} है।")
    for (person, gender), t, place in product(_HI_PEOPLE.items(), _HI_TIMES, _HI_PLACES):
        out.append(f"{person} {t} {place} {_hi_agree(person, gender, 'जा')}।")
    return out
