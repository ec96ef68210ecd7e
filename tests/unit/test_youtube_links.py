"""/transcript takes the YouTube links Venice's documentation lists, and nothing else."""

import pytest

from core.chat.transcripts import NOT_YOUTUBE, youtube_url
from core.errors import InvalidInput


@pytest.mark.parametrize(
    "link",
    [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ",
        "https://m.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://youtu.be/dQw4w9WgXcQ",
        "https://www.youtube.com/shorts/dQw4w9WgXcQ",
        "https://www.youtube.com/live/dQw4w9WgXcQ",
        "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
        "<https://youtu.be/dQw4w9WgXcQ>",
    ],
)
def test_youtube_video_links_are_taken(link: str) -> None:
    assert youtube_url(link).startswith("https://")


@pytest.mark.parametrize(
    "link",
    [
        "https://example.com/talk.mp4",
        "https://vimeo.com/123456",
        "https://www.youtube.com/",
        "https://www.youtube.com/@channel",
        "https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
        "ftp://youtu.be/dQw4w9WgXcQ",
        "not a link",
    ],
)
def test_other_links_are_refused_with_a_clear_message(link: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        youtube_url(link)
    assert refused.value.user_message == NOT_YOUTUBE
