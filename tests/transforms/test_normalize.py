"""Tests for transforms.normalize: ftfy repair with a chosen Unicode normal form, and Normalize."""
import apache_beam as beam
import ftfy
import pytest
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings, strategies as st

from transforms.normalize import Normalize
from transforms.normalizer import FORMS, NormalizeConfig, fixer, normalize
from transforms.provenance import CheckConfig

NFC, NFKC, FTFY, OFF = (NormalizeConfig(form) for form in ("nfc", "nfkc", "ftfy", "off"))


@pytest.mark.parametrize("text, fixed", [
    ("cafÃ©", "café"),  # UTF-8 read as Windows-1252
    ("The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.", "The Mona Lisa doesn't have eyebrows."),
    ("Tom &amp; Jerry", "Tom & Jerry"),
    ("&lt;3 &eacute;t&eacute;", "<3 été"),
    ("<p>Tom &amp; Jerry</p>", "<p>Tom &amp; Jerry</p>"),  # looks like HTML: entities are left alone
    ("\u201chi\u201d \u2018there\u2019", "\"hi\" 'there'"),
    ("l\u2019\u00e9t\u00e9", "l'\u00e9t\u00e9"),
    ("cafe\u0301", "caf\u00e9"),  # NFC composes e + combining acute
    ("\ufb01ne", "fine"),  # ftfy's ligature fix, before any normal form
    ("x\u00b2 \u2460", "x\u00b2 \u2460"),  # compatibility characters survive NFC
    ("a\r\nb", "a\nb"),
    ("plain ascii", "plain ascii"),
    ("", ""),
])
def test_nfc_fixes_text_as_ftfy_does(text, fixed):
    assert normalize(text, NFC) == fixed
    assert normalize(text, NFC) == ftfy.fix_text(text, normalization="NFC")


def test_default_form_is_nfc():
    assert NormalizeConfig() == NFC


def test_nfkc_also_folds_compatibility_characters():
    assert normalize("x\u00b2 \u2460 \ufb01 cafe\u0301", NFKC) == "x2 1 fi caf\u00e9"
    assert normalize("cafÃ©", NFKC) == "café"


def test_ftfy_form_keeps_decomposed_accents():
    assert normalize("cafe\u0301", FTFY) == "cafe\u0301"
    assert normalize("cafÃ© &amp; \u201cco\u201d", FTFY) == 'café & "co"'
    assert normalize("x\u00b2", FTFY) == "x\u00b2"


@pytest.mark.parametrize("text", ["cafÃ©", "Tom &amp; Jerry", "\u201chi\u201d", "cafe\u0301", "\ufb01", "a\r\nb"])
def test_off_returns_the_text_unchanged(text):
    assert normalize(text, OFF) is text


@pytest.mark.parametrize("form", ["NFC", "nfd", "", "none"])
def test_invalid_form(form):
    with pytest.raises(ValueError) as info:
        NormalizeConfig(form)
    assert str(info.value) == f"unknown normalization {form!r}: choose one of nfc, nfkc, ftfy, off"


def test_forms():
    assert FORMS == ("nfc", "nfkc", "ftfy", "off")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_nfc_is_ftfy_fix_text(text):
    assert normalize(text, NFC) == ftfy.fix_text(text, normalization="NFC")


@settings(deadline=None)
@given(st.text())
def test_fixer_matches_normalize_for_every_form(text):
    for form in FORMS:
        config = NormalizeConfig(form)
        assert fixer(config)(text) == normalize(text, config)
    assert normalize(text, OFF) == text
    assert normalize(text, NFKC) == ftfy.fix_text(text, normalization="NFKC")
    assert normalize(text, FTFY) == ftfy.fix_text(text, normalization=None)


def test_normalize_transform(pipeline):
    docs = [{"id": "a:1", "source": "Pile-CC", "text": "cafÃ©", "order_key": 1},
            {"id": "a:2", "source": "Github", "text": "already fine", "order_key": 2},
            {"id": "a:3", "source": "ArXiv", "text": "cafe\u0301 &amp; \u201cq\u201d", "order_key": 3},
            {"id": "a:4", "source": "Github", "text": "", "order_key": 4}]
    out = pipeline | "Docs" >> beam.Create(docs) | Normalize(NFC, CheckConfig(every=1))
    assert_that(out["provenance"] | beam.CombinePerKey(sum), equal_to([
        (("normalize", "paths", "fast"), 4), (("normalize", "checked", ""), 4),
        (("libraries", "ftfy", ftfy.__version__), 4)]), label="Provenance")
    assert_that(out["docs"], equal_to([
        {"id": "a:1", "source": "Pile-CC", "text": "café", "order_key": 1, "changed": True, "chars_in": 5},
        {"id": "a:2", "source": "Github", "text": "already fine", "order_key": 2, "changed": False, "chars_in": 12},
        {"id": "a:3", "source": "ArXiv", "text": "caf\u00e9 & \"q\"", "order_key": 3, "changed": True,
         "chars_in": 15},
        {"id": "a:4", "source": "Github", "text": "", "order_key": 4, "changed": False, "chars_in": 0},
    ]))
    pipeline.run().wait_until_finish()


def test_normalize_transform_off(pipeline):
    docs = [{"id": "a:1", "source": "Pile-CC", "text": "cafÃ©"}]
    out = pipeline | beam.Create(docs) | Normalize(OFF)
    assert_that(out["provenance"], equal_to([(("normalize", "paths", "off"), 1)]), label="Provenance")
    assert_that(out["docs"], equal_to([{"id": "a:1", "source": "Pile-CC", "text": "cafÃ©", "changed": False,
                                "chars_in": 5}]))
    pipeline.run().wait_until_finish()
