from outreach.classify import InboundKind, classify

OWN = frozenset({"sam@uni.example"})


def kind(**headers: str) -> InboundKind:
    return classify(
        {name.rstrip("_").replace("_", "-"): value for name, value in headers.items()}, OWN
    )


def test_a_person_writing_back_is_a_reply() -> None:
    assert kind(from_="Alex <alex@org.example>", subject="Re: Could I ask") is InboundKind.REPLY


def test_delivery_status_report_is_a_bounce() -> None:
    report = 'multipart/report; report-type=delivery-status; boundary="x"'
    assert kind(from_="mail@relay.example", content_type=report) is InboundKind.BOUNCE


def test_mailer_daemon_is_a_bounce() -> None:
    assert kind(from_="MAILER-DAEMON@mx.example", subject="Undelivered") is InboundKind.BOUNCE


def test_auto_submitted_is_an_auto_reply() -> None:
    assert kind(from_="alex@org.example", auto_submitted="auto-replied") is InboundKind.AUTO_REPLY


def test_auto_submitted_no_is_a_person() -> None:
    assert kind(from_="alex@org.example", auto_submitted="no") is InboundKind.REPLY


def test_out_of_office_subject_is_an_auto_reply() -> None:
    assert kind(from_="alex@org.example", subject="Automatic reply: Could I") is (
        InboundKind.AUTO_REPLY
    )
    assert kind(from_="alex@org.example", precedence="auto_reply") is InboundKind.AUTO_REPLY


def test_the_users_own_message_is_never_a_reply() -> None:
    assert kind(from_="Sam <SAM@uni.example>", subject="Re: hi") is InboundKind.OWN_MESSAGE
