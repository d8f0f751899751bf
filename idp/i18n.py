"""Texts of the web pages in Danish (the default) and English.

A page's language comes from ``?lang=da|en`` (remembered in a cookie, so the choice
holds on the following pages), else the login request's ``ui_locales``, else Danish.
Texts say what happened and what to do; technical details go to the log and the audit
trail, never to the page.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import g, request

LANGUAGES = ("da", "en")
DEFAULT_LANGUAGE = "da"
LANGUAGE_COOKIE = "sts_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "da": {
        "site.name": "Fælleskommunal adgangsstyring",
        "lang.other": "English",
        "lang.other.code": "en",
        "skip": "Gå til indhold",
        "reference": "Fejlreference",
        "reference.help": "Oplys referencen, hvis du kontakter support.",
        "continue": "Fortsæt",
        "back": "Tilbage",
        "loa.Low": "Lav",
        "loa.Substantial": "Betydelig",
        "loa.High": "Høj",
        "password.title": "Log ind",
        "password.intro": "Log ind for at fortsætte til {fagsystem}.",
        "password.username": "Brugernavn",
        "password.password": "Adgangskode",
        "password.submit": "Log ind",
        "password.wrong": "Brugernavn eller adgangskode er forkert. Prøv igen. Bliver det ved "
        "med at fejle, kan kontoen være spærret: kontakt din brugeradministrator.",
        "password.missing": "Skriv både dit brugernavn og din adgangskode.",
        "totp.title": "Bekræft med din kode",
        "totp.intro": "{fagsystem} kræver sikringsniveau {loa}. Skriv den 6-cifrede kode fra "
        "din godkender-app.",
        "totp.code": "Kode fra appen eller en gendannelseskode",
        "totp.hint": "6 cifre, eller en gendannelseskode som ABCD-EFGH-JKLM-NPQR.",
        "totp.submit": "Bekræft",
        "totp.cancel": "Annullér login",
        "totp.wrong": "Koden er forkert. Tjek at uret på din telefon går rigtigt, og prøv "
        "med den kode appen viser nu.",
        "totp.replayed": "Koden er allerede brugt. Vent på den næste kode i appen, og prøv igen.",
        "recovery.wrong": "Gendannelseskoden er forkert. Tjek at du har skrevet den rigtigt.",
        "recovery.replayed": "Gendannelseskoden er allerede brugt. Hver kode virker kun én "
        "gang; brug en af de andre.",
        "recovery.left": "Du brugte en gendannelseskode. Du har {count} tilbage. Bed din "
        "brugeradministrator om at nulstille totrinsbekræftelsen, hvis du har mistet din "
        "telefon.",
        "enrol.title": "Opsæt totrinsbekræftelse",
        "enrol.intro": "{fagsystem} kræver en kode fra en godkender-app ud over din "
        "adgangskode. Scan QR-koden med appen (for eksempel Microsoft Authenticator eller "
        "Google Authenticator).",
        "enrol.qr_title": "QR-kode til godkender-appen",
        "enrol.manual": "Kan du ikke scanne? Skriv denne nøgle i appen:",
        "enrol.code": "Kode som appen viser nu",
        "enrol.activation.label": "Aktiveringskode",
        "enrol.activation.hint": "Den engangskode, du har fået af din brugeradministrator "
        "til at opsætte totrinsbekræftelse (fx ABCD-EFGH-JKLM-NPQR).",
        "enrol.activation.missing": "Skriv aktiveringskoden fra din brugeradministrator. "
        "Har du ikke fået en, så bed din brugeradministrator om en.",
        "enrol.activation.wrong_code": "Aktiveringskoden passer ikke. Tjek at du har skrevet "
        "den rigtigt, eller bed din brugeradministrator om en ny.",
        "enrol.activation.used": "Aktiveringskoden er allerede brugt. Bed din "
        "brugeradministrator om en ny.",
        "enrol.activation.expired": "Aktiveringskoden er udløbet. Bed din "
        "brugeradministrator om en ny.",
        "enrol.submit": "Bekræft og aktivér",
        "enrol.wrong": "Koden passer ikke. Tjek at du har scannet QR-koden på denne side, og "
        "skriv den kode appen viser nu.",
        "codes.title": "Dine gendannelseskoder",
        "codes.intro": "Totrinsbekræftelse er slået til. Gem disse ti koder et sikkert sted, "
        "for eksempel udskrevet. Hver kode kan bruges én gang, hvis du ikke har din telefon. "
        "Koderne vises kun denne ene gang.",
        "codes.done": "Jeg har gemt koderne. Fortsæt",
        "continue.title": "Du er logget ind",
        "continue.text": "Du sendes videre. Sker det ikke, så vælg Fortsæt.",
        "logout.title": "Log ud",
        "logout.intro": "Du bliver logget ud af identitetsudbyderen og af disse systemer:",
        "logout.none_served": "Du er ikke logget ind i nogen fagsystemer gennem denne session.",
        "logout.submit": "Log ud",
        "logout.done.title": "Du er logget ud",
        "logout.done.text": "Din session er afsluttet. Luk browseren, hvis du bruger en delt "
        "computer.",
        "logout.done.systems": "Du er logget ud af:",
        "logout.not_logged_in": "Du er ikke logget ind.",
        "logout.failed.title": "Disse systemer bekræftede ikke at du er logget ud:",
        "logout.failed.text": "Du kan stadig være logget ind i dem. Log ud i systemet selv, "
        "eller luk browseren, hvis du bruger en delt computer.",
        "logout.failed.no_answer": "svarede ikke",
        "logout.failed.refused": "afviste at logge dig ud",
        "logout.failed.unsupported": "kan ikke logges ud herfra",
        "logout.continue": "Fortsæt til {name}",
        "pwchange.title": "Skift adgangskode",
        "pwchange.current": "Nuværende adgangskode",
        "pwchange.new": "Ny adgangskode",
        "pwchange.new.hint": "Mindst {min} tegn. Brug gerne en sætning.",
        "pwchange.repeat": "Gentag ny adgangskode",
        "pwchange.submit": "Skift adgangskode",
        "pwchange.mismatch": "De to nye adgangskoder er ikke ens. Skriv dem igen.",
        "pwchange.too_short": "Den nye adgangskode skal have mindst {min} tegn.",
        "pwchange.same": "Den nye adgangskode skal være en anden end den nuværende.",
        "pwchange.username": "Adgangskoden må ikke indeholde dit brugernavn.",
        "pwchange.wrong_current": "Den nuværende adgangskode er forkert. Prøv igen.",
        "pwchange.done": "Din adgangskode er skiftet. Du er logget ud alle andre steder.",
        "test.title": "Testfagsystem: resultat",
        "test.success": "Login lykkedes",
        "test.failure": "Login gav intet resultat",
        "test.again": "Prøv igen",
        "test.logout": "Log ud",
        "test.change_password": "Skift adgangskode",
        "error.title": "Der opstod en fejl",
        "error.directory_unavailable.title": "Brugerkataloget svarer ikke",
        "error.directory_unavailable.text": "Vi kan ikke kontrollere din adgangskode lige "
        "nu, fordi brugerkataloget ikke svarer. Prøv igen om et par minutter. Bliver det ved, "
        "så kontakt din IT-afdeling og oplys fejlreferencen.",
        "error.service_unavailable.title": "Tjenesten er midlertidigt utilgængelig",
        "error.service_unavailable.text": "Login-tjenesten kan ikke nå sin database lige nu. "
        "Prøv igen om et øjeblik. Bliver det ved, så kontakt din IT-afdeling og oplys "
        "fejlreferencen.",
        "error.state_unavailable.title": "Login er midlertidigt utilgængeligt",
        "error.state_unavailable.text": "Login-tjenesten kan ikke nå sit sessionslager. Prøv "
        "igen om lidt. Bliver det ved, så kontakt din IT-afdeling og oplys fejlreferencen.",
        "error.account_unusable.title": "Din konto kan ikke bruges til at logge ind",
        "error.account_unusable.text": "Kontoen er spærret, låst eller udløbet. Kontakt din "
        "brugeradministrator og oplys fejlreferencen.",
        "error.account_unknown.title": "Din konto er ikke oprettet her endnu",
        "error.account_unknown.text": "Din adgangskode er rigtig, men kontoen er endnu ikke "
        "overført til adgangsstyringen. Prøv igen senere, eller kontakt din "
        "brugeradministrator og oplys fejlreferencen.",
        "error.too_many_attempts.title": "For mange forsøg",
        "error.too_many_attempts.text": "Der har været for mange forkerte forsøg. Vent "
        "{minutes} minut(ter), og prøv så igen.",
        "error.cancelled.title": "Login annulleret",
        "error.cancelled.text": "Du annullerede login, så du er ikke logget ind i "
        "{fagsystem}. Gå tilbage til fagsystemet for at prøve igen.",
        "error.no_passive.title": "Du er ikke logget ind",
        "error.no_passive.text": "{fagsystem} ville logge dig ind uden at vise en loginside, "
        "men du har ingen gyldig session. Gå tilbage til fagsystemet og log ind.",
        "error.loa_unavailable.title": "Sikringsniveauet kan ikke opnås",
        "error.loa_unavailable.text": "{fagsystem} kræver et sikringsniveau, som denne "
        "login-tjeneste ikke kan give. Kontakt fagsystemets support.",
        "error.logout_expired.title": "Logud-siden er udløbet",
        "error.logout_expired.text": "Du er logget ud, men linket videre virker kun én gang og "
        "inden for {minutes} minutter. Gå tilbage til systemet selv.",
        "error.flow_expired.title": "Siden er udløbet",
        "error.flow_expired.text": "Login skal gennemføres inden for {minutes} minutter, "
        "eller siden er allerede brugt. Gå tilbage til fagsystemet, og start forfra.",
        "error.form_expired.title": "Formularen er udløbet",
        "error.form_expired.text": "Formularen kunne ikke godkendes: den er for gammel, eller "
        "den er sendt fra en anden side. Gå tilbage, genindlæs siden, og prøv igen.",
        "error.password_change_unsupported.title": "Adgangskoden skiftes et andet sted",
        "error.password_change_unsupported.text": "Din konto kommer fra kommunens Active "
        "Directory. Skift adgangskoden i Windows (Ctrl+Alt+Delete), eller kontakt din "
        "IT-afdeling.",
        "error.not_logged_in.title": "Du er ikke logget ind",
        "error.not_logged_in.text": "Log ind først, og prøv så igen.",
        "error.not_found.title": "Siden findes ikke",
        "error.not_found.text": "Tjek adressen, eller gå tilbage til fagsystemet.",
    },
    "en": {
        "site.name": "Municipal access control",
        "lang.other": "Dansk",
        "lang.other.code": "da",
        "skip": "Skip to content",
        "reference": "Error reference",
        "reference.help": "Quote the reference if you contact support.",
        "continue": "Continue",
        "back": "Back",
        "loa.Low": "Low",
        "loa.Substantial": "Substantial",
        "loa.High": "High",
        "password.title": "Log in",
        "password.intro": "Log in to continue to {fagsystem}.",
        "password.username": "Username",
        "password.password": "Password",
        "password.submit": "Log in",
        "password.wrong": "The username or password is wrong. Try again. If it keeps failing, "
        "the account may be disabled: contact your user administrator.",
        "password.missing": "Enter both your username and your password.",
        "totp.title": "Confirm with your code",
        "totp.intro": "{fagsystem} requires assurance level {loa}. Enter the 6-digit code "
        "from your authenticator app.",
        "totp.code": "Code from the app or a recovery code",
        "totp.hint": "6 digits, or a recovery code like ABCD-EFGH-JKLM-NPQR.",
        "totp.submit": "Confirm",
        "totp.cancel": "Cancel login",
        "totp.wrong": "The code is wrong. Check that your phone's clock is right and try the "
        "code the app shows now.",
        "totp.replayed": "This code has already been used. Wait for the next code in the app "
        "and try again.",
        "recovery.wrong": "The recovery code is wrong. Check that you typed it correctly.",
        "recovery.replayed": "This recovery code has already been used. Each code works once; "
        "use another one.",
        "recovery.left": "You used a recovery code. You have {count} left. Ask your user "
        "administrator to reset two-step verification if you have lost your phone.",
        "enrol.title": "Set up two-step verification",
        "enrol.intro": "{fagsystem} requires a code from an authenticator app as well as your "
        "password. Scan the QR code with the app (for example Microsoft Authenticator or "
        "Google Authenticator).",
        "enrol.qr_title": "QR code for the authenticator app",
        "enrol.manual": "Cannot scan? Enter this key in the app:",
        "enrol.code": "Code the app shows now",
        "enrol.activation.label": "Activation code",
        "enrol.activation.hint": "The one-time code your user administrator gave you for "
        "setting up two-step verification (e.g. ABCD-EFGH-JKLM-NPQR).",
        "enrol.activation.missing": "Enter the activation code from your user "
        "administrator. If you have none, ask your user administrator for one.",
        "enrol.activation.wrong_code": "The activation code does not match. Check that you "
        "typed it correctly, or ask your user administrator for a new one.",
        "enrol.activation.used": "The activation code has already been used. Ask your user "
        "administrator for a new one.",
        "enrol.activation.expired": "The activation code has expired. Ask your user "
        "administrator for a new one.",
        "enrol.submit": "Confirm and activate",
        "enrol.wrong": "The code does not match. Check that you scanned the QR code on this "
        "page, and enter the code the app shows now.",
        "codes.title": "Your recovery codes",
        "codes.intro": "Two-step verification is on. Keep these ten codes somewhere safe, for "
        "example printed. Each code can be used once if you do not have your phone. They are "
        "shown only this once.",
        "codes.done": "I have saved the codes. Continue",
        "continue.title": "You are logged in",
        "continue.text": "You are being sent on. If nothing happens, choose Continue.",
        "logout.title": "Log out",
        "logout.intro": "You will be logged out of the identity provider and of these systems:",
        "logout.none_served": "You have not logged in to any system through this session.",
        "logout.submit": "Log out",
        "logout.done.title": "You are logged out",
        "logout.done.text": "Your session has ended. Close the browser if you are on a shared "
        "computer.",
        "logout.done.systems": "You are logged out of:",
        "logout.not_logged_in": "You are not logged in.",
        "logout.failed.title": "These systems did not confirm that you are logged out:",
        "logout.failed.text": "You may still be logged in to them. Log out in the system "
        "itself, or close the browser if you are on a shared computer.",
        "logout.failed.no_answer": "did not answer",
        "logout.failed.refused": "refused to log you out",
        "logout.failed.unsupported": "cannot be logged out from here",
        "logout.continue": "Continue to {name}",
        "pwchange.title": "Change password",
        "pwchange.current": "Current password",
        "pwchange.new": "New password",
        "pwchange.new.hint": "At least {min} characters. A sentence works well.",
        "pwchange.repeat": "Repeat the new password",
        "pwchange.submit": "Change password",
        "pwchange.mismatch": "The two new passwords differ. Type them again.",
        "pwchange.too_short": "The new password must have at least {min} characters.",
        "pwchange.same": "The new password must differ from the current one.",
        "pwchange.username": "The password must not contain your username.",
        "pwchange.wrong_current": "The current password is wrong. Try again.",
        "pwchange.done": "Your password has been changed. You are logged out everywhere else.",
        "test.title": "Test fagsystem: result",
        "test.success": "Login succeeded",
        "test.failure": "The login gave no result",
        "test.again": "Try again",
        "test.logout": "Log out",
        "test.change_password": "Change password",
        "error.title": "Something went wrong",
        "error.directory_unavailable.title": "The user directory is not answering",
        "error.directory_unavailable.text": "We cannot check your password right now because "
        "the user directory is not answering. Try again in a few minutes. If it persists, "
        "contact your IT department and quote the error reference.",
        "error.service_unavailable.title": "The service is temporarily unavailable",
        "error.service_unavailable.text": "The login service cannot reach its database right "
        "now. Try again in a moment. If it persists, contact your IT department and quote "
        "the error reference.",
        "error.state_unavailable.title": "Login is temporarily unavailable",
        "error.state_unavailable.text": "The login service cannot reach its session store. "
        "Try again shortly. If it persists, contact your IT department and quote the error "
        "reference.",
        "error.account_unusable.title": "Your account cannot be used to log in",
        "error.account_unusable.text": "The account is disabled, locked or expired. Contact "
        "your user administrator and quote the error reference.",
        "error.account_unknown.title": "Your account is not set up here yet",
        "error.account_unknown.text": "Your password is right, but the account has not yet "
        "been transferred to access control. Try again later, or contact your user "
        "administrator and quote the error reference.",
        "error.too_many_attempts.title": "Too many attempts",
        "error.too_many_attempts.text": "There have been too many failed attempts. Wait "
        "{minutes} minute(s), then try again.",
        "error.cancelled.title": "Login cancelled",
        "error.cancelled.text": "You cancelled the login, so you are not logged in to "
        "{fagsystem}. Go back to the system to try again.",
        "error.no_passive.title": "You are not logged in",
        "error.no_passive.text": "{fagsystem} asked to log you in without showing a login "
        "page, but you have no valid session. Go back to the system and log in.",
        "error.loa_unavailable.title": "The assurance level cannot be reached",
        "error.loa_unavailable.text": "{fagsystem} requires an assurance level this login "
        "service cannot provide. Contact the system's support.",
        "error.logout_expired.title": "This logout page has expired",
        "error.logout_expired.text": "You are logged out, but the link onwards works only once "
        "and within {minutes} minutes. Go back to the system itself.",
        "error.flow_expired.title": "This page has expired",
        "error.flow_expired.text": "A login must be finished within {minutes} minutes, or "
        "this page was already used. Go back to the system and start again.",
        "error.form_expired.title": "The form has expired",
        "error.form_expired.text": "The form could not be accepted: it is too old, or it was "
        "sent from another site. Go back, reload the page and try again.",
        "error.password_change_unsupported.title": "Your password is changed elsewhere",
        "error.password_change_unsupported.text": "Your account comes from the "
        "municipality's Active Directory. Change the password in Windows (Ctrl+Alt+Delete) "
        "or contact your IT department.",
        "error.not_logged_in.title": "You are not logged in",
        "error.not_logged_in.text": "Log in first, then try again.",
        "error.not_found.title": "Page not found",
        "error.not_found.text": "Check the address, or go back to the system.",
    },
}


def pick_language(candidates: Iterable[str | None]) -> str | None:
    """The first supported language among tags like ``en-GB`` or ``da``; None if none."""
    for candidate in candidates:
        for tag in (candidate or "").replace(",", " ").split():
            primary = tag.split("-")[0].split("_")[0].lower()
            if primary in LANGUAGES:
                return primary
    return None


def current_language() -> str:
    language = g.get("language")
    if language in LANGUAGES:
        return str(language)
    chosen = pick_language([request.args.get("lang"), request.cookies.get(LANGUAGE_COOKIE)])
    return chosen or DEFAULT_LANGUAGE


def use_language(ui_locales: str | None) -> None:
    """Let a login request's ``ui_locales`` decide, unless the person chose a language."""
    chosen = [request.args.get("lang"), request.cookies.get(LANGUAGE_COOKIE), ui_locales]
    g.language = pick_language(chosen) or DEFAULT_LANGUAGE


def gettext(key: str, **values: object) -> str:
    language = current_language()
    text = MESSAGES[language].get(key) or MESSAGES[DEFAULT_LANGUAGE].get(key) or key
    return text.format(**values) if values else text
