from outreach.mail.presets import preset_for
from outreach.models import TlsMode


def test_known_providers_are_found_by_domain_in_any_case() -> None:
    gmail = preset_for("Sam.Student@GoogleMail.com")
    assert gmail is not None and (gmail.imap_host, gmail.imap_port) == ("imap.gmail.com", 993)
    assert gmail.imap_tls is TlsMode.SSL and gmail.files_sent_copy


def test_outlook_com_says_passwords_no_longer_work() -> None:
    outlook = preset_for("a@hotmail.com")
    assert outlook is not None and "OAuth2" in outlook.advice


def test_unknown_domains_and_non_addresses_have_no_preset() -> None:
    assert preset_for("sam@uni.example") is None
    assert preset_for("not an address") is None
