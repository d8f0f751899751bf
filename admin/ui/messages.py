"""The service layer's error messages in the person's language, placed at their form fields.

The service layer says what is wrong in English, with a JSON pointer to the field
(:class:`admin.errors.Invalid`). The UI shows each message next to the field it names;
in Danish, a message is translated by the patterns below (the service layer's and the
catalogue validator's own sentences), and one without a pattern is shown with a Danish
lead-in and the English text, so nothing is ever left unsaid.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from admin.errors import AdminError
from idp.i18n import current_language

_V = r"'?(?P<v>[^']*)'?"  # a value as the validator quotes it
_USED_BY = re.compile(
    r"(?P<role>\S+) \(used by (?:(?P<n>\d+) jobfunktionsrolle grant\(s\)|(?P<what>[^)]*))\)"
)


def _in_use(match: re.Match[str]) -> str:
    """Which roles are in use, and by what, from ``put_fagsystem``'s Conflict."""
    parts = []
    for used in _USED_BY.finditer(match.group("v")):
        if used.group("n"):
            what = f"{used.group('n')} jobfunktionsrolle(r)"
        else:
            what = used.group("what").replace("serviceaftale", "serviceaftalen")
        parts.append(f"{used.group('role')} (bruges af {what})")
    listed = "; ".join(parts) or match.group("v")
    return f"Roller, der stadig bruges, kan ikke fjernes: {listed}."


Danish = str | Callable[[re.Match[str]], str]
_DANISH: list[tuple[re.Pattern[str], Danish]] = [
    (re.compile(p), da)
    for p, da in (
        (r"is a required property$", "Skal udfyldes."),
        (r"^(\[\]|'') should be non-empty$|is too short$", "Skal udfyldes."),
        (r"is too long$", "Teksten er for lang."),
        (
            r"^" + _V + r" is not a KLE code",
            "{v} er ikke en KLE-kode (som 27, 27.35, 27.35.04, 27.* eller 27.35.*).",
        ),
        (
            r"^" + _V + r" is not an org unit of municipality (?P<c>\d+)",
            "{v} er ikke en organisationsenhed i kommune {c}.",
        ),
        (
            r"^" + _V + r" is not one of the allowed values (?P<a>.*)$",
            "{v} er ikke en af de tilladte værdier: {a}.",
        ),
        (
            r"^" + _V + r" does not match the pattern (?P<a>.*)$",
            "{v} passer ikke til mønstret {a}.",
        ),
        (r"^'' does not match '.*'$", "Skal udfyldes."),
        (r"^'[^']{280,}$", "Teksten er for lang."),  # a long value's message, cut at 300
        (r"^" + _V + r" is not a real date", "{v} er ikke en rigtig dato (ÅÅÅÅ-MM-DD)."),
        (r"^" + _V + r" does not match '.*'$", "{v} har ikke det rigtige format."),
        (r"is not valid under any of the given schemas$", "Værdien har ikke det rigtige format."),
        (r"^" + _V + r" is not one of \[", "{v} er ikke en af de tilladte værdier."),
        (r"is not of type", "Værdien har ikke den rigtige type."),
        (r"^unknown field$", "Ukendt felt."),
        (r"^valid_from is after valid_to$", "Startdatoen ligger efter slutdatoen."),
        (
            r"^unknown user '(?P<v>[^']*)' in municipality (?P<c>\d+)",
            "Brugeren {v} findes ikke i kommune {c}.",
        ),
        (
            r"^unknown group '(?P<v>[^']*)' in municipality (?P<c>\d+)",
            "Gruppen {v} findes ikke i kommune {c} "
            "(grupper kommer fra AD; angiv objectGUID eller DN).",
        ),
        (
            r"^missing value for postponed constraint type (?P<u>\S+)",
            "Mangler værdi for den udskudte dataafgrænsning {u}.",
        ),
        (
            r"^missing (value for )?constraint type (?P<u>\S+),? (which role|required by)",
            "Mangler værdi for dataafgrænsningen {u}, som rollen kræver.",
        ),
        (
            r"^constraint type (?P<u>\S+) is not postponed",
            "Dataafgrænsningen {u} er ikke udskudt i denne jobfunktionsrolle.",
        ),
        (
            r"^unknown constraint type (?P<u>\S+?)[;:] declare it",
            "Dataafgrænsningen {u} er ikke erklæret i fagsystemet; tilføj den først.",
        ),
        (r"^unknown constraint type (?P<u>\S+?)(?:[:;,]\s|$)", "Ukendt dataafgrænsning {u}."),
        (
            r"^dynamic (?P<v>\S+) does not fit a constraint type of kind (?P<k>\S+)",
            "Den dynamiske værdi {v} passer ikke til en dataafgrænsning af typen {k}.",
        ),
        (
            r"^a delegated jobfunktionsrolle cannot carry dynamic constraints",
            "En delegeret jobfunktionsrolle kan ikke have dynamiske dataafgrænsninger.",
        ),
        (
            r"^a municipality cannot delegate to itself",
            "En kommune kan ikke delegere til sig selv.",
        ),
        (r"^unknown municipality (?P<c>\d+)", "Kommunen {c} findes ikke."),
        (r"^unknown role (?P<u>\S+?);", "Brugersystemrollen {u} findes ikke."),
        (r"^unknown jobfunktionsrolle (?P<u>\S+)", "Jobfunktionsrollen {u} findes ikke."),
        (
            r"^municipality (?P<c>\d+) may not assign (?P<u>\S+): it belongs to (?P<o>\d+)",
            "Kommune {c} må ikke tildele {u}: rollen tilhører kommune {o} og er ikke delegeret.",
        ),
        (
            r"^give exactly one of user, group or org_unit",
            "Angiv præcis én modtager: bruger, gruppe eller organisationsenhed.",
        ),
        (
            r"^(?P<k>\S+) is only for org_unit assignments",
            "Feltet gælder kun tildelinger til en organisationsenhed.",
        ),
        (
            r"^(?P<u>\S+) is not a role of service (?P<s>\S+)",
            "{u} er ikke en rolle i servicen {s}.",
        ),
        (r"^fagsystem (?P<s>\S+) is not a service", "Fagsystemet {s} udstiller ikke en service."),
        (r"^unknown fagsystem (?P<s>[^;\s]+)", "Fagsystemet {s} findes ikke."),
        (
            r"^you may not (approve|reject|revoke) serviceaftaler",
            "Du må ikke træffe denne afgørelse; spørg en godkender i kommunen.",
        ),
        (r"^you may not ", "Du har ikke ret til dette; spørg kommunens administrator."),
        (
            r"^four-eyes:",
            "Fire øjne: du har selv anmodet om denne serviceaftale, så en anden "
            "godkender skal træffe afgørelsen.",
        ),
        (
            r"^serviceaftale (?P<v>\S+) is (?P<s>\w+); only a (?P<n>\w+) one",
            "Serviceaftalen {v} er ikke i en tilstand, hvor det kan lade sig gøre.",
        ),
        (
            r"^jobfunktionsrolle (?P<v>\S+) is assigned (?P<n>\d+) time",
            "Jobfunktionsrollen er tildelt {n} gang(e); fjern tildelingerne først.",
        ),
        (
            r"^assignment (?P<v>\S+) already gives this role",
            "Der findes allerede en tildeling af rollen til samme modtager med samme sagsnummer.",
        ),
        (
            r"^a jobfunktionsrolle with id (?P<v>\S+) exists already",
            "Der findes allerede en jobfunktionsrolle med id {v}.",
        ),
        (
            r"^a serviceaftale with id (?P<v>\S+) exists already",
            "Der findes allerede en serviceaftale med id {v}.",
        ),
        (r"^client (?P<v>\S+) exists already", "Klienten {v} findes allerede."),
        (r"already belongs to fagsystem (?P<s>\S+)", "Tilhører allerede fagsystemet {s}."),
        (r"^roles still in use cannot be removed: (?P<v>.*)$", _in_use),
        (
            r"^only http:// and https:// URLs are fetched",
            "Kun adresser med http:// eller https:// kan hentes.",
        ),
        (r"; check the URL$", "Metadata kunne ikke hentes; tjek adressen."),
        (
            r"^metadata must not contain a DTD",
            "Metadata må ikke indeholde en DTD eller entity-erklæringer.",
        ),
        (r"^metadata is not well-formed XML", "Filen er ikke gyldig XML."),
        (
            r"^metadata must have one md:EntityDescriptor",
            "Metadata skal have ét md:EntityDescriptor som rodelement (én tjenesteudbyder ad "
            "gangen).",
        ),
        (r"has no entityID attribute$", "EntityDescriptor mangler attributten entityID."),
        (
            r"has no SPSSODescriptor",
            "Metadata har intet SPSSODescriptor; er det en tjenesteudbyders metadata?",
        ),
        (
            r"^the metadata was not read",
            "Metadata blev ikke læst; importér filen med stsctl import.",
        ),
        (
            r"^a constraint type of kind values needs a values list",
            "En dataafgrænsning af typen værdiliste skal have tilladte værdier.",
        ),
        (
            r"^values is only for kind values",
            "Tilladte værdier bruges kun til typen værdiliste.",
        ),
        (r"^regex is only for kind text", "Et regulært udtryk bruges kun til typen fritekst."),
        (r"^not a valid regular expression", "Det er ikke et gyldigt regulært udtryk."),
        (
            r"^a service needs an entity_id",
            "En service skal have et entityID (modtageren af dens billetter).",
        ),
        (r"^duplicate (?P<v>.*?) \(first at", "Dublet: {v} står der allerede."),
        (r"^YYYY-MM-DD or an ISO 8601 date-time$", "Skriv en dato som 2026-12-31."),
        (r"^one of (?P<v>[A-Z, ]+)$", "Vælg en af: {v}."),
        (
            r"^" + _V + r" is not a CVR number",
            "{v} er ikke et CVR-nummer; skriv det som 8 cifre (i anførselstegn i en fil).",
        ),
        (
            r"^unknown key\(s\) (?P<v>.*); allowed keys are (?P<a>.*)$",
            "Ukendte felter: {v}. Tilladte felter er {a}.",
        ),
        (
            r"^give exactly one of fixed, dynamic or postponed",
            "Angiv præcis én af fast, dynamisk eller udskudt.",
        ),
        (
            r"^(?P<v>\S+) is synchronised from AD",
            "{v} synkroniseres fra AD; fjern brugeren fra filen.",
        ),
        (r"a user's uuid cannot change$", "En brugers uuid kan ikke ændres."),
        (r"^uuid (?P<v>\S+) belongs to another user", "Uuid'en {v} tilhører en anden bruger."),
        (
            r"^manager " + _V + r" is not a user of municipality (?P<c>\d+)",
            "Lederen {v} er ikke bruger i kommune {c}.",
        ),
        (
            r"^org unit (?P<v>\S+) already belongs to municipality (?P<c>\d+)",
            "Organisationsenheden {v} tilhører allerede kommune {c}.",
        ),
        (
            r"^jobfunktionsrolle (?P<v>\S+) belongs to municipality (?P<c>\d+)",
            "Jobfunktionsrollen {v} tilhører kommune {c}.",
        ),
        (
            r"^the operator role is never given in a catalogue",
            "Operatørrollen gives aldrig i et katalog; brug stsctl admin grant.",
        ),
        (
            r"^unknown administrative role " + _V + r";",
            "Den administrative rolle {v} findes ikke.",
        ),
        (r"is held for a municipality: add its cvr$", "Rollen gælder en kommune; angiv CVR."),
        (r"is held for a fagsystem: add its id$", "Rollen gælder et fagsystem; angiv det."),
        (r"; remove (cvr|fagsystem)$", "Rollen gælder ikke her; fjern feltet."),
        (
            r"cannot be changed; delete the assignment",
            "Kan ikke ændres; slet tildelingen og opret en ny.",
        ),
        (r"^must be (?P<v>\S+), the id in the path", "Skal være {v} (id'et i adressen)."),
        (r"^expected an object$", "Et katalog skal være et objekt (YAML-mapping)."),
        (
            r"^(?P<s>\S+) is not valid YAML or JSON",
            "Filen {s} er hverken gyldig YAML eller JSON.",
        ),
        (
            r"^(?P<s>\S+) must hold a mapping with 'version: 1'",
            "Filen {s} skal begynde med en mapping med 'version: 1'.",
        ),
        (r"^" + _V + r" is not a '(?P<a>[^']+)'$", "{v} er ikke en gyldig {a}."),
        (
            r"^only the Leverandøradministrator of (?P<s>\S+)",
            "Kun leverandøradministratoren for {s} (eller en operatør) må det.",
        ),
        (r"^(?P<v>\S+) needs client_secret_env", "Metoden {v} kræver en hemmelighed."),
        (r"^choose at least one grant type$", "Vælg mindst én grant type."),
        (
            r"^authorization_code needs at least one redirect URI$",
            "authorization_code kræver mindst én redirect-URI.",
        ),
        (r"^the request body is not valid$|is not valid$", "Formularen har fejl."),
        (r"^the catalogue has (?P<n>\d+) problem", "Kataloget har {n} fejl; intet blev ændret."),
    )
]


REQUIRED = re.compile(r"^'([^']*)' is a required property$")


def translate(message: str) -> str:
    """``message`` (the service layer's English) in the current language."""
    if current_language() != "da":
        return message
    for pattern, danish in _DANISH:
        match = pattern.search(message)
        if match is None:
            continue
        if isinstance(danish, str):
            return danish.format(**{k: v or "" for k, v in match.groupdict().items()})
        return danish(match)
    return f"Ugyldig værdi: {message}"


def pointer_parts(pointer: str) -> list[str]:
    """``/grants/0/constraints/http:~1~1x`` as ``["grants", "0", "constraints", "http://x"]``."""
    if not pointer:
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]


@dataclass
class FormErrors:
    """Messages by form field id, and those that belong to the form as a whole."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, field_id: str | None, message: str) -> None:
        """Add ``message`` at ``field_id`` (the whole form when None), once."""
        found = self.general if field_id is None else self.fields.setdefault(field_id, [])
        if message not in found:
            found.append(message)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def of(self, field_id: str) -> list[str]:
        return self.fields.get(field_id, [])

    def add_error(
        self, exc: AdminError, field_for: Callable[[list[str]], str | None] = lambda _: None
    ) -> None:
        """Place each of the service's errors at its field (the whole form when unknown)."""
        if not exc.errors:
            self.add(None, translate(exc.detail))
        for pointer, message in exc.errors:
            parts = pointer_parts(pointer)
            required = REQUIRED.match(message)
            if required:  # JSON Schema names the object; the field is the missing member
                parts.append(required.group(1))
            self.add(field_for(parts), translate(message))


def all_messages(exc: AdminError) -> list[str]:
    if not exc.errors:
        return [translate(exc.detail)]
    return [translate(message) for _, message in exc.errors]
