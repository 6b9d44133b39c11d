"""Personal data and secrets in prompts: each kind found and counted, checksums and
never-issued ranges respected, no alarms on ordinary technical text, and masking that
replaces the values and nothing else. Pure functions: no database."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine.pii import PII_TYPES, PLACEHOLDERS, PiiFinding, mask_pii, scan_pii


def found(text: str) -> dict[str, int]:
    return {finding.type: finding.count for finding in scan_pii(text)}


# -------------------------------------------------------------------- each kind, counted

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Write to jane.doe@example.com and cc ops-team+alerts@mail.example.co.uk.",
            {"email": 2},
            id="emails",
        ),
        pytest.param(
            "Call +44 20 7946 0958, (415) 555-0100 or 415-555-0199 after lunch.",
            {"phone": 3},
            id="international and north american phones",
        ),
        pytest.param(
            "The London office is 020 7946 0958, Paris 06 12 34 56 78, Berlin 030/12345678.",
            {"phone": 3},
            id="national phones with a trunk zero",
        ),
        pytest.param(
            "Charge 4111 1111 1111 1111, then 5555-5555-5555-4444, refund 378282246310005.",
            {"credit_card": 3},
            id="cards grouped, dashed and contiguous",
        ),
        pytest.param(
            "Card 4111 1111 1111 1111 12/28 cvv 123; also 4111 1111 1111 1111 123 (cvv)",
            {"credit_card": 2},
            id="a card followed by its expiry or cvv",
        ),
        pytest.param(
            "Pay GB82 WEST 1234 5698 7654 32 or DE89370400440532013000, thanks.",
            {"iban": 2},
            id="ibans spaced and compact",
        ),
        pytest.param("Her SSN is 123-45-6789 per the form.", {"us_ssn": 1}, id="ssn"),
        pytest.param(
            "Hosts 192.168.0.1 and 10.0.0.255 talk to 2001:db8::8a2e:370:7334 and fe80::1.",
            {"ip_address": 4},
            id="ipv4 and ipv6",
        ),
        pytest.param(
            "Full form 2001:0db8:85a3:0000:0000:8a2e:0370:7334 and mapped ::ffff:192.0.2.1",
            {"ip_address": 2},
            id="ipv6 full and ipv4-mapped",
        ),
        pytest.param(f"Authorization: Bearer {JWT}", {"token": 1}, id="a jwt as a bearer"),
        pytest.param(
            "curl -H 'Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543aa' https://x.test",
            {"token": 1},
            id="an opaque bearer token",
        ),
        pytest.param(f"Here is my key:\n{PRIVATE_KEY}\nthanks", {"private_key": 1}, id="pem"),
        pytest.param(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n",
            {"private_key": 1},
            id="a truncated private key",
        ),
        pytest.param(
            "Mail jane@example.com from 10.1.2.3 with card 4111111111111111; "
            "call +1 415 555 0100 or bob@example.org.",
            {"email": 2, "ip_address": 1, "credit_card": 1, "phone": 1},
            id="several kinds together",
        ),
    ],
)
def test_it_finds_each_kind_with_its_count(text: str, expected: dict[str, int]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "key",
    [
        "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
        "sk-ant-api03-Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE-aBcD",
        "sk-5f8a9c7e2b1d4f6a8c0e3b5d7f9a1c3e5b7d9f1a3c5e7b9d",
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAY34FZKBOKMUTVV7A",
        "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",
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "ghs_9aB8cD7eF6gH5iJ4kL3mN2oP1qR0sT9uV8wX",
        "github_pat_11ABCDEFG0123456789abc_defghijklmnopqrstuvwxyz0123456789ABCDEFGH",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "xoxp-123456789012-123456789012-123456789012-abcdef",
        "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
        "sb_1a2b3c4d_Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fEdCbA987",
    ],
)
def test_it_recognises_well_known_api_key_formats(key: str) -> None:
    assert found(f"use the key {key} for the staging job") == {"api_key": 1}


@pytest.mark.parametrize(
    "text",
    [
        'api_key = "q1w2e3r4t5y6u7i8o9p0"',
        "APIKEY: Zx9yW8vU7tS6rQ5pO4nM3lK2",
        '{"apiKey": "c2VjcmV0LXRva2VuLTEyMzQ1"}',
        "X-API-KEY: 7f3e9a1c5b2d8e4f6a0c",
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1",
    ],
)
def test_it_recognises_keys_assigned_to_an_api_key_name(text: str) -> None:
    assert found(text) == {"api_key": 1}


@pytest.mark.parametrize(
    "text",
    [
        "api_key = settings.OPENAI_API_KEY",  # a name, not a value
        'api_key = "short1"',
        "the key: remember to rotate it every 90 days",
        "sk-learn-is-a-python-library-for-machine-learning",
        "task-1234567890-abcdefghij-klmnop",  # contains "sk-" inside a word
    ],
)
def test_it_does_not_take_names_or_prose_for_keys(text: str) -> None:
    assert found(text) == {}


# ---------------------------------------------------------------- checksums and ranges


@pytest.mark.parametrize(
    ("card", "valid"),
    [
        ("4111 1111 1111 1111", True),
        ("4111 1111 1111 1112", False),
        ("4111-1111-1111-1111", True),
        ("4111111111111112", False),
        ("5555 5555 5555 4444", True),
        ("5555 5555 5555 4445", False),
        ("3782 822463 10005", True),
        ("3782 822463 10006", False),
        ("6011 1111 1111 1117", True),
    ],
)
def test_a_card_number_counts_only_when_the_luhn_check_passes(card: str, valid: bool) -> None:
    assert found(f"card number {card} on file") == ({"credit_card": 1} if valid else {})


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("GB82 WEST 1234 5698 7654 32", True),
        ("GB82 WEST 1234 5698 7654 33", False),
        ("GB82WEST12345698765432", True),
        ("GB83WEST12345698765432", False),
        ("DE89 3704 0044 0532 0130 00", True),
        ("DE89 3704 0044 0532 0130 01", False),
        ("DE89 3704 0044 0532 0131 00", False),
        ("NL91 ABNA 0417 1643 00", True),
        ("FR14 2004 1010 0505 0001 3M02 606", True),
        ("XX82 WEST 1234 5698 7654 32", False),  # no such country
    ],
)
def test_an_iban_counts_only_when_its_mod97_check_passes(iban: str, valid: bool) -> None:
    assert found(f"transfer to {iban} today") == ({"iban": 1} if valid else {})


@pytest.mark.parametrize(
    "ssn",
    [
        "000-12-3456",  # area 000 is never issued
        "666-12-3456",  # nor 666
        "900-12-3456",  # nor 900-999
        "987-65-4321",
        "123-00-4567",  # group 00
        "123-45-0000",  # serial 0000
    ],
)
def test_never_issued_social_security_numbers_are_not_counted(ssn: str) -> None:
    assert found(f"SSN {ssn} on the form") == {}


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("0.0.0.0", True),  # noqa: S104 - text to scan, not an address to bind
        ("255.255.255.255", True),
        ("256.1.1.1", False),
        ("1.2.3.256", False),
        ("999.10.10.10", False),
        ("10.0.0.1.5", False),  # five parts
        ("1.2.3", False),
    ],
)
def test_ipv4_octets_must_be_between_0_and_255(address: str, valid: bool) -> None:
    assert found(f"connect to {address} now") == ({"ip_address": 1} if valid else {})


# ------------------------------------------------------------------ no false positives


@pytest.mark.parametrize(
    "text",
    [
        "Upgrade to Python 3.11.7 and Django 5.2.1 before Friday.",
        "The release shipped on 2024-01-15 at 12:30:45 UTC.",
        "Logged 2024-01-15T12:30:45.123Z, then 15.01.2024 and 01/15/2024.",
        "We had 42 users, then 1,234,567 visits and 3.5% growth.",
        "Trace 550e8400-e29b-41d4-a716-446655440000 and 123e4567-e89b-12d3-a456-426614174000.",
        "Merged commit 9fceb02d0ae598e95dc970b74767f19372d61af8 (short 9fceb02).",
        "Use std::vector<int> and slice a[::2] or x[1::2] in Foo::Bar::baz().",
        "Order #12345678 shipped; timestamp 1700000000000 ms; ISBN 978-3-16-148410-0.",
        "MAC 00:1A:2B:3C:4D:5E is fine, and so is the v1.2.3.4 tag.",
        "The meeting moved from 10:30 to 14:45, room 3-B, floor 12.",
        "Please summarise the attached quarterly report in three short bullet points.",
        "Set the timeout to 30000 ms and retry 3 times with a 2.5x backoff.",
    ],
)
def test_ordinary_technical_text_has_no_findings(text: str) -> None:
    assert scan_pii(text) == ()


def test_a_dotted_quad_that_could_be_a_version_counts_as_an_address() -> None:
    # Documented choice: the two are indistinguishable and missing an address is worse.
    assert found("bump it to 1.2.3.4") == {"ip_address": 1}


def test_an_api_key_full_of_digits_is_not_also_a_phone_number() -> None:
    assert found("key AKIA2345678901234567 in the config") == {"api_key": 1}


@pytest.mark.parametrize(
    "card",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "6011 0009 9013 9424"],
)
def test_a_card_number_is_not_also_a_phone_number(card: str) -> None:
    assert found(f"call me about {card} today") == {"credit_card": 1}


def test_a_phone_number_is_not_read_out_of_a_longer_run_of_digit_groups() -> None:
    # A mistyped IBAN: its tail "0532 0130 01" looks like a national phone number.
    assert found("DE89 3704 0044 0532 0130 01") == {}


# -------------------------------------------------------------------------- masking


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "Write to jane@example.com about card 4111 1111 1111 1111.",
            "Write to [EMAIL] about card [CREDIT_CARD].",
        ),
        ("Authorization: Bearer 8f14e45fceea167a5a36dedd4b", "Authorization: Bearer [TOKEN]"),
        ('api_key = "q1w2e3r4t5y6u7i8o9p0" # rotate', 'api_key = "[API_KEY]" # rotate'),
        ("ping 10.0.0.1 or call +1 415 555 0100", "ping [IP_ADDRESS] or call [PHONE]"),
        ("IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789", "IBAN [IBAN], SSN [US_SSN]"),
        (f"key:\n{PRIVATE_KEY}\nend", "key:\n[PRIVATE_KEY]\nend"),
        (f"jwt {JWT}.", "jwt [TOKEN]."),
        ("nothing to see here", "nothing to see here"),
    ],
)
def test_mask_pii_replaces_the_values_and_keeps_the_rest(text: str, masked: str) -> None:
    assert mask_pii(text) == masked


def test_every_type_has_a_placeholder_named_after_it() -> None:
    assert set(PLACEHOLDERS) == set(PII_TYPES)
    assert PLACEHOLDERS["credit_card"] == "[CREDIT_CARD]"


def test_findings_carry_types_and_counts_never_values() -> None:
    assert [field.name for field in dataclasses.fields(PiiFinding)] == ["type", "count"]
    text = "jane@example.com, 4111 1111 1111 1111, 123-45-6789"
    findings = scan_pii(text)
    assert findings == (
        PiiFinding("credit_card", 1),
        PiiFinding("email", 1),
        PiiFinding("us_ssn", 1),
    )
    for value in ("jane@example.com", "4111", "123-45-6789"):
        assert value not in repr(findings)


def test_findings_are_sorted_by_type_and_use_the_known_types() -> None:
    text = "x@y.io 10.0.0.1 +44 20 7946 0958 AKIAIOSFODNN7EXAMPLE 123-45-6789"
    types = [finding.type for finding in scan_pii(text)]
    assert types == sorted(types)
    assert set(types) <= set(PII_TYPES)


# ------------------------------------------------------------------------ properties


def luhn_complete(body: str) -> str:
    """``body`` with the check digit that makes it pass Luhn."""
    for check in "0123456789":
        digits = body + check
        total = 0
        for position, char in enumerate(reversed(digits)):
            value = int(char) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["4", "51", "55", "2221", "6011", "65"]))
    body = prefix + "".join(
        draw(
            st.lists(
                st.sampled_from("0123456789"), min_size=15 - len(prefix), max_size=15 - len(prefix)
            )
        )
    )
    digits = luhn_complete(body)
    separator = draw(st.sampled_from(["", " ", "-"]))
    return separator.join(digits[i : i + 4] for i in range(0, 16, 4))


words = st.text(alphabet="abcdefghij klmnopqrstuvwxyz,.;!?()'\"\n", max_size=40)


@settings(max_examples=300, deadline=None)
@given(before=words, email=st.emails(), after=words)
def test_masking_leaves_no_email_behind(before: str, email: str, after: str) -> None:
    text = f"{before} {email} {after}"
    assert scan_pii(mask_pii(text)) == ()


@settings(max_examples=300, deadline=None)
@given(before=words, card=card_numbers(), after=words)
def test_a_valid_card_in_text_is_found_and_masked(before: str, card: str, after: str) -> None:
    text = f"{before} {card} {after}"
    assert found(text).get("credit_card") == 1
    masked = mask_pii(text)
    assert card not in masked
    assert scan_pii(masked) == ()


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(max_size=60), card=card_numbers(), email=st.emails(), after=st.text(max_size=60)
)
def test_masking_anything_leaves_nothing_to_find(
    before: str, card: str, email: str, after: str
) -> None:
    assert scan_pii(mask_pii(f"{before} {card} {email} {after}")) == ()


numeric_noise = st.text(alphabet="0123456789 .-:+()/@abcdefABCDEFxX_=\n", max_size=200)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(max_size=300), numeric_noise))
def test_scan_pii_never_raises_and_counts_are_positive(text: str) -> None:
    findings = scan_pii(text)
    assert all(finding.count >= 1 and finding.type in PII_TYPES for finding in findings)
    assert isinstance(mask_pii(text), str)


@pytest.mark.parametrize(
    "text",
    [
        "eyJ" * 7000,
        "sk-" * 7000,
        "xoxb-" * 4000,
        "-----BEGIN PRIVATE KEY-----\n" * 800,
        "::" * 10000,
        "api_key=" * 3000,
        "1 " * 10000,
        "a@" * 10000,
    ],
    ids=["jwt", "sk", "slack", "pem", "colons", "assignments", "digits", "at-signs"],
)
def test_repetitive_text_is_scanned_in_linear_time(text: str) -> None:
    # Each of these once took seconds because a pattern rescanned the rest of the text
    # from every repetition; now milliseconds. No time is asserted: a regression shows
    # as a crawling test.
    assert isinstance(scan_pii(text), tuple)
    assert isinstance(mask_pii(text), str)
