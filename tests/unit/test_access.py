"""access.py's pure parts: the users file, who logs in where, and what the guard reads from answers."""
import os

import pytest

from access import Logins, files_named, read_users_file, without_api_schema


def test_a_users_file_reads_roles_names_and_passwords(tmp_path):
    path = tmp_path / "users.txt"
    path.write_text("# the team\n\nadmin ann:pw1\nuser bob:p:w 2\ncid:pw3\n")
    assert read_users_file(str(path)) == {"ann": ("pw1", "admin"), "bob": ("p:w 2", "user"), "cid": ("pw3", "user")}


@pytest.mark.parametrize("text, words", [("admin ann\n", "line 1"), ("user :pw\n", "line 1"),
                                         ("admin ann:pw\nuser ann:pw2\n", "ann is listed twice"),
                                         ("user bob:\n", "line 1")])
def test_a_bad_users_file_stops_the_server_naming_the_line(tmp_path, text, words):
    path = tmp_path / "users.txt"
    path.write_text(text)
    with pytest.raises(SystemExit, match=words):
        read_users_file(str(path))
    with pytest.raises(SystemExit, match="cannot read the users file"):
        read_users_file(str(tmp_path / "missing.txt"))


def test_each_login_flag_guards_both_sides_and_the_file_adds_to_them(tmp_path):
    path = tmp_path / "users.txt"
    path.write_text("admin ann:pw1\nbob:pw2\n")
    alone = Logins.from_flags(None, "api:k", None, None)
    assert alone.page == alone.api == {"api": "k"}
    both = Logins.from_flags("ui:u", "api:k", str(path), "ui")
    assert both.page == {"ui": "u", "ann": "pw1", "bob": "pw2"}
    assert both.api == {"api": "k", "ann": "pw1", "bob": "pw2"}
    assert both.admins == {"ui", "ann"}
    assert Logins.from_flags(None, None, None, None) == Logins(None, None, frozenset())


def test_the_login_page_keeps_its_markup_without_the_api_schema():
    page = (b'<script>window.gradio_config = {"auth_required": true};</script>'
            b'<script>window.gradio_api_info = {"named_endpoints": {"/img2img": {"parameters": []}}};</script><p>')
    assert without_api_schema(page) == (b'<script>window.gradio_config = {"auth_required": true};</script>'
                                        b'<script>window.gradio_api_info = {"named_endpoints": {}, '
                                        b'"unnamed_endpoints": {}};</script><p>')
    assert without_api_schema(b"<html></html>") == b"<html></html>"


def test_files_handed_out_are_found_by_path_and_by_url(tmp_path):
    cache = os.path.realpath(tmp_path)
    answer = {"msg": "process_completed", "output": {"data": [[{"image": {
        "path": f"{cache}/abc/image.png", "url": f"http://h/gradio_api/file={cache}/def/x y.png"}}],
        "/etc/hostname", f"{cache}-other/z.png", "a prompt"]}}
    assert sorted(files_named(answer, cache)) == [f"{cache}/abc/image.png", f"{cache}/def/x y.png"]
