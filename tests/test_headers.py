"""gohttp.Headers and canonical_key, the header map (ext/headers.c): on
their own, and as a handler sees them (req.headers, w.header)."""

from collections.abc import ItemsView, KeysView, Mapping, ValuesView

import pytest
import urllib3

from gohttp import Headers, canonical_key


@pytest.mark.parametrize("key, canonical", [
    ("x-request-id", "X-Request-Id"),
    ("X-REQUEST-ID", "X-Request-Id"),
    ("content-type", "Content-Type"),
    ("CONTENT-TYPE", "Content-Type"),
    ("content-md5", "Content-Md5"),
    ("www-authenticate", "Www-Authenticate"),
    ("etag", "Etag"),
    ("a", "A"),
    ("x_forwarded_for", "X_forwarded_for"),  # Go upper-cases after '-' only
    ("1abc-2def", "1abc-2def"),
    ("a--b", "A--B"),
    ("-foo", "-Foo"),
    ("foo-", "Foo-"),
    ("!#$%&'*+-.^_`|~", "!#$%&'*+-.^_`|~"),
])
def test_canonical_key_is_go_canonical_mime_header_key(key, canonical):
    assert canonical_key(key) == canonical
    assert canonical_key(canonical) == canonical


@pytest.mark.parametrize("key", [
    "", "bad key", "colon:key", "tab\tkey", "new\nline", "caf\u00e9",
    "x-\u00fc", "quote\"d", "(paren)", "slash/key",
])
def test_canonical_key_leaves_invalid_names_unchanged(key):
    assert canonical_key(key) == key


def test_set_get_is_case_insensitive():
    h = Headers()
    h.set("content-type", "text/plain")
    assert h.get("Content-Type") == "text/plain"
    assert h.get("CONTENT-TYPE") == "text/plain"
    assert h["cOnTeNt-TyPe"] == "text/plain"
    assert list(h) == ["Content-Type"]
    assert list(h.keys()) == ["Content-Type"]


def test_set_replaces_every_value():
    h = Headers()
    h.add("X-A", "1")
    h.add("x-a", "2")
    h.set("X-a", "3")
    assert h.get_all("X-A") == ["3"]


def test_add_keeps_values_in_order():
    h = Headers()
    h.add("Set-Cookie", "a=1")
    h.add("set-cookie", "b=2")
    h.add("SET-COOKIE", "c=3")
    assert h.get("Set-Cookie") == "a=1"
    assert h.get_all("set-cookie") == ["a=1", "b=2", "c=3"]
    assert h.multi_items() == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                               ("Set-Cookie", "c=3")]
    assert list(h.items()) == [("Set-Cookie", "a=1")]
    assert list(h.values()) == ["a=1"]
    assert len(h) == 1


def test_get_all_returns_a_copy():
    h = Headers([("X-A", "1")])
    h.get_all("X-A").append("2")
    assert h.get_all("X-A") == ["1"]


def test_missing_keys():
    h = Headers()
    assert h.get("X-Missing") is None
    assert h.get("X-Missing", "dflt") == "dflt"
    assert h.get_all("X-Missing") == []
    assert "X-Missing" not in h
    with pytest.raises(KeyError):
        h["X-Missing"]
    with pytest.raises(KeyError):
        del h["X-Missing"]
    h.delete("X-Missing")  # no error


def test_contains():
    h = Headers({"X-Request-Id": "7"})
    assert "x-request-id" in h
    assert "X-REQUEST-ID" in h
    assert "X-Other" not in h
    assert 5 not in h
    assert None not in h


def test_delete_and_del():
    h = Headers([("A", "1"), ("B", "2"), ("b", "3"), ("C", "4")])
    h.delete("b")
    assert "B" not in h and h.get_all("B") == []
    del h["a"]
    assert list(h) == ["C"]


def test_setitem():
    h = Headers()
    h["x-a"] = "1"
    h["X-A"] = "2"
    assert h.get_all("X-A") == ["2"]


def test_iteration_is_over_canonical_keys_in_insertion_order():
    h = Headers()
    h.set("x-b", "1")
    h.set("x-a", "2")
    h.add("x-b", "3")
    assert list(h) == ["X-B", "X-A"]
    assert list(h.keys()) == ["X-B", "X-A"]
    assert list(h.values()) == ["1", "2"]
    assert list(h.items()) == [("X-B", "1"), ("X-A", "2")]
    assert h.multi_items() == [("X-B", "1"), ("X-B", "3"), ("X-A", "2")]


def test_the_mapping_is_of_first_values():
    h = Headers([("x-b", "1"), ("X-A", "2"), ("X-B", "3")])
    assert isinstance(h, Mapping)
    assert dict(h) == {"X-B": "1", "X-A": "2"}
    assert len(h) == len(h.keys()) == len(h.values()) == len(h.items()) == 2
    assert dict(h.items()) == {key: h[key] for key in h}
    assert list(h.values()) == [h[key] for key in h.keys()]
    # A Mapping's own views, all three of one kind.
    assert type(h.keys()) is KeysView
    assert type(h.values()) is ValuesView
    assert type(h.items()) is ItemsView
    assert h.keys() & {"X-A", "X-C"} == {"X-A"}
    assert ("X-B", "1") in h.items() and ("X-B", "3") not in h.items()
    # Case-insensitive, as h is.
    assert "x-a" in h.keys() and ("x-b", "1") in h.items()
    assert "1" in h.values() and "3" not in h.values()


def test_the_views_are_live():
    h = Headers({"X-A": "1"})
    keys, values, items = h.keys(), h.values(), h.items()
    h.set("X-A", "2")
    h.add("X-B", "3")
    h.add("X-B", "4")
    assert (list(keys), list(values), list(items)) == (
        ["X-A", "X-B"], ["2", "3"], [("X-A", "2"), ("X-B", "3")])


def test_values_of_one_key_is_get_all():
    h = Headers([("X-A", "1"), ("X-A", "2")])
    with pytest.raises(TypeError, match=r"use get_all\(key\)"):
        h.values("X-A")
    assert h.get_all("x-a") == ["1", "2"]


def test_headers_from_headers_keep_every_value():
    h = Headers([("X-A", "1"), ("X-A", "2"), ("X-B", "3")])
    assert Headers(h) == h
    assert Headers(dict(h)).multi_items() == [("X-A", "1"), ("X-B", "3")]
    assert Headers(h.multi_items()) == h


def test_request_headers_as_a_handler_sees_them(server, record):
    @server.route("/h")
    def handler(w, req):
        h = req.headers
        record((isinstance(h, Mapping), dict(h), list(h.items()),
                list(h.values()), h.multi_items(), h.get_all("x-multi"),
                len(h), h["X-MULTI"]))

    headers = urllib3.HTTPHeaderDict()
    headers.add("X-Multi", "one")
    headers.add("x-multi", "two")
    r = urllib3.request("GET", server.url + "/h", headers=headers)
    assert r.status == 200
    mapping, as_dict, items, values, multi, every, n, first = record.one()
    assert mapping
    assert as_dict["X-Multi"] == "one" and ("X-Multi", "one") in items
    assert items == list(as_dict.items()) and values == list(as_dict.values())
    assert n == len(as_dict)
    assert [v for k, v in multi if k == "X-Multi"] == every == ["one", "two"]
    assert first == "one"


def test_response_headers_as_a_handler_writes_them(server, record):
    @server.route("/h")
    def handler(w, req):
        h = w.header
        h.add("Set-Cookie", "a=1")
        h.add("set-cookie", "b=2")
        h["X-Id"] = "7"
        record((dict(h), list(h.items()), h.multi_items(), len(h)))
        w.write(b"ok")

    r = urllib3.request("GET", server.url + "/h")
    assert r.data == b"ok"
    assert r.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    as_dict, items, multi, n = record.one()
    assert as_dict == {"Set-Cookie": "a=1", "X-Id": "7"} == dict(items)
    assert multi == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                     ("X-Id", "7")]
    assert n == 2


def test_iterating_while_deleting_is_safe():
    h = Headers([("A", "1"), ("B", "2")])
    for key in h:
        h.delete(key)
    assert len(h) == 0


def test_construct_from_mapping_and_pairs():
    assert Headers({"a": "1"}).get_all("A") == ["1"]
    h = Headers([("a", "1"), ("A", "2")])
    assert h.get_all("a") == ["1", "2"]
    assert Headers() == Headers([])


def test_equality_copy_and_repr():
    h = Headers([("x-a", "1"), ("x-a", "2")])
    assert h == Headers([("X-A", "1"), ("X-A", "2")])
    assert h != Headers([("X-A", "2"), ("X-A", "1")])
    assert h != {"X-A": "1"}
    c = h.copy()
    assert c == h and c is not h
    c.add("X-A", "3")
    assert h.get_all("X-A") == ["1", "2"]
    assert repr(h) == "Headers([('X-A', '1'), ('X-A', '2')])"
    with pytest.raises(TypeError):
        hash(h)


@pytest.mark.parametrize("value", [1, 1.5, b"bytes", None, ["a"]])
def test_non_str_values_raise_type_error(value):
    h = Headers()
    with pytest.raises(TypeError):
        h.set("X-A", value)
    with pytest.raises(TypeError):
        h.add("X-A", value)
    assert "X-A" not in h


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb",
                                   "a\0b"])
def test_cr_lf_nul_in_values_raise_value_error(value):
    h = Headers()
    with pytest.raises(ValueError):
        h.set("X-A", value)
    with pytest.raises(ValueError):
        h.add("X-A", value)
    with pytest.raises(ValueError):
        h["X-A"] = value
    assert len(h) == 0


@pytest.mark.parametrize("key", ["", "bad key", "colon:", "caf\u00e9",
                                 "new\nline", "X-A\r\n"])
def test_invalid_names_raise_value_error(key):
    h = Headers()
    with pytest.raises(ValueError):
        h.set(key, "v")
    with pytest.raises(ValueError):
        h.add(key, "v")
    assert len(h) == 0


@pytest.mark.parametrize("key", [1, None, b"X-A"])
def test_non_str_names_raise_type_error(key):
    with pytest.raises(TypeError):
        Headers().set(key, "v")
    with pytest.raises(TypeError):
        Headers().add(key, "v")


def test_values_may_be_empty_or_unicode():
    h = Headers()
    h.set("X-Empty", "")
    h.set("X-Text", "caf\u00e9 \u2603")
    assert h.get("x-empty") == ""
    assert h.get("x-text") == "caf\u00e9 \u2603"


def test_read_only_headers_refuse_every_change():
    h = Headers._frozen({"X-A": ["1", "2"]})
    assert h.get_all("x-a") == ["1", "2"]
    assert "X-A" in h
    for change in (lambda: h.set("X-A", "3"), lambda: h.add("X-B", "3"),
                   lambda: h.delete("X-A"), lambda: h.__setitem__("X-A", "3"),
                   lambda: h.__delitem__("X-A")):
        with pytest.raises(TypeError, match="read-only"):
            change()
    assert h.get_all("X-A") == ["1", "2"]


def test_copy_of_read_only_headers_is_mutable():
    h = Headers._frozen({"X-A": ["1"]})
    c = h.copy()
    c.add("X-A", "2")
    assert c.get_all("X-A") == ["1", "2"]
    assert h.get_all("X-A") == ["1"]


def test_headers_have_no_instance_dict():
    with pytest.raises(AttributeError):
        Headers().anything = 1


@pytest.mark.parametrize("items", [[("X-A",)], [("X-A", "1", "2")], [5]])
def test_bad_items_raise_type_error(items):
    with pytest.raises(TypeError, match="pairs"):
        Headers(items)


def test_keyword_arguments_raise_type_error():
    with pytest.raises(TypeError, match="keyword"):
        Headers(items=[("X-A", "1")])


def test_wrong_argument_counts_raise_type_error():
    h = Headers()
    with pytest.raises(TypeError):
        h.set("X-A")
    with pytest.raises(TypeError):
        h.add("X-A", "1", "2")
    with pytest.raises(TypeError):
        h.get()


def test_headers_leak_nothing():
    """Headers is C (ext/headers.c): every path, errors included, frees
    what it made."""
    import gc
    import tracemalloc

    def exercise():
        h = Headers({"a": "1"})
        h.set("content-type", "text/plain")
        h.add("Set-Cookie", "a=1")
        h.add("set-cookie", "b=2")
        h["X-Id"] = "7"
        h.get("CONTENT-TYPE"), h.get("missing", "x"), h.get_all("set-cookie")
        list(h.items()), h.keys(), h.values(), h.multi_items(), dict(h)
        list(h), len(h), "x-id" in h, repr(h), Headers(h)
        c = h.copy()
        c == h
        del c["x-id"]
        c.delete("missing")
        for bad in (lambda: h.set("bad key", "v"), lambda: h.set("X", 1),
                    lambda: h.add("X", "a\nb"), lambda: h["missing"],
                    lambda: Headers._frozen({}).set("A", "b"),
                    lambda: h.values("set-cookie"),
                    lambda: Headers([("A",)])):
            try:
                bad()
            except (TypeError, ValueError, KeyError):
                pass

    for _ in range(200):
        exercise()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5000):
            exercise()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, f"{grown} bytes still allocated"


def test_a_response_starts_with_empty_headers_after_any_other(server, fetch,
                                                              record):
    # The Headers of a response no one kept is emptied for the next one
    # (headers.c, gohttp_headers_done): key by key when they are few,
    # cleared when many, and after a response that failed too.
    @server.route("/h")
    def handler(w, req):
        record(list(w.header.multi_items()))
        n = int(req.query.removeprefix("n="))
        for i in range(n):
            w.header.add(f"X-{i}", "v")
            w.header.add(f"X-{i}", "w")
        if n == 3:
            w.header._map["X-Bad"] = "not a list"   # 500, when packed
        w.write(b"ok")

    for n in (1, 1, 30, 1, 3, 1, 8, 9, 0, 2):
        r = fetch("GET", f"/h?n={n}")
        if n == 3:
            assert r.status == 500
            continue
        assert (r.status, r.data) == (200, b"ok"), n
        assert r.headers.getlist("X-0") == (["v", "w"] if n else []), n
        assert len([k for k in r.headers if k.startswith("X-")]) == n, n
    assert record.values == [[]] * 10
