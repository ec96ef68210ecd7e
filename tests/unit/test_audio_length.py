"""An Ogg/Opus upload is measured by what its pages carry, not by what its header claims."""

from __future__ import annotations

from typing import Literal

import pytest

from core import audio
from tests.fakes import media_samples


@pytest.mark.parametrize("how", ["eos", "granules"])
def test_an_ogg_opus_claiming_2_s_while_carrying_400_is_measured_at_400(
    how: Literal["eos", "granules"],
) -> None:
    lying = media_samples.lying_ogg_opus(400, 2, how=how)
    assert audio.probe(lying).duration == pytest.approx(400, abs=0.1)


@pytest.mark.parametrize("seconds", [0.5, 1.0, 3.7, 61.0])
def test_an_honest_ogg_opus_keeps_its_exact_length(seconds: float) -> None:
    assert audio.probe(media_samples.ogg_opus(seconds)).duration == pytest.approx(seconds)


def test_a_cut_off_ogg_opus_counts_the_pages_that_arrived() -> None:
    whole = media_samples.ogg_opus(10)
    assert audio.opus_stream_length(whole[: len(whole) // 2]) == pytest.approx(5, abs=1.1)
    assert audio.opus_stream_length(b"OggS" + bytes(40)) == 0.0
