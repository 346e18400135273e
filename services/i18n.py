"""Texts shown to people, in French (the default) and English."""

from __future__ import annotations

from collections.abc import Mapping

LOCALES = ("fr", "en")
DEFAULT_LOCALE = "fr"

MESSAGES: Mapping[str, Mapping[str, str]] = {
    "INVALID_INPUT": {
        "fr": "Certaines informations saisies ne sont pas valides.",
        "en": "Some of the information entered is not valid.",
    },
    "INVALID_EMAIL": {
        "fr": "Cette adresse e-mail n'est pas valide.",
        "en": "This email address is not valid.",
    },
    "PASSWORD_LENGTH": {
        "fr": "Le mot de passe doit compter entre {min} et {max} caractères.",
        "en": "The password must be between {min} and {max} characters long.",
    },
    "PASSWORD_TOO_COMMON": {
        "fr": "Ce mot de passe fait partie des plus courants : choisissez-en un autre.",
        "en": "This password is one of the most common ones: choose another.",
    },
    "TEXT_TOO_LONG": {
        "fr": "Ce texte est trop long ({max} caractères au plus).",
        "en": "This text is too long ({max} characters at most).",
    },
    "PAGE_SIZE": {
        "fr": "« first » doit aller de 1 à {max} : {max} éléments au plus par page.",
        "en": "`first` must be from 1 to {max}: at most {max} items a page.",
    },
    "BAD_CURSOR": {
        "fr": "Ce curseur n'est pas valide : passez un curseur que la liste a donné "
        "(le cursor d'un élément ou pageInfo.endCursor).",
        "en": "This cursor is not valid: pass a cursor the list gave "
        "(an edge's cursor or pageInfo.endCursor).",
    },
    "MUTATION_REPEATED": {
        "fr": "{mutation} ne peut être demandé qu'une fois par requête : celui-ci n'a rien fait.",
        "en": "{mutation} can be asked only once per request: this one did nothing.",
    },
    "TEXT_INVALID_CHARACTERS": {
        "fr": "Ce texte contient des caractères de contrôle non autorisés.",
        "en": "This text contains control characters that are not allowed.",
    },
    "UNAUTHENTICATED": {
        "fr": "Vous devez être connecté.",
        "en": "You must be signed in.",
    },
    "FORBIDDEN": {
        "fr": "Vous n'avez pas accès à cette action.",
        "en": "You are not allowed to do this.",
    },
    "NOT_FOUND": {
        "fr": "Élément introuvable.",
        "en": "Not found.",
    },
    "EMAIL_TAKEN": {
        "fr": "Un compte existe déjà avec cette adresse e-mail.",
        "en": "An account already exists with this email address.",
    },
    "INVALID_CREDENTIALS": {
        "fr": "Adresse e-mail ou mot de passe incorrect.",
        "en": "Incorrect email or password.",
    },
    "INVALID_CODE": {
        "fr": "Ce code n'est pas valide.",
        "en": "This code is not valid.",
    },
    "CODE_ALREADY_USED": {
        "fr": "Ce code a déjà été utilisé. Attendez le code suivant de votre application.",
        "en": "This code was already used. Wait for the next code in your app.",
    },
    "RATE_LIMITED": {
        "fr": "Trop de tentatives. Réessayez dans {seconds} secondes.",
        "en": "Too many attempts. Try again in {seconds} seconds.",
    },
    "CHALLENGE_EXPIRED": {
        "fr": "Cette tentative de connexion a expiré. Reconnectez-vous avec votre mot de passe.",
        "en": "This sign-in attempt has expired. Sign in again with your password.",
    },
    "TWO_FACTOR_ALREADY_ENABLED": {
        "fr": "La double authentification est déjà activée.",
        "en": "Two-factor authentication is already enabled.",
    },
    "TWO_FACTOR_NOT_ENABLED": {
        "fr": "La double authentification n'est pas activée.",
        "en": "Two-factor authentication is not enabled.",
    },
    "NO_PENDING_SETUP": {
        "fr": "Aucune activation en cours : recommencez depuis le début.",
        "en": "No setup in progress: start again from the beginning.",
    },
    "SETUP_EXPIRED": {
        "fr": "L'activation a expiré : recommencez pour obtenir un nouveau QR code.",
        "en": "The setup has expired: start again to get a new QR code.",
    },
    "CONFIRMATION_REQUIRED": {
        "fr": "Confirmez la désactivation de la double authentification.",
        "en": "Confirm that you want to turn two-factor authentication off.",
    },
    "FILE_TOO_LARGE": {
        "fr": "Ce fichier est trop volumineux ({max_mb} Mo au plus).",
        "en": "This file is too large ({max_mb} MB at most).",
    },
    "UNSUPPORTED_FILE_TYPE": {
        "fr": "Ce fichier n'est ni un PDF, ni une image JPEG ou PNG.",
        "en": "This file is not a PDF, JPEG or PNG.",
    },
    "ALREADY_RESOLVED": {
        "fr": "Cette demande a déjà été traitée.",
        "en": "This request was already resolved.",
    },
    "TWO_FACTOR_REQUIRED": {
        "fr": (
            "Cette action demande la double authentification sur votre compte : activez-la, "
            "puis reconnectez-vous."
        ),
        "en": "This action needs two-factor authentication on your account: turn it on, then "
        "sign in again.",
    },
    "LINK_EXPIRED": {
        "fr": "Ce lien n'est plus valable (déjà utilisé ou expiré). Demandez un nouvel e-mail.",
        "en": "This link is no longer valid (already used or expired). Ask for a new email.",
    },
    "COMPANY_REGISTRATION_REQUIRED": {
        "fr": "Pour un compte d'entreprise, joignez aussi l'extrait d'immatriculation (KBIS).",
        "en": "For a company account, also attach the company registration extract (KBIS).",
    },
    "RECOVERY_ALREADY_PENDING": {
        "fr": (
            "Une demande est déjà en cours d'examen pour ce compte : "
            "le support vous répondra par e-mail."
        ),
        "en": "A request is already being reviewed for this account: support will answer by email.",
    },
    "CANNOT_RESOLVE_OWN_REQUEST": {
        "fr": "Vous ne pouvez pas traiter une demande qui concerne votre propre compte.",
        "en": "You cannot resolve a request about your own account.",
    },
    "NOTIFICATION_TWO_FACTOR_ENABLED": {
        "fr": "La double authentification est activée sur votre compte.",
        "en": "Two-factor authentication is now on for your account.",
    },
    "NOTIFICATION_TWO_FACTOR_DISABLED": {
        "fr": "La double authentification est désactivée sur votre compte.",
        "en": "Two-factor authentication is now off for your account.",
    },
    "NOTIFICATION_BACKUP_CODES_REGENERATED": {
        "fr": "De nouveaux codes de secours ont été créés ; les anciens ne fonctionnent plus.",
        "en": "New backup codes were created; the old ones no longer work.",
    },
    "NOTIFICATION_BACKUP_CODE_USED": {
        "fr": "Un code de secours a servi à vous connecter. Il vous en reste {remaining}.",
        "en": "A backup code was used to sign in. You have {remaining} left.",
    },
    "NOTIFICATION_BACKUP_CODES_LOW": {
        "fr": "Il ne vous reste que {remaining} codes de secours : pensez à en créer de nouveaux.",
        "en": "Only {remaining} backup codes left: create new ones soon.",
    },
    "NOTIFICATION_RECOVERY_REQUESTED": {
        "fr": "Votre demande de désactivation de la double authentification a été envoyée.",
        "en": "Your request to turn two-factor authentication off was sent.",
    },
    "NOTIFICATION_RECOVERY_APPROVED": {
        "fr": "Le support a accepté votre demande : la double authentification est désactivée.",
        "en": "Support approved your request: two-factor authentication is off.",
    },
    "NOTIFICATION_RECOVERY_REJECTED": {
        "fr": "Le support a refusé votre demande de désactivation de la double authentification.",
        "en": "Support rejected your request to turn two-factor authentication off.",
    },
    # `count`: how many sessions ended; `reason`: SIGN_OUT_EVERYWHERE, REVOKED or ACCOUNT_SECURED.
    "NOTIFICATION_SESSIONS_REVOKED": {
        "fr": "{count} session(s) de votre compte ont été déconnectées.",
        "en": "{count} session(s) of your account were signed out.",
    },
    # `device`: the readable label of the browser ("Firefox on Windows").
    "NOTIFICATION_NEW_SIGN_IN": {
        "fr": "Nouvelle connexion à votre compte depuis un appareil inconnu : {device}.",
        "en": "New sign-in to your account from a device not seen before: {device}.",
    },
    "NOTIFICATION_SECOND_FACTOR_FAILURES": {
        "fr": "Plusieurs codes de double authentification erronés après le bon mot de passe : "
        "quelqu'un connaît peut-être votre mot de passe.",
        "en": "Several wrong two-factor codes after the right password: someone may know "
        "your password.",
    },
    "SECURITY_KEY_REJECTED": {
        "fr": "La clé de sécurité n'a pas pu être vérifiée. Réessayez avec une clé de ce compte.",
        "en": "The security key could not be verified. Try again with a key of this account.",
    },
    "PERSISTED_QUERY_NOT_ALLOWED": {
        "fr": "Cette opération ne fait pas partie des documents de confiance du serveur.",
        "en": "The operation is not in the server's list of trusted documents.",
    },
    "SECURITY_KEYS_NEED_HOST_NAME": {
        "fr": "Les clés de sécurité ne fonctionnent pas sur ce serveur : son adresse publique "
        "(PUBLIC_URL) est une adresse IP, et les navigateurs exigent un nom d'hôte.",
        "en": "Security keys do not work on this server: its public address (PUBLIC_URL) is an "
        "IP address, and browsers require a host name.",
    },
    "AUTHENTICATOR_LIMIT": {
        "fr": "Ce compte a déjà {max} clés de sécurité : retirez-en une avant d'en ajouter une "
        "autre.",
        "en": "This account already has {max} security keys: remove one before adding another.",
    },
    "TEXT_REQUIRED": {
        "fr": "Ce champ est obligatoire.",
        "en": "This field is required.",
    },
    "AUTHENTICATOR_APP": {
        "fr": "Application d'authentification",
        "en": "Authenticator app",
    },
    "NOTIFICATION_AUTHENTICATOR_ADDED": {
        "fr": "Une clé de sécurité a été ajoutée à votre compte : {name}.",
        "en": "A security key was added to your account: {name}.",
    },
    "NOTIFICATION_AUTHENTICATOR_ADDED_TOTP": {
        "fr": "Une application d'authentification a été ajoutée à votre compte.",
        "en": "An authenticator app was added to your account.",
    },
    "NOTIFICATION_AUTHENTICATOR_REMOVED": {
        "fr": "Une clé de sécurité a été retirée de votre compte : {name}.",
        "en": "A security key was removed from your account: {name}.",
    },
    "NOTIFICATION_SECURITY_KEY_FLAGGED": {
        "fr": "La clé de sécurité {name} a été bloquée : son compteur de signatures a reculé, ce "
        "qui peut signifier qu'elle a été copiée. Retirez-la et enregistrez-en une autre.",
        "en": "The security key {name} was blocked: its signature counter went backwards, which "
        "can mean it was copied. Remove it and register another one.",
    },
    "NOTIFICATION_AUTHENTICATOR_REMOVED_TOTP": {
        "fr": "L'application d'authentification a été retirée de votre compte.",
        "en": "The authenticator app was removed from your account.",
    },
    "REMEMBER_DEVICE_OFF": {
        "fr": "Ce serveur ne mémorise pas les appareils.",
        "en": "This server does not remember devices.",
    },
    "NOTIFICATION_RECOVERY_SCHEDULED": {
        "fr": "Le support a accepté une demande de désactivation de la double authentification : "
        "elle sera désactivée à la fin du délai d'attente, sauf si vous l'annulez.",
        "en": "Support approved a request to turn two-factor authentication off: it turns off "
        "at the end of the waiting period unless you cancel it.",
    },
    "NOTIFICATION_RECOVERY_CANCELLED": {
        "fr": "La désactivation programmée de la double authentification est annulée.",
        "en": "The scheduled turning off of two-factor authentication was cancelled.",
    },
    # `via`: CHANGE (changePassword) or RESET (resetPassword); the message is the same.
    "NOTIFICATION_PASSWORD_CHANGED": {
        "fr": "Le mot de passe de votre compte a été changé.",
        "en": "Your account's password was changed.",
    },
    "NOTIFICATION_BILLING_CONTACT_CHANGED": {
        "fr": "Le contact de facturation de votre compte a été modifié.",
        "en": "The billing contact of your account was changed.",
    },
    "NOTIFICATION_BILLING_CONTACT_VERIFIED": {
        "fr": "Le contact de facturation {billing_contact} a confirmé son adresse : il reçoit "
        "désormais une copie des e-mails de sécurité.",
        "en": "The billing contact {billing_contact} confirmed its address: it now receives a "
        "copy of the security emails.",
    },
    # ACCOUNT_UPDATED: both changed; the _COMPANY_NAME and _LOCALE variants name one.
    "NOTIFICATION_ACCOUNT_UPDATED": {
        "fr": "Le nom de l'entreprise ({company_name}) et la langue de votre compte ont été "
        "modifiés.",
        "en": "The company name ({company_name}) and the language of your account were changed.",
    },
    "NOTIFICATION_ACCOUNT_UPDATED_COMPANY_NAME": {
        "fr": "Le nom de l'entreprise de votre compte a été modifié : {company_name}.",
        "en": "The company name of your account was changed: {company_name}.",
    },
    "NOTIFICATION_ACCOUNT_UPDATED_LOCALE": {
        "fr": "La langue de votre compte a été modifiée.",
        "en": "The language of your account was changed.",
    },
    "NOTIFICATION_PASSWORD_RESET_REQUESTED": {
        "fr": "Un lien de réinitialisation du mot de passe a été envoyé à l'adresse de votre "
        "compte. Si ce n'était pas vous, ignorez-le : votre mot de passe reste le même.",
        "en": "A password reset link was sent to your account's email. If it was not you, "
        "ignore it: your password stays the same.",
    },
    "NOTIFICATION_DEVICE_REMEMBERED": {
        "fr": "L'appareil {device} a été mémorisé : il pourra se connecter sans second facteur "
        "jusqu'au {until}.",
        "en": "The device {device} was remembered: it can sign in without the second factor "
        "until {until}.",
    },
}


def normalize_locale(value: str | None) -> str:
    value = (value or "").strip().lower()[:2]
    return value if value in LOCALES else DEFAULT_LOCALE


def locale_from_accept_language(header: str | None) -> str:
    """The first supported language of an Accept-Language header, by quality."""
    candidates: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().lower()[:2]
        if language in LOCALES and quality > 0:
            candidates.append((-quality, position, language))
    return min(candidates)[2] if candidates else DEFAULT_LOCALE


def translate(key: str, locale: str, params: Mapping[str, object] | None = None) -> str:
    # A missing key is a bug that tests catch (every code and kind has both languages).
    texts = MESSAGES[key]
    text = texts.get(locale) or texts[DEFAULT_LOCALE]
    return text.format(**params) if params else text
