"""Issue 16, item 9 (inputs part): image folders with mixed frame sizes or an unreadable image are
refused by add-video; an EAF export to a folder path is refused (it used to write
`<folder>.<video>.eaf` beside it); "frame outside video" names the line of the label file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from inputs_common import assert_one_error, finished_run, make_project, run_cli, tree_state

from pfes_core.errors import VideoError
from pfes_core.video import image_size, open_video


def _frames(folder, n=6, size=(64, 48), ext=".png"):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(n):
        cv2.imwrite(str(folder / f"img{k + 1}{ext}"), rng.integers(0, 255, (size[1], size[0], 3),
                                                                     dtype=np.uint8))
    return folder


@pytest.mark.parametrize("damage, fragment", [
    ("mixed", "img4.png) in"),
    ("garbage", "img3.png) in"),
    ("empty", "img6.png) in"),
])
def test_add_video_refuses_a_bad_image_folder(tmp_path, capsys, damage, fragment):
    root = make_project(tmp_path, run_status=None)
    folder = _frames(tmp_path / "frames")
    if damage == "mixed":
        cv2.imwrite(str(folder / "img4.png"), np.zeros((50, 64, 3), np.uint8))
    elif damage == "garbage":
        (folder / "img3.png").write_bytes(b"\x89PNG but not really")
    else:
        (folder / "img6.png").write_bytes(b"")
    before = tree_state(root)
    code, _, err = run_cli(capsys, "add-video", root, folder)
    line = assert_one_error(code, err, fragment)
    if damage == "mixed":
        assert "is 64x50, the first frame is 64x48" in line
    assert tree_state(root) == before


def test_a_sound_image_folder_is_added(tmp_path, capsys):
    root = make_project(tmp_path, run_status=None)
    folder = _frames(tmp_path / "frames", ext=".jpg")
    code, out, err = run_cli(capsys, "add-video", root, folder, "--id", "seq")
    assert code == 0, err
    assert "added seq: 6 frames" in out


def test_image_size_reads_headers_of_each_format(tmp_path):
    img = np.zeros((37, 53, 3), np.uint8)
    for ext, params in ((".png", []), (".bmp", []), (".jpg", []),
                        (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])):
        path = tmp_path / f"x{len(params)}{ext}"
        cv2.imwrite(str(path), img, params)
        assert image_size(path) == (53, 37), path
    (tmp_path / "t.png").write_bytes(b"\x89PNG\r\n\x1a\n")     # signature, nothing more
    assert image_size(tmp_path / "t.png") is None
    (tmp_path / "t.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")  # cut in a segment
    assert image_size(tmp_path / "t.jpg") is None


def test_opening_a_folder_for_viewing_does_not_check_every_frame(tmp_path):
    """The full check is for registering; viewing a folder with a bad late frame fails only at
    that frame (with a clear error), not at open."""
    folder = _frames(tmp_path / "frames")
    (folder / "img5.png").write_bytes(b"junk")
    with open_video(folder) as reader:
        assert reader.n_frames == 6
        with pytest.raises(VideoError, match="img5.png"):
            reader.get(4)
    with pytest.raises(VideoError, match="img5.png"):
        open_video(folder, check_frames=True)


def test_eaf_export_to_a_folder_path_is_refused(tmp_path, capsys):
    root = make_project(tmp_path)
    finished_run(root)
    target = tmp_path / "exports"
    target.mkdir()
    before = tree_state(tmp_path)
    code, _, err = run_cli(capsys, "export", root, target, "--format", "eaf")
    assert_one_error(code, err, "is a folder")
    assert tree_state(tmp_path) == before


def test_frame_outside_the_video_names_the_line(tmp_path, capsys):
    root = make_project(tmp_path, run_status=None)
    labels = tmp_path / "far.csv"
    labels.write_text("video,frame,class\na,3,MaE\na,5000,ME\n")
    before = tree_state(root)
    code, _, err = run_cli(capsys, "labels", "import", root, labels)
    assert_one_error(code, err, "far.csv, line 3", "frame 5000 is outside video 'a'")
    assert tree_state(root) == before
