"""The demo world as the fagsystemer see it: org units, role names and a few cases each.

The UUIDs and KLE codes match ``policies/demo.yaml``; the fagsystemer do not read the
catalogue (a real fagsystem has its own data), they only compare what the token grants
with what each case is about, through :meth:`verifier.PrivilegeSet.allows`.
"""

from __future__ import annotations

from dataclasses import dataclass

from verifier.privileges import KLE, ORGENHED, PrivilegeSet, kle_covers

DEMO_CVR = "29189846"
NABO_CVR = "29189862"
MUNICIPALITIES = {DEMO_CVR: "Demo Kommune", NABO_CVR: "Nabo Kommune"}

_DEMO = "6a1e5d2c-0000-4000-8000-00000000000"
BORGERSERVICE, JOBCENTER, SUNDHED = _DEMO + "2", _DEMO + "3", _DEMO + "4"
TEAM_YDELSE, TEAM_SYGEDAGPENGE, TEAM_UNGE = _DEMO + "5", _DEMO + "6", _DEMO + "7"
NABO_SYGEDAGPENGE = "7b2f6e3d-0000-4000-8000-000000000002"
ORG_UNITS = {
    _DEMO + "1": "Demo Kommune",
    BORGERSERVICE: "Borgerservice",
    JOBCENTER: "Jobcenter",
    SUNDHED: "Sundhed",
    TEAM_YDELSE: "Team Ydelse",
    TEAM_SYGEDAGPENGE: "Team Sygedagpenge",
    TEAM_UNGE: "Team Unge",
    "7b2f6e3d-0000-4000-8000-000000000001": "Nabo Kommune",
    NABO_SYGEDAGPENGE: "Sygedagpenge (Nabo Kommune)",
}

KY_ENTITY = "https://ky.demo.test"
KY_LAES_SAG = "http://ky.demo.test/roles/usersystemrole/laes_sag/1"
KY_LAES_SAGER_SERVICE = "http://ky.demo.test/roles/servicesystemrole/laes_sager/1"
KSD_LAES_SAG = "http://ksd.demo.test/roles/usersystemrole/laes_sag/1"
SAPA_ENTITY = "https://sapa.demo.test"
SAPA_LAES_SAG = "http://sapa.demo.test/roles/usersystemrole/laes_sag/1"

CONSTRAINT_NAMES = {
    KLE: "KLE",
    ORGENHED: "Organisationsenhed",
    "http://ky.demo.test/constraints/foelsomhed/1": "Følsomhed",
}


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    kle: str
    unit: str | None = None  # None: the fagsystem does not restrict by org unit
    cvr: str = DEMO_CVR

    @property
    def unit_name(self) -> str:
        return ORG_UNITS.get(self.unit or "", "–")

    @property
    def municipality(self) -> str:
        return MUNICIPALITIES.get(self.cvr, self.cvr)


KY_CASES = (
    Case("KY-2026-0101", "Enkeltydelse: tandbehandling", "32.01.08", TEAM_YDELSE),
    Case("KY-2026-0102", "Hjælp til flytning", "32.02.04", TEAM_YDELSE),
    Case("KY-2026-0103", "Midlertidig huslejehjælp", "32.01.10", BORGERSERVICE),
    Case("KY-2026-0104", "Sygedagpenge: refusion til arbejdsgiver", "27.12.02", TEAM_SYGEDAGPENGE),
    Case("KY-2026-0105", "Sygedagpenge: opfølgning", "27.24.00", JOBCENTER),
    Case("KY-2026-0106", "Uddannelseshjælp", "15.02.06", TEAM_UNGE),
    Case("KY-2026-0107", "Tilskud til medicin", "29.09.02", SUNDHED),
)

KSD_CASES = (
    Case("KSD-4711", "Sygemelding, lønmodtager", "27.24.02", TEAM_SYGEDAGPENGE),
    Case("KSD-4712", "Delvis raskmelding", "27.24.04", TEAM_YDELSE),
    Case("KSD-4713", "Sygedagpenge til selvstændig", "27.12.04", JOBCENTER),
    Case("KSD-4714", "Forlængelse efter 22 uger", "27.24.10", SUNDHED),
    Case("KSD-4715", "Fleksjob: ansøgning", "15.02.04", TEAM_UNGE),
    Case("KSD-9001", "Sygemelding, borger i Nabo Kommune", "27.24.02", NABO_SYGEDAGPENGE, NABO_CVR),
)

# SAPA's role carries only a KLE constraint: it shows an overview across units.
SAPA_CASES = (
    Case("SAPA-01", "Partsoverblik: sygedagpenge og arbejdsgiver", "27.24.02"),
    Case("SAPA-02", "Partsoverblik: enkeltydelser", "32.01.08"),
    Case("SAPA-03", "Partsoverblik: ung under uddannelse", "15.02.06"),
    Case("SAPA-04", "Partsoverblik: sundhedsudgifter", "29.09.02"),
)


def allowed(privileges: PrivilegeSet, role: str, case: Case) -> bool:
    """The one decision: does the token grant ``role`` for this case's CVR, KLE and unit?"""
    if case.unit is None:
        return privileges.allows(role, cvr=case.cvr, kle=case.kle)
    return privileges.allows(role, cvr=case.cvr, kle=case.kle, orgenhed=case.unit)


def why_not(privileges: PrivilegeSet, role: str, case: Case) -> str:
    """A human explanation of a refusal, for the demo page (the decision is :func:`allowed`)."""
    groups = [g for g in privileges if g.privilege == role]
    if not groups:
        return "du har ikke rollen"
    in_cvr = [g for g in groups if g.cvr == case.cvr]
    if not in_cvr:
        return f"rollen gælder ikke i {case.municipality}"
    kle_ok = [g for g in in_cvr if _kle_ok(g.constraints.get(KLE), case.kle)]
    if not kle_ok:
        return f"KLE {case.kle} ligger uden for dine KLE-numre"
    return f"enheden {case.unit_name} er ikke blandt dine enheder"


def _kle_ok(granted: tuple[str, ...] | None, code: str) -> bool:
    return granted is None or kle_covers(granted, code)


def split(
    privileges: PrivilegeSet, role: str, cases: tuple[Case, ...]
) -> tuple[list[Case], list[tuple[Case, str]]]:
    """(the cases the user may see, the others with the reason)."""
    shown: list[Case] = []
    hidden: list[tuple[Case, str]] = []
    for case in cases:
        if allowed(privileges, role, case):
            shown.append(case)
        else:
            hidden.append((case, why_not(privileges, role, case)))
    return shown, hidden
