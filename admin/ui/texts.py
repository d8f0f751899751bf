"""The admin UI's texts in Danish (the default) and English, with KOMBIT's own words.

``t(key, **values)`` picks the language as the login pages do (``?lang=``, remembered in a
cookie). Each entry is (Danish, English).
"""

from __future__ import annotations

from idp.i18n import current_language

TEXTS: dict[str, tuple[str, str]] = {
    "app.name": (
        "Administrationsmodul – fælleskommunal adgangsstyring",
        "Administration – shared municipal access control",
    ),
    "skip": ("Gå til indhold", "Skip to content"),
    "lang.other": ("English", "Dansk"),
    "lang.other.code": ("en", "da"),
    "signed_in_as": (
        "Logget ind som {name} (sikringsniveau {loa})",
        "Signed in as {name} (assurance level {loa})",
    ),
    "loa.Low": ("Lav", "Low"),
    "loa.Substantial": ("Betydelig", "Substantial"),
    "loa.High": ("Høj", "High"),
    "logout": ("Log ud", "Log out"),
    "nav.label": ("Hovedmenu", "Main menu"),
    "nav.home": ("Forside", "Home"),
    "nav.jfr": ("Jobfunktionsroller", "Job function roles"),
    "nav.users": ("Brugere og tildelinger", "Users and assignments"),
    "nav.agreements": ("Serviceaftaler", "Service agreements"),
    "nav.systems": ("Fagsystemer", "Systems"),
    "nav.audit": ("Revisionslog", "Audit log"),
    "nav.catalogue": ("Katalog", "Catalogue"),
    "nav.keys": ("Nøgler", "Keys"),
    "required": ("skal udfyldes", "required"),
    "errors.title": ("Der er fejl i formularen", "There is a problem with the form"),
    "next_page": ("Næste side", "Next page"),
    "reference": ("Fejlreference", "Error reference"),
    "error.back_home": ("Gå til forsiden", "Go to the home page"),
    "error.not_found.title": ("Siden findes ikke", "Page not found"),
    "error.not_found.text": (
        "Der er ikke noget at vise på denne adresse, eller du har ikke adgang til det. Tjek "
        "adressen, eller gå til forsiden.",
        "There is nothing to show at this address, or you may not see it. Check the address, or "
        "go to the home page.",
    ),
    "error.forbidden.title": ("Du har ikke adgang", "Access denied"),
    "error.forbidden.text": (
        "Du har ikke den administrative rolle, der skal til for at gøre dette. Spørg kommunens "
        "administrator, hvis du mener, du skal have den.",
        "You do not hold the administrative role this needs. Ask your municipality's "
        "Administrator if you believe you should.",
    ),
    "error.invalid.title": ("Forespørgslen kan ikke bruges", "The request cannot be used"),
    "error.invalid.text": (
        "Ret det nedenfor, og prøv igen.",
        "Correct what is listed below and try again.",
    ),
    "error.conflict.title": ("Det kan ikke lade sig gøre lige nu", "That cannot be done now"),
    "error.conflict.text": (
        "Ændringen passer ikke med det, der allerede findes. Genindlæs siden, og prøv igen.",
        "The change conflicts with what exists already. Reload the page and try again.",
    ),
    "error.csrf.title": ("Formularen er udløbet", "The form has expired"),
    "error.csrf.text": (
        "Siden var åben for længe, eller formularen kom ikke fra denne side. Gå tilbage, "
        "genindlæs siden, og prøv igen.",
        "The page was open too long, or the form did not come from this site. Go back, reload "
        "the page and try again.",
    ),
    "field.required": ("Skal udfyldes.", "Required."),
    "field.date": (
        "Skriv en dato som 2026-12-31 eller 31-12-2026.",
        "Write a date like 2026-12-31 or 31-12-2026.",
    ),
    "date_hint": ("For eksempel 2026-12-31.", "For example 2026-12-31."),
    "cvr": ("CVR {cvr}", "CVR {cvr}"),
    "municipality": ("Kommune", "Municipality"),
    "name": ("Navn", "Name"),
    "description": ("Beskrivelse", "Description"),
    "id": ("Id", "Id"),
    "uuid": ("UUID", "UUID"),
    "email": ("E-mail", "Email"),
    "kle": ("KLE", "KLE"),
    "source": ("Kilde", "Source"),
    "username": ("Brugernavn", "Username"),
    "fagsystem": ("Fagsystem", "System"),
    "all": ("Alle", "All"),
    "choose": ("Vælg …", "Choose …"),
    "filter": ("Filtrér", "Filter"),
    "search": ("Søg", "Search"),
    "save": ("Gem", "Save"),
    "saved": ("Gemt.", "Saved."),
    "edit": ("Redigér", "Edit"),
    "delete": ("Slet", "Delete"),
    "assign": ("Tildel", "Assign"),
    "yes": ("Ja", "Yes"),
    "no": ("Nej", "No"),
    "home.title": ("Det venter på dig", "What needs you"),
    "home.no_roles": (
        "Du har ingen administrative roller. Bed kommunens administrator om en rolle.",
        "You hold no administrative role. Ask your municipality's Administrator for one.",
    ),
    "home.pending": ("Afventer din godkendelse", "Awaiting your approval"),
    "home.pending_item": (
        "{anvender} → {service} for kommune {cvr}",
        "{anvender} → {service} for municipality {cvr}",
    ),
    "home.waiting": (
        "{count} serviceaftale(r) afventer godkendelse hos kommunen.",
        "{count} service agreement(s) await the municipality's approval.",
    ),
    "home.nothing_pending": (
        "Ingen serviceaftaler afventer godkendelse.",
        "No service agreements await approval.",
    ),
    "home.recent": ("Senest ændrede jobfunktionsroller", "Recently changed job function roles"),
    "home.expiring": (
        "Tildelinger der udløber inden for 30 dage",
        "Assignments ending within 30 days",
    ),
    "home.ends": ("slutter {date}", "ends {date}"),
    "home.none_expiring": (
        "Ingen tildelinger udløber de næste 30 dage.",
        "No assignments end in the next 30 days.",
    ),
    "home.municipalities": ("Dine kommuner", "Your municipalities"),
    "jfr.title": ("Jobfunktionsroller", "Job function roles"),
    "jfr.one": ("Jobfunktionsrolle", "Job function role"),
    "jfr.new": ("Opret jobfunktionsrolle", "Create job function role"),
    "jfr.edit_title": ("Redigér jobfunktionsrolle", "Edit job function role"),
    "jfr.none": (
        "Kommunen har ingen jobfunktionsroller endnu.",
        "The municipality has no job function roles yet.",
    ),
    "jfr.deleted": ("Jobfunktionsrollen er slettet.", "The job function role was deleted."),
    "jfr.grants": ("Brugersystemroller", "User system roles"),
    "jfr.bsr": ("Brugersystemrolle", "User system role"),
    "jfr.constraints": ("Dataafgrænsninger", "Data constraints"),
    "jfr.delegated_to": ("Delegeret til (CVR)", "Delegated to (CVR)"),
    "jfr.delegated_hint": (
        "CVR-numre på de kommuner, der må tildele rollen til deres egne brugere, adskilt af komma.",
        "CVR numbers of the municipalities that may assign the role to their own users, "
        "separated by commas.",
    ),
    "jfr.delegated_from": (
        "{name} (delegeret fra kommune {cvr})",
        "{name} (delegated by municipality {cvr})",
    ),
    "jfr.not_delegated": ("Ikke delegeret", "Not delegated"),
    "jfr.id": ("Id (URI)", "Id (URI)"),
    "jfr.id_hint": (
        "Valgfri. For eksempel http://kommune.dk/roles/jobrole/sagsbehandler/1. Tom: der dannes "
        "et id.",
        "Optional. For example http://kommune.dk/roles/jobrole/caseworker/1. Empty: one is made.",
    ),
    "jfr.compose": ("Sammensæt af brugersystemroller", "Compose from user system roles"),
    "jfr.compose_hint": (
        "Vælg roller fra ét eller flere fagsystemer. Giv hver dataafgrænsning en fast værdi, en "
        "dynamisk regel, eller udskyd den til tildelingen.",
        "Choose roles from one or more systems. Give each data constraint a fixed value, a "
        "dynamic rule, or postpone it to the assignment.",
    ),
    "jfr.value_kind": ("Værdi for {name}", "Value for {name}"),
    "jfr.fixed_values": ("Faste værdier for {name}", "Fixed values for {name}"),
    "jfr.dynamic_rule": ("Dynamisk regel for {name}", "Dynamic rule for {name}"),
    "jfr.hint.kle": (
        "KLE-koder adskilt af komma, fx 27.*, 32.01.",
        "KLE codes separated by commas, e.g. 27.*, 32.01.",
    ),
    "jfr.hint.orgenhed": (
        "UUID'er på organisationsenheder adskilt af komma.",
        "Org unit UUIDs separated by commas.",
    ),
    "jfr.hint.values": ("Tilladte værdier: {values}.", "Allowed values: {values}."),
    "jfr.holders": ("Hvem har rollen", "Who holds the role"),
    "jfr.no_holders": ("Rollen er ikke tildelt nogen.", "The role is not assigned to anyone."),
    "mode.fixed": ("Fast værdi", "Fixed value"),
    "mode.dynamic": ("Dynamisk", "Dynamic"),
    "mode.postponed": ("Udskudt til tildelingen", "Postponed to the assignment"),
    "dynamic.user_kle": ("Brugerens egne KLE-opmærkninger", "The user's own KLE"),
    "dynamic.user_orgunit": ("Brugerens egen enhed", "The user's own unit"),
    "dynamic.user_orgunit_and_below": (
        "Brugerens enhed og enhederne under den",
        "The user's unit and those below it",
    ),
    "dynamic.managed_orgunits": ("Enheder brugeren er leder af", "Units the user manages"),
    "dynamic.orgunit_level_1_and_below": (
        "Enheden på niveau 1 over brugeren og alt under den",
        "The level 1 unit above the user and all below it",
    ),
    "dynamic.orgunit_level_2_and_below": (
        "Enheden på niveau 2 over brugeren og alt under den",
        "The level 2 unit above the user and all below it",
    ),
    "dynamic.orgunit_level_3_and_below": (
        "Enheden på niveau 3 over brugeren og alt under den",
        "The level 3 unit above the user and all below it",
    ),
    "dynamic.orgunit_level_4_and_below": (
        "Enheden på niveau 4 over brugeren og alt under den",
        "The level 4 unit above the user and all below it",
    ),
    "dynamic.orgunit_level_5_and_below": (
        "Enheden på niveau 5 over brugeren og alt under den",
        "The level 5 unit above the user and all below it",
    ),
    "dynamic.orgunit_level_6_and_below": (
        "Enheden på niveau 6 over brugeren og alt under den",
        "The level 6 unit above the user and all below it",
    ),
    "users.title": ("Brugere og tildelinger", "Users and assignments"),
    "users.search": ("Find en bruger", "Find a user"),
    "users.search_hint": (
        "Brugernavn eller en del af navnet. Resultaterne opdateres mens du skriver.",
        "Username or part of the name. The results update as you type.",
    ),
    "users.results": ("Fundne brugere", "Users found"),
    "users.none": ("Ingen brugere passer på søgningen.", "No users match the search."),
    "users.disabled": ("spærret", "disabled"),
    "user.assignments": ("Tildelte jobfunktionsroller", "Assigned job function roles"),
    "user.no_assignments": (
        "Brugeren har ingen direkte tildelinger.",
        "The user has no direct assignments.",
    ),
    "user.inherited_hint": (
        "Roller fra AD-grupper og organisationsenheder vises under Forklar adgang.",
        "Roles from AD groups and org units show under Explain access.",
    ),
    "user.status": ("Status", "Status"),
    "user.active": ("aktiv", "active"),
    "user.disable_title": ("Spær brugeren", "Disable the user"),
    "user.enable_title": ("Ophæv spærringen", "Enable the user"),
    "user.disable": ("Spær brugeren", "Disable the user"),
    "user.enable": ("Ophæv spærringen", "Enable the user"),
    "user.disable_confirm": (
        "Ja, spær {name}: alle sessioner og tokens slutter straks, i alle fagsystemer.",
        "Yes, disable {name}: every session and token ends at once, in every system.",
    ),
    "user.disable_confirm_needed": (
        "Bekræft spærringen ved at sætte flueben.",
        "Confirm the disabling by ticking the box.",
    ),
    "user.disabled_done": (
        "Brugeren er spærret, og alle brugerens sessioner er afsluttet.",
        "The user is disabled and every session of theirs has ended.",
    ),
    "user.enabled_done": ("Spærringen er ophævet.", "The user is enabled again."),
    "user.mfa_title": ("Tofaktor (TOTP)", "Second factor (TOTP)"),
    "user.mfa_hint": (
        "En aktiveringskode lader personen tilknytte sin authenticator-app én gang. "
        "Giv koden ad en anden vej end adgangskoden.",
        "An activation code lets the person enrol their authenticator app once. "
        "Give the code by another channel than the password.",
    ),
    "user.mfa_reset": (
        "Nulstil først (mistet telefon): fjern authenticator og gendannelseskoder",
        "Reset first (lost phone): remove the authenticator and recovery codes",
    ),
    "user.mfa_reset_confirm": (
        "Ja, nulstil {name}s tofaktor og afslut alle sessioner.",
        "Yes, reset {name}'s second factor and end every session.",
    ),
    "user.reset_confirm_needed": (
        "Bekræft nulstillingen ved at sætte flueben, eller fjern fluebenet ved Nulstil.",
        "Confirm the reset by ticking the box, or untick Reset.",
    ),
    "user.mfa_issue": ("Udsted aktiveringskode", "Issue an activation code"),
    "user.mfa_code_title": ("Aktiveringskode", "Activation code"),
    "user.mfa_code_for": (
        "Aktiveringskode til {name} ({username}):",
        "Activation code for {name} ({username}):",
    ),
    "user.mfa_code_expires": ("Gælder én gang, til {at} UTC.", "Valid once, until {at} UTC."),
    "user.mfa_code_once": (
        "Koden vises kun nu; den gemmes ikke. En ny kode erstatter denne.",
        "The code is shown only now; it is not stored. A new code replaces this one.",
    ),
    "user.mfa_reset_done": (
        "{name}s authenticator og gendannelseskoder er fjernet, og alle sessioner er afsluttet.",
        "{name}'s authenticator and recovery codes are removed and every session has ended.",
    ),
    "access.title": ("Forklar adgang", "Explain access"),
    "access.date": ("Dato", "Date"),
    "access.explain": ("Forklar", "Explain"),
    "access.summary": (
        "{count} privilegiegruppe(r) i {fagsystem} den {on}.",
        "{count} privilege group(s) in {fagsystem} on {on}.",
    ),
    "access.scope": ("Gælder for", "Scope"),
    "access.from": ("Kommer fra:", "Comes from:"),
    "access.assignment": ("tildelingen", "the assignment"),
    "access.none": (
        "Brugeren får ingen privilegier i dette fagsystem på denne dato.",
        "The user gets no privileges in this system on this date.",
    ),
    "access.token": ("Det står i billetten", "What the token carries"),
    "access.token_hint": (
        "Sådan ser privilegierne ud i SAML-assertionen og i JWT'en til fagsystemet.",
        "This is how the privileges look in the SAML assertion and in the JWT to the system.",
    ),
    "assignments.title": ("Tildelinger", "Assignments"),
    "assignments.none": (
        "Ingen tildelinger passer på filteret.",
        "No assignments match the filter.",
    ),
    "assignments.valid_on": ("Gyldig på dato", "Valid on date"),
    "assignment.one": ("Tildeling", "Assignment"),
    "assignment.new": ("Tildel jobfunktionsrolle", "Assign job function role"),
    "assignment.subject": ("Tildelt til", "Assigned to"),
    "assignment.period": ("Periode", "Period"),
    "assignment.case_number": ("Sagsnummer", "Case number"),
    "assignment.case_hint": (
        "Sagen, tildelingen er begrundet i, fx 26-004711.",
        "The case the assignment is based on, e.g. 26-004711.",
    ),
    "assignment.inherited": ("arves af underenheder", "inherited by sub-units"),
    "assignment.role_hint": (
        "Vælg rollen først; har den udskudte dataafgrænsninger, vises felterne til dem.",
        "Choose the role first; if it has postponed data constraints, their fields appear.",
    ),
    "assignment.choose_role": ("Vis rollens felter", "Show the role's fields"),
    "assignment.to": ("Tildel til", "Assign to"),
    "subject.user": ("Bruger", "User"),
    "subject.group": ("AD-gruppe", "AD group"),
    "subject.org_unit": ("Organisationsenhed", "Org unit"),
    "subject.user.long": ("Brugere (en eller flere)", "Users (one or more)"),
    "subject.group.long": ("En AD-gruppe", "An AD group"),
    "subject.org_unit.long": ("En organisationsenhed", "An org unit"),
    "assignment.users": ("Brugernavne", "Usernames"),
    "assignment.users_hint": (
        "Et eller flere brugernavne, adskilt af komma eller linjeskift.",
        "One or more usernames, separated by commas or new lines.",
    ),
    "assignment.group": ("AD-gruppe (objectGUID eller DN)", "AD group (objectGUID or DN)"),
    "assignment.group_hint": (
        "Grupper matches på objectGUID eller fuldt DN, aldrig på navn.",
        "Groups are matched by objectGUID or full DN, never by name.",
    ),
    "assignment.unit_hint": ("Enhedens UUID.", "The unit's UUID."),
    "assignment.inherit": ("Underenheder arver tildelingen", "Sub-units inherit the assignment"),
    "assignment.except_users": ("Undtagne brugere", "Excepted users"),
    "assignment.except_hint": (
        "Brugernavne, der ikke skal have rollen gennem enheden.",
        "Usernames who should not get the role through the unit.",
    ),
    "assignment.valid_from": ("Gyldig fra", "Valid from"),
    "assignment.valid_to": ("Gyldig til og med", "Valid until"),
    "assignment.postponed": ("Værdier for {name}", "Values for {name}"),
    "assignment.postponed_hint": (
        "Rollen overlader denne dataafgrænsning til tildelingen. Værdier adskilt af komma.",
        "The role leaves this data constraint to the assignment. Values separated by commas.",
    ),
    "assignment.created_one": ("Rollen er tildelt.", "The role was assigned."),
    "assignment.created_many": (
        "{count} tildeling(er) oprettet.",
        "{count} assignment(s) created.",
    ),
    "assignment.partly": (
        "Tildelt til: {names}. Resten fejlede; se nedenfor.",
        "Assigned to: {names}. The rest failed; see below.",
    ),
    "assignment.removed": ("Tildelingen er fjernet.", "The assignment was removed."),
    "assignment.delete": ("Fjern tildelingen", "Remove the assignment"),
    "agreements.title": ("Serviceaftaler", "Service agreements"),
    "agreements.request": ("Anmod om serviceaftale", "Request a service agreement"),
    "agreements.request_intro": (
        "Et anvendersystem anmoder om at kalde en service på vegne af en kommune. Kommunens "
        "godkender godkender eller afviser anmodningen.",
        "A system asks to call a service on behalf of a municipality. The municipality's "
        "approver approves or rejects the request.",
    ),
    "agreements.tabs": ("Serviceaftaler efter status", "Service agreements by status"),
    "agreements.tab.requested": ("Afventer godkendelse", "Awaiting approval"),
    "agreements.tab.approved": ("Godkendte", "Approved"),
    "agreements.tab.rejected": ("Afviste", "Rejected"),
    "agreements.tab.revoked": ("Tilbagekaldte", "Revoked"),
    "agreements.none": ("Ingen serviceaftaler her.", "No service agreements here."),
    "agreement.one": ("Serviceaftale", "Service agreement"),
    "agreement.status": ("Status", "Status"),
    "agreement.status.requested": ("Afventer godkendelse", "Awaiting approval"),
    "agreement.status.approved": ("Godkendt", "Approved"),
    "agreement.status.rejected": ("Afvist", "Rejected"),
    "agreement.status.revoked": ("Tilbagekaldt", "Revoked"),
    "agreement.anvendersystem": ("Anvendersystem", "Consuming system"),
    "agreement.service": ("Service", "Service"),
    "agreement.service_hint": (
        "Vælg servicen først for at se dens roller og dataafgrænsninger.",
        "Choose the service first to see its roles and data constraints.",
    ),
    "agreement.choose_service": ("Vis servicens roller", "Show the service's roles"),
    "agreement.roles": ("Servicesystemroller", "Service system roles"),
    "agreement.constraints": ("Dataafgrænsninger", "Data constraints"),
    "agreement.constraint": ("Værdier for {name}", "Values for {name}"),
    "agreement.constraint_hint": (
        "Værdier adskilt af komma; tom: ingen.",
        "Values separated by commas; empty: none.",
    ),
    "agreement.on_behalf_of": ("På vegne af en bruger", "On behalf of a user"),
    "agreement.on_behalf_of_long": (
        "Må også kalde servicen på vegne af en bruger (token exchange)",
        "May also call the service on behalf of a user (token exchange)",
    ),
    "agreement.requested_by": ("Anmodet af", "Requested by"),
    "agreement.decided_by": ("Afgjort af", "Decided by"),
    "agreement.comment": ("Kommentar", "Comment"),
    "agreement.decide": ("Godkend eller afvis", "Approve or reject"),
    "agreement.approve": ("Godkend", "Approve"),
    "agreement.reject": ("Afvis", "Reject"),
    "agreement.revoke_title": ("Tilbagekald serviceaftalen", "Revoke the service agreement"),
    "agreement.revoke": ("Tilbagekald", "Revoke"),
    "agreement.history": ("Historik", "History"),
    "agreement.requested_done": (
        "Anmodningen er sendt til kommunens godkender.",
        "The request was sent to the municipality's approver.",
    ),
    "agreement.done.approve": (
        "Serviceaftalen er godkendt. Anvendersystemet kan hente billetter nu.",
        "The service agreement is approved. The system can get tokens now.",
    ),
    "agreement.done.reject": ("Serviceaftalen er afvist.", "The service agreement was rejected."),
    "agreement.done.revoke": (
        "Serviceaftalen er tilbagekaldt. Der udstedes ikke flere billetter på den.",
        "The service agreement was revoked. No more tokens are issued on it.",
    ),
    "systems.title": ("Fagsystemer", "Systems"),
    "system.kind": ("Art", "Kind"),
    "system.roles": ("Roller", "Roles"),
    "system.min_loa": ("Mindste sikringsniveau", "Minimum assurance level"),
    "system.personal_data": ("Får persondata", "Receives personal data"),
    "system.constraint_types": ("Dataafgrænsningstyper", "Data constraint types"),
    "system.ctype_kind": ("Type", "Type"),
    "system.no_saml": (
        "Ingen SAML-tjenesteudbyder er registreret.",
        "No SAML service provider is registered.",
    ),
    "system.no_clients": ("Ingen OIDC-klienter er registreret.", "No OIDC clients are registered."),
    "system.upload_metadata": ("Upload SAML-metadata", "Upload SAML metadata"),
    "system.metadata_file": ("Metadatafil (XML)", "Metadata file (XML)"),
    "system.metadata_url": ("Eller adressen på metadata", "Or the metadata's address"),
    "system.metadata_url_hint": (
        "Hentes én gang nu, fx https://fagsystem.dk/saml/metadata.",
        "Fetched once now, e.g. https://system.example/saml/metadata.",
    ),
    "system.metadata_missing": (
        "Vælg en metadatafil eller skriv adressen.",
        "Choose a metadata file or write its address.",
    ),
    "system.metadata_not_text": ("Filen er ikke UTF-8-tekst.", "The file is not UTF-8 text."),
    "system.metadata_too_big": (
        "Filen er for stor (højst 512 KiB).",
        "The file is too large (at most 512 KiB).",
    ),
    "system.upload": ("Upload", "Upload"),
    "system.register_client": ("Registrér OIDC-klient", "Register an OIDC client"),
    "system.client_id": ("Klient-id", "Client id"),
    "system.client_id_hint": ("Valgfrit; tomt: der dannes et.", "Optional; empty: one is made."),
    "system.auth_method": (
        "Godkendelse ved token-endpointet",
        "Authentication at the token endpoint",
    ),
    "system.grant_types": ("Grant types", "Grant types"),
    "system.redirect_uris": ("Redirect-URI'er", "Redirect URIs"),
    "system.redirect_hint": (
        "Én pr. linje; kræves til authorization_code.",
        "One per line; needed for authorization_code.",
    ),
    "system.register": ("Registrér", "Register"),
    "system.client_registered": (
        "Klienten {client} er registreret.",
        "Client {client} is registered.",
    ),
    "system.secret_once": (
        "Kopiér hemmeligheden nu. Den vises kun denne ene gang og gemmes kun som hash.",
        "Copy the secret now. It is shown this once only and stored only as a hash.",
    ),
    "system.add_role": ("Tilføj rolle", "Add a role"),
    "system.role_id": ("Rollens URI", "The role's URI"),
    "system.role_id_hint": (
        "Fx http://fagsystem.dk/roles/usersystemrole/laes_sag/1. Samme URI erstatter rollen.",
        "E.g. http://system.example/roles/usersystemrole/read_case/1. The same URI replaces the "
        "role.",
    ),
    "system.add_ctype": ("Tilføj dataafgrænsningstype", "Add a data constraint type"),
    "system.ctype_id": ("Typens URI", "The type's URI"),
    "system.ctype_values": ("Tilladte værdier", "Allowed values"),
    "system.ctype_values_hint": (
        "Kun for typen værdiliste; adskilt af komma.",
        "Only for the value list kind; separated by commas.",
    ),
    "system.ctype_regex": ("Regulært udtryk", "Regular expression"),
    "system.add": ("Tilføj", "Add"),
    "system.remove": ("Fjern", "Remove"),
    "system.attributes": ("Fagsystemets egenskaber", "The system's attributes"),
    "system.kind.brugervendt": ("Brugervendt system", "User-facing system"),
    "system.kind.service": ("Service (udstiller en service)", "Service (offers a service)"),
    "system.kind.anvender": (
        "Anvendersystem (kalder services)",
        "Consuming system (calls services)",
    ),
    "system.ctype_in_use": (
        "Rollen {role} bruger stadig typen; fjern den fra rollen først.",
        "The role {role} still uses the type; remove it from the role first.",
    ),
    "system.kind_required": ("Vælg mindst én art.", "Choose at least one kind."),
    "audit.cvr_format": (
        "Skriv et CVR-nummer med 8 cifre.",
        "Write a CVR number of 8 digits.",
    ),
    "audit.cvr_unknown": (
        "Du kan ikke se revisionsloggen for kommune {cvr}.",
        "You may not see the audit log of municipality {cvr}.",
    ),
    "catalogue.apply_failed": (
        "Kataloget kunne ikke anvendes, fordi noget er ændret siden forhåndsvisningen; intet "
        "blev ændret. Upload filen igen.",
        "The catalogue could not be applied because something changed since the preview; "
        "nothing was changed. Upload the file again.",
    ),
    "kind.kle": ("KLE", "KLE"),
    "kind.orgenhed": ("Organisationsenhed", "Org unit"),
    "kind.values": ("Værdiliste", "Value list"),
    "kind.text": ("Fritekst", "Free text"),
    "keys.title": ("Nøgler", "Signing keys"),
    "keys.intro": (
        "Signeringsnøgler: næste (offentliggjort på forhånd) → aktiv → udfaset (offentliggjort "
        "en tid endnu).",
        "Signing keys: next (published ahead) → active → retired (still published for a while).",
    ),
    "keys.type": ("Nøgletype", "Key type"),
    "keys.state": ("Tilstand", "State"),
    "keys.state.next": ("Næste", "Next"),
    "keys.state.active": ("Aktiv", "Active"),
    "keys.state.retired": ("Udfaset", "Retired"),
    "keys.created": ("Oprettet", "Created"),
    "keys.published": ("Offentliggjort", "Published"),
    "keys.rotate": ("Rotér nøgler", "Rotate keys"),
    "keys.rotated": ("Nøglerne er roteret.", "The keys were rotated."),
    "audit.title": ("Revisionslog", "Audit log"),
    "audit.filter.cvr": ("Kommune (CVR)", "Municipality (CVR)"),
    "audit.filter.actor": ("Aktør", "Actor"),
    "audit.filter.action": ("Handling", "Action"),
    "audit.filter.object": ("Objekt-id", "Object id"),
    "audit.filter.since": ("Fra dato", "From date"),
    "audit.filter.until": ("Til og med dato", "Until date"),
    "audit.at": ("Tidspunkt (UTC)", "Time (UTC)"),
    "audit.outcome": ("Udfald", "Outcome"),
    "audit.none": ("Ingen hændelser passer på filteret.", "No events match the filter."),
    "audit.export_csv": ("Eksportér CSV", "Export CSV"),
    "audit.export_json": ("Eksportér JSON", "Export JSON"),
    "catalogue.title": ("Katalog", "Catalogue"),
    "catalogue.export": ("Eksportér katalog", "Export the catalogue"),
    "catalogue.format": ("Format", "Format"),
    "catalogue.download": ("Hent", "Download"),
    "catalogue.import": ("Importér katalog", "Import a catalogue"),
    "catalogue.import_intro": (
        "Vælg en katalogfil (YAML eller JSON). Du ser først, hvad den vil ændre; intet ændres, "
        "før du vælger Anvend.",
        "Choose a catalogue file (YAML or JSON). You first see what it would change; nothing "
        "changes until you choose Apply.",
    ),
    "catalogue.file": ("Katalogfil", "Catalogue file"),
    "catalogue.show_preview": ("Vis hvad der ændres", "Show what changes"),
    "catalogue.preview": ("Det vil importen ændre", "What the import would change"),
    "catalogue.applied": ("Kataloget er importeret", "The catalogue was imported"),
    "catalogue.no_change": ("Filen ændrer intet.", "The file changes nothing."),
    "catalogue.kind": ("Slags", "Kind"),
    "catalogue.created": ("Oprettes", "Created"),
    "catalogue.updated": ("Ændres", "Updated"),
    "catalogue.deleted": ("Slettes", "Deleted"),
    "catalogue.apply": ("Anvend ændringerne", "Apply the changes"),
    "catalogue.missing": ("Vælg en katalogfil.", "Choose a catalogue file."),
    "catalogue.unreadable": (
        "Filen kan ikke læses som et katalog: {detail}",
        "The file cannot be read as a catalogue: {detail}",
    ),
    "catalogue.not_text": ("Filen er ikke UTF-8-tekst.", "The file is not UTF-8 text."),
    "catalogue.too_big": (
        "Filen er for stor (højst 1 MiB); importér store kataloger med stsctl import.",
        "The file is too large (at most 1 MiB); import large catalogues with stsctl import.",
    ),
    "catalogue.preview_expired": (
        "Forhåndsvisningen er udløbet; upload filen igen.",
        "The preview has expired; upload the file again.",
    ),
}


def t(key: str, **values: object) -> str:
    pair = TEXTS.get(key)
    if pair is None:
        return key
    text = pair[1] if current_language() == "en" else pair[0]
    return text.format(**values) if values else text
