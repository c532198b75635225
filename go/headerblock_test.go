package main

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestUnpackPairsReadsWhatAppendItemWrote(t *testing.T) {
	want := [][2]string{{"Content-Type", "text/plain"}, {"Set-Cookie", "a=1"},
		{"Set-Cookie", ""}, {"X-Empty", ""}}
	var b []byte
	for _, p := range want {
		b = appendItem(appendItem(b, p[0]), p[1])
	}
	var got [][2]string
	if err := unpackPairs(b, func(k, v string) { got = append(got, [2]string{k, v}) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	b[0]++ // the strings are copies: C may reuse its block
	if got[0][0] != "Content-Type" {
		t.Fatalf("key changed with the block: %q", got[0][0])
	}
}

func TestUnpackPairsRefusesAMalformedBlock(t *testing.T) {
	good := appendItem(appendItem(nil, "Key"), "value")
	for name, b := range map[string][]byte{
		"short length": good[:2],
		"past the end": good[:len(good)-1],
		"huge length":  {0xff, 0xff, 0xff, 0x7f, 'x'},
	} {
		if err := unpackPairs(b, func(k, v string) {}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// pack packs pairs as C does.
func pack(pairs ...string) []byte {
	var b []byte
	for _, s := range pairs {
		b = appendItem(b, s)
	}
	return b
}

func TestHeaderBlockSetsTheHeaders(t *testing.T) {
	var hb headerBlock
	h := http.Header{}
	block := pack("Content-Type", "text/plain", "Set-Cookie", "a=1", "X-One", "1",
		"Set-Cookie", "b=2", "Content-Length", "5", "Set-Cookie", "c=3")
	if err := hb.set(h, block); err != nil {
		t.Fatal(err)
	}
	want := http.Header{"Content-Type": {"text/plain"}, "Set-Cookie": {"a=1", "b=2", "c=3"},
		"X-One": {"1"}, "Content-Length": {"5"}}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %q, want %q", h, want)
	}
	for k, v := range h {
		if cap(v) != len(v) {
			t.Errorf("%s: cap %d, len %d: an append would write into a shared array", k, cap(v), len(v))
		}
	}
	if hb.hasDate || hb.declared != 5 {
		t.Errorf("hasDate %v, declared %d; want false, 5", hb.hasDate, hb.declared)
	}
	block[5]++ // C reuses its buffer: the kept block and the strings are copies
	if h["Content-Type"][0] != "text/plain" {
		t.Fatalf("a value changed with C's block: %q", h["Content-Type"])
	}
}

func TestHeaderBlockReusesTheLastBlock(t *testing.T) {
	var hb headerBlock
	first, again := http.Header{}, http.Header{}
	if err := hb.set(first, pack("Content-Type", "text/plain", "Date", "x")); err != nil {
		t.Fatal(err)
	}
	if err := hb.set(again, pack("Content-Type", "text/plain", "Date", "x")); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, again) || !hb.hasDate || hb.declared != -1 {
		t.Fatalf("got %q then %q (hasDate %v, declared %d)", first, again, hb.hasDate, hb.declared)
	}
	if &first["Content-Type"][0] != &again["Content-Type"][0] {
		t.Error("the same block was made again, not reused")
	}

	// A different block makes new values, and leaves the earlier
	// responses' as they were.
	other := http.Header{}
	if err := hb.set(other, pack("Content-Type", "text/html", "Content-Length", "-1")); err != nil {
		t.Fatal(err)
	}
	if other.Get("Content-Type") != "text/html" || first.Get("Content-Type") != "text/plain" {
		t.Fatalf("got %q, and the first response now has %q", other, first)
	}
	if hb.hasDate || hb.declared != -1 {
		t.Errorf("hasDate %v, declared %d; want false, -1 (a bad Content-Length)", hb.hasDate, hb.declared)
	}
}

func TestHeaderBlockLongAndMalformedBlocks(t *testing.T) {
	var hb headerBlock
	long := pack("X-Long", strings.Repeat("x", maxKeptBlock))
	for range 2 {
		h := http.Header{}
		if err := hb.set(h, long); err != nil || len(h.Get("X-Long")) != maxKeptBlock {
			t.Fatalf("err %v, got %d bytes", err, len(h.Get("X-Long")))
		}
		if hb.packed != nil {
			t.Fatal("a block longer than maxKeptBlock was kept")
		}
	}
	good := pack("A", "1")
	if err := hb.set(http.Header{}, good); err != nil {
		t.Fatal(err)
	}
	if err := hb.set(http.Header{}, good[:len(good)-1]); err == nil {
		t.Fatal("a malformed block was taken")
	}
	h := http.Header{}
	if err := hb.set(h, good); err != nil || h.Get("A") != "1" {
		t.Fatalf("after a malformed block: err %v, got %q", err, h)
	}
}
