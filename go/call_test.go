package main

import (
	"slices"
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
