package main

import (
	"bytes"
	"maps"
	"net/http"
	"slices"
	"testing"
)

// FuzzHeaderBlock checks the header block reader against its inverse and
// against itself: a block that unpacks packs back to the same bytes, and
// a headerBlock fed a sequence of blocks (kept, reused, replaced) sets
// exactly the headers a fresh unpack of each block gives.
func FuzzHeaderBlock(f *testing.F) {
	f.Add(pack("Content-Type", "text/plain", "Set-Cookie", "a=1", "Set-Cookie", "b=2"),
		pack("Content-Length", "5", "Date", "x"))
	f.Add(pack("X-Empty", ""), []byte{})
	f.Add([]byte{1, 0, 0, 0}, pack("Content-Length", "-1"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, block := range [][]byte{a, b} {
			var pairs []string
			err := unpackPairs(block, func(k, v string) { pairs = append(pairs, k, v) })
			if err != nil {
				continue
			}
			// A block of an odd number of items is read as its pairs:
			// the last key alone is dropped. C never packs one.
			if repacked := pack(pairs...); !bytes.HasPrefix(block, repacked) {
				t.Fatalf("unpack then pack: %q, from %q", repacked, block)
			}
		}
		var hb headerBlock
		for _, block := range [][]byte{a, a, a, b, a, b, b, b} {
			want := make(http.Header)
			wantErr := unpackInto(want, block)
			got := make(http.Header)
			// C owns the block and reuses it: hand hb a copy it may not keep.
			lent := bytes.Clone(block)
			err := hb.set(got, lent)
			clear(lent)
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("set: %v, unpack: %v", err, wantErr)
			}
			if err != nil {
				continue
			}
			if !maps.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("set gave %q, want %q", got, want)
			}
			_, date := want["Date"]
			if hb.hasDate != date || hb.declared != declaredLength(want["Content-Length"]) {
				t.Fatalf("hasDate %v declared %d for %q", hb.hasDate, hb.declared, want)
			}
			// Only a block set twice in a row hands out hb's own value
			// slices, which later responses share: those must be full,
			// so that an Add on one response cannot write into the next.
			// A first set's slices are fresh and the response's alone.
			if hb.ready {
				for _, values := range got {
					if cap(values) != len(values) {
						t.Fatalf("a shared value slice has room to grow: %q", values)
					}
				}
			}
		}
	})
}
