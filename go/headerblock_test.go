package main

import (
	"net/http"
	"reflect"
	"slices"
	"strconv"
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
	block := pack("Content-Type", "text/plain", "Set-Cookie", "a=1", "X-One", "1",
		"Set-Cookie", "b=2", "Content-Length", "5", "Set-Cookie", "c=3")
	want := http.Header{"Content-Type": {"text/plain"}, "Set-Cookie": {"a=1", "b=2", "c=3"},
		"X-One": {"1"}, "Content-Length": {"5"}}
	// Made in place the first time, kept the second, reused the third.
	var got []http.Header
	for i := range 3 {
		h := http.Header{}
		if err := hb.set(h, block); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(h, want) {
			t.Fatalf("response %d: got %q, want %q", i, h, want)
		}
		if hb.hasDate || hb.declared != 5 {
			t.Errorf("response %d: hasDate %v, declared %d; want false, 5", i, hb.hasDate, hb.declared)
		}
		got = append(got, h)
	}
	for k, v := range got[2] {
		if cap(v) != len(v) {
			t.Errorf("%s: cap %d, len %d: an append would write into a shared array", k, cap(v), len(v))
		}
	}
	block[5]++ // C reuses its buffer: the kept block and the strings are copies
	for i, h := range got {
		if h["Content-Type"][0] != "text/plain" {
			t.Fatalf("response %d: a value changed with C's block: %q", i, h["Content-Type"])
		}
	}
	h := http.Header{}
	if err := hb.set(h, block); err != nil || h["Cpntent-Type"] == nil || h["Content-Type"] != nil {
		t.Fatalf("the changed block: err %v, got %q", err, h)
	}
}

func TestHeaderBlockKeepsABlockThatComesTwice(t *testing.T) {
	var hb headerBlock
	block := func() []byte { return pack("Content-Type", "text/plain", "Date", "x") }
	first, second, third := http.Header{}, http.Header{}, http.Header{}
	for _, h := range []http.Header{first, second, third} {
		if err := hb.set(h, block()); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(first, second) || !reflect.DeepEqual(second, third) {
		t.Fatalf("got %q, %q, %q", first, second, third)
	}
	if !hb.hasDate || hb.declared != -1 {
		t.Errorf("hasDate %v, declared %d; want true, -1", hb.hasDate, hb.declared)
	}
	if &second["Content-Type"][0] != &third["Content-Type"][0] {
		t.Error("a block that came again was made again, not reused")
	}
	if &first["Content-Type"][0] == &second["Content-Type"][0] {
		t.Error("the first response's values were kept: made in place, they may be changed")
	}

	// A different block makes new values, and leaves the earlier
	// responses' as they were.
	other := http.Header{}
	if err := hb.set(other, pack("Content-Type", "text/html", "Content-Length", "-1")); err != nil {
		t.Fatal(err)
	}
	if other.Get("Content-Type") != "text/html" || third.Get("Content-Type") != "text/plain" {
		t.Fatalf("got %q, and the third response now has %q", other, third)
	}
	if hb.hasDate || hb.declared != -1 {
		t.Errorf("hasDate %v, declared %d; want false, -1 (a bad Content-Length)", hb.hasDate, hb.declared)
	}
}

// What writeHeaderAs reads of a block instead of looking in the header
// map: Connection: close and Alt-Svc, on a block met the first time, the
// second (unpacked again and kept) and the third (kept), and after a
// block without them.
func TestHeaderBlockFlags(t *testing.T) {
	var hb headerBlock
	blocks := []struct {
		block              []byte
		closing, hasAltSvc bool
	}{
		{pack("Connection", "close", "Alt-Svc", "clear"), true, true},
		{pack("Connection", "keep-alive", "Connection", "close"), false, false},
		{pack("Content-Type", "text/plain"), false, false},
	}
	for _, b := range blocks {
		for i := range 3 {
			if err := hb.set(http.Header{}, b.block); err != nil {
				t.Fatal(err)
			}
			if hb.closing != b.closing || hb.hasAltSvc != b.hasAltSvc {
				t.Errorf("%q, time %d: closing %v, hasAltSvc %v; want %v, %v",
					b.block, i+1, hb.closing, hb.hasAltSvc, b.closing, b.hasAltSvc)
			}
		}
	}
}

func TestHeaderBlockThatChangesEachTimeIsNeverKept(t *testing.T) {
	var hb headerBlock
	for i := range 5 {
		h := http.Header{}
		n := strconv.Itoa(10 + i)
		if err := hb.set(h, pack("Content-Length", n, "Content-Type", "text/plain")); err != nil {
			t.Fatal(err)
		}
		if h.Get("Content-Length") != n || hb.declared != int64(10+i) {
			t.Fatalf("response %d: got %q, declared %d", i, h, hb.declared)
		}
		if hb.ready {
			t.Fatalf("response %d: a block seen once was kept", i)
		}
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

// BenchmarkHeaderBlock: a response with the same headers as the last,
// and one whose Content-Length changes every time.
func BenchmarkHeaderBlock(b *testing.B) {
	var blocks [][]byte
	for i := range 16 {
		blocks = append(blocks, pack("Content-Type", "application/json",
			"Content-Length", strconv.Itoa(100+i), "Cache-Control", "no-store"))
	}
	for _, bc := range []struct {
		name  string
		every int
	}{{"same", 1}, {"changing", 16}} {
		b.Run(bc.name, func(b *testing.B) {
			var hb headerBlock
			h := http.Header{}
			for i := 0; b.Loop(); i++ {
				clear(h)
				if err := hb.set(h, blocks[i%bc.every]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
